"""The client-client download both Direct Connect dialects share: ask, read the answer, stream.

ADC (``CGET`` → ``CSND`` / ``CSTA``) and NMDC (``$ADCGET`` → ``$ADCSND`` / ``$Error``) differ
only in how the request and the answers are spelled; what is done with them is the same and
lives here once, so every bound is applied once for both: the answer must be for what we asked,
its announced size is checked against the caller's limit before a byte is read, the bytes go
straight to a sink (nothing is kept here), every read waits at most the read timeout, the
transfer has an overall deadline, and a :class:`~netwarden.collect.speed.SpeedGuard` abandons a
peer that drips (see :mod:`netwarden.collect.speed`).

A peer asking to download from us meanwhile is declined: the auditor never uploads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from netwarden.collect.dc.errors import HubError
from netwarden.collect.speed import SpeedGuard, TooSlowError

if TYPE_CHECKING:
    from netwarden.collect.dc.hub import Line

MAX_ANSWERS = 20  # messages read while waiting for the SND before giving up
CHUNK = 1 << 18  # bytes asked of one read


@dataclass(frozen=True)
class Get:
    """What we ask a peer for: ``kind`` (file, tthl), ``ident``, byte ``start`` and ``length``
    (-1: to the end)."""

    kind: str
    ident: str
    start: int
    length: int


@dataclass(frozen=True)
class Answer:
    """One message of the peer, reduced to what the shared loop acts on.

    ``send``: a SND header ``(kind, ident, start, length)``; ``refused``: the peer's refusal in
    words; ``wants``: the peer asks to download from us; none of them: ignored.
    """

    send: tuple[str, str, int, int] | None = None
    refused: str | None = None
    wants: bool = False


class Dialect(Protocol):
    """How one protocol spells the download; implemented by both peer connections."""

    @property
    def line(self) -> Line: ...

    @property
    def get_name(self) -> str:
        """"GET", "$ADCGET": for messages."""
        ...

    @property
    def send_name(self) -> str:
        """"SND", "$ADCSND"."""
        ...

    @property
    def decline(self) -> bytes:
        """Our answer to a peer's GET."""
        ...

    @property
    def error(self) -> type[HubError]:
        """What this dialect raises (AdcError, NmdcHubError)."""
        ...

    def request(self, get: Get) -> bytes:
        """The encoded request for ``get``."""
        ...

    async def answer(self) -> Answer:
        """The next message of the peer (raises ``error`` for a malformed one)."""
        ...


async def download(peer: Dialect, get: Get, max_bytes: int, sink: Callable[[bytes], None],
                   deadline: float, speed: SpeedGuard | None = None) -> int:
    """Ask ``peer`` for ``get`` and stream the announced bytes into ``sink``; their count.

    Raises the dialect's ``error`` for a refusal, an answer for something else, an announced
    size other than asked or over ``max_bytes``, a short, stalled, late or too slow transfer.
    """
    await peer.line.send(peer.request(get))
    for _ in range(MAX_ANSWERS):
        answer = await peer.answer()
        if answer.send is not None:
            skind, sident, sstart, slen = answer.send
            if skind != get.kind or sident != get.ident or sstart != get.start:
                raise peer.error(f"peer answered {skind} {sident} {sstart} to our "
                                 f"{peer.get_name} {get.kind} {get.ident} {get.start}")
            if get.length >= 0 and slen != get.length:
                raise peer.error(f"peer offers {slen} bytes, we asked for {get.length}")
            if slen > max_bytes:
                raise peer.error(f"peer announces {slen} bytes, more than the limit of "
                                 f"{max_bytes}")
            await receive(peer.line, slen, sink, deadline, speed)
            return slen
        if answer.refused is not None:
            raise peer.error(answer.refused)
        if answer.wants:
            await peer.line.send(peer.decline)
    raise peer.error(f"no {peer.send_name} in answer to our {peer.get_name}")


async def receive(line: Line, n: int, sink: Callable[[bytes], None], deadline: float | None,
                  speed: SpeedGuard | None = None, chunk: int = CHUNK) -> None:
    """Read exactly ``n`` bytes of ``line`` into ``sink`` in chunks (nothing is kept here).

    Each read waits at most the line's timeout; past ``deadline`` (monotonic seconds) or below
    the ``speed`` guard's minimum the transfer is abandoned with the line's ``error``.
    """
    left = n
    while left:
        if deadline is not None and time.monotonic() > deadline:
            raise line.error(f"transfer not finished in time ({n - left} of {n} bytes)")
        try:
            data = await asyncio.wait_for(line.reader.read(min(chunk, left)), line.timeout)
        except TimeoutError:
            raise line.error(f"no data for {line.timeout:g} s after {n - left} of {n} "
                             "bytes") from None
        if not data:
            raise line.error(f"connection closed after {n - left} of {n} bytes")
        left -= len(data)
        line.received += len(data)
        sink(data)
        if speed is not None:
            try:
                speed.feed(len(data))
            except TooSlowError as exc:
                raise line.error(f"{exc} after {n - left} of {n} bytes") from exc
