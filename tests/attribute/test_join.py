"""Issue 13: one subscriber in RADIUS accounting and DHCP leases is one subscriber.

The logs are written the way FreeRADIUS (``detail``), ISC dhcpd (``dhcpd.leases``) and Kea
(``kea-leases4.csv``) write them (tests/attribute/logs.py), with the MAC in the notations real
deployments mix (``02-BB-..`` in Calling-Station-Id, ``02:bb:..`` in the lease, Cisco
``02bb.0961.d0f8``), ``uid`` as an octal-escaped string and the relay agent's option 82.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netwarden.attribute import (
    DhcpdLeasesSource,
    JuniperPbaSource,
    KeaLeaseSource,
    RadiusDetailSource,
)
from netwarden.attribute.identity import JoinPolicy

from .logs import (
    DHCPD_HEADER,
    KEA_HEADER,
    at,
    dhcpd_block,
    freeradius_session,
    kea_csv_row,
    pba_line,
    write,
)

# the subscriber of the issue (synthetic values in the same shapes)
IP = "127.77.8.20"
USER, MAC, PORT = "u3492057", "02:bb:09:61:d0:f8", "olt-1/2/2:498"
UID = bytes.fromhex("0102bb0961d0f8")


@pytest.fixture
def issue_logs(tmp_path: Path) -> tuple[Path, Path]:
    """RADIUS session 0..7200 with interim updates; the lease renewed twice over the same
    time (dhcpd appends a block per renewal)."""
    detail = write(tmp_path / "detail", freeradius_session(
        USER, IP, "8O2V1L0N-00000001", 0, 7200, calling="02-BB-09-61-D0-F8", port_id=PORT))
    blocks = [dhcpd_block(IP, s, s + 3600, MAC, remote_id=USER, circuit_id=PORT, uid=UID,
                          hostname="router-3492057") for s in (0, 1800, 3600)]
    leases = write(tmp_path / "dhcpd.leases", DHCPD_HEADER + "\n".join(blocks))
    return detail, leases


def test_radius_and_lease_of_one_subscriber_are_one_subscriber(
        issue_logs: tuple[Path, Path], make_attributor, pseudonymizer) -> None:
    detail, leases = issue_logs
    alone = make_attributor(RadiusDetailSource(detail))
    att = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases))
    for t in (100, 2000, 4000, 7000):
        result = att.attribute(IP, None, at(t))
        assert (result.status, result.reason_code) == ("subscriber", "attributed"), \
            (t, result.reason)
        # the pseudonym RADIUS alone gives: the account is the User-Name
        assert result.pseudonym == pseudonymizer.pseudonym(USER) == \
            alone.attribute(IP, None, at(t)).pseudonym
        assert result.identifier == "user"
        assert set(result.joined_on) >= {"mac", "user=remote_id", "nas_port_id=circuit_id"}
        # both sources are in the evidence, with their lines
        files = {s.rsplit(":", 1)[0] for s in result.source}
        assert files == {str(detail), str(leases)}, result.source
        assert "radius and dhcpd records are one subscriber" in result.reason
    data = att.attribute(IP, None, at(2000)).as_dict()
    assert data["identifier"] == "user" and "mac" in data["joined_on"]
    assert USER not in repr(data) and MAC not in repr(data)


def test_lease_alone_names_the_same_pseudonym_through_remote_id(
        issue_logs: tuple[Path, Path], make_attributor, pseudonymizer) -> None:
    _, leases = issue_logs
    result = make_attributor(DhcpdLeasesSource(leases)).attribute(IP, None, at(2000))
    assert result.pseudonym == pseudonymizer.pseudonym(USER)
    assert result.identifier == "remote_id"


def test_account_is_configurable(issue_logs: tuple[Path, Path], make_attributor,
                                 pseudonymizer) -> None:
    detail, leases = issue_logs
    att = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases),
                          join=JoinPolicy(account=["mac", "user"]))
    result = att.attribute(IP, None, at(2000))
    assert result.pseudonym == pseudonymizer.pseudonym(f"mac:{MAC}")
    assert result.identifier == "mac"


def test_live_reassignment_between_two_subscribers(tmp_path: Path, make_attributor,
                                                   pseudonymizer) -> None:
    """A's session and lease end at 3000 (Stop; DHCPRELEASE → a ``free`` block); B gets the
    address at 3010. Cisco notation for B's Calling-Station-Id."""
    ip = "127.77.8.30"
    detail = write(tmp_path / "detail",
                   freeradius_session("u1001", ip, "s-a", 0, 3000, calling="02-BB-00-00-10-01",
                                      port_id="olt-1/1/1:1")
                   + freeradius_session("u1002", ip, "s-b", 3010, 7200,
                                        calling="02bb.0000.1002", port_id="olt-1/1/1:2"))
    leases = write(tmp_path / "dhcpd.leases", DHCPD_HEADER
                   + dhcpd_block(ip, 0, 3600, "02:bb:00:00:10:01", remote_id="u1001",
                                 circuit_id="olt-1/1/1:1")
                   + dhcpd_block(ip, 0, 3000, "02:bb:00:00:10:01", state="free",
                                 remote_id="u1001", circuit_id="olt-1/1/1:1")
                   + dhcpd_block(ip, 3010, 6610, "02:bb:00:00:10:02", remote_id="u1002",
                                 circuit_id="olt-1/1/1:2")
                   + dhcpd_block(ip, 5000, 8600, "02:bb:00:00:10:02", remote_id="u1002",
                                 circuit_id="olt-1/1/1:2"))
    att = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases))
    first = att.attribute(ip, None, at(1500))
    second = att.attribute(ip, None, at(5000))
    assert (first.status, first.pseudonym) == ("subscriber", pseudonymizer.pseudonym("u1001"))
    assert (second.status, second.pseudonym) == ("subscriber", pseudonymizer.pseudonym("u1002"))
    assert {s.rsplit(":", 1)[0] for s in second.source} == {str(detail), str(leases)}
    edge = att.attribute(ip, None, at(3001))
    assert (edge.status, edge.reason_code) == ("none", "session_edge")


def test_reconnect_gap_is_covered_by_the_lease(tmp_path: Path, make_attributor,
                                               pseudonymizer) -> None:
    """The BNG session drops at 1000 and comes back at 1010 (new Acct-Session-Id, same
    address); the DHCP lease runs on. Inside the gap only the lease holds the address: it is
    confirmed by the same subscriber's accounting before and after."""
    ip = "127.77.8.31"
    detail = write(tmp_path / "detail",
                   freeradius_session("u1101", ip, "s-1", 0, 1000, calling="02-BB-00-00-11-01")
                   + freeradius_session("u1101", ip, "s-2", 1010, 5000,
                                        calling="02-BB-00-00-11-01"))
    leases = write(tmp_path / "dhcpd.leases", DHCPD_HEADER
                   + dhcpd_block(ip, 0, 3600, "02:bb:00:00:11:01", remote_id="u1101")
                   + dhcpd_block(ip, 1800, 5400, "02:bb:00:00:11:01", remote_id="u1101"))
    att = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases))
    gap = att.attribute(ip, None, at(1005))
    assert (gap.status, gap.pseudonym) == ("subscriber", pseudonymizer.pseudonym("u1101")), \
        gap.reason
    assert "confirmed by accounting of the same subscriber" in gap.reason
    assert any(s.startswith(str(detail)) for s in gap.source)
    # RADIUS alone cannot say it
    alone = make_attributor(RadiusDetailSource(detail)).attribute(ip, None, at(1005))
    assert alone.status == "none"


def test_two_different_subscribers_overlapping_are_still_refused(
        tmp_path: Path, make_attributor) -> None:
    """RADIUS says u2001 (MAC ..20:01) holds the address; a lease says another client (MAC
    ..20:02, remote-id u2002) holds it at the same time: nothing joins them."""
    ip = "127.77.8.40"
    detail = write(tmp_path / "detail", freeradius_session(
        "u2001", ip, "s-1", 0, 7200, calling="02-BB-00-00-20-01", port_id="olt-1/1/2:1"))
    leases = write(tmp_path / "dhcpd.leases", DHCPD_HEADER + dhcpd_block(
        ip, 1000, 4600, "02:bb:00:00:20:02", remote_id="u2002", circuit_id="olt-1/1/2:2"))
    att = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases))
    result = att.attribute(ip, None, at(2000))
    assert (result.status, result.reason_code, result.pseudonym) == (
        "none", "two_candidates", None)
    assert "2 different subscribers" in result.reason
    assert f"radius {detail}:1-" in result.reason and f"dhcpd {leases}:" in result.reason
    assert "u2001" not in result.reason and "u2002" not in result.reason
    assert {s.rsplit(":", 1)[0] for s in result.source} == {str(detail), str(leases)}


def test_joined_records_naming_different_accounts_disagree(tmp_path: Path,
                                                           make_attributor,
                                                           pseudonymizer) -> None:
    """Same MAC, but RADIUS says User-Name u3001 and the relay says remote-id u3999."""
    ip = "127.77.8.50"
    detail = write(tmp_path / "detail", freeradius_session(
        "u3001", ip, "s-1", 0, 7200, calling="02-BB-00-00-30-01"))
    leases = write(tmp_path / "dhcpd.leases", DHCPD_HEADER + dhcpd_block(
        ip, 0, 3600, "02:bb:00:00:30:01", remote_id="u3999"))
    att = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases))
    result = att.attribute(ip, None, at(1000))
    assert (result.status, result.reason_code) == ("none", "sources_disagree")
    assert "joined by mac" in result.reason and "user/remote_id" in result.reason
    assert str(detail) in result.reason and str(leases) in result.reason
    assert "u3001" not in result.reason and "u3999" not in result.reason
    # an operator whose remote-id is not the account says so: then the MAC joins them and
    # the User-Name is the account
    configured = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases),
                                 join=JoinPolicy(join=["mac", "client_id"]))
    answer = configured.attribute(ip, None, at(1000))
    assert (answer.status, answer.pseudonym) == ("subscriber", pseudonymizer.pseudonym("u3001"))


def test_lease_without_accounting(tmp_path: Path, make_attributor, pseudonymizer) -> None:
    """The accounting covers the time and knows the address (u4001 held it earlier), but no
    session of the lease's subscriber confirms the lease: refused. An address the accounting
    never mentions (a DHCP-only pool) is attributed from its lease."""
    ip, dhcp_only = "127.77.8.60", "127.77.9.60"
    detail = write(tmp_path / "detail",
                   freeradius_session("u4001", ip, "s-1", 0, 1000, calling="02-BB-00-00-40-01")
                   + freeradius_session("u4003", "127.77.8.61", "s-3", 0, 9000))
    leases = write(tmp_path / "dhcpd.leases", DHCPD_HEADER
                   + dhcpd_block(ip, 2000, 5600, "02:bb:00:00:40:02", remote_id="u4002")
                   + dhcpd_block(dhcp_only, 2000, 5600, "02:bb:00:00:50:01",
                                 remote_id="u5001"))
    att = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases))
    result = att.attribute(ip, None, at(3000))
    assert (result.status, result.reason_code) == ("none", "lease_without_accounting")
    assert str(leases) in result.reason and str(detail) in result.reason
    pool = att.attribute(dhcp_only, None, at(3000))
    assert (pool.status, pool.pseudonym) == ("subscriber", pseudonymizer.pseudonym("u5001"))


def test_kea_csv_and_radius_join(tmp_path: Path, make_attributor, pseudonymizer) -> None:
    """Kea keeps option 82 in user_context; the MAC and client id join too. A renewal every
    half lifetime; reassignment to another client at 4000."""
    ip = "127.77.8.70"
    detail = write(tmp_path / "detail",
                   freeradius_session("u6001", ip, "k-1", 0, 3990, calling="02-BB-00-00-60-01",
                                      port_id="olt-2/1/1:7")
                   + freeradius_session("u6002", ip, "k-2", 4000, 9000,
                                        calling="02:BB:00:00:60:02", port_id="olt-2/1/1:8"))
    rows = [kea_csv_row(ip, "02:bb:00:00:60:01", 3600, at(t + 3600).timestamp(),
                        client_id="01:02:bb:00:00:60:01", circuit_id="olt-2/1/1:7",
                        remote_id="u6001") for t in (0, 1800)]
    rows.append(kea_csv_row(ip, "02:bb:00:00:60:01", 0, at(3990).timestamp(),
                            client_id="01:02:bb:00:00:60:01",
                            state=3))  # released
    rows.append(kea_csv_row(ip, "02:bb:00:00:60:02", 3600, at(7600).timestamp(),
                            client_id="01:02:bb:00:00:60:02"))  # no option 82: MAC joins
    kea = write(tmp_path / "kea-leases4.csv", KEA_HEADER + "".join(rows))
    att = make_attributor(RadiusDetailSource(detail), KeaLeaseSource(kea))
    first = att.attribute(ip, None, at(2500))
    assert (first.status, first.pseudonym) == ("subscriber", pseudonymizer.pseudonym("u6001"))
    assert {"mac", "user=remote_id", "nas_port_id=circuit_id"} <= set(first.joined_on)
    assert {s.rsplit(":", 1)[0] for s in first.source} == {str(detail), str(kea)}
    second = att.attribute(ip, None, at(5000))
    assert (second.status, second.pseudonym) == ("subscriber", pseudonymizer.pseudonym("u6002"))
    assert second.joined_on == ("mac",)
    intervals = list(KeaLeaseSource(kea).intervals())
    assert any("remote_id=u6001" in i.ids and "circuit_id=olt-2/1/1:7" in i.ids
               for i in intervals)


def test_cgnat_port_block_radius_and_lease(tmp_path: Path, make_attributor,
                                           pseudonymizer) -> None:
    """Public port → private address (Juniper PBA) → the private address's RADIUS session
    and DHCP lease, joined."""
    private, public = "100.64.0.5", "127.77.5.1"
    nat = write(tmp_path / "nat.log", pba_line("ALLOC", private, public, 1024, 1151, at(0))
                + pba_line("RELEASE", private, public, 1024, 1151, at(7000)))
    detail = write(tmp_path / "detail", freeradius_session(
        "u7001", private, "c-1", 0, 7200, calling="02-BB-00-00-70-01", port_id="olt-3/1/1:1"))
    leases = write(tmp_path / "dhcpd.leases", DHCPD_HEADER + dhcpd_block(
        private, 0, 7200, "02:bb:00:00:70:01", remote_id="u7001", circuit_id="olt-3/1/1:1"))
    att = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases),
                          nat=(JuniperPbaSource(nat),))
    result = att.attribute(public, 1100, at(3000))
    assert (result.status, result.pseudonym) == ("subscriber", pseudonymizer.pseudonym("u7001"))
    assert result.nat is not None and result.nat["private_ip"] == private
    assert {s.rsplit(":", 1)[0] for s in result.source} == {str(nat), str(detail), str(leases)}
    # a conflict behind the NAT is still a conflict
    leases2 = write(tmp_path / "other.leases", DHCPD_HEADER + dhcpd_block(
        private, 0, 7200, "02:bb:00:00:70:99", remote_id="u7999"))
    refused = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases2),
                              nat=(JuniperPbaSource(nat),)).attribute(public, 1100, at(3000))
    assert refused.reason_code == "two_candidates" and "behind CGNAT" in refused.reason


def test_reveal_of_a_joined_subscriber(issue_logs: tuple[Path, Path], make_attributor,
                                       pseudonymizer) -> None:
    detail, leases = issue_logs
    att = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases))
    found = att.reveal(pseudonymizer.pseudonym(USER), "court order 5/2026")
    assert found.account == USER
    assert set(found.identifier) == {"user", "remote_id"}
    assert set(found.sources) == {str(detail), str(leases)}
    leaf = found.record("investigator", "c").entry()  # the reveal leaf names every kind
    assert leaf["identifier"] == list(found.identifier) and USER not in str(leaf)
    by_mac = att.reveal(pseudonymizer.pseudonym(f"mac:{MAC}"), "court order 5/2026")
    assert by_mac.identifier == ("mac",) and set(by_mac.sources) == {str(detail), str(leases)}


def test_every_finding_of_a_run_names_the_right_subscriber(tmp_path: Path, make_attributor,
                                                           pseudonymizer) -> None:
    """The issue's "done when": 30 addresses, each held by one subscriber and handed to
    another mid-run (RADIUS Stop/Start + DHCPRELEASE/new lease), both logs in the scope,
    MAC notations mixed. Every observation away from the hand-over names the right
    pseudonym — the same one RADIUS alone gives — and rests on both logs."""
    import random

    rng = random.Random(13)
    notations = [lambda m: m.upper().replace(":", "-"), lambda m: m,
                 lambda m: m.replace(":", "")[:4] + "." + m.replace(":", "")[4:8] + "."
                 + m.replace(":", "")[8:]]
    detail_text, lease_text, truth = "", DHCPD_HEADER, []
    for a in range(30):
        ip = f"127.77.10.{a + 1}"
        handover = rng.randrange(3000, 6000)
        for k, (start, stop) in enumerate(((0, handover), (handover + 5, 10800))):
            user, mac = f"u{a:03d}{k}", f"02:bb:00:10:{a:02x}:{k:02x}"
            port = f"olt-1/{a}/{k}:1"
            detail_text += freeradius_session(user, ip, f"{a}-{k}", start, stop,
                                              calling=rng.choice(notations)(mac), port_id=port)
            for t in range(start, stop, 1800):  # a renewal every half hour
                lease_text += dhcpd_block(ip, t, min(t + 3600, stop), mac, remote_id=user,
                                          circuit_id=port, uid=b"\x01" + bytes.fromhex(
                                              mac.replace(":", "")))
            if stop < 10800:  # released at the hand-over
                lease_text += dhcpd_block(ip, start, stop, mac, state="free")
            truth.append((ip, start, stop, user))
    detail = write(tmp_path / "detail", detail_text)
    leases = write(tmp_path / "dhcpd.leases", lease_text)
    both = make_attributor(RadiusDetailSource(detail), DhcpdLeasesSource(leases))
    alone = make_attributor(RadiusDetailSource(detail))
    checked = 0
    for ip, start, stop, user in truth:
        for _ in range(5):
            t = rng.uniform(start + 10, stop - 10)
            answer = both.attribute(ip, None, at(t))
            assert (answer.status, answer.pseudonym) == (
                "subscriber", pseudonymizer.pseudonym(user)), (ip, t, answer.reason)
            assert answer.pseudonym == alone.attribute(ip, None, at(t)).pseudonym
            assert {s.rsplit(":", 1)[0] for s in answer.source} == {str(detail), str(leases)}
            checked += 1
    assert checked == 300
