"""Bounds on what a server says and on how long it may take to say it.

Why a module of its own: every protocol parser reads numbers from the wire (an HTTP
``Content-Length``, an FTP ``SIZE`` reply or ``LIST`` size column, an SMB end-of-file, a DC file
list's ``Size``) and every protocol has phases a hostile peer can drip (connect, banner, headers,
listing, body). One rule for each keeps the collectors consistent:

* A size or count is a run of ASCII digits whose value is at most :data:`MAX_WIRE_INT`
  (2**53 - 1, the largest integer RFC 8785 / I-JSON can carry exactly). Anything else is
  "unknown" (``None``): the number is not trusted, not stored as a number, and cannot make a
  ledger entry impossible to canonicalise (issue 14: one ``Content-Length: 9007199254740993``
  used to end the whole audit).
* A :class:`Deadline` bounds a whole phase in wall-clock time, whatever the peer's pace: the
  read timeout only bounds the wait for *one* byte, so a peer sending one byte every few seconds
  never trips it.
"""

from __future__ import annotations

import time

from netwarden.errors import NetwardenError

MAX_WIRE_INT = 2**53 - 1  # RFC 8785 (I-JSON) safe integer domain
_MAX_DIGITS = 64  # longer digit strings are not even looked at (leading zeros included)


def wire_int(text: str | bytes | None) -> int | None:
    """A non-negative integer as a server wrote it, or None when it is not a plausible one.

    Accepts ASCII digits only (no sign, no spaces inside, no Unicode digits); surrounding
    whitespace is ignored. Values above :data:`MAX_WIRE_INT` are None: no real file is 8 PiB,
    and such a number cannot be stored exactly in the canonical JSON of the ledger.
    """
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    text = text.strip()
    if not text or len(text) > _MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_WIRE_INT else None


def safe_int(value: object) -> int | None:
    """An integer decoded from a binary protocol (bencode, SMB, XML attribute), bounded as
    :func:`wire_int`; anything that is not a non-negative int in range is None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_WIRE_INT else None


def shown(text: str | bytes | None, limit: int = 64) -> str | None:
    """A server-supplied value cut to ``limit`` characters for a record (``…`` marks a cut)."""
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return text if len(text) <= limit else text[:limit] + "…"


class PhaseTimeoutError(NetwardenError, TimeoutError):
    """A protocol phase (banner, headers, listing, ...) took longer than its time limit."""

    def __init__(self, phase: str, seconds: float) -> None:
        self.phase, self.seconds = phase, seconds
        super().__init__(f"{phase} not finished after {seconds:g} s (the phase time limit); "
                         "abandoned")


class Deadline:
    """A wall-clock bound on one phase: :meth:`remaining` for socket timeouts, :meth:`check`.

    Why: a socket timeout set to ``min(read_timeout, remaining())`` before every read makes the
    phase end at the deadline even when the peer sends one byte just before each read timeout.
    """

    def __init__(self, seconds: float, phase: str) -> None:
        self.seconds, self.phase = seconds, phase
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; :class:`PhaseTimeoutError` when none are."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise PhaseTimeoutError(self.phase, self.seconds)
        return left

    def check(self) -> None:
        """Raise :class:`PhaseTimeoutError` when the phase is over time."""
        self.remaining()
