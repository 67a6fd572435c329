"""Strict input (issue 14): every key of a scope file is checked, at every level.

Each case below used to be accepted silently (exit 0, a different audit than the user meant);
each must now be a ScopeError naming the file, the dotted key and the problem.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from netwarden.errors import ScopeError
from netwarden.scope import REDACTED, known_jurisdictions, load_scope, parse_scope

NOW = datetime.now(UTC)
STAMP = "%Y-%m-%dT%H:%M:%SZ"

BASE = f"""
[check]
id = "2026-77-0042"
authorization = "Order 17/2026"
not_before = {(NOW - timedelta(days=1)).strftime(STAMP)}
not_after = {(NOW + timedelta(days=30)).strftime(STAMP)}
jurisdiction = "ru"

[operator]
name = "Example Telecom"
prefixes = ["127.77.0.0/16"]
infrastructure = ["127.77.0.10"]

[[services]]
url = "ftp://127.77.0.10:2121/"

[[services]]
url = "adc://127.77.6.1:4111"

[attribution]
clock_skew = "2s"
radius = [{{ path = "radius/detail", timezone = "UTC" }}]

[banks]
use = ["films"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scope.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ScopeError) as info:
        load_scope(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message  # the file is named first
    return message


def test_the_base_scope_is_valid(tmp_path: Path) -> None:
    scope = load_scope(write(tmp_path, BASE))
    assert [s.scheme for s in scope.services] == ["ftp", "adc"]
    assert scope.infrastructure  # the key that a typo used to drop


@pytest.mark.parametrize(("old", "new", "key", "words"), [
    # a typo in [operator] turned the operator's own hosts into subscribers
    ('infrastructure = ["127.77.0.10"]', 'infrastucture = ["127.77.0.10"]',
     "operator.infrastucture", "did you mean 'infrastructure'"),
    ('url = "ftp://127.77.0.10:2121/"', 'url = "ftp://127.77.0.10:2121/"\nusernme = "bob"',
     "services[0].usernme", "unknown option"),
    ('url = "adc://127.77.6.1:4111"', 'url = "adc://127.77.6.1:4111"\nsegment_bytes = "1M"',
     "services[1].segment_bytes", "must be an integer, got str '1M'"),
    ('url = "adc://127.77.6.1:4111"', 'url = "adc://127.77.6.1:4111"\nsegment_bytes = 0',
     "services[1].segment_bytes", "must be a positive number, got int 0"),
    ('url = "adc://127.77.6.1:4111"', 'url = "adc://127.77.6.1:4111"\nactive = "yes"',
     "services[1].active", "must be true or false"),
    ('url = "ftp://127.77.0.10:2121/"', 'url = "ftp://127.77.0.10:2121/"\nkind = "gopher"',
     "services[0].kind", "no collector for service kind 'gopher'"),
    ('url = "ftp://127.77.0.10:2121/"', 'url = "ftp://127.77.0.10:2121/"\nkind = "dht"',
     "services[0].kind", "unknown BitTorrent service kind"),
    ('url = "ftp://127.77.0.10:2121/"', 'url = "http://127.77.0.10/"\nkind = "dht"',
     "services[0].kind", "only with kind"),
    ('jurisdiction = "ru"', 'jurisdiction = "uk"', "check.jurisdiction",
     "no rule file liability/rules/uk.toml"),
    ('jurisdiction = "ru"', 'jurisdiction = "fr"', "check.jurisdiction", "no rule file"),
    ('prefixes = ["127.77.0.0/16"]', 'prefixes = ["0.0.0.0/0"]', "operator.prefixes[0]",
     "--allow-wide"),
    ('prefixes = ["127.77.0.0/16"]', 'prefixes = ["127.77.0.0/16", "::/0"]',
     "operator.prefixes[1]", "wider than /32"),
    ('clock_skew = "2s"', 'clock_skew = "2s"\njoinn = ["mac"]', "attribution.joinn",
     "unknown key"),
    ('timezone = "UTC"', 'tmezone = "UTC"', "attribution.radius[0].tmezone", "unknown key"),
    ('use = ["films"]', 'use = ["films"]\nuse_all = true', "banks.use_all", "unknown key"),
    ('use = ["films"]', 'use = "films"', "banks.use", "must be a list"),
    ("[banks]", "[auditor]\nnik = \"x\"\n[banks]", "auditor.nik", "unknown key"),
    ('url = "ftp://127.77.0.10:2121/"', 'url = "http://u:p@127.77.0.10/"',
     "services[0].password", "http services take no credentials"),
    ('id = "2026-77-0042"', 'id = 42', "check.id", "must be a string, got int 42"),
    ('id = "2026-77-0042"', 'id = "2026-77-0042"\nowner = "x"', "check.owner",
     "unknown key"),
])
def test_silent_cases_are_refused_naming_the_key(tmp_path: Path, old: str, new: str, key: str,
                                                 words: str) -> None:
    assert old in BASE
    message = refused(tmp_path, BASE.replace(old, new, 1))
    assert f": {key}: " in message, message
    assert words in message, message


def test_limits_are_typed(tmp_path: Path) -> None:
    message = refused(tmp_path, BASE + '\n[limits]\nread_timeout = "30s"\n')
    assert "limits.read_timeout: must be a number" in message
    message = refused(tmp_path, BASE + "\n[limits]\nmax_depth = 2.5\n")
    assert "limits.max_depth: must be an integer, got float 2.5" in message


def test_wide_prefixes_are_accepted_when_allowed(tmp_path: Path) -> None:
    text = BASE.replace('prefixes = ["127.77.0.0/16"]', 'prefixes = ["0.0.0.0/0"]')
    scope = load_scope(write(tmp_path, text), allow_wide=True)
    assert str(scope.prefixes[0]) == "0.0.0.0/0"
    # /8 itself is not "wider than /8"
    text = BASE.replace('prefixes = ["127.77.0.0/16"]', 'prefixes = ["127.0.0.0/8"]')
    assert load_scope(write(tmp_path, text)).prefixes


def test_jurisdictions_come_from_the_rule_files() -> None:
    rules = Path(__file__).parents[1] / "src" / "netwarden" / "liability" / "rules"
    assert known_jurisdictions() == {p.stem for p in rules.glob("*.toml")}
    assert "uk" not in known_jurisdictions()


def test_attribution_keys_of_issue_13_are_accepted(tmp_path: Path) -> None:
    text = BASE.replace('clock_skew = "2s"',
                        'clock_skew = "2s"\njoin = ["mac", "circuit_id"]\naccount = "user"')
    scope = load_scope(write(tmp_path, text))
    assert scope.attribution["join"] == ["mac", "circuit_id"]
    ordered = load_scope(write(tmp_path, BASE.replace(
        'clock_skew = "2s"', 'clock_skew = "2s"\naccount = ["user", "mac"]')))
    assert ordered.attribution["account"] == ["user", "mac"]
    message = refused(tmp_path, BASE.replace('clock_skew = "2s"',
                                             'clock_skew = "2s"\naccount = 5'))
    assert "attribution.account" in message and "got int 5" in message


def test_options_are_typed_for_the_collector(tmp_path: Path) -> None:
    text = BASE.replace('url = "adc://127.77.6.1:4111"',
                        'url = "adc://127.77.6.1:4111"\nsegment_bytes = 65536\nsettle_s = 2')
    adc = load_scope(write(tmp_path, text)).services[1]
    assert adc.options == {"segment_bytes": 65536, "settle_s": 2.0}


# -- secrets -----------------------------------------------------------------------------------

def test_url_credentials_are_taken_out_of_the_url(tmp_path: Path) -> None:
    text = BASE.replace("ftp://127.77.0.10:2121/", "ftp://auditor:s%40cret-pw@127.77.0.10:2121/")
    scope = load_scope(write(tmp_path, text))
    ftp = scope.services[0]
    assert ftp.url == "ftp://127.77.0.10:2121/"
    assert (ftp.username, ftp.password) == ("auditor", "s@cret-pw")
    assert "cret-pw" not in repr(ftp) and "cret-pw" not in repr(scope)
    assert "cret-pw" not in str(scope.raw) and "auditor:" not in str(scope.raw)


def test_password_file(tmp_path: Path) -> None:
    (tmp_path / "ftp.pw").write_text("file-secret-7\n", encoding="utf-8")
    text = BASE.replace('url = "ftp://127.77.0.10:2121/"',
                        'url = "ftp://127.77.0.10:2121/"\nusername = "auditor"\n'
                        'password_file = "ftp.pw"')
    scope = load_scope(write(tmp_path, text))
    assert scope.services[0].password == "file-secret-7"
    assert "file-secret-7" not in repr(scope)
    assert scope.raw["services"][0]["password_file"] == "ftp.pw"  # the path, not the secret

    message = refused(tmp_path, text.replace('password_file = "ftp.pw"',
                                             'password_file = "missing.pw"'))
    assert "services[0].password_file" in message and "not a regular file" in message
    message = refused(tmp_path, text.replace('password_file = "ftp.pw"',
                                             'password_file = "ftp.pw"\npassword = "x"'))
    assert "services[0].password_file: give password or password_file, not both" in message
    message = refused(tmp_path, BASE.replace("ftp://127.77.0.10:2121/",
                                             "ftp://a:b@127.77.0.10:2121/\"\npassword = \"c"))
    assert "services[0].url: a password is given both in the URL" in message


def test_plain_password_key_is_redacted_in_raw() -> None:
    data = {"check": {"id": "x", "authorization": "y", "not_before": NOW - timedelta(hours=1),
                      "not_after": NOW + timedelta(hours=1), "jurisdiction": "ru"},
            "operator": {"name": "o", "prefixes": ["127.77.0.0/16"]},
            "services": [{"url": "ftp://127.77.0.1/", "username": "u", "password": "pw-raw-9"}]}
    scope = parse_scope(data, "<test>")
    assert scope.services[0].password == "pw-raw-9"
    assert scope.raw["services"][0]["password"] == REDACTED
    assert data["services"][0]["password"] == "pw-raw-9"  # the caller's table is not changed


# -- unreadable inputs --------------------------------------------------------------------------

def test_special_files_are_not_read(tmp_path: Path) -> None:
    with pytest.raises(ScopeError, match="is not a regular file"):
        load_scope("/dev/zero")
    with pytest.raises(ScopeError, match="is not a regular file"):
        load_scope(tmp_path)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(ScopeError, match="larger than"):
        load_scope(big)
