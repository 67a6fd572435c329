"""FreeRADIUS accounting ``detail`` files → subscriber sessions.

A detail file is a sequence of records, each a header line with the server's local date
(``Wed Nov  4 10:00:00 2026``) followed by tab-indented ``Attribute = value`` lines and a blank
line. We use ``Acct-Status-Type`` (Start / Interim-Update / Stop / Accounting-On / -Off),
``User-Name`` (the account), ``Framed-IP-Address``, ``Acct-Session-Id`` (with
``Acct-Unique-Session-Id`` or ``NAS-IP-Address`` to keep sessions of different NASes apart),
``Acct-Session-Time`` and the event time. ``User-Name``, ``Calling-Station-Id`` (when it is a
MAC, in any notation) and ``NAS-Port-Id`` are the session's identifiers (``Interval.ids``), by
which a session joins the DHCP lease of the same subscriber (attribute/identity.py).

The event time is, in order of preference, ``Event-Timestamp`` (the NAS's clock: an integer,
``"Nov  4 2026 10:00:00 UTC"`` or ISO 8601 with offset), FreeRADIUS's own ``Timestamp`` (POSIX
seconds), and last the record's header line. A time with no offset (the header line always,
``Event-Timestamp`` with a zone abbreviation other than UTC/GMT) needs the source's declared
``timezone``; without one it is an error naming the file and line.

Real logs lose records. A session without a Stop ends at the *earlier* of the next Start on the
same address and the last Interim-Update (or the Start) plus the configured interim interval,
and the interval says so (``end_kind = "estimated"``). A Stop whose time is before its Start
(a clock jump) yields no interval and a recorded problem. Sessions are assembled while
streaming; only sessions still open are held in memory.
"""

from __future__ import annotations

import re
from calendar import timegm
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from netwarden.attribute.base import (
    MIN_SECONDS,
    Interval,
    LogSource,
    checked_seconds,
    normalize_ip,
    parse_offset_time,
    posix_seconds,
)
from netwarden.attribute.identity import encode, merge, normalize_mac

DEFAULT_INTERIM = 3600.0  # seconds: a session's last sign of life is trusted this long
_WANTED = frozenset({
    "Acct-Status-Type", "User-Name", "Framed-IP-Address", "Acct-Session-Id",
    "Acct-Unique-Session-Id", "NAS-IP-Address", "Event-Timestamp", "Timestamp",
    "Acct-Session-Time", "Acct-Interim-Interval", "Calling-Station-Id", "NAS-Port-Id",
})
_HEADER = re.compile(r"^[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})\s*$")
_EVENT = re.compile(
    r"^([A-Z][a-z]{2}) +(\d{1,2}) (\d{4}) (\d\d):(\d\d):(\d\d)(?: +([A-Za-z]+|[+-]\d{4}))?$")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_UTC_NAMES = frozenset({"UTC", "GMT", "Z", "UT"})


@dataclass
class _Open:
    """A session seen started but not yet stopped."""

    account: str
    ip: str
    start: float
    last_seen: float
    line_first: int
    line_last: int
    session_id: str
    nas: str
    note: str = ""
    ids: str = ""


@lru_cache(maxsize=1 << 16)
def _identifiers(user: str, calling: str, port: str) -> str:
    """Encoded identifiers of a record (cached: a session repeats them in every record)."""
    return encode((("user", user), ("mac", normalize_mac(calling) if calling else None),
                   ("nas_port_id", port or None)))


class RadiusDetailSource(LogSource):
    """FreeRADIUS ``detail`` accounting file. Option ``interim_interval`` (seconds)."""

    kind = "radius"
    parser_version = 3  # 2: identifiers (Calling-Station-Id, NAS-Port-Id)
    # 3: times bounded to the years 1-9999, ASCII digits only (issue 14)

    @property
    def interim(self) -> float:
        return float(self.options.get("interim_interval", DEFAULT_INTERIM))

    def intervals(self) -> Iterator[Interval]:
        self.last_time = 0.0
        self._open: dict[str, _Open] = {}
        self._by_ip: dict[str, str] = {}
        # sessions ended only by a later Start on their address: provisional, because a later
        # record of theirs proves they were still alive (really overlapping sessions)
        self._ended: dict[str, tuple[_Open, float, int]] = {}
        self._swept = 0.0
        attrs: dict[str, str] = {}
        header: str | None = None
        first_line = 0
        last_line = 0
        wanted = _WANTED
        for number, line in self.lines():
            stripped = line.strip()
            if not stripped:  # blank line: end of record
                if attrs:
                    yield from self._record(attrs, header, first_line, last_line)
                attrs, header, first_line = {}, None, 0
                continue
            if line[0] in " \t":  # the common case: an attribute line
                name, sep, value = stripped.partition(" = ")
                if not sep or " " in name:
                    self.problem(number, f"not an 'Attribute = value' line: {stripped[:80]!r}")
                    continue
                if not first_line:
                    first_line = number
                if name in wanted:
                    attrs[name] = value.strip().strip('"')
                last_line = number
                continue
            # a non-indented line starts a new record (a header), or is garbage
            if attrs:
                yield from self._record(attrs, header, first_line, last_line)
                attrs = {}
            text = line.strip()
            if _HEADER.match(text):
                header, first_line, last_line = text, number, number
            else:
                header, first_line = None, 0
                self.problem(number, f"garbage line (not a record header): {text[:80]!r}")
        if attrs:
            yield from self._record(attrs, header, first_line, last_line)
        for session, next_start, next_line in self._ended.values():
            yield self._close_estimated(session, next_start, next_line)
        for session in self._open.values():
            yield self._close_estimated(session, None, None)
        self._ended.clear()
        self._open.clear()

    def _sweep(self, now: float, keep: str) -> Iterator[Interval]:
        """Yield sessions silent for longer than the interim interval (bounds memory).

        Such a session's end is already fixed (last sign of life + interim interval, or the
        next Start), so yielding it now gives the same interval as yielding it at the end.
        Only sessions silent for two intervals go (a late update still extends a session), and
        never ``keep``, the session of the record being read.
        """
        if now - self._swept < self.interim:
            return
        self._swept = now
        limit = now - 2 * self.interim
        for key in [k for k, v in self._ended.items() if v[0].last_seen < limit and k != keep]:
            session, next_start, next_line = self._ended.pop(key)
            yield self._close_estimated(session, next_start, next_line)
        for key in [k for k, v in self._open.items() if v.last_seen < limit and k != keep]:
            session = self._open.pop(key)
            if self._by_ip.get(session.ip) == key:
                del self._by_ip[session.ip]
            yield self._close_estimated(session, None, None)

    # -- one record ------------------------------------------------------------------------
    def _record(self, attrs: dict[str, str], header: str | None, first: int,
                last: int) -> Iterator[Interval]:
        status = attrs.get("Acct-Status-Type")
        if status is None:
            self.problem(first, "record without Acct-Status-Type (truncated?): skipped")
            return
        nas = attrs.get("NAS-IP-Address", "")
        restart = status in ("Accounting-On", "Accounting-Off")
        if not restart and status not in ("Start", "Interim-Update", "Alive", "Stop"):
            return  # other record types say nothing about who held an address
        account = attrs.get("User-Name", "")
        raw_ip = attrs.get("Framed-IP-Address", "")
        session = attrs.get("Acct-Unique-Session-Id") or attrs.get("Acct-Session-Id", "")
        ip = ""
        if not restart:
            missing = [n for n, v in (("User-Name", account), ("Framed-IP-Address", raw_ip),
                                      ("Acct-Session-Id", session)) if not v]
            if missing:
                self.problem(first, f"{status} record without {', '.join(missing)} "
                             "(truncated?): skipped")
                return
            try:
                ip = normalize_ip(raw_ip)
            except ValueError:
                self.problem(first, f"Framed-IP-Address {raw_ip!r} is not an IP address: "
                             "skipped")
                return
        try:
            when = self._event_time(attrs, header, first)
            if when is not None:
                checked_seconds(when, "event time")
        except ValueError as exc:
            self.problem(first, f"unusable event time: {exc}")
            return
        if when is None:
            self.problem(first, "record without any time (no Event-Timestamp, Timestamp or "
                         "header line): skipped")
            return
        self.last_time = max(self.last_time, when)
        if restart:
            yield from self._nas_restart(nas, when, first, last, status)
            return
        key = f"{nas}\x00{session}" if "Acct-Unique-Session-Id" not in attrs else session
        ids = _identifiers(account, attrs.get("Calling-Station-Id", ""),
                           attrs.get("NAS-Port-Id", ""))
        session_time = _int_or_none(attrs.get("Acct-Session-Time"))
        if session_time is not None and when - session_time < MIN_SECONDS:
            self.problem(first, f"Acct-Session-Time {session_time} reaches before year 1: "
                         "ignored")
            session_time = None
        yield from self._sweep(when, key)
        revived = self._ended.pop(key, None)
        if revived is not None:  # it was alive after all: it overlaps the later session
            self._open[key] = revived[0]
        current = self._open.get(key)
        if status == "Start":
            if current is not None:  # a repeated Start: treat as a sign of life
                current.last_seen = max(current.last_seen, when)
                current.line_last = last
                current.ids = merge(current.ids, ids)
                return
            self._start(key, _Open(account, ip, when, when, first, last, session,
                                   nas, ids=ids), first)
        elif status in ("Interim-Update", "Alive"):
            if current is None:
                start, note = when, "no Start record; session start taken from this update"
                if session_time is not None:
                    start = when - session_time
                    note = "no Start record; start = Interim-Update time - Acct-Session-Time"
                self._start(key, _Open(account, ip, start, when, first, last,
                                       session, nas, note, ids), first)
                return
            if when < current.start:
                self.problem(first, f"clock jump: Interim-Update at {_iso(when)} is before its "
                             f"Start at {_iso(current.start)}: update ignored")
                return
            current.last_seen = max(current.last_seen, when)
            current.line_last = last
            current.ids = merge(current.ids, ids)
        else:  # Stop
            if current is None:
                if session_time is None:
                    self.problem(first, "Stop record without a Start and without "
                                 "Acct-Session-Time: its start is unknown, skipped")
                    return
                yield Interval("radius", account, ip, when - session_time, when, self.name,
                               first, last, "stop", session_id=session,
                               note="no Start record; start = Stop time - Acct-Session-Time",
                               ids=ids)
                return
            del self._open[key]
            if self._by_ip.get(current.ip) == key:
                del self._by_ip[current.ip]
            if when < current.start:
                self.problem(first, f"clock jump: Stop at {_iso(when)} is before its Start at "
                             f"{_iso(current.start)} (line {current.line_first}): session "
                             "not used")
                return
            yield Interval("radius", current.account, current.ip, current.start, when,
                           self.name, current.line_first, last, "stop",
                           session_id=current.session_id, note=current.note,
                           ids=merge(current.ids, ids))

    def _start(self, key: str, session: _Open, line: int) -> None:
        """Open a session; a still-open earlier session on the same address is ended
        (provisionally: see ``_ended``)."""
        previous_key = self._by_ip.get(session.ip)
        if previous_key is not None and previous_key in self._open:
            previous = self._open[previous_key]
            if session.start >= previous.last_seen:
                del self._open[previous_key]
                self._ended[previous_key] = (previous, session.start, line)
            # else: both really overlap in time; keep both (the resolver will see two candidates)
        self._open[key] = session
        self._by_ip[session.ip] = key

    def _close_estimated(self, session: _Open, next_start: float | None,
                         next_line: int | None) -> Interval:
        by_interim = session.last_seen + self.interim
        if next_start is not None and next_start < by_interim:
            end, note = next_start, (f"no Stop record; ended by the next Start on {session.ip} "
                                     f"(line {next_line})")
        else:
            end, note = by_interim, (f"no Stop record; end = last sign of life + interim "
                                     f"interval {self.interim:g}s")
        if session.note:
            note = f"{session.note}; {note}"
        return Interval("radius", session.account, session.ip, session.start, end, self.name,
                        session.line_first, session.line_last, "estimated",
                        session_id=session.session_id, note=note, ids=session.ids)

    def _nas_restart(self, nas: str, when: float, first: int, last: int,
                     status: str) -> Iterator[Interval]:
        """Accounting-On/Off: the NAS restarted, so all its open sessions ended."""
        for key in [k for k, s in self._open.items() if s.nas == nas]:
            session = self._open.pop(key)
            if self._by_ip.get(session.ip) == key:
                del self._by_ip[session.ip]
            if when < session.start:
                self.problem(first, f"clock jump: {status} before a session's Start: "
                             "session not used")
                continue
            yield Interval("radius", session.account, session.ip, session.start, when,
                           self.name, session.line_first, last, "stop",
                           session_id=session.session_id,
                           note=f"ended by {status} from NAS {nas or '?'} (line {first})",
                           ids=session.ids)

    # -- time --------------------------------------------------------------------------------
    def _event_time(self, attrs: dict[str, str], header: str | None, line: int) -> float | None:
        event = attrs.get("Event-Timestamp")
        if event:
            return self._parse_event(event, line)
        stamp = attrs.get("Timestamp")
        if stamp:
            return posix_seconds(stamp, "Timestamp")
        if header:
            match = _HEADER.match(header)
            if match:
                month, day, hh, mm, ss, year = match.groups()
                naive = _naive(year, month, day, hh, mm, ss)
                return self.local_time(naive, line)
        return None

    def _parse_event(self, text: str, line: int) -> float:
        if text.isdigit():
            return posix_seconds(text, "Event-Timestamp")
        match = _EVENT.match(text)
        if match:
            month, day, year, hh, mm, ss, zone = match.groups()
            if zone in _UTC_NAMES or (zone and zone[0] in "+-"):
                if month not in _MONTHS or not (1 <= int(day) <= 31 and int(hh) < 24
                                                 and int(mm) < 60 and int(ss) < 61):
                    raise ValueError(f"Event-Timestamp {text!r} is not a valid time")
                seconds = float(timegm((int(year), _MONTHS[month], int(day), int(hh), int(mm),
                                        int(ss))))
                if zone in _UTC_NAMES:
                    return seconds
                sign = 1 if zone[0] == "+" else -1
                return seconds - sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
            naive = _naive(year, month, day, hh, mm, ss)
            # no zone, or an abbreviation such as MSK/EST: local time
            return self.local_time(naive, line)
        moment = parse_offset_time(text)
        if moment is not None:
            return moment.timestamp()
        try:
            naive_iso = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"Event-Timestamp {text!r} is not a recognized time") from None
        return self.local_time(naive_iso, line)


def _naive(year: str, month: str, day: str, hh: str, mm: str, ss: str) -> datetime:
    if month not in _MONTHS:
        raise ValueError(f"unknown month {month!r}")
    return datetime(int(year), _MONTHS[month], int(day), int(hh), int(mm), int(ss))


def _int_or_none(text: str | None) -> int | None:
    """An Acct-Session-Time: ASCII digits of a 32-bit count (RFC 2866), else None. ("²"
    raised ValueError and 400 digits OverflowError out of ``intervals()``; issue 14.)"""
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if value <= 0xFFFFFFFF else None


def _iso(seconds: float) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat()


__all__ = ["DEFAULT_INTERIM", "RadiusDetailSource"]
