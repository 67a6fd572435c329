"""Generators of synthetic provider logs for the attribution tests (and the benchmark).

Everything is made up: accounts ``user0001``..., loopback / test addresses, fixed times.
"""

from __future__ import annotations

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
