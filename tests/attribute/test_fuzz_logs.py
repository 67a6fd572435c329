"""Fuzzing the provider-log parsers (issue 14): RADIUS detail, ISC dhcpd.leases, Kea lease CSV
and Juniper CGNAT port-block syslog.

A log file is hostile input. The contract of :class:`~netwarden.attribute.base.LogSource`:
a bad line is a recorded problem, never a crash; only a whole-file problem (a local time with
no declared time zone, a BSD syslog time without year) raises ``InputError``. Hypothesis
writes structured-but-hostile records (``HYPOTHESIS_PROFILE=long`` by hand for a longer run)
and checks that ``intervals()`` ends in intervals or ``InputError`` and that every interval is
bounded: a real address in canonical form, start <= end, no NaN, ports within 0-65535, line
numbers within the file, and no more intervals than lines. Crash inputs found are kept below
as explicit regression examples.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netwarden.attribute.base import MAX_SECONDS, MIN_SECONDS, LogSource, normalize_ip
from netwarden.attribute.cgnat import JuniperPbaSource
from netwarden.attribute.dhcpd import DhcpdLeasesSource
from netwarden.attribute.kea import KeaLeaseSource
from netwarden.attribute.radius import RadiusDetailSource
from netwarden.errors import InputError

settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_DIR = Path(tempfile.mkdtemp(prefix="netwarden-fuzz-logs-"))
_ZONES = st.sampled_from([None, "UTC", "Asia/Tokyo", "America/New_York"])
# numbers a hostile log writes: huge, Unicode digits, signs, float syntax
_NUMS = ["0", "1", "3600", "-1", "-3600", "²", "٣٠", "1_000", "1e9", "nan", "inf", "9" * 30,
         "9" * 400, "1" * 5000, "99999999999", " 7 ", "0x10", ""]
_IPS = ["127.77.0.1", "127.77.0.2", "::1", "[::1]", "256.1.1.1", "1.2.3", "", "fe80::1%eth0",
        "100.64.0.5", "::ffff:127.0.0.1", "x"]


def _run(source: LogSource, text: str) -> None:
    source.path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        got = list(source.intervals())
    except InputError as exc:
        assert exc.problem  # names the problem (and the file: exc.source)
        return
    lines = source.lines_read
    assert len(got) <= max(lines, 1)
    for iv in got:
        assert iv.kind == source.kind
        assert iv.ip == normalize_ip(iv.ip)
        assert not math.isnan(iv.start) and not math.isnan(iv.end)
        assert MIN_SECONDS <= iv.start <= MAX_SECONDS  # a datetime can show it
        assert iv.start <= iv.end, iv
        assert 0 <= iv.port_lo <= iv.port_hi <= 65535
        assert 1 <= iv.line_first <= iv.line_last <= lines
        assert iv.account and "\n" not in iv.ids
    assert len(source.problems) <= source.problem_count


def _lines(pieces: st.SearchStrategy[str], max_size: int = 40) -> st.SearchStrategy[str]:
    return st.lists(st.one_of(pieces, st.text(max_size=8)), max_size=max_size).map("".join)


# -- RADIUS detail -----------------------------------------------------------------------------

_RADIUS_ATTRS = ["Acct-Status-Type", "User-Name", "Framed-IP-Address", "Acct-Session-Id",
                 "Acct-Unique-Session-Id", "NAS-IP-Address", "Event-Timestamp", "Timestamp",
                 "Acct-Session-Time", "Calling-Station-Id", "NAS-Port-Id", "Bogus"]
_RADIUS_VALUES = [*_NUMS, *_IPS, "Start", "Stop", "Interim-Update", "Alive", "Accounting-On",
                  "Accounting-Off", '"user1"', '"s1"', "02-BB-09-61-D0-F8",
                  '"Nov  4 2026 10:00:00 UTC"', '"Nov  4 2026 10:00:00 MSK"',
                  '"Nov  4 2026 10:00:00 +0300"', '"Feb 31 2026 25:00:00 UTC"',
                  '"Nov  4 0000 10:00:00 UTC"', '"Nov  4 9999 23:59:59 -2359"',
                  "2026-11-04T10:00:00Z", "0001-01-01T00:00:00+05:00",
                  "9999-12-31T23:59:59-05:00", "2026-11-04T10:00:00", "0001-01-01T00:00:00"]
_RADIUS_HEADERS = ["Wed Nov  4 10:00:00 2026", "Mon Jan  1 00:00:00 0001",
                   "Fri Dec 31 23:59:59 9999", "Xxx Foo 99 99:99:99 2026", "garbage"]


def _good_or(draw: st.DrawFn, good: str, hostile: list[str]) -> str | None:
    """Usually ``good`` (so whole records parse and intervals are checked), else hostile
    (a listed value or random text), sometimes absent."""
    mode = draw(st.integers(0, 9))
    if mode == 9:
        return None
    if mode < 7:
        return good
    return draw(st.one_of(st.sampled_from(hostile), st.text(max_size=12)))


@st.composite
def _radius(draw: st.DrawFn) -> str:
    out = []
    base = draw(st.integers(1_762_250_400, 1_762_260_000))
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 3)):
            out.append(_good_or(draw, "Wed Nov  4 10:00:00 2026", _RADIUS_HEADERS) or "")
        when = base + draw(st.integers(-600, 7200))
        good = {"Acct-Status-Type": draw(st.sampled_from(["Start", "Stop", "Interim-Update",
                                                          "Alive", "Accounting-On"])),
                "User-Name": f'"u{draw(st.integers(0, 2))}"',
                "Framed-IP-Address": f"127.77.0.{draw(st.integers(1, 3))}",
                "Acct-Session-Id": f'"s{draw(st.integers(0, 2))}"',
                "NAS-IP-Address": "127.77.0.1",
                "Event-Timestamp": str(when),
                "Acct-Session-Time": str(draw(st.integers(0, 7200))),
                "Calling-Station-Id": '"02-BB-09-61-D0-F8"'}
        if draw(st.booleans()):
            good["Acct-Unique-Session-Id"] = "u-" + good["Acct-Session-Id"].strip('"')
        for name, ok in good.items():
            value = _good_or(draw, ok, _RADIUS_VALUES)
            if value is not None:
                sep = " = " if draw(st.integers(0, 9)) else draw(st.sampled_from(["=", " = = "]))
                out.append("\t" + name + sep + value)
        if draw(st.integers(0, 9)) == 0:
            out.append(draw(st.sampled_from(["garbage", " Bogus = 1", "\tTimestamp = 1"])))
        out.append("" if draw(st.integers(0, 9)) else "\r")
    return "\n".join(out) + draw(st.sampled_from(["\n", ""]))


@given(st.one_of(_radius(), _lines(st.sampled_from([*_RADIUS_VALUES, "\n", "\t", " = "]))),
       _ZONES, st.sampled_from([60, 3600]))
@example("Wed Nov  4 10:00:00 2026\n\tAcct-Status-Type = Stop\n\tUser-Name = u\n"
         "\tAcct-Session-Id = s\n\tFramed-IP-Address = 127.0.0.1\n\tTimestamp = 1000\n"
         "\tAcct-Session-Time = ²\n\n", None, 60)  # was ValueError out of intervals()
@example("\tAcct-Status-Type = Stop\n\tUser-Name = u\n\tAcct-Session-Id = s\n"
         "\tFramed-IP-Address = 127.0.0.1\n\tTimestamp = 1000\n"
         "\tAcct-Session-Time = " + "9" * 400 + "\n\n", None, 60)  # was OverflowError
@example("\tAcct-Status-Type = Start\n\tUser-Name = u\n\tAcct-Session-Id = s\n"
         "\tFramed-IP-Address = 127.0.0.1\n\tTimestamp = " + "9" * 400 + "\n\n", None, 60)
@example("\tAcct-Status-Type = Start\n\tUser-Name = u\n\tAcct-Session-Id = s\n"
         "\tFramed-IP-Address = 127.0.0.1\n\tEvent-Timestamp = 0001-01-01T00:00:00\n\n",
         "Asia/Tokyo", 60)
def test_radius_detail(text: str, zone: str | None, interim: int) -> None:
    _run(RadiusDetailSource(_DIR / "detail", zone, {"interim_interval": interim}), text)


# -- ISC dhcpd.leases --------------------------------------------------------------------------

_DHCPD_STMTS = ["starts 3 2026/11/04 10:00:00;", "ends 3 2026/11/04 11:00:00;", "ends never;",
                "starts epoch 1762250400;", "ends epoch " + "9" * 400 + ";",
                "starts epoch ²;", "starts 1 0000/01/01 00:00:00;",
                "starts 1 9999/12/31 23:59:59;", "ends 1 0001/01/01 00:00:00;",
                "starts 1 ٢٠٢٦/١١/٠٤ ١٠:٠٠:٠٠;", "starts 3 2026/02/31 10:00:00;",
                "binding state active;", "binding state free;", "binding state released;",
                "binding state expired;", "hardware ethernet 02:bb:09:61:d0:f8;",
                "hardware ethernet zz;", 'uid "\\001\\002\\273";', "uid 01:02:bb;",
                'client-hostname "h";', 'option agent.remote-id "\\777";',
                "option agent.circuit-id 0:1:zz;", "option agent.circuit-id 0x;",
                "starts 3 2026/11/04 10:00:00", "# comment", "{", "}", "}}"]


@st.composite
def _dhcpd(draw: st.DrawFn) -> str:
    out = []
    for _ in range(draw(st.integers(0, 6))):
        ip = _good_or(draw, f"127.77.0.{draw(st.integers(1, 3))}", _IPS) or ""
        out.append(_good_or(draw, f"lease {ip} {{", [f"lease {ip}{{", f"lease6 {ip} {{",
                                                     "failover peer x {", "server-duid 1;",
                                                     "junk"]) or "")
        hour = draw(st.integers(10, 12))
        good = [f"starts 3 2026/11/04 {hour}:00:00;", f"ends 3 2026/11/04 {hour + 1}:00:00;",
                "binding state " + draw(st.sampled_from(["active", "free", "released",
                                                         "expired"])) + ";",
                "hardware ethernet 02:bb:09:61:d0:f" + str(draw(st.integers(0, 9))) + ";",
                'uid "\\001\\002\\273";', 'option agent.remote-id "r1";']
        for stmt in good:
            got = _good_or(draw, stmt, _DHCPD_STMTS)
            if got is not None:
                out.append("  " + got)
        if draw(st.integers(0, 9)):
            out.append("}")
    return "\n".join(out) + "\n"


@given(st.one_of(_dhcpd(), _lines(st.sampled_from([*_DHCPD_STMTS, "\n", "lease 127.0.0.1 {"]))),
       _ZONES, st.sampled_from(["hardware", "uid"]))
@example("lease 127.0.0.1 {\n starts epoch " + "9" * 400 + ";\n ends never;\n"
         " hardware ethernet 02:bb:09:61:d0:f8;\n}\n", None, "hardware")  # start = inf
@example("lease 127.0.0.1 {\n starts 1 0001/01/01 00:00:00;\n ends never;\n"
         " hardware ethernet 02:bb:09:61:d0:f8;\n}\n", "Asia/Tokyo", "hardware")
def test_dhcpd_leases(text: str, zone: str | None, key: str) -> None:
    _run(DhcpdLeasesSource(_DIR / "dhcpd.leases", zone, {"account_key": key}), text)


# -- Kea lease4 CSV ----------------------------------------------------------------------------

_KEA_HEADER = ("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,"
               "hostname,state,user_context,pool_id")
_KEA_CONTEXT = ['{"ISC": {"relay-agent-info": {"sub-options": "0x0103414243020101"}}}',
                '{"relay-agent-info": {"sub-options": "0x01ff"}}',
                '{"relay-agent-info": {"remote-id": "0x"}}',
                '{"relay-agent-info": {"remote-id": "0xzz"}}',
                '{"relay-agent-info"&#x2c "sub-options": "0x0"}']


@st.composite
def _kea(draw: st.DrawFn) -> str:
    out = [_good_or(draw, _KEA_HEADER, [_KEA_HEADER + ",extra", "address,expire", "",
                                         _KEA_HEADER.replace("expire", "expiry")]) or ""]
    hostile = [*_NUMS, *_IPS, *_KEA_CONTEXT, "02:bb:09:61:d0:f8", "01:02:bb", "zz", "h&#x2cx"]
    for _ in range(draw(st.integers(0, 10))):
        if draw(st.integers(0, 9)) == 0:
            out.append(_KEA_HEADER)
            continue
        expire = draw(st.integers(1_762_250_400, 1_762_260_000))
        good = [f"127.77.0.{draw(st.integers(1, 3))}", "02:bb:09:61:d0:f8", "01:02:bb", "3600",
                str(expire), "1", "0", "0", "host", draw(st.sampled_from(["0", "1", "2", "3"])),
                draw(st.sampled_from(["", _KEA_CONTEXT[0]])), "0"]
        row = [_good_or(draw, cell, hostile) or "" for cell in good]
        if draw(st.integers(0, 9)) == 0:
            row = row[:draw(st.integers(0, len(row)))]
        out.append(",".join(row))
    return "\n".join(out) + "\n"


@given(st.one_of(_kea(), _lines(st.sampled_from([_KEA_HEADER, ",", "\n", *_NUMS]))),
       st.sampled_from(["hwaddr", "client_id"]))
@example(_KEA_HEADER + "\n127.0.0.1,02:bb:09:61:d0:f8,,3600," + "9" * 400
         + ",1,0,0,h,0,,0\n", "hwaddr")  # was OverflowError: int too large for a float
@example(_KEA_HEADER + "\n127.0.0.1,02:bb:09:61:d0:f8,,100,1000,1,0,0,h,0,,0\n"
         "127.0.0.1,02:bb:09:61:d0:f8,,-5000,2000,1,0,0,h,3,,0\n", "hwaddr")
def test_kea_lease_csv(text: str, key: str) -> None:
    _run(KeaLeaseSource(_DIR / "kea-leases4.csv", None, {"account_key": key}), text)


# -- Juniper CGNAT port-block syslog ------------------------------------------------------------

_PBA_TIMES = ["Nov  4 10:00:00", "2026-11-04T10:00:00Z", "2026-11-04T10:00:00+03:00",
              "2026-11-04T10:00:00", "2026-13-45T10:00:00Z", "2026-02-31T10:00:00+0300",
              "٢٠٢٦-١١-٠٤T10:00:00Z", "0001-01-01T00:00:00+05:00", "Feb 31 10:00:00",
              "<13>Nov  4 10:00:00", ""]


@st.composite
def _pba(draw: st.DrawFn) -> str:
    out = []
    for _ in range(draw(st.integers(0, 10))):
        when = draw(st.sampled_from(_PBA_TIMES))
        event = draw(st.sampled_from(["ALLOC", "RELEASE", "ACTIVE", "OTHER"]))
        private = draw(st.sampled_from(_IPS))
        public = draw(st.sampled_from(["127.77.5.1", "127.77.5.2", "::1", "x"]))
        lo = draw(st.sampled_from(["1024", "0", "65535", "65536", "99999", "٣", "1151"]))
        hi = draw(st.sampled_from(["1151", "1024", "65535", "0", "٣٠"]))
        hex_time = draw(st.sampled_from(["", " 0x6929c6e0", " 0xffffffffffffffff", " 0x0",
                                         " 0x"]))
        out.append(draw(st.sampled_from([
            f"{when} mx1 {{sset1}}[jservices-nat]: JSERVICES_NAT_PORT_BLOCK_{event}: "
            f"{private} -> {public}:{lo}-{hi}{hex_time}",
            f"{when} mx1 JSERVICES_SESSION_OPEN: x", "garbage",
            f"{when} JSERVICES_NAT_PORT_BLOCK_ALLOC: {private} ->"])))
    return "\n".join(out) + "\n"


@given(st.one_of(_pba(), _lines(st.sampled_from(["JSERVICES_NAT_PORT_BLOCK_ALLOC: ", " -> ",
                                                 ":", "-", "\n", *_PBA_TIMES, *_IPS]))),
       _ZONES, st.sampled_from([None, 2026, 0, 10_000]), st.sampled_from([60, 3600]))
@example("Nov  4 10:00:00 mx1 JSERVICES_NAT_PORT_BLOCK_ALLOC: 127.0.0.1 -> "
         "127.77.5.1:1024-1151 0xffffffffffffffff\n", None, None, 60)  # beyond year 9999
@example("2026-13-45T10:00:00Z mx1 JSERVICES_NAT_PORT_BLOCK_ALLOC: 127.0.0.1 -> "
         "127.77.5.1:1024-1151\n", None, None, 60)  # was ValueError out of intervals()
@example("Feb 31 10:00:00 mx1 JSERVICES_NAT_PORT_BLOCK_ALLOC: 127.0.0.1 -> "
         "127.77.5.1:1024-1151\n", "UTC", 2026, 60)  # was ValueError out of intervals()
@example("Nov  4 10:00:00 mx1 JSERVICES_NAT_PORT_BLOCK_ALLOC: 127.0.0.1 -> "
         "127.77.5.1:1024-1151\n", "UTC", 0, 60)  # year 0: was ValueError
def test_cgnat_port_block_syslog(text: str, zone: str | None, year: int | None,
                                 interim: int) -> None:
    options: dict[str, object] = {"interim_interval": interim}
    if year is not None:
        options["year"] = year
    _run(JuniperPbaSource(_DIR / "pba.log", zone, options), text)
