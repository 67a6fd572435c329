"""Identifiers in their real notations, the join policy, and the scope's join / account keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.attribute import Attributor, DhcpdLeasesSource, Pseudonymizer, RadiusDetailSource
from netwarden.attribute.identity import (
    JoinPolicy,
    client_id_hex,
    encode,
    normalize_mac,
    option_bytes,
)
from netwarden.errors import InputError

from .logs import DHCPD_HEADER, at, dhcpd_block, dhcpd_quote, freeradius_session, write
from .test_from_scope import _scope

MAC = "02:bb:09:61:d0:f8"


@pytest.mark.parametrize("text", ["02-BB-09-61-D0-F8", "02:bb:09:61:d0:f8", "02bb.0961.d0f8",
                                  "02BB0961D0F8", "2:bb:9:61:d0:f8", '"02-bb-09-61-d0-f8"'])
def test_mac_notations(text: str) -> None:
    assert normalize_mac(text) == MAC


@pytest.mark.parametrize("text", ["+74951234567", "olt-1/2/2:498", "02:bb:09:61:d0",
                                  "02:bb:09:61:d0:f8:00", "02bb.0961.d0fz", ""])
def test_not_a_mac(text: str) -> None:
    assert normalize_mac(text) is None


def test_client_id_in_every_notation() -> None:
    raw = bytes.fromhex("0102bb0961d0f8")
    written = dhcpd_quote(raw)
    assert written == '"\\001\\002\\273\\011a\\320\\370"'  # how dhcpd writes it
    for text in (written, "01:02:bb:09:61:d0:f8", "1:2:bb:9:61:d0:f8"):
        assert client_id_hex(text) == "01:02:bb:09:61:d0:f8", text
    assert option_bytes('"a\\"b\\\\c"') == b'a"b\\c'
    assert option_bytes("0x6f6c74") == b"olt"


def test_lease_identifiers_from_dhcpd(tmp_path: Path) -> None:
    text = DHCPD_HEADER + dhcpd_block("127.77.8.9", 0, 3600, MAC, uid=bytes.fromhex(
        "0102bb0961d0f8"), remote_id="u1", circuit_id=b"\x00\x04\x01\xf2\x00\x01")
    (interval,) = DhcpdLeasesSource(write(tmp_path / "l", text)).intervals()
    assert interval.ids == encode([("mac", MAC), ("client_id", "01:02:bb:09:61:d0:f8"),
                                   ("remote_id", "u1"), ("circuit_id", "00:04:01:f2:00:01")])


def test_radius_identifiers_merge_over_the_session(tmp_path: Path) -> None:
    detail = write(tmp_path / "d", freeradius_session("u1", "127.77.8.9", "s", 0, 3600,
                                                      calling="02bb.0961.d0f8",
                                                      port_id="olt-1/2/2:498"))
    (interval,) = RadiusDetailSource(detail).intervals()
    assert interval.ids == encode([("user", "u1"), ("mac", MAC),
                                   ("nas_port_id", "olt-1/2/2:498")])
    # a phone number in Calling-Station-Id is not a MAC: no mac identifier
    phone = write(tmp_path / "p", freeradius_session("u2", "127.77.8.9", "s", 0, 3600,
                                                     calling="+74951234567"))
    (other,) = RadiusDetailSource(phone).intervals()
    assert other.ids == "user=u2"


def test_policy_validation() -> None:
    with pytest.raises(InputError, match="unknown identifier 'imsi'"):
        JoinPolicy(join=["mac", "imsi"])
    with pytest.raises(InputError, match="appears twice"):
        JoinPolicy(join=["mac", "user=mac"])
    with pytest.raises(InputError, match="unknown identifier"):
        JoinPolicy(account=["email"])
    policy = JoinPolicy.from_config({"account": "mac"}, "scope")
    assert policy.preference[0] == "mac"
    # the older per-log account_key = "uid" ranks the client id before the MAC
    assert JoinPolicy.from_config({}, "s", client_id_first=True).preference.index(
        "client_id") < JoinPolicy.from_config({}, "s", client_id_first=True).preference.index(
        "mac")


def test_policy_groups() -> None:
    policy = JoinPolicy()
    radius = encode([("user", "u1"), ("mac", MAC)])
    lease = encode([("mac", MAC), ("remote_id", "u1")])
    other = encode([("mac", "02:00:00:00:00:09")])
    (one,) = policy.subscribers([radius, lease], ["u1", f"mac:{MAC}"])
    assert (one.account, one.kind, one.members) == ("u1", "user", [0, 1])
    assert set(one.joined_on) == {"mac", "user=remote_id"}
    two = policy.subscribers([radius, other], ["u1", "mac:02:00:00:00:00:09"])
    assert sorted(s.account for s in two) == ["mac:02:00:00:00:00:09", "u1"]  # type: ignore
    # transitively: radius -(mac)- lease -(remote id)- a second lease with another MAC
    lease2 = encode([("mac", "02:00:00:00:00:0a"), ("remote_id", "u1")])
    (joined,) = policy.subscribers([radius, lease2, lease], ["u1", "x", "y"])
    assert joined.account == "u1" and joined.members == [0, 1, 2]
    # joined by the MAC but naming two accounts: a conflict, no account
    bad = encode([("mac", MAC), ("remote_id", "u2")])
    (conflict,) = policy.subscribers([radius, bad], ["u1", "y"])
    assert conflict.account is None and conflict.conflict == "user/remote_id"


def test_scope_join_and_account_keys(tmp_path: Path) -> None:
    ip = "127.77.8.20"
    (tmp_path / "logs").mkdir()
    write(tmp_path / "logs" / "detail", freeradius_session(
        "u1", ip, "s", 0, 7200, calling="02-BB-09-61-D0-F8"))
    write(tmp_path / "logs" / "dhcpd.leases", DHCPD_HEADER + dhcpd_block(
        ip, 0, 7200, MAC, remote_id="u1"))
    (tmp_path / "key").write_bytes(b"0123456789abcdef0123456789abcdef\n")
    key = Pseudonymizer(b"0123456789abcdef0123456789abcdef")
    base = {"radius": ["logs/detail"], "dhcp": ["logs/dhcpd.leases"], "pseudonym_key": "key"}
    default = Attributor.from_scope(_scope(tmp_path, base), tmp_path / "cache")
    assert default.attribute(ip, None, at(100)).pseudonym == key.pseudonym("u1")
    by_mac = Attributor.from_scope(_scope(tmp_path, {**base, "join": ["mac"],
                                                     "account": ["mac", "user"]}),
                                   tmp_path / "cache")
    answer = by_mac.attribute(ip, None, at(100))
    assert (answer.pseudonym, answer.identifier, answer.joined_on) == (
        key.pseudonym(f"mac:{MAC}"), "mac", ("mac",))
    for bad in ({"join": ["mac", "msisdn"]}, {"account": ["msisdn"]}, {"join": 5}):
        with pytest.raises(InputError):
            Attributor.from_scope(_scope(tmp_path, {**base, **bad}), tmp_path / "cache")
    default.close()
    by_mac.close()


def test_reveal_cli_records_the_identifier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    """``netwarden reveal`` of a subscriber known to RADIUS and DHCP: the ledger entry names
    the identifier kinds and both logs, never the account."""
    import json

    from netwarden.cli import _load_commands, app
    from netwarden.ledger import Ledger
    from netwarden.ledger.keys import init_key
    from netwarden.store import open_store

    monkeypatch.setenv("NETWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NETWARDEN_DB", raising=False)
    init_key()
    _load_commands([])
    ip = "127.77.8.20"
    (tmp_path / "logs").mkdir()
    write(tmp_path / "logs" / "detail", freeradius_session(
        "u3492057", ip, "s", 0, 7200, calling="02-BB-09-61-D0-F8"))
    write(tmp_path / "logs" / "dhcpd.leases", DHCPD_HEADER + dhcpd_block(
        ip, 0, 7200, MAC, remote_id="u3492057"))
    (tmp_path / "key").write_bytes(b"0123456789abcdef0123456789abcdef\n")
    scope = tmp_path / "scope.toml"
    scope.write_text(
        '[check]\nid = "2026-77-0042"\nauthorization = "Order 17/2026"\n'
        "not_before = 2026-11-01T00:00:00Z\nnot_after = 2026-12-31T23:59:59Z\n"
        'jurisdiction = "ru"\n[operator]\nname = "Example Telecom"\nasn = [64512]\n'
        'prefixes = ["127.77.0.0/16"]\n[attribution]\nradius = ["logs/detail"]\n'
        'dhcp = ["logs/dhcpd.leases"]\npseudonym_key = "key"\n'
        'join = ["user=remote_id", "mac"]\naccount = ["user", "mac"]\n', encoding="utf-8")
    pseudonym = Pseudonymizer(b"0123456789abcdef0123456789abcdef").pseudonym("u3492057")
    result = CliRunner().invoke(app, ["reveal", pseudonym, "--basis", "court order 9/2026",
                                      "--scope", str(scope), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["account"] == "u3492057"
    assert set(answer["identifier"]) == {"user", "remote_id"}
    store = open_store()
    entry = json.loads(Ledger.open(store).entry(answer["ledger_index"]))
    assert set(entry["identifier"]) == {"user", "remote_id"}
    assert len(entry["sources"]) == 2 and "u3492057" not in json.dumps(entry)
    store.close()


def test_account_key_uid_still_names_the_client_id(tmp_path: Path, make_attributor,
                                                   pseudonymizer) -> None:
    """A dhcpd log indexed with the older ``account_key = "uid"``: the client id, not the
    MAC, is the account (as before issue 13, now in its hex normal form)."""
    text = DHCPD_HEADER + dhcpd_block("127.77.8.9", 0, 3600, MAC,
                                      uid=bytes.fromhex("0102bb0961d0f8"))
    log = write(tmp_path / "l", text)
    by_uid = make_attributor(DhcpdLeasesSource(log, options={"account_key": "uid"}))
    answer = by_uid.attribute("127.77.8.9", None, at(100))
    assert (answer.pseudonym, answer.identifier) == (
        pseudonymizer.pseudonym("client_id:01:02:bb:09:61:d0:f8"), "client_id")
    by_mac = make_attributor(DhcpdLeasesSource(log)).attribute("127.77.8.9", None, at(100))
    assert by_mac.pseudonym == pseudonymizer.pseudonym(f"mac:{MAC}")
