"""ISC dhcpd.leases and Kea lease CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwarden.attribute import DhcpdLeasesSource, KeaLeaseSource

from .logs import KEA_HEADER, at, dhcpd_lease, kea_row, write

MAC1, MAC2 = "02:00:00:00:00:01", "02:00:00:00:00:02"


def test_dhcpd_lease_attribution_and_release(tmp_path: Path, make_attributor,
                                             pseudonymizer) -> None:
    text = ("# dhcpd.leases\nauthoring-byte-order little-endian;\n"
            + dhcpd_lease("127.77.2.1", at(0), at(43200), MAC1, hostname="host1")
            # MAC1 releases early; MAC2 gets the address afterwards
            + dhcpd_lease("127.77.2.1", at(0), at(3600), MAC1, state="free")
            + dhcpd_lease("127.77.2.1", at(7200), at(50000), MAC2))
    log = write(tmp_path / "dhcpd.leases", text)
    source = DhcpdLeasesSource(log)
    found = sorted(source.intervals(), key=lambda i: i.start)
    assert [(i.account, i.end - i.start) for i in found] == [
        (f"mac:{MAC1}", 3600), (f"mac:{MAC2}", 50000 - 7200)]
    assert found[0].line_first == 3 and source.problems == []
    att = make_attributor(DhcpdLeasesSource(log))
    assert att.attribute("127.77.2.1", None, at(1000)).pseudonym == \
        pseudonymizer.pseudonym(f"mac:{MAC1}")
    assert att.attribute("127.77.2.1", None, at(5000)).reason_code == "no_session"
    result = att.attribute("127.77.2.1", None, at(8000))
    assert result.pseudonym == pseudonymizer.pseudonym(f"mac:{MAC2}")
    assert result.log_kind == "dhcpd" and "client-hostname" not in result.reason


def test_dhcpd_overlapping_leases_are_ambiguous(tmp_path: Path, make_attributor) -> None:
    text = (dhcpd_lease("127.77.2.2", at(0), at(3600), MAC1)
            + dhcpd_lease("127.77.2.2", at(1800), at(5400), MAC2))
    att = make_attributor(DhcpdLeasesSource(write(tmp_path / "l", text)))
    assert att.attribute("127.77.2.2", None, at(2000)).reason_code == "two_candidates"


def test_dhcpd_garbage_truncated_and_epoch(tmp_path: Path) -> None:
    text = ("total garbage\n"
            "lease 127.77.2.3 {\n  starts epoch 1793786400; # local\n  ends epoch 1793790000;\n"
            "  binding state active;\n  hardware ethernet 02:00:00:00:00:03;\n}\n"
            "lease not-an-ip {\n  starts 3 2026/11/04 10:00:00;\n}\n"
            "lease 127.77.2.4 {\n  starts 3 2026/11/04 10:00:00;\n  ends 3 2026/11/04 09:00:00;\n"
            "  hardware ethernet 02:00:00:00:00:04;\n}\n"
            "lease 127.77.2.5 {\n  starts 3 2026/11/04 10:00:00;\n  ends 3 2026/11/04 1")
    source = DhcpdLeasesSource(write(tmp_path / "l", text))
    found = list(source.intervals())
    assert [(i.ip, i.start, i.end) for i in found] == [("127.77.2.3", 1793786400.0,
                                                        1793790000.0)]
    problems = {p.line: p.problem for p in source.problems}
    assert "garbage" in problems[1]
    assert "not an IP" in problems[8]
    assert "clock jump" in problems[11]
    assert "truncated" in problems[16]


def test_kea_csv_renewal_release_and_declined(tmp_path: Path, make_attributor,
                                              pseudonymizer) -> None:
    text = (KEA_HEADER
            + kea_row("127.77.3.1", MAC1, 3600, at(3600), hostname="a&#x2cb")
            + kea_row("127.77.3.1", MAC1, 3600, at(5400))  # renewal at 1800
            + kea_row("127.77.3.1", MAC1, 0, at(6000), state=0)  # deleted (released) at 6000
            + kea_row("127.77.3.2", MAC2, 3600, at(3600), state=1)  # declined
            + "127.77.3.3,02:00,broken\n"
            + kea_row("127.77.3.1", MAC2, 3600, at(10000)))
    log = write(tmp_path / "kea-leases4.csv", text)
    source = KeaLeaseSource(log)
    found = sorted(source.intervals(), key=lambda i: (i.start, i.end))
    assert [(i.account, i.start - at(0).timestamp(), i.end - at(0).timestamp())
            for i in found] == [(f"mac:{MAC1}", 0, 3600), (f"mac:{MAC1}", 1800, 5400),
                                (f"mac:{MAC2}", 6400, 10000)]
    assert [p.line for p in source.problems] == [6]
    att = make_attributor(KeaLeaseSource(log))
    # inside the renewal overlap of the same client: still one account, attributed
    assert att.attribute("127.77.3.1", None, at(3600)).pseudonym == \
        pseudonymizer.pseudonym(f"mac:{MAC1}")
    assert att.attribute("127.77.3.2", None, at(100)).status == "none"


def test_kea_rejects_a_file_without_header(tmp_path: Path) -> None:
    source = KeaLeaseSource(write(tmp_path / "k.csv", "1,2,3\n"))
    assert list(source.intervals()) == []
    assert "header" in source.problems[0].problem


@pytest.mark.parametrize("key,expected", [("client_id", "client_id:01:"), (None, "mac:")])
def test_kea_account_key(tmp_path: Path, key, expected) -> None:
    log = write(tmp_path / "k.csv", KEA_HEADER + kea_row("127.77.3.9", MAC1, 60, at(60)))
    options = {"account_key": key} if key else {}
    (found,) = list(KeaLeaseSource(log, options=options).intervals())
    assert found.account.startswith(expected)


def test_dhcpd_lease_that_never_ends(tmp_path: Path, make_attributor, pseudonymizer) -> None:
    text = ("lease 127.77.2.9 {\n  starts 3 2026/11/04 10:00:00;\n  ends never;\n"
            "  binding state active;\n  hardware ethernet 02:00:00:00:00:09;\n}\n")
    att = make_attributor(DhcpdLeasesSource(write(tmp_path / "l", text)))
    result = att.attribute("127.77.2.9", None, at(86400 * 3))
    assert result.pseudonym == pseudonymizer.pseudonym("mac:02:00:00:00:00:09")
    assert result.as_dict()["interval_end"] is None
