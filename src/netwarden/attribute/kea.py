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

The account key is the hardware address (``mac:..``) by default or the client id with option
``account_key = "client_id"``.
"""

from __future__ import annotations

from collections.abc import Iterator

from netwarden.attribute.base import Interval, LogSource, normalize_ip

REQUIRED = ("address", "hwaddr", "valid_lifetime", "expire")


class KeaLeaseSource(LogSource):
    """Kea ``lease4`` memfile CSV. Option ``account_key``: ``"hwaddr"`` or ``"client_id"``."""

    kind = "kea"

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
                                           note=f"{earlier.note}; {what} at line {number}")
                elif lifetime > 0 and state == 2:
                    latest[key] = Interval("kea", account, ip, start, float(expire), self.name,
                                           number, number, "lease_end",
                                           note="expired-reclaimed lease")
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
                                   number, "lease_end", note=note)
        if columns is None:
            self.problem(0, "empty file: no Kea lease4 header")
        yield from latest.values()

    def _account(self, row: dict[str, str]) -> str | None:
        hwaddr, client = row.get("hwaddr", ""), row.get("client_id", "")
        if self.options.get("account_key") == "client_id":
            return f"client_id:{client}" if client else (f"mac:{hwaddr.lower()}" if hwaddr
                                                           else None)
        return f"mac:{hwaddr.lower()}" if hwaddr else (f"client_id:{client}" if client
                                                       else None)
