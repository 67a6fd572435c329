"""Scope file validation: every bad key is named, the window is enforced, targets are checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

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


def test_a_jurisdiction_without_rules_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    from netwarden.scope import known_jurisdictions

    path = write(tmp_path, VALID.replace('jurisdiction = "ru"', 'jurisdiction = "Mars"', 1))
    with pytest.raises(ScopeError) as info:
        load_scope(path)
    message = str(info.value)
    assert str(path) in message and "check.jurisdiction" in message
    assert "'mars'" in message and "liability/rules/mars.toml" in message
    assert known_jurisdictions() >= {"ru", "us"}
    assert all(j in message for j in known_jurisdictions())


# -- collectors declare their schemes, ports and options; the scope asks them --------------


def test_scope_schemes_and_ports_are_the_collectors_declarations() -> None:
    from netwarden.collect import registered
    from netwarden.scope import scheme_ports

    declared = {s: cls.default_ports[s] for cls in registered() for s in cls.schemes}
    assert scheme_ports() == declared
    assert {k: declared[k] for k in ("ftp", "http", "https", "smb", "adc", "nmdc", "udp",
                                     "bittorrent")} == {
        "ftp": 21, "http": 80, "https": 443, "smb": 445, "adc": 411, "nmdc": 411,
        "udp": 6969, "bittorrent": 6881}


def test_adding_a_protocol_is_one_collector_class(tmp_path: Path) -> None:
    from collections.abc import AsyncIterator

    from netwarden.collect import Collector, register, unregister
    from netwarden.records import Observation, Refusal
    from netwarden.scope import StrictModel

    class EchoOptions(StrictModel):
        greeting: str = "hello"

    class EchoCollector(Collector):
        schemes = ("echo-test",)
        default_ports: ClassVar[dict[str, int]] = {"echo-test": 7}
        options_model = EchoOptions

        async def collect(self) -> AsyncIterator[Observation | Refusal]:
            yield self.observation(self.service.url, method="echo")

    text = VALID.replace('url = "http://127.77.1.1:8080/pub/"',
                         'url = "echo-test://127.77.1.1/"\ngreeting = "hi"', 1)
    with pytest.raises(ScopeError, match="unsupported scheme 'echo-test'"):
        load_scope(write(tmp_path, text))
    register(EchoCollector)
    try:
        service = load_scope(write(tmp_path, text)).services[1]
        assert (service.scheme, service.port, service.options) == ("echo-test", 7,
                                                                   {"greeting": "hi"})
        with pytest.raises(ScopeError, match=r"services\[1\]\.greting.*unknown option"):
            load_scope(write(tmp_path, text.replace("greeting =", "greting =")))
    finally:
        unregister(EchoCollector)
    with pytest.raises(ScopeError, match="unsupported scheme 'echo-test'"):
        load_scope(write(tmp_path, text))


def test_a_collector_without_a_default_port_is_refused() -> None:
    from collections.abc import AsyncIterator

    from netwarden.collect import Collector, register
    from netwarden.records import Observation, Refusal

    class Portless(Collector):
        schemes = ("portless-test",)

        async def collect(self) -> AsyncIterator[Observation | Refusal]:
            yield self.observation(self.service.url, method="none")

    with pytest.raises(ValueError, match="no default port for its scheme 'portless-test'"):
        register(Portless)
