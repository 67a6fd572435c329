"""Carrier-grade NAT: (public IP, public port, time) → the private address behind it.

Behind CGNAT one public address serves many subscribers, each with a block of ports. Two
ways to undo that are supported; the private address found is then attributed to an account
through the RADIUS/DHCP logs like any other address.

* **Juniper port-block allocation syslog** (MS-MPC/MS-MIC ``secured-port-block-allocation``)::

    Nov  4 10:00:00 mx1 (FPC Slot 1, PIC Slot 0) {sset1}[jservices-nat]:
        JSERVICES_NAT_PORT_BLOCK_ALLOC: 100.64.0.5 -> 127.77.5.1:1024-1151 0x6929c6e0

  ``_ALLOC`` starts a block, ``_RELEASE`` ends it and ``_ACTIVE`` is the interim log Junos
  re-sends for live blocks. The trailing hexadecimal number is the event time in POSIX seconds;
  when it is absent we use an RFC 5424 header time with offset, and only with a declared
  ``timezone`` (and ``year``, which BSD syslog headers omit) a BSD header time. A block with no
  release ends at its last ``_ACTIVE``/``_ALLOC`` plus ``interim_interval`` (estimated, and
  said so), or when the same public block is allocated to another private address.

* **RFC 7422 deterministic NAT**, computed from its parameters (``inside`` prefix, ``outside``
  prefix, ``ports_per_subscriber``, ``first_port``): inside address number *i* gets outside
  address number ``i // K`` and ports ``first_port + (i % K) * P`` ... ``+ P - 1``, where
  ``P`` is ports per subscriber and ``K = (65536 - first_port) // P`` subscribers share one
  outside address. This is the sequential layout of RFC 7422 §2 as implemented by Junos
  deterministic NAPT and VPP det44 (when ``P`` divides the port range). No log is needed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from netwarden.attribute.base import (
    Interval,
    LogSource,
    checked_seconds,
    normalize_ip,
    parse_offset_time,
)
from netwarden.errors import InputError

_PBA = re.compile(
    r"JSERVICES_NAT_PORT_BLOCK_(ALLOC|RELEASE|ACTIVE):\s+(\S+)\s+->\s+"
    r"(\S+):(\d{1,5})-(\d{1,5})(?:\s+0x([0-9a-fA-F]{1,16}))?")
_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?")
_BSD = re.compile(r"^(?:<\d+>)?([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)\b")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
DEFAULT_INTERIM = 3600.0


@dataclass
class _Block:
    private: str
    start: float
    last_seen: float
    line_first: int
    line_last: int


class JuniperPbaSource(LogSource):
    """Juniper ``JSERVICES_NAT_PORT_BLOCK_*`` syslog. Yields ``kind="nat"`` intervals whose
    ``ip`` is the public address, ports the block, and ``account`` the private address."""

    kind = "nat"
    parser_version = 2  # 2: times bounded to the years 1-9999; bad dates are problems

    @property
    def interim(self) -> float:
        return float(self.options.get("interim_interval", DEFAULT_INTERIM))

    def intervals(self) -> Iterator[Interval]:
        blocks: dict[tuple[str, int, int], _Block] = {}
        for number, line in self.lines():
            if "JSERVICES_NAT_PORT_BLOCK_" not in line:
                if line.strip() and "JSERVICES_" not in line:
                    self.problem(number, f"not a port-block message: {line.strip()[:80]!r}")
                continue  # other Junos services messages are normal in the same file
            match = _PBA.search(line)
            if not match:
                self.problem(number, "port-block message that does not parse (truncated?): "
                             f"{line.strip()[:80]!r}")
                continue
            event, private, public, lo_text, hi_text, hex_time = match.groups()
            try:
                private, public = normalize_ip(private), normalize_ip(public)
            except ValueError:
                self.problem(number, "port-block message with a bad IP address: skipped")
                continue
            lo, hi = int(lo_text), int(hi_text)
            if not 0 <= lo <= hi <= 65535:
                self.problem(number, f"bad port range {lo}-{hi}: skipped")
                continue
            try:
                when = self._time(line, hex_time, number)
                if when is not None:
                    checked_seconds(when, "time")
            except ValueError as exc:  # "2026-13-45T..." or "Feb 31": was a crash (issue 14)
                self.problem(number, f"port-block message with a bad time ({exc}): skipped")
                continue
            if when is None:
                self.problem(number, "port-block message without a usable time: skipped")
                continue
            key = (public, lo, hi)
            block = blocks.get(key)
            if event == "ALLOC" or (event == "ACTIVE" and block is None):
                if block is not None:
                    if block.private == private:
                        block.last_seen, block.line_last = max(block.last_seen, when), number
                        continue
                    blocks.pop(key)
                    yield self._estimated(key, block, when, number)
                blocks[key] = _Block(private, when, when, number, number)
            elif event == "ACTIVE":
                assert block is not None
                if block.private != private:
                    blocks.pop(key)
                    yield self._estimated(key, block, when, number)
                    blocks[key] = _Block(private, when, when, number, number)
                elif when < block.start:
                    self.problem(number, "clock jump: interim log before the allocation: ignored")
                else:
                    block.last_seen, block.line_last = when, number
            else:  # RELEASE
                if block is None or block.private != private:
                    self.problem(number, f"release of {public}:{lo}-{hi} for {private} without "
                                 "a matching allocation: its start is unknown, skipped")
                    continue
                blocks.pop(key)
                if when < block.start:
                    self.problem(number, "clock jump: release before its allocation (line "
                                 f"{block.line_first}): block not used")
                    continue
                yield Interval("nat", block.private, public, block.start, when, self.name,
                               block.line_first, number, "stop", lo, hi,
                               note="port block allocated and released")
        for key, block in blocks.items():
            yield self._estimated(key, block, None, None)

    def _estimated(self, key: tuple[str, int, int], block: _Block, next_start: float | None,
                   next_line: int | None) -> Interval:
        public, lo, hi = key
        end = block.last_seen + self.interim
        note = f"no release; end = last log of the block + interim interval {self.interim:g}s"
        if next_start is not None and next_start < end:
            end = max(next_start, block.start)
            note = f"no release; ended by the block's next allocation (line {next_line})"
        return Interval("nat", block.private, public, block.start, end, self.name,
                        block.line_first, block.line_last, "estimated", lo, hi, note=note)

    def _time(self, line: str, hex_time: str | None, number: int) -> float | None:
        if hex_time:
            return float(int(hex_time, 16))
        iso = _ISO.search(line)
        if iso:
            moment = parse_offset_time(iso.group(0))
            if moment is not None:
                return moment.timestamp()
            return self.local_time(datetime.fromisoformat(iso.group(0)), number)
        bsd = _BSD.match(line)
        if bsd:
            month, day, hh, mm, ss = bsd.groups()
            year = self.options.get("year")
            if self.timezone is None or year is None:
                raise InputError(self.name, "BSD syslog time without year and UTC offset; set "
                                 "timezone and year for this source", f"line {number}")
            naive = datetime(int(year), _MONTHS.get(month, 1), int(day), int(hh), int(mm),
                             int(ss))
            return self.local_time(naive, number)
        return None


@dataclass(frozen=True)
class DeterministicNat:
    """RFC 7422 deterministic NAT: the mapping is arithmetic on the configured prefixes."""

    inside: ipaddress.IPv4Network
    outside: ipaddress.IPv4Network
    ports_per_subscriber: int
    first_port: int = 1024
    label: str = "rfc7422"

    @classmethod
    def from_config(cls, table: dict[str, object], source: str, key: str) -> DeterministicNat:
        try:
            inside = ipaddress.IPv4Network(str(table["inside"]))
            outside = ipaddress.IPv4Network(str(table["outside"]))
            pps = int(str(table["ports_per_subscriber"]))
            first = int(str(table.get("first_port", 1024)))
        except KeyError as exc:
            raise InputError(source, f"missing {exc.args[0]!r} for rfc7422 NAT", key) from None
        except ValueError as exc:
            raise InputError(source, f"bad rfc7422 NAT parameter: {exc}", key) from None
        if not 0 < first < 65536 or not 0 < pps <= 65536 - first:
            raise InputError(source, "first_port and ports_per_subscriber must leave at least "
                             "one block inside 1..65535", key)
        return cls(inside, outside, pps, first, f"rfc7422 {inside} -> {outside} "
                   f"({pps} ports from {first})")

    @property
    def capacity(self) -> int:
        """How many inside addresses get a block; the rest of a larger inside prefix get
        none (the NAT cannot translate them), so no public port ever maps to them."""
        return min(self.inside.num_addresses, self.outside.num_addresses * self.per_address)

    @property
    def per_address(self) -> int:
        """Subscribers sharing one outside address (K)."""
        return (65536 - self.first_port) // self.ports_per_subscriber

    def covers(self, public_ip: str) -> bool:
        address = ipaddress.ip_address(public_ip)
        return address.version == 4 and address in self.outside

    def forward(self, private_ip: str) -> tuple[str, int, int]:
        """Inside address → (outside address, first port, last port)."""
        index = int(ipaddress.IPv4Address(private_ip)) - int(self.inside.network_address)
        if not 0 <= index < self.inside.num_addresses:
            raise ValueError(f"{private_ip} is not inside {self.inside}")
        if index >= self.capacity:
            raise ValueError(f"{private_ip} gets no block: {self.outside} has room for "
                             f"{self.capacity} inside addresses")
        out = self.outside.network_address + index // self.per_address
        lo = self.first_port + (index % self.per_address) * self.ports_per_subscriber
        return str(out), lo, lo + self.ports_per_subscriber - 1

    def reverse(self, public_ip: str, port: int) -> tuple[str, int, int] | None:
        """(outside address, port) → (inside address, block's first port, last port), or None
        when no subscriber has that port (below ``first_port``, or beyond the last block)."""
        if not self.covers(public_ip) or port < self.first_port or port > 65535:
            return None
        block = (port - self.first_port) // self.ports_per_subscriber
        if block >= self.per_address:
            return None
        out_index = int(ipaddress.IPv4Address(public_ip)) - int(self.outside.network_address)
        index = out_index * self.per_address + block
        if index >= self.capacity:
            return None
        lo = self.first_port + block * self.ports_per_subscriber
        return (str(self.inside.network_address + index), lo,
                lo + self.ports_per_subscriber - 1)
