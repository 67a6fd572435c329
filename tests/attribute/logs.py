"""Generators of synthetic provider logs for the attribution tests (and the benchmark).

Everything is made up: accounts ``user0001``..., loopback / test addresses, fixed times.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 11, 4, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """T0 + seconds."""
    return T0 + timedelta(seconds=seconds)


def _event(moment: datetime) -> str:
    return moment.strftime("%b %e %Y %H:%M:%S UTC")


def radius_record(status: str, user: str | None, ip: str | None, session: str,
                  moment: datetime, *, event: str | None = "utc", session_time: int | None = None,
                  nas: str = "127.77.0.1") -> str:
    """One FreeRADIUS detail record (header + attributes + blank line)."""
    lines = [moment.strftime("%a %b %e %H:%M:%S %Y")]
    lines.append(f"\tAcct-Status-Type = {status}")
    if user is not None:
        lines.append(f'\tUser-Name = "{user}"')
    lines.append(f'\tAcct-Session-Id = "{session}"')
    if ip is not None:
        lines.append(f"\tFramed-IP-Address = {ip}")
    lines.append(f"\tNAS-IP-Address = {nas}")
    if session_time is not None:
        lines.append(f"\tAcct-Session-Time = {session_time}")
    if event == "utc":
        lines.append(f'\tEvent-Timestamp = "{_event(moment)}"')
    elif event == "epoch":
        lines.append(f"\tEvent-Timestamp = {int(moment.timestamp())}")
    elif event == "local":  # a zone abbreviation that says nothing certain
        lines.append(f'\tEvent-Timestamp = "{moment.strftime("%b %e %Y %H:%M:%S")} MSK"')
    lines.append("")
    return "\n".join(lines) + "\n"


def radius_session(user: str, ip: str, session: str, start: float, stop: float | None,
                   interims: int = 0) -> str:
    """Start, some Interim-Updates, and Stop (unless ``stop`` is None)."""
    text = radius_record("Start", user, ip, session, at(start))
    end = stop if stop is not None else start + 600 * (interims + 1)
    for k in range(1, interims + 1):
        text += radius_record("Interim-Update", user, ip, session,
                              at(start + (end - start) * k / (interims + 1)))
    if stop is not None:
        text += radius_record("Stop", user, ip, session, at(stop),
                              session_time=int(stop - start))
    return text


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def big_radius(users: int, sessions_per_user: int, seconds_apart: int = 3600
               ) -> Iterator[tuple[str, str, float, float, str]]:
    """(user, ip, start, stop, text) of many sequential sessions on distinct addresses."""
    for s in range(sessions_per_user):
        for u in range(users):
            user = f"user{u:06d}"
            ip = f"127.{70 + u // 65536}.{(u // 256) % 256}.{u % 256}"
            start = s * seconds_apart + (u % 60)
            stop = start + seconds_apart - 120
            yield user, ip, start, stop, radius_session(user, ip, f"{u}-{s}", start, stop,
                                                        interims=1)


def dhcpd_lease(ip: str, start: datetime, end: datetime, mac: str, state: str = "active",
                hostname: str | None = None) -> str:
    fmt = "%w %Y/%m/%d %H:%M:%S"
    text = (f"lease {ip} {{\n  starts {start.strftime(fmt)};\n  ends {end.strftime(fmt)};\n"
            f"  cltt {start.strftime(fmt)};\n  binding state {state};\n"
            f"  next binding state free;\n  hardware ethernet {mac};\n")
    if hostname:
        text += f'  client-hostname "{hostname}";\n'
    return text + "}\n"


KEA_HEADER = ("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,"
              "hostname,state,user_context,pool_id\n")


def kea_row(ip: str, mac: str, lifetime: int, expire: datetime, state: int = 0,
            hostname: str = "") -> str:
    return (f"{ip},{mac},01:{mac},{lifetime},{int(expire.timestamp())},1,0,0,{hostname},"
            f"{state},,0\n")


def pba_line(event: str, private: str, public: str, lo: int, hi: int, moment: datetime,
             hex_time: bool = True) -> str:
    stamp = moment.strftime("%b %e %H:%M:%S")
    tail = f" 0x{int(moment.timestamp()):x}" if hex_time else ""
    return (f"{stamp} mx1 (FPC Slot 1, PIC Slot 0) {{sset1}}[jservices-nat]: "
            f"JSERVICES_NAT_PORT_BLOCK_{event}: {private} -> {public}:{lo}-{hi}{tail}\n")


# -- logs as the daemons write them (issue 13: one subscriber in RADIUS and DHCP) ------------
def freeradius_detail(status: str, moment: datetime, *, user: str, ip: str, session: str,
                      calling: str | None = None, port_id: str | None = None,
                      session_time: int | None = None, nas: str = "127.77.0.1") -> str:
    """One accounting record as FreeRADIUS 3's ``detail`` module writes it: the header line in
    the server's local time (UTC here), tab-indented attributes in the order the NAS sent
    them, then what the server adds (``Event-Timestamp`` formatted, ``Tmp-String-9``,
    ``Acct-Unique-Session-Id``, ``Timestamp``), and a blank line."""
    lines = [moment.strftime("%a %b %e %H:%M:%S %Y"),
             f"\tAcct-Status-Type = {status}",
             f'\tAcct-Session-Id = "{session}"',
             "\tAcct-Authentic = RADIUS",
             f'\tUser-Name = "{user}"',
             f"\tNAS-IP-Address = {nas}",
             '\tNAS-Identifier = "bng1"']
    if port_id is not None:
        lines.append(f'\tNAS-Port-Id = "{port_id}"')
    lines += ["\tNAS-Port-Type = Ethernet", "\tService-Type = Framed-User"]
    if calling is not None:
        lines.append(f'\tCalling-Station-Id = "{calling}"')
    lines.append(f"\tFramed-IP-Address = {ip}")
    if session_time is not None:
        lines += [f"\tAcct-Session-Time = {session_time}", "\tAcct-Input-Octets = 18234",
                  "\tAcct-Output-Octets = 912844"]
    if status == "Stop":
        lines.append("\tAcct-Terminate-Cause = User-Request")
    lines += [f'\tEvent-Timestamp = "{_event(moment)}"', "\tAcct-Delay-Time = 0",
              '\tTmp-String-9 = "ai:"',
              f'\tAcct-Unique-Session-Id = "{_unique(nas, session)}"',
              f"\tTimestamp = {int(moment.timestamp())}", ""]
    return "\n".join(lines) + "\n"


def _unique(nas: str, session: str) -> str:
    """What rlm_acct_unique makes: a digest of NAS and session attributes (stable)."""
    return hashlib.md5(f"{nas}/{session}".encode()).hexdigest()[:16]


def freeradius_session(user: str, ip: str, session: str, start: float, stop: float | None, *,
                       calling: str | None = None, port_id: str | None = None,
                       interim: float = 1800) -> str:
    """Start, Interim-Updates every ``interim`` seconds, and Stop (unless None)."""
    kw = {"user": user, "ip": ip, "session": session, "calling": calling, "port_id": port_id}
    text = freeradius_detail("Start", at(start), **kw)  # type: ignore[arg-type]
    t = start + interim
    while t < (stop if stop is not None else start + interim + 1):
        text += freeradius_detail("Interim-Update", at(t), session_time=int(t - start),
                                  **kw)  # type: ignore[arg-type]
        t += interim
    if stop is not None:
        text += freeradius_detail("Stop", at(stop), session_time=int(stop - start),
                                  **kw)  # type: ignore[arg-type]
    return text


def dhcpd_quote(raw: bytes) -> str:
    """dhcpd's quotify_buf: printable bytes as they are, ``"`` and ``\\`` escaped, the rest
    as three-digit octal escapes (how ``uid`` is written with lease-id-format octal)."""
    out = []
    for b in raw:
        if b in (0x22, 0x5C):
            out.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


DHCPD_HEADER = ("# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
                "# This lease file was written by isc-dhcp-4.4.3-P1\n\n"
                "# authoring-byte-order entry is generated, DO NOT DELETE\n"
                "authoring-byte-order little-endian;\n\n"
                'server-duid "\\000\\001\\000\\001)\\336\\300\\255\\002\\000\\000\\000\\000\\001";'
                "\n\n")


def dhcpd_block(ip: str, start: float, end: float | None, mac: str, *, state: str = "active",
                remote_id: str | None = None, circuit_id: str | bytes | None = None,
                uid: bytes | None = None, hostname: str | None = None,
                cltt: float | None = None) -> str:
    """A lease block as dhcpd 4.4 writes it (write_lease in server/db.c): times in UTC as
    ``W YYYY/MM/DD HH:MM:SS``, ``uid`` octal-quoted, relay agent options stored with the lease
    (printable ones quoted, others as ``%x`` colon hex)."""
    fmt = "%w %Y/%m/%d %H:%M:%S"
    lines = [f"lease {ip} {{", f"  starts {at(start).strftime(fmt)};",
             f"  ends {at(end).strftime(fmt) if end is not None else 'never'};",
             f"  cltt {at(cltt if cltt is not None else start).strftime(fmt)};",
             f"  binding state {state};",
             f"  next binding state {'free' if state == 'active' else state};",
             "  rewind binding state free;", f"  hardware ethernet {mac};"]
    if uid is not None:
        lines.append(f"  uid {dhcpd_quote(uid)};")
    if circuit_id is not None:
        if isinstance(circuit_id, bytes):
            lines.append("  option agent.circuit-id " + ":".join(f"{b:x}" for b in circuit_id)
                         + ";")
        else:
            lines.append(f'  option agent.circuit-id "{circuit_id}";')
    if remote_id is not None:
        lines.append(f'  option agent.remote-id "{remote_id}";')
    lines.append('  set vendor-class-identifier = "udhcp 1.36.1";')
    if hostname:
        lines.append(f'  client-hostname "{hostname}";')
    return "\n".join(lines) + "\n}\n"


def kea_csv_row(ip: str, mac: str, lifetime: int, expire: float, *, client_id: str = "",
                state: int = 0, hostname: str = "", circuit_id: str | None = None,
                remote_id: str | None = None) -> str:
    """A kea-leases4.csv row as Kea 2.4's memfile writes it; with option 82, the relay agent
    information Kea keeps in user_context (commas escaped as ``&#x2c``)."""
    context = ""
    if circuit_id is not None or remote_id is not None:
        sub = b""
        for code, value in ((1, circuit_id), (2, remote_id)):
            if value is not None:
                sub += bytes([code, len(value)]) + value.encode()
        context = ('{ "ISC": { "relay-agent-info": { "sub-options": "0x'
                   + sub.hex().upper() + '" } } }').replace(",", "&#x2c")
    return (f"{ip},{mac},{client_id},{lifetime},{int(expire)},1,0,0,{hostname},{state},"
            f"{context},0\n")
