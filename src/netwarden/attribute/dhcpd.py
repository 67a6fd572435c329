"""ISC dhcpd ``dhcpd.leases`` → who held which IPv4 address when.

The file is an append-only journal of ``lease ADDRESS { ... }`` blocks; a later block for the
same lease (same address, same ``starts``, same client) supersedes an earlier one, which is how
dhcpd records renewals, releases and expiries. We read ``starts``/``ends`` (``W YYYY/MM/DD
HH:MM:SS``, which dhcpd.leases(5) defines as UTC, or ``epoch N`` with ``db-time-format local``),
``binding state``, ``hardware ethernet`` and ``uid``, and ``client-hostname`` for notes, and
the relay agent's ``option agent.remote-id`` / ``option agent.circuit-id`` (DHCP option 82,
stored by dhcpd with the lease). MAC, ``uid`` (the client identifier, written as an
octal-escaped string or as hex), remote-id and circuit-id are the lease's identifiers
(``Interval.ids``), by which it joins the RADIUS session of the same subscriber.

The log's own account is the client's hardware address (``mac:..``) by default, or its client
identifier (``client_id:01:02:..``) with option ``account_key = "uid"``; the other is used when
the preferred one is absent. Which identifier names the subscriber in an answer is the scope's
``[attribution] account`` (attribute/identity.py); this one is the fallback. Active, expired
and released bindings are holdings; a ``free``/``abandoned`` block only shortens an earlier
holding of the same lease. Blocks are small, so the distinct leases are kept until the
end of the file (the journal is compacted by dhcpd itself) and then yielded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

from netwarden.attribute.base import (
    Interval,
    LogSource,
    checked_seconds,
    normalize_ip,
    posix_seconds,
)
from netwarden.attribute.identity import (
    client_id_hex,
    encode,
    merge,
    normalize_mac,
    option_bytes,
    printable_or_hex,
)

_LEASE = re.compile(r"^lease\s+(\S+)\s*\{\s*$")
_TIME = re.compile(r"^\d\s+(\d{4})/(\d{1,2})/(\d{1,2})\s+(\d{1,2}):(\d\d):(\d\d)$")
_HOLDING = frozenset({"active", "expired", "released"})
_ENDING = frozenset({"free", "abandoned", "expired", "released", "reset", "backup"})
MAX_BLOCK_LINES = 200  # a lease block longer than this is not a lease block


class DhcpdLeasesSource(LogSource):
    """ISC ``dhcpd.leases``. Option ``account_key``: ``"hardware"`` (default) or ``"uid"``."""

    kind = "dhcpd"
    parser_version = 3  # 2: identifiers (MAC, client id, option 82); client ids as hex
    # 3: times bounded to the years 1-9999, ASCII epoch digits (issue 14)

    def intervals(self) -> Iterator[Interval]:
        leases: dict[tuple[str, float, str], Interval] = {}
        block: list[tuple[int, str]] | None = None
        address = ""
        depth_skip = 0  # inside a block we do not use (lease6, failover peer, ...)
        for number, raw in self.lines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if depth_skip:
                depth_skip += line.count("{") - line.count("}")
                depth_skip = max(depth_skip, 0)
                continue
            if block is not None:
                if line == "}":
                    self._block(address, block, number, leases)
                    block = None
                elif len(block) >= MAX_BLOCK_LINES:
                    self.problem(block[0][0], "lease block without a closing brace: skipped")
                    block = None
                else:
                    block.append((number, line))
                continue
            match = _LEASE.match(line)
            if match:
                address, block = match.group(1), [(number, line)]
                continue
            if line.endswith("{"):
                depth_skip = 1
                continue
            if line.endswith(";"):
                continue  # top-level statements: authoring-byte-order, server-duid, ...
            self.problem(number, f"garbage line: {line[:80]!r}")
        if block is not None:
            self.problem(block[0][0], "lease block cut off at the end of the file (truncated): "
                         "skipped")
        yield from leases.values()

    def _block(self, address: str, block: list[tuple[int, str]], last_line: int,
               leases: dict[tuple[str, float, str], Interval]) -> None:
        first_line = block[0][0]
        try:
            ip = normalize_ip(address)
        except ValueError:
            self.problem(first_line, f"lease for {address!r}, which is not an IP address")
            return
        fields: dict[str, str] = {}
        for number, line in block[1:]:
            if not line.endswith(";") and "#" in line:  # "starts epoch N; # local date"
                line = line[:line.index("#")].rstrip()
            if not line.endswith(";"):
                self.problem(number, f"statement without ';' (truncated?): {line[:80]!r}")
                continue
            body = line[:-1].strip()
            for name in ("starts", "ends", "binding state", "hardware ethernet", "uid",
                         "client-hostname", "option agent.remote-id",
                         "option agent.circuit-id"):
                if body.startswith(name + " "):
                    fields[name] = body[len(name) + 1:].strip()
                    break
        try:
            start = self._time(fields.get("starts"), first_line, "starts")
            end = self._time(fields.get("ends"), first_line, "ends")
        except ValueError as exc:
            self.problem(first_line, f"lease {ip}: {exc}: skipped")
            return
        state = fields.get("binding state", "active")
        account = self._account(fields)
        if start is None or account is None:
            if state in _HOLDING:
                self.problem(first_line, f"lease {ip} without starts or client identity: skipped")
            return
        if end is None:  # "ends never;"
            end = float("inf")
        if end < start:
            self.problem(first_line, f"clock jump: lease {ip} ends before it starts: skipped")
            return
        key = (ip, start, account)
        earlier = leases.get(key)
        ids = self._identifiers(fields)
        if earlier is not None:
            ids = merge(earlier.ids, ids)
        host = fields.get("client-hostname", "").strip('"')
        note = f"binding state {state}" + (f"; client-hostname {host}" if host else "")
        if state == "active":
            line_first = earlier.line_first if earlier else first_line
            leases[key] = Interval("dhcpd", account, ip, start, end, self.name, line_first,
                                   last_line, "lease_end", note=note, ids=ids)
        elif state in _ENDING:
            if earlier is not None:
                leases[key] = Interval("dhcpd", account, ip, start, min(earlier.end, end),
                                       self.name, earlier.line_first, last_line, "stop",
                                       note=note, ids=ids)
            elif state in _HOLDING:
                leases[key] = Interval("dhcpd", account, ip, start, end, self.name, first_line,
                                       last_line, "stop", note=note, ids=ids)

    def _account(self, fields: dict[str, str]) -> str | None:
        hardware = fields.get("hardware ethernet")
        uid = fields.get("uid")
        order = ("uid", "hardware") if self.options.get("account_key") == "uid" else \
            ("hardware", "uid")
        for kind in order:
            if kind == "hardware" and hardware:
                return "mac:" + (normalize_mac(hardware) or hardware.lower())
            if kind == "uid" and uid:
                return "client_id:" + (client_id_hex(uid) or uid.strip('"'))
        return None

    @staticmethod
    def _identifiers(fields: dict[str, str]) -> str:
        """The lease's identifiers: MAC, client id (uid), option 82 remote-id and circuit-id."""
        pairs: list[tuple[str, str | None]] = []
        hardware = fields.get("hardware ethernet")
        if hardware:
            pairs.append(("mac", normalize_mac(hardware)))
        uid = fields.get("uid")
        if uid:
            pairs.append(("client_id", client_id_hex(uid)))
        for kind, key in (("remote_id", "option agent.remote-id"),
                          ("circuit_id", "option agent.circuit-id")):
            raw = option_bytes(fields.get(key, ""))
            if raw:
                pairs.append((kind, printable_or_hex(raw)))
        return encode(pairs)

    def _time(self, text: str | None, line: int, key: str) -> float | None:
        if text is None or text == "never":
            return None
        if text.startswith("epoch "):
            value = text[6:].split("#", 1)[0].strip()
            return posix_seconds(value, key)  # 400 digits were a start of inf (issue 14)
        match = _TIME.match(text)
        if not match:
            raise ValueError(f"{key} {text!r} is not 'W YYYY/MM/DD HH:MM:SS'")
        year, month, day, hh, mm, ss = (int(g) for g in match.groups())
        # dhcpd.leases(5): these dates are UTC. A declared timezone overrides (odd builds).
        naive = datetime(year, month, day, hh, mm, ss)
        if self.timezone is not None:
            return checked_seconds(self.local_time(naive, line), key)
        return naive.replace(tzinfo=UTC).timestamp()
