"""The one extension point for provider logs: a :class:`LogSource` yields typed intervals.

Every log format (FreeRADIUS detail, ISC dhcpd.leases, Kea lease CSV, CGNAT port-block syslog)
is one subclass that streams its file and yields :class:`Interval` records: *who* (an account,
or for NAT the private address) held *which address* (and which port range) *from when to when*,
and *which lines* of *which file* say so. Everything downstream (the index, the resolver, the
evidence) speaks only in these intervals, so adding a format is adding one module.

Log files are hostile input: lines may be garbage, truncated, absurdly long, or carry local
times. A source never crashes on a line; it records a :class:`LogProblem` (file, line, problem)
and goes on. Only problems that make the *whole* file unusable (missing file, a local time with
no configured time zone) raise :class:`~netwarden.errors.InputError`, because silently
attributing on guessed clocks would be worse than refusing.
"""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from netwarden.errors import InputError

MAX_LINE = 64 * 1024  # longest log line we read; longer ones are skipped and recorded
READ_BLOCK = 1 << 20  # bytes read at once: lines are split from blocks, never read unbounded
MAX_PROBLEMS_KEPT = 10_000  # problems stored per file (the count goes on)
# POSIX seconds a log time may be: 0001-01-01 .. 9999-12-31 UTC, what a datetime can hold (a
# time outside it cannot be shown in evidence; issue 14: "Timestamp = 9...9" was inf)
MIN_SECONDS, MAX_SECONDS = -62135596800.0, 253402300799.0


class Interval(NamedTuple):
    """One holding of an address: ``account`` had ``ip`` (ports ``port_lo``-``port_hi``).

    ``start``/``end`` are POSIX seconds (UTC). ``end_kind`` says how the end is known:
    ``stop`` (an explicit Stop / release record), ``lease_end`` (the lease's own end),
    ``estimated`` (no Stop record: last Interim-Update + the interim interval, or the next
    Start on the same address), ``open`` (nothing ends it: the end is the log's last time).
    For ``kind == "nat"`` the ``account`` is the *private* address behind the public one.
    ``account`` is the log's own idea of the subscriber (User-Name, ``mac:..``); ``ids`` are
    all identifiers the records name (User-Name, MAC, client id, option 82, NAS-Port-Id), by
    which :class:`~netwarden.attribute.identity.JoinPolicy` joins records of different logs.

    A ``NamedTuple`` rather than a frozen dataclass: just as immutable, but built about 5x
    faster (a frozen dataclass sets each of its 14 fields through ``object.__setattr__``), and
    the index builds one per row a look-up returns — with two joined logs that was the largest
    cost of a look-up (docs/perf-attribution.md).
    """

    kind: str  # radius | dhcpd | kea | nat
    account: str
    ip: str
    start: float
    end: float
    source: str  # the log file
    line_first: int
    line_last: int
    end_kind: str = "stop"
    port_lo: int = 0
    port_hi: int = 65535
    session_id: str = ""
    note: str = ""
    ids: str = ""  # the record's identifiers, encoded (see attribute/identity.py)

    def where(self) -> str:
        """``file:first-last`` of the records this interval was built from."""
        if self.line_first == self.line_last:
            return f"{self.source}:{self.line_first}"
        return f"{self.source}:{self.line_first}-{self.line_last}"


@dataclass(frozen=True, slots=True)
class LogProblem:
    """A line (or record) that could not be used, and why. Recorded, never fatal."""

    source: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.problem}"


@dataclass
class LogSource(ABC):
    """A provider log file: streams it once and yields :class:`Interval` records.

    Subclasses set ``kind`` and implement :meth:`intervals`. ``timezone`` is the zone the
    operator declared for a log whose times carry no offset; without it such a time is an
    error naming the file and line. ``options`` holds format-specific settings; they are part
    of the index cache key so changing them rebuilds the index.
    """

    kind: ClassVar[str] = "?"
    parser_version: ClassVar[int] = 1  # bump when a parser's output changes: re-indexes logs
    path: Path
    timezone: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    problems: list[LogProblem] = field(default_factory=list, init=False)
    problem_count: int = field(default=0, init=False)
    lines_read: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._tz: tzinfo | None = None
        if self.timezone is not None:
            try:
                self._tz = ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise InputError(str(self.path), f"unknown time zone {self.timezone!r} "
                                 "(use an IANA name such as 'Europe/Moscow' or 'UTC')",
                                 "timezone") from None

    @property
    def name(self) -> str:
        return str(self.path)

    def cache_params(self) -> dict[str, Any]:
        """Everything besides the file itself that changes what :meth:`intervals` yields."""
        return {"kind": self.kind, "parser": f"{type(self).__name__}/{self.parser_version}",
                "timezone": self.timezone, "options": self.options}

    @abstractmethod
    def intervals(self) -> Iterator[Interval]:
        """Stream the file once and yield every interval it proves."""

    # -- helpers for subclasses ------------------------------------------------------------
    def problem(self, line: int, text: str) -> None:
        """Record an unusable line and go on."""
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(LogProblem(self.name, line, text))

    def local_time(self, naive: datetime, line: int) -> float:
        """A time written without offset: valid only with the source's declared time zone."""
        if self._tz is None:
            raise InputError(self.name, f"time {naive.isoformat(sep=' ')} has no UTC offset and "
                             "no timezone is configured for this log; local times are ambiguous "
                             "as evidence (set timezone = \"Area/City\" for this source)",
                             f"line {line}")
        return naive.replace(tzinfo=self._tz).timestamp()

    def lines(self) -> Iterator[tuple[int, str]]:
        """Numbered lines of the file (without their newline), each at most :data:`MAX_LINE`
        bytes, read in blocks of :data:`READ_BLOCK` bytes, never the whole file at once.

        Undecodable bytes are replaced (and recorded); an over-long line is recorded and its
        rest skipped, so one hostile line cannot exhaust memory.
        """
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            raise InputError(self.name, "log file not found") from None
        except OSError as exc:
            raise InputError(self.name, f"cannot be read: {exc.strerror}") from None
        number = 0
        carry = b""
        skipping = False  # inside an over-long line, until its newline
        with handle:
            while True:
                block = handle.read(READ_BLOCK)
                if not block:
                    break
                parts = block.split(b"\n")
                if skipping:
                    if len(parts) == 1:
                        continue
                    parts, skipping = parts[1:], False
                parts[0] = carry + parts[0]
                carry = parts.pop()  # the line still incomplete at the end of the block
                for raw in parts:
                    number += 1
                    if len(raw) > MAX_LINE:
                        self.problem(number, f"line longer than {MAX_LINE} bytes: skipped")
                        continue
                    yield number, self._decode(raw, number)
                if len(carry) > MAX_LINE:
                    number += 1
                    self.problem(number, f"line longer than {MAX_LINE} bytes: skipped")
                    carry, skipping = b"", True
            if carry:  # a last line without newline (a truncated file)
                number += 1
                yield number, self._decode(carry, number)
        self.lines_read = number

    def _decode(self, raw: bytes, number: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.problem(number, "bytes that are not UTF-8 (replaced)")
            return raw.decode("utf-8", errors="replace")


@lru_cache(maxsize=1 << 16)
def normalize_ip(text: str) -> str:
    """The canonical text of an IP address (raises ValueError on anything else).

    Cached: a log names the same few addresses over and over (Start, updates, Stop).
    """
    return str(ipaddress.ip_address(text.strip().strip("[]")))


def checked_seconds(seconds: float, what: str) -> float:
    """``seconds`` if it is a time a datetime can hold, else ValueError naming ``what``."""
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:  # also False for NaN
        raise ValueError(f"{what} {seconds:g} is outside the years 1-9999")
    return seconds


def posix_seconds(text: str, what: str) -> float:
    """POSIX seconds written as ASCII digits (not ``²``, not 400 digits), within
    :func:`checked_seconds`; ValueError naming ``what`` otherwise."""
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise ValueError(f"{what} {text[:40]!r} is not POSIX seconds")
    return checked_seconds(float(text), what)


def from_seconds(seconds: float) -> datetime:
    """The UTC datetime of POSIX seconds."""
    return datetime.fromtimestamp(seconds, UTC)


def parse_offset_time(text: str) -> datetime | None:
    """An ISO 8601 time *with* an offset (``Z`` or ``+03:00``), or None if it has none."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def duration_seconds(value: Any, source: str, key: str) -> float:
    """``"10m"``, ``"2s"``, ``"1h"`` or a number of seconds (via the scope's parser)."""
    from netwarden.scope import parse_duration

    delta: timedelta = parse_duration(value, source, key)
    return delta.total_seconds()
