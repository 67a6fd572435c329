"""The on-disk index cache, pseudonyms and reveal, and local ASN data."""

from __future__ import annotations

import ipaddress
import json
import os
import time
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from netwarden.attribute import Pseudonymizer, RadiusDetailSource, open_asn_database, open_index
from netwarden.attribute.pseudonym import reveal
from netwarden.errors import InputError

from .logs import at, radius_session, write


def test_index_is_reused_and_rebuilt_when_the_log_changes(tmp_path: Path) -> None:
    log = write(tmp_path / "detail", radius_session("user0001", "127.77.1.1", "a", 0, 600)
                + "garbage\n")
    cache = tmp_path / "cache"
    first = open_index(RadiusDetailSource(log), cache)
    assert first.rows == 1 and first.problem_count == 1
    assert first.problems()[0].line == first.lines
    built = first.path.stat().st_mtime_ns
    time.sleep(0.01)
    again = open_index(RadiusDetailSource(log), cache)
    assert again.path == first.path and again.path.stat().st_mtime_ns == built
    # a different parser setting is a different index
    other = open_index(RadiusDetailSource(log, timezone="UTC"), cache)
    assert other.path != first.path
    # the log grows: a new index that sees the new session
    with log.open("a") as handle:
        handle.write(radius_session("user0002", "127.77.1.2", "b", 0, 600))
    grown = open_index(RadiusDetailSource(log), cache)
    assert grown.path != first.path and grown.rows == 2
    assert [iv.account for iv in grown.lookup("127.77.1.2", at(300).timestamp())] == \
        ["user0002"]
    assert not list(cache.glob("*.tmp"))


def test_half_built_index_is_not_used(tmp_path: Path) -> None:
    log = write(tmp_path / "detail", radius_session("user0001", "127.77.1.1", "a", 0, 600))
    cache = tmp_path / "cache"
    index = open_index(RadiusDetailSource(log), cache)
    path = index.path
    index.close()
    path.write_bytes(b"SQLite format 3\x00 but cut short")
    again = open_index(RadiusDetailSource(log), cache)
    assert again.rows == 1


def test_pseudonyms_are_keyed_and_stable(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(os.urandom(32))
    one = Pseudonymizer.from_file(key_file)
    assert one.pseudonym("user0001") == Pseudonymizer.from_file(key_file).pseudonym("user0001")
    assert one.pseudonym("user0001") != one.pseudonym("user0002")
    assert one.pseudonym("user0001") != Pseudonymizer(b"x" * 32).pseudonym("user0001")
    assert one.pseudonym("user0001").startswith("ps1_") and len(one.pseudonym("a")) == 36
    (tmp_path / "short").write_bytes(b"abc\n")
    with pytest.raises(InputError, match="shorter"):
        Pseudonymizer.from_file(tmp_path / "short")
    with pytest.raises(InputError, match="not found"):
        Pseudonymizer.from_file(tmp_path / "missing")


def test_reveal_needs_a_basis_and_finds_the_account(tmp_path: Path, make_attributor,
                                                    pseudonymizer) -> None:
    log = write(tmp_path / "detail", radius_session("user0001", "127.77.1.1", "a", 0, 600)
                + radius_session("user0002", "127.77.1.2", "b", 0, 600))
    att = make_attributor(RadiusDetailSource(log))
    pseudonym = att.attribute("127.77.1.2", None, at(300)).pseudonym
    for basis in ("", "   "):
        with pytest.raises(InputError, match="legal basis"):
            att.reveal(pseudonym, basis)
    found = att.reveal(pseudonym, "Court order 12/2026")
    assert found.account == "user0002" and found.sources == (str(log),)
    # the one reveal leaf (what `netwarden reveal` appends): the pseudonym, never the account
    entry = found.record("investigator", "2026-77-0042").entry()
    assert entry["basis"] == "Court order 12/2026"
    assert entry["record_type"] == "subscriber_reveal" and entry["pseudonym"] == pseudonym
    assert entry["by"] == "investigator" and entry["sources"] == [str(log)]
    assert "user0002" not in json.dumps(entry)
    with pytest.raises(InputError, match="no account"):
        att.reveal(Pseudonymizer(b"z" * 32).pseudonym("user0002"), "order")
    with pytest.raises(InputError, match="not a netwarden pseudonym"):
        reveal(pseudonymizer, "user0002", "order", [])


def _mmdb(path: Path) -> Path:
    writer = MMDBWriter(ip_version=4, database_type="GeoLite2-ASN", description="test")
    writer.insert_network(IPSet(["127.77.0.0/16"]), {"autonomous_system_number": 64512,
                                                     "autonomous_system_organization":
                                                         "Example Telecom"})
    writer.insert_network(IPSet(["127.77.9.0/24"]), {"autonomous_system_number": 64513,
                                                     "autonomous_system_organization":
                                                         "Example Hosting"})
    writer.to_db_file(str(path))
    return path


def test_mmdb_asn_lookup(tmp_path: Path) -> None:
    db = open_asn_database(_mmdb(tmp_path / "asn.mmdb"))
    info = db.lookup("127.77.1.1")
    assert (info.asn, info.holder) == (64512, "Example Telecom")
    # an MMDB answers with its search-tree node, which may be narrower than the inserted /16
    assert ipaddress.ip_address("127.77.1.1") in ipaddress.ip_network(info.prefix)
    assert db.lookup("127.77.9.5").asn == 64513
    assert db.lookup("127.1.1.1") is None
    db.close()
    (tmp_path / "bad.mmdb").write_bytes(b"not a database")
    with pytest.raises(InputError, match="MaxMind"):
        open_asn_database(tmp_path / "bad.mmdb")


def test_prefix_file_asn_lookup_longest_match(tmp_path: Path) -> None:
    path = write(tmp_path / "ipasn.dat", "; IP-ASN32-DAT file\n127.77.0.0/16\t64512\n"
                 "127.77.9.0/24\t64513\tExample Hosting\n2001:db8::/32\t64514\n")
    db = open_asn_database(path)
    assert db.lookup("127.77.1.1").asn == 64512
    info = db.lookup("127.77.9.1")
    assert (info.asn, info.holder, info.prefix) == (64513, "Example Hosting", "127.77.9.0/24")
    assert db.lookup("2001:db8::1").asn == 64514
    assert db.lookup("10.0.0.1") is None
    bad = write(tmp_path / "bad.dat", "127.0.0.0/8\tnot-a-number\n")
    with pytest.raises(InputError, match="line 1"):
        open_asn_database(bad)


def test_cached_and_sqlite_lookups_agree(tmp_path: Path) -> None:
    import random

    from netwarden.attribute.index import IntervalIndex

    rng = random.Random(3)
    text = ""
    for n in range(300):  # sessions of random length on 5 addresses, some overlapping
        start = rng.randrange(0, 20_000)
        text += radius_session(f"user{n % 7:04d}", f"127.77.1.{n % 5}", f"s{n}", start,
                               start + rng.randrange(1, 3000))
    log = write(tmp_path / "detail", text)
    cached = open_index(RadiusDetailSource(log), tmp_path / "cache")
    plain = IntervalIndex(cached.path, cached.source, cached.kind, cache_addresses=0)
    for _ in range(2000):
        ip, moment = f"127.77.1.{rng.randrange(6)}", at(rng.uniform(-100, 24_000)).timestamp()
        margin = rng.choice([0.0, 2.0, 60.0])
        key = lambda iv: (iv.start, iv.line_first)  # noqa: E731
        assert sorted(cached.lookup(ip, moment, margin), key=key) == \
            sorted(plain.lookup(ip, moment, margin), key=key)
