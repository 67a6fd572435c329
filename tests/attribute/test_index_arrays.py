"""The in-memory NumPy index answers exactly what the SQLite index answers.

Random logs (seeded) are indexed once; the same file is opened twice, with the arrays and with
one SQLite query per look-up (``in_memory=False``), and every look-up, address test and full
attribution must agree, order included.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from netwarden.attribute import (
    Attributor,
    JuniperPbaSource,
    Pseudonymizer,
    RadiusDetailSource,
    open_index,
)
from netwarden.attribute.base import Interval, LogSource
from netwarden.attribute.index import IntervalIndex, address_key
from netwarden.attribute.resolver import SubscriberAttribution, _attribution

from .conftest import KEY
from .logs import T0, at, pba_line, radius_record, radius_session, write

V6_PREFIXES = ("2001:db8::", "2001:db8:0:1::", "fd00::")


class GeneratedSource(LogSource):
    """A log source of random intervals (IPv4 and IPv6, ties, open ends, ports).

    A real :class:`LogSource` (the extension point every log format implements), so the index
    is built by the production code path; only the intervals are made up.
    """

    kind = "radius"

    def intervals(self) -> Iterator[Interval]:
        rng = random.Random(int(self.options["seed"]))
        addresses = [f"127.77.{rng.randrange(3)}.{rng.randrange(4)}" for _ in range(8)]
        addresses += [str(ipaddress.ip_address(p) + rng.randrange(4)) for p in V6_PREFIXES]
        addresses += ["255.255.255.255", "0.0.0.0", "ffff:ffff:ffff:ffff::1", "::1"]
        for n in range(int(self.options["count"])):
            start = float(rng.choice([rng.randrange(0, 5_000), rng.uniform(0, 5_000), 1_000]))
            end = rng.choice([start + rng.randrange(0, 900), start + rng.uniform(0, 90),
                              start, math.inf if rng.random() < 0.05 else start + 10])
            lo = rng.randrange(0, 65_000)
            self.lines_read = n + 1
            yield Interval("radius", rng.choice(["u1", "u2", "u3", "ü4", ""]),
                           rng.choice(addresses), start, end, self.name, n + 1, n + 2,
                           rng.choice(["stop", "estimated", "open"]), lo,
                           lo + rng.randrange(0, 500), f"s{n}" * rng.randrange(0, 3),
                           rng.choice(["", "note a", "no Stop record; ½"]))


def _both(tmp_path: Path, source: LogSource) -> tuple[IntervalIndex, IntervalIndex]:
    arrays = open_index(source, tmp_path / "cache")
    sqlite = IntervalIndex(arrays.path, arrays.source, arrays.kind, in_memory=False)
    assert arrays.in_memory and not sqlite.in_memory
    return arrays, sqlite


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_arrays_and_sqlite_give_the_same_intervals(tmp_path: Path, seed: int) -> None:
    log = write(tmp_path / "generated", f"seed {seed}\n")
    source = GeneratedSource(log, options={"seed": seed, "count": 600})
    arrays, sqlite = _both(tmp_path, source)
    assert arrays.rows == 600 and arrays.memory_bytes() > 0
    rng = random.Random(seed)
    probes = [iv.ip for iv in GeneratedSource(log, options={"seed": seed, "count": 600})
              .intervals()]
    probes += ["127.77.9.9", "2001:db8::99", "2001:DB8::1", "127.077.0.1", "::ffff:127.77.0.1",
               "fe80::1%eth0", "not an address", ""]
    compared = 0
    for _ in range(3_000):
        ip = rng.choice(probes)
        moment = rng.choice([rng.uniform(-100, 6_500), float(rng.randrange(0, 6_000)), 1_000.0])
        margin = rng.choice([0.0, 2.0, 0.5, 60.0])
        got = arrays.lookup(ip, moment, margin)
        assert got == sqlite.lookup(ip, moment, margin), (ip, moment, margin)
        compared += len(got)
    assert compared > 1_000  # the probes really hit intervals
    for ip in set(probes):
        assert arrays.has_address(ip) == sqlite.has_address(ip), ip


def test_random_radius_logs_attribute_the_same(tmp_path: Path) -> None:
    """Full answers (reasons, sources, NAT) from arrays and SQLite are identical."""
    rng = random.Random(11)
    text, edges = "", []
    for n in range(400):  # overlapping sessions of 9 accounts on 6 addresses, some without Stop
        start = rng.randrange(0, 30_000)
        stop = start + rng.randrange(1, 4_000) if rng.random() < 0.85 else None
        edges.append((f"100.64.0.{n % 6}", start))
        text += radius_session(f"user{n % 9:04d}", f"100.64.0.{n % 6}", f"s{n}", start, stop,
                               interims=rng.randrange(0, 2))
    text += radius_record("Stop", "user0001", "100.64.0.1", "lost", at(31_000),
                          session_time=5_000)
    radius = write(tmp_path / "detail", text)
    nat_lines = ""
    for n in range(60):  # port blocks of the private addresses on two public ones
        start = rng.randrange(0, 30_000)
        private, lo = f"100.64.0.{n % 6}", 1024 + 128 * (n % 4)
        public = f"127.77.5.{n % 2}"
        nat_lines += pba_line("ALLOC", private, public, lo, lo + 127, at(start))
        if rng.random() < 0.8:
            nat_lines += pba_line("RELEASE", private, public, lo, lo + 127,
                                  at(start + rng.randrange(1, 9_000)))
    nat = write(tmp_path / "nat.log", nat_lines)

    def attributor(in_memory: bool) -> Attributor:
        cache = tmp_path / "cache"
        return Attributor(
            sessions=[open_index(RadiusDetailSource(radius), cache, in_memory=in_memory)],
            nat_logs=[open_index(JuniperPbaSource(nat), cache, in_memory=in_memory)],
            pseudonymizer=Pseudonymizer(KEY), clock_skew=2.0, infrastructure=["127.77.0.10"])

    fast, slow = attributor(True), attributor(False)
    assert fast.sessions[0].in_memory and not slow.sessions[0].in_memory
    queries = []
    for _ in range(1_500):
        ip = rng.choice(["100.64.0.0", "100.64.0.3", "100.64.0.5", "100.64.0.9", "127.77.5.0",
                         "127.77.5.1", "127.77.0.10", "127.77.5.9"])
        port = rng.choice([None, 1100, 1300, 1500, 1700, 3000])
        queries.append((ip, port, at(rng.choice([rng.uniform(-500, 42_000),
                                                 float(rng.randrange(0, 40_000))]))))
    for ip, edge in rng.sample(edges, 100):  # near a session's start: session_edge
        queries.append((ip, None, at(edge + rng.uniform(-1.5, 1.5))))
    answers = fast.attribute_many(queries)
    codes = set()
    for (ip, port, moment), answer in zip(queries, answers, strict=True):
        expected = slow.attribute(ip, port, moment)
        assert answer == expected
        assert answer.as_dict() == expected.as_dict()
        codes.add(answer.reason_code)
    # the random log exercises the ambiguity rules, not just the easy case
    assert {"attributed", "session_edge", "two_candidates", "no_session", "no_nat_mapping",
            "operator_infrastructure"} <= codes


def test_fast_constructor_builds_the_same_record() -> None:
    moment = datetime(2026, 11, 4, 10, 30, tzinfo=UTC)
    values = {"ip": "127.77.1.1", "port": None, "observed_at": moment, "operator": "X",
              "pseudonym": "ps1_" + "0" * 32, "source": ("detail:1-9",), "notes": ("n",)}
    made = _attribution("subscriber", "attributed", "why", **values)
    plain = SubscriberAttribution("subscriber", "attributed", "why", **values)
    assert made == plain and made.as_dict() == plain.as_dict() and hash(made) == hash(plain)
    assert repr(made) == repr(plain)
    with pytest.raises(TypeError, match="unknown fields"):
        _attribution("none", "no_session", "why", ip="x", port=None, observed_at=moment,
                     pseudonyme="typo")


def test_remembered_pseudonyms_equal_a_fresh_hmac() -> None:
    pseudonymizer = Pseudonymizer(KEY)
    for account in ["user0001", "ü", "", "user0001", "x" * 300] * 2:
        fresh = hmac.new(KEY, account.encode(), hashlib.sha256).hexdigest()[:32]
        assert pseudonymizer.pseudonym(account) == "ps1_" + fresh


def test_address_keys_only_for_canonical_text() -> None:
    assert address_key("127.77.1.1") == (4, 0, 0x7F4D0101)
    assert address_key("2001:db8::1") == (6, 0x20010DB800000000, 1)
    for text in ("127.077.1.1", "2001:DB8::1", "::ffff:7f4d:101 ", "fe80::1%eth0", "x", ""):
        assert address_key(text) is None


class OddSource(LogSource):
    """A source whose addresses are not canonical texts (no shipped parser writes these)."""

    kind = "radius"

    def intervals(self) -> Iterator[Interval]:
        self.lines_read = 2
        yield Interval("radius", "u1", "127.77.1.1", 0.0, 100.0, self.name, 1, 1)
        yield Interval("radius", "u2", "host-a", 0.0, 100.0, self.name, 2, 2)


def test_index_with_odd_addresses_falls_back_to_sqlite(tmp_path: Path) -> None:
    log = write(tmp_path / "odd", "x\n")
    index = open_index(OddSource(log), tmp_path / "cache")
    assert not index.in_memory and index.memory_bytes() == 0
    assert [iv.account for iv in index.lookup("host-a", 50.0)] == ["u2"]
    assert [iv.account for iv in index.lookup("127.77.1.1", 50.0, 2.0)] == ["u1"]
    assert index.has_address("host-a") and not index.has_address("host-b")


def test_empty_log_loads(tmp_path: Path) -> None:
    log = write(tmp_path / "detail", "")
    index = open_index(RadiusDetailSource(log), tmp_path / "cache")
    assert index.in_memory and index.rows == 0
    assert index.lookup("127.77.1.1", T0.timestamp(), 2.0) == []
    assert not index.has_address("2001:db8::1")
