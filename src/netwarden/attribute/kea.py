"""Kea DHCPv4 memfile lease CSV (``kea-leases4.csv``) → who held which address when.

The memfile is an append-only CSV whose header names the columns (``address, hwaddr,
client_id, valid_lifetime, expire, subnet_id, fqdn_fwd, fqdn_rev, hostname, state`` and, in
newer versions, ``user_context`` and ``pool_id``); columns are found by name, so both layouts
read. ``expire`` is POSIX seconds, so there is no time-zone question; a lease held from
``expire - valid_lifetime`` (the client's last transmission) until ``expire``. Every renewal
appends a row; a row with ``state`` 2 (expired-reclaimed) or 3 (released), or with
``valid_lifetime`` 0 (deleted), ends the client's latest holding of that address. ``state`` 1
(declined) holds nothing. Kea escapes commas inside fields as ``&#x2c``, so splitting on commas
is exact.

The log's own account is the hardware address (``mac:..``) by default or the client id with
option ``account_key = "client_id"``. ``hwaddr``, ``client_id`` and, when Kea stored the relay
agent information in ``user_context`` (``{"ISC": {"relay-agent-info": {"sub-options":
"0x01..02.."}}}``, DHCP option 82 sub-options 1 circuit-id and 2 remote-id), the option 82
ids are the lease's identifiers (``Interval.ids``), by which it joins the RADIUS session of
the same subscriber.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from netwarden.attribute.base import MAX_SECONDS, Interval, LogSource, normalize_ip
from netwarden.attribute.identity import client_id_hex, encode, normalize_mac, printable_or_hex

REQUIRED = ("address", "hwaddr", "valid_lifetime", "expire")
_SUB_OPTIONS = re.compile(r'"sub-options"\s*:\s*"0x([0-9a-fA-F]*)"')
_REMOTE_ID = re.compile(r'"remote-id"\s*:\s*"0x([0-9a-fA-F]*)"')


def relay_agent_ids(user_context: str) -> list[tuple[str, str | None]]:
    """(circuit_id, remote_id) pairs from Kea's stored relay-agent-info, if any."""
    found: dict[str, str | None] = {}
    text = user_context.replace("&#x2c", ",")
    match = _SUB_OPTIONS.search(text)
    if match and len(match.group(1)) % 2 == 0:
        data = bytes.fromhex(match.group(1))
        i = 0
        while i + 2 <= len(data):  # option 82 sub-options: code, length, value
            code, size = data[i], data[i + 1]
            value = data[i + 2:i + 2 + size]
            if code == 1 and value:
                found["circuit_id"] = printable_or_hex(value)
            elif code == 2 and value:
                found["remote_id"] = printable_or_hex(value)
            i += 2 + size
    match = _REMOTE_ID.search(text)
    if match and "remote_id" not in found and len(match.group(1)) % 2 == 0 and match.group(1):
        found["remote_id"] = printable_or_hex(bytes.fromhex(match.group(1)))
    return list(found.items())


class KeaLeaseSource(LogSource):
    """Kea ``lease4`` memfile CSV. Option ``account_key``: ``"hwaddr"`` or ``"client_id"``."""

    kind = "kea"
    parser_version = 3  # 2: identifiers (hwaddr, client_id, relay-agent-info)
    # 3: valid_lifetime/expire out of range are bad rows (issue 14)

    def intervals(self) -> Iterator[Interval]:
        columns: dict[str, int] | None = None
        latest: dict[tuple[str, str], Interval] = {}
        for number, raw in self.lines():
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            cells = line.split(",")
            if columns is None:
                names = [c.strip() for c in cells]
                missing = [c for c in REQUIRED if c not in names]
                if missing:
                    self.problem(number, f"not a Kea lease4 header (missing {', '.join(missing)})"
                                 "; file skipped")
                    return
                columns = {name: i for i, name in enumerate(names)}
                continue
            if cells == list(columns):  # a header repeated after a Kea restart
                continue
            if len(cells) < len(columns) - 2:  # user_context/pool_id may be absent
                self.problem(number, f"row with {len(cells)} fields, expected {len(columns)} "
                             "(truncated?): skipped")
                continue
            row = {name: cells[i].strip() if i < len(cells) else ""
                   for name, i in columns.items()}
            try:
                ip = normalize_ip(row["address"])
                lifetime = int(row["valid_lifetime"])
                expire = int(row["expire"])
                state = int(row.get("state") or 0)
                # valid_lifetime is a uint32; a 400-digit expire was an OverflowError (issue 14)
                if abs(lifetime) > 0xFFFFFFFF or not 0 <= expire <= MAX_SECONDS:
                    raise ValueError("number out of range")
            except ValueError:
                self.problem(number, f"row with a bad address or number: {line[:80]!r}: skipped")
                continue
            account = self._account(row)
            if account is None:
                self.problem(number, f"lease {ip} without hwaddr or client_id: skipped")
                continue
            start = float(expire - lifetime)
            key = (ip, account)
            earlier = latest.get(key)
            if state in (2, 3) or lifetime == 0:
                if earlier is not None and earlier.start <= start:
                    end = min(earlier.end, start if lifetime == 0 else float(expire))
                    what = {2: "expired-reclaimed", 3: "released"}.get(state, "deleted")
                    latest[key] = Interval("kea", account, ip, earlier.start, end, self.name,
                                           earlier.line_first, number, "stop",
                                           note=f"{earlier.note}; {what} at line {number}",
                                           ids=earlier.ids)
                elif lifetime > 0 and state == 2:
                    latest[key] = Interval("kea", account, ip, start, float(expire), self.name,
                                           number, number, "lease_end",
                                           note="expired-reclaimed lease",
                                           ids=self._identifiers(row))
                continue
            if state == 1:
                continue  # declined: the address was not used by this client
            if lifetime < 0:
                self.problem(number, f"negative valid_lifetime {lifetime}: skipped")
                continue
            host = row.get("hostname", "").replace("&#x2c", ",")
            note = "lease" + (f"; hostname {host}" if host else "")
            if earlier is not None:
                yield earlier
            latest[key] = Interval("kea", account, ip, start, float(expire), self.name, number,
                                   number, "lease_end", note=note, ids=self._identifiers(row))
        if columns is None:
            self.problem(0, "empty file: no Kea lease4 header")
        yield from latest.values()

    @staticmethod
    def _identifiers(row: dict[str, str]) -> str:
        """hwaddr, client_id and the option 82 ids in user_context."""
        hwaddr, client = row.get("hwaddr", ""), row.get("client_id", "")
        pairs: list[tuple[str, str | None]] = [
            ("mac", normalize_mac(hwaddr) if hwaddr else None),
            ("client_id", client_id_hex(client) if client else None)]
        context = row.get("user_context", "")
        if "relay-agent-info" in context:
            pairs.extend(relay_agent_ids(context))
        return encode(pairs)

    def _account(self, row: dict[str, str]) -> str | None:
        hwaddr, client = row.get("hwaddr", ""), row.get("client_id", "")
        hwaddr = (normalize_mac(hwaddr) or hwaddr.lower()) if hwaddr else ""
        client = (client_id_hex(client) or client) if client else ""
        if self.options.get("account_key") == "client_id":
            return f"client_id:{client}" if client else (f"mac:{hwaddr.lower()}" if hwaddr
                                                           else None)
        return f"mac:{hwaddr.lower()}" if hwaddr else (f"client_id:{client}" if client
                                                       else None)
