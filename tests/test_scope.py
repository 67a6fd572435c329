"""Scope file validation: every bad key is named, the window is enforced, targets are checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from netwarden.errors import ScopeError
from netwarden.scope import load_scope, parse_duration

NOW = datetime.now(UTC)

VALID = f"""
[check]
id = "2026-77-0042"
authorization = "Order 17/2026, cyber crime department"
not_before = {(NOW - timedelta(days=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}
not_after = {(NOW + timedelta(days=30)).strftime('%Y-%m-%dT%H:%M:%SZ')}
jurisdiction = "ru"

[operator]
name = "Example Telecom"
asn = [64512]
prefixes = ["127.77.0.0/16"]
infrastructure = ["127.77.0.10"]

[[services]]
url = "ftp://127.77.0.10:2121/"

[[services]]
url = "http://127.77.1.1:8080/pub/"

[attribution]
clock_skew = "2s"

[banks]
use = ["films", "csam-standin"]

[limits]
max_file_size = 1048576
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scope.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_scope_parses(tmp_path: Path) -> None:
    scope = load_scope(write(tmp_path, VALID))
    assert scope.check_id == "2026-77-0042"
    assert scope.operator_name == "Example Telecom"
    assert [s.port for s in scope.services] == [2121, 8080]
    assert scope.services[1].path == "/pub/"
    assert scope.banks == ("films", "csam-standin")
    assert scope.limits.max_file_size == 1048576
    assert scope.limits.max_redirects == 5  # default kept
    assert scope.is_infrastructure("127.77.0.10")
    assert not scope.is_infrastructure("127.77.1.1")


def test_in_scope_checks_prefix_port_and_names(tmp_path: Path) -> None:
    scope = load_scope(write(tmp_path, VALID))
    assert scope.in_scope("127.77.3.4", 21)
    assert not scope.in_scope("10.0.0.1", 80)
    assert "outside the authorized prefixes" in scope.check("10.0.0.1", 80).reason
    assert not scope.in_scope("example.org", 80)
    assert "not an IP address" in scope.check("example.org").reason
    assert not scope.in_scope("127.77.3.4", 70000)


def test_ports_restriction(tmp_path: Path) -> None:
    text = VALID.replace('infrastructure = ["127.77.0.10"]',
                         'infrastructure = ["127.77.0.10"]\nports = [2121, 8080]')
    scope = load_scope(write(tmp_path, text))
    assert scope.in_scope("127.77.0.10", 2121)
    assert not scope.in_scope("127.77.0.10", 22)


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ('id = "2026-77-0042"\n', "", "check.id", "required but missing"),
        ('authorization = "Order 17/2026, cyber crime department"\n', 'authorization = ""\n',
         "check.authorization", "must not be empty"),
        ('jurisdiction = "ru"', 'jurisdiction = "mars"', "check.jurisdiction",
         "unknown jurisdiction"),
        ('prefixes = ["127.77.0.0/16"]', 'prefixes = ["127.77.0.1/16"]',
         "operator.prefixes[0]", "not a network prefix"),
        ('prefixes = ["127.77.0.0/16"]', "prefixes = []", "operator.prefixes", "at least one"),
        ('infrastructure = ["127.77.0.10"]', 'infrastructure = ["10.1.1.1"]',
         "operator.infrastructure[0]", "outside operator.prefixes"),
        ("asn = [64512]", 'asn = ["x"]', "operator.asn[0]", "AS number"),
        ('url = "ftp://127.77.0.10:2121/"', 'url = "gopher://127.77.0.10/"', "services[0].url",
         "unsupported scheme"),
        ('url = "ftp://127.77.0.10:2121/"', 'url = "ftp://192.0.2.1/"', "services[0].url",
         "not covered by the authorization"),
        ('clock_skew = "2s"', 'clock_skew = "soon"', "attribution.clock_skew", "duration"),
        ("max_file_size = 1048576", "max_file_size = -1", "limits.max_file_size", "positive"),
        ("max_file_size = 1048576", "max_fle_size = 5", "limits.max_fle_size", "unknown limit"),
        ("[banks]", "[bankz]", "bankz", "unknown table"),
    ],
)
def test_bad_keys_are_named(tmp_path: Path, old: str, new: str, key: str, words: str) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ScopeError) as info:
        load_scope(path)
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert words in message


def test_local_time_without_offset_is_refused(tmp_path: Path) -> None:
    text = VALID.replace((NOW - timedelta(days=1)).strftime('%Y-%m-%dT%H:%M:%SZ'),
                         "2026-11-01T00:00:00", 1)
    with pytest.raises(ScopeError, match=r"check\.not_before: needs a UTC offset"):
        load_scope(write(tmp_path, text))


def test_window_over_refuses_to_run(tmp_path: Path) -> None:
    text = VALID.replace((NOW + timedelta(days=30)).strftime('%Y-%m-%dT%H:%M:%SZ'),
                         (NOW - timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ'), 1)
    scope = load_scope(write(tmp_path, text))  # validating an old scope is fine...
    with pytest.raises(ScopeError, match="refusing to run: the authorization ended"):
        scope.require_window()  # ...running under it is not
    assert not scope.in_scope("127.77.0.10", 2121)


def test_not_yet_valid(tmp_path: Path) -> None:
    text = VALID.replace((NOW - timedelta(days=1)).strftime('%Y-%m-%dT%H:%M:%SZ'),
                         (NOW + timedelta(days=2)).strftime('%Y-%m-%dT%H:%M:%SZ'), 1)
    with pytest.raises(ScopeError, match="authorization starts at"):
        load_scope(write(tmp_path, text)).require_window()


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(ScopeError, match="no such file"):
        load_scope(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[check\n", encoding="utf-8")
    with pytest.raises(ScopeError, match="not valid TOML"):
        load_scope(bad)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe[check]")
    with pytest.raises(ScopeError, match="not UTF-8"):
        load_scope(binary)


def test_durations() -> None:
    assert parse_duration("2s", "x", "k") == timedelta(seconds=2)
    assert parse_duration("500ms", "x", "k") == timedelta(milliseconds=500)
    assert parse_duration(3, "x", "k") == timedelta(seconds=3)
    with pytest.raises(ScopeError):
        parse_duration("2 days", "x", "k")
