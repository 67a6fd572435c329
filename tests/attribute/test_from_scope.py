"""Attributor.from_scope: the scope's [attribution] table, operator hosts, the JSON contract."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from netwarden.attribute import Attributor, Pseudonymizer
from netwarden.errors import InputError
from netwarden.scope import parse_scope

from .logs import KEA_HEADER, at, dhcpd_lease, kea_row, pba_line, radius_session, write
from .test_index_pseudonym_asn import _mmdb


def _scope(tmp_path: Path, attribution: dict[str, Any]):
    data = {"check": {"id": "2026-77-0042", "authorization": "Order 17/2026",
                      "not_before": datetime(2026, 11, 1, tzinfo=UTC),
                      "not_after": datetime(2026, 12, 31, tzinfo=UTC), "jurisdiction": "ru"},
            "operator": {"name": "Example Telecom", "asn": [64512],
                         "prefixes": ["127.77.0.0/16"], "infrastructure": ["127.77.0.10"]},
            "attribution": attribution}
    return parse_scope(data, str(tmp_path / "scope.toml"))


@pytest.fixture
def logs(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "logs").mkdir()
    write(tmp_path / "logs" / "detail", radius_session("user0001", "127.77.1.1", "a", 0, 3600)
          + radius_session("user0100", "100.64.0.5", "n", 0, 3600))
    write(tmp_path / "logs" / "dhcpd.leases",
          dhcpd_lease("127.77.2.1", at(0), at(3600), "02:00:00:00:00:01"))
    write(tmp_path / "logs" / "kea.csv", KEA_HEADER + kea_row("127.77.3.1", "02:00:00:00:00:02",
                                                              3600, at(3600)))
    write(tmp_path / "logs" / "nat.log", pba_line("ALLOC", "100.64.0.5", "127.77.5.1", 1024,
                                                  1151, at(0)))
    (tmp_path / "key").write_bytes(b"0123456789abcdef0123456789abcdef\n")
    _mmdb(tmp_path / "asn.mmdb")
    return {"radius": ["logs/detail"], "dhcp": [{"path": "logs/dhcpd.leases"}],
            "kea": "logs/kea.csv",
            "cgnat": [{"format": "juniper-pba", "path": "logs/nat.log"},
                      {"format": "rfc7422", "inside": "100.65.0.0/24",
                       "outside": "127.77.6.0/30", "ports_per_subscriber": 1000,
                       "first_port": 1024}],
            "clock_skew": "2s", "pseudonym_key": "key", "asn_db": "asn.mmdb"}


def test_from_scope_answers_every_kind(tmp_path: Path, logs: dict[str, Any]) -> None:
    att = Attributor.from_scope(_scope(tmp_path, logs), tmp_path / "cache")
    key = Pseudonymizer(b"0123456789abcdef0123456789abcdef")
    cases = {("127.77.1.1", None): key.pseudonym("user0001"),
             ("127.77.2.1", None): key.pseudonym("mac:02:00:00:00:00:01"),
             ("127.77.3.1", None): key.pseudonym("mac:02:00:00:00:00:02"),
             ("127.77.5.1", 1100): key.pseudonym("user0100")}
    for (ip, port), pseudonym in cases.items():
        result = att.attribute(ip, port, at(1800))
        assert (result.status, result.pseudonym) == ("subscriber", pseudonym), ip
        data = result.as_dict()
        assert data["operator"] == "Example Telecom" and data["operator_asn"] == 64512
        assert data["operator_holder"] == "Example Telecom"
        json.dumps(data)
    host = att.attribute("127.77.0.10", 21, at(1800))
    assert (host.status, host.reason_code, host.pseudonym) == (
        "operator_host", "operator_infrastructure", None)
    assert att.attribute("127.77.6.1", None, at(1800)).reason_code == \
        "shared_address_without_port"
    assert att.attribute("127.77.9.9", None, at(1800)).operator_asn == 64513
    assert {row["kind"] for row in att.summary()} == {"radius", "dhcpd", "kea", "nat"}
    att.close()


def test_second_from_scope_reuses_the_indexes(tmp_path: Path, logs: dict[str, Any]) -> None:
    Attributor.from_scope(_scope(tmp_path, logs), tmp_path / "cache").close()
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()}
    assert len(files) == 4
    time.sleep(0.01)
    Attributor.from_scope(_scope(tmp_path, logs), tmp_path / "cache").close()
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").iterdir()} == files


@pytest.mark.parametrize("change,message", [
    ({"pseudonym_key": None}, "no pseudonym_key"),
    ({"radius": [{"path": "logs/detail", "colour": "red"}]}, "unknown key"),
    ({"cgnat": [{"format": "cisco"}]}, "unknown CGNAT format"),
    ({"radius": ["logs/missing"]}, "log file not found"),
    ({"radius": [{"path": "logs/detail", "timezone": "Mars/Olympus"}]}, "unknown time zone"),
    ({"whatever": 1}, "unknown key"),
])
def test_bad_attribution_config_is_an_input_error(tmp_path: Path, logs: dict[str, Any],
                                                  change: dict[str, Any], message: str) -> None:
    config = {**logs, **change}
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(InputError, match=message):
        Attributor.from_scope(_scope(tmp_path, config), tmp_path / "cache")


def test_empty_attribution_gives_explicit_none(tmp_path: Path) -> None:
    att = Attributor.from_scope(_scope(tmp_path, {}), tmp_path / "cache")
    result = att.attribute("127.77.1.1", None, at(10))
    assert (result.status, result.reason_code) == ("none", "no_logs_configured")
    assert att.attribute("127.77.0.10", None, at(10)).status == "operator_host"


def test_operator_asn_from_the_scope_without_asn_data(tmp_path: Path,
                                                      logs: dict[str, Any]) -> None:
    config = {k: v for k, v in logs.items() if k != "asn_db"}
    att = Attributor.from_scope(_scope(tmp_path, config), tmp_path / "cache")
    inside = att.attribute("127.77.1.1", None, at(1800))
    assert (inside.operator_asn, inside.operator_holder) == (64512, None)
    assert att.attribute("127.1.2.3", None, at(1800)).operator_asn is None
    att.close()
