"""CGNAT: Juniper port-block allocation syslog and RFC 7422 deterministic NAT."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netwarden.attribute import DeterministicNat, JuniperPbaSource, RadiusDetailSource
from netwarden.errors import InputError

from .logs import at, pba_line, radius_session, write

PUBLIC = "127.77.5.1"


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    nat = write(tmp_path / "nat.log",
                pba_line("ALLOC", "100.64.0.5", PUBLIC, 1024, 1151, at(0))
                + pba_line("ALLOC", "100.64.0.6", PUBLIC, 1152, 1279, at(10))
                + "Nov  4 10:00:11 mx1 some other unrelated message\n"
                + pba_line("ACTIVE", "100.64.0.5", PUBLIC, 1024, 1151, at(1800))
                + pba_line("RELEASE", "100.64.0.5", PUBLIC, 1024, 1151, at(3000))
                + pba_line("ALLOC", "100.64.0.7", PUBLIC, 1024, 1151, at(3100))
                + "Nov  4 10:55:00 mx1 {sset1}[jservices-nat]: JSERVICES_NAT_PORT_BLOCK_ALLOC: "
                  "100.64.0.9 -> 127.77\n")
    radius = write(tmp_path / "detail",
                   radius_session("user0005", "100.64.0.5", "a", 0, 4000)
                   + radius_session("user0006", "100.64.0.6", "b", 0, 4000)
                   + radius_session("user0007", "100.64.0.7", "c", 3050, 8000))
    return nat, radius


def test_juniper_pba_maps_public_port_time_to_subscriber(tmp_path: Path, make_attributor,
                                                         pseudonymizer) -> None:
    nat, radius = _setup(tmp_path)
    source = JuniperPbaSource(nat)
    found = sorted(source.intervals(), key=lambda i: (i.start, i.port_lo))
    assert [(i.account, i.port_lo, i.port_hi, i.end_kind) for i in found] == [
        ("100.64.0.5", 1024, 1151, "stop"), ("100.64.0.6", 1152, 1279, "estimated"),
        ("100.64.0.7", 1024, 1151, "estimated")]
    assert sorted(p.line for p in source.problems) == [3, 7]
    att = make_attributor(RadiusDetailSource(radius), nat=(JuniperPbaSource(nat),))
    one = att.attribute(PUBLIC, 1100, at(1000))
    assert one.status == "subscriber" and one.pseudonym == pseudonymizer.pseudonym("user0005")
    assert one.nat is not None and one.nat["private_ip"] == "100.64.0.5"
    assert one.source[0] == f"{nat}:1-5"
    # the same public port later belongs to another subscriber
    later = att.attribute(PUBLIC, 1100, at(4000))
    assert later.pseudonym == pseudonymizer.pseudonym("user0007")
    # a port in the other block
    assert att.attribute(PUBLIC, 1200, at(1000)).pseudonym == \
        pseudonymizer.pseudonym("user0006")


def test_shared_public_address_without_port_is_not_attributed(tmp_path: Path,
                                                              make_attributor) -> None:
    nat, radius = _setup(tmp_path)
    att = make_attributor(RadiusDetailSource(radius), nat=(JuniperPbaSource(nat),))
    result = att.attribute(PUBLIC, None, at(1000))
    assert (result.status, result.reason_code) == ("none", "shared_address_without_port")
    assert att.attribute(PUBLIC, 40000, at(1000)).reason_code == "no_nat_mapping"
    # handover of the block inside the skew window
    assert att.attribute(PUBLIC, 1100, at(3001)).reason_code in ("nat_block_edge",
                                                                 "no_nat_mapping")


def test_pba_without_hex_time_needs_timezone_and_year(tmp_path: Path) -> None:
    log = write(tmp_path / "nat.log", pba_line("ALLOC", "100.64.0.5", PUBLIC, 1024, 1151,
                                               at(0), hex_time=False))
    with pytest.raises(InputError, match="line 1"):
        list(JuniperPbaSource(log).intervals())
    (found,) = JuniperPbaSource(log, timezone="UTC", options={"year": 2026}).intervals()
    assert found.start == at(0).timestamp()


def test_rfc7422_known_values() -> None:
    nat = DeterministicNat.from_config({"inside": "100.64.0.0/16", "outside": "127.77.5.0/28",
                                        "ports_per_subscriber": 2000, "first_port": 1024},
                                       "scope", "attribution.cgnat[0]")
    assert nat.per_address == 32
    assert nat.forward("100.64.0.0") == ("127.77.5.0", 1024, 3023)
    assert nat.forward("100.64.0.33") == ("127.77.5.1", 3024, 5023)
    assert nat.reverse("127.77.5.1", 5023) == ("100.64.0.33", 3024, 5023)
    assert nat.reverse("127.77.5.1", 80) is None  # below first_port
    assert nat.reverse("127.77.5.0", 65535) is None  # beyond the last block (1024+32*2000)
    # 16 outside addresses x 32 blocks: only the first 512 inside addresses get a block
    assert nat.capacity == 512
    assert nat.reverse("127.77.5.15", 1024 + 31 * 2000) == ("100.64.1.255", 63024, 65023)
    with pytest.raises(ValueError, match="no block"):
        nat.forward("100.64.2.0")
    with pytest.raises(InputError, match="ports_per_subscriber"):
        DeterministicNat.from_config({"inside": "100.64.0.0/24", "outside": "127.77.5.0/28",
                                      "ports_per_subscriber": 0}, "scope", "k")


@given(index=st.integers(0, 2**12 - 1), pps=st.sampled_from([16, 100, 512, 1000, 4032]),
       first=st.sampled_from([1, 1024, 2048]))
def test_rfc7422_reverse_inverts_forward(index: int, pps: int, first: int) -> None:
    nat = DeterministicNat(ipaddress.IPv4Network("100.64.0.0/20"),
                           ipaddress.IPv4Network("127.77.0.0/16"), pps, first)
    private = str(ipaddress.IPv4Address("100.64.0.0") + index)
    public, lo, hi = nat.forward(private)
    for port in (lo, (lo + hi) // 2, hi):
        assert nat.reverse(public, port) == (private, lo, hi)


def test_rfc7422_attribution_end_to_end(tmp_path: Path, make_attributor,
                                        pseudonymizer) -> None:
    nat = DeterministicNat.from_config({"inside": "100.64.0.0/24", "outside": "127.77.5.0/30",
                                        "ports_per_subscriber": 1000}, "s", "k")
    public, lo, _ = nat.forward("100.64.0.70")
    radius = write(tmp_path / "detail", radius_session("user0070", "100.64.0.70", "x", 0, 600))
    att = make_attributor(RadiusDetailSource(radius), deterministic=[nat])
    result = att.attribute(public, lo + 5, at(300))
    assert result.pseudonym == pseudonymizer.pseudonym("user0070")
    assert result.nat["private_ip"] == "100.64.0.70"
    assert att.attribute(public, None, at(300)).reason_code == "shared_address_without_port"
