"""The ledger on a real PostgreSQL server: appends persist, indexes advance, proofs verify.

SQLite-only tests could not see that appends made through the raw DBAPI cursor were rolled
back on PostgreSQL (SQLAlchemy had no transaction to commit); an empty ledger still "verified".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from netwarden.ledger import Ledger, verify_inclusion
from netwarden.ledger.keys import init_key
from netwarden.store import Store, open_store

from .conftest import Note

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    store = open_store(pg_url)
    try:
        yield store
    finally:
        store.close()


def test_appends_persist_on_postgresql(pg_store: Store, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    init_key(keys)
    ledger = Ledger.open(pg_store, keys)
    refs = [ledger.append(Note(id=f"r{i}", n=i)) for i in range(5)]
    refs += ledger.append_many([Note(id=f"m{i}") for i in range(7)])
    assert [r.index for r in refs] == list(range(12))
    reopened = Ledger.open(pg_store, keys)  # a new object: reads what was committed
    assert reopened.size == 12
    checkpoint = reopened.checkpoint()
    root = reopened.root(12)
    for ref in refs:
        assert verify_inclusion(ref.leaf_hash, ref.index, 12,
                                reopened.inclusion_proof(ref.index, 12), root)
    report = reopened.verify()
    assert report.ok, report.problems
    assert str(checkpoint)


def test_bulk_verify_and_tiles_on_postgresql(pg_store: Store, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk verify pass and tile publishing read through psycopg's raw cursor: bytea must
    compare as bytes there too, or every chunk would silently fall back to the slow loop."""
    from netwarden.ledger import audit
    from netwarden.ledger.tiles import TileSource, publish, verify_tiles

    keys = tmp_path / "keys"
    init_key(keys, "pg.example/log")
    ledger = Ledger.open(pg_store, keys)
    ledger.append_many([Note(id=f"r{i}", n=i) for i in range(700)])
    cp = ledger.checkpoint()
    monkeypatch.setattr(audit, "FAST_CHUNK", 128)
    reached: list[int] = []
    real = audit._fast_scan
    monkeypatch.setattr(audit, "_fast_scan", lambda *a: reached.append(real(*a)) or reached[-1])
    report = ledger.verify()
    assert report.ok, report.problems
    assert reached == [700]
    publish(ledger, tmp_path / "pub", cp.note)
    tiles = verify_tiles(TileSource(tmp_path / "pub"), [ledger.key.public])
    assert (tiles.size, tiles.root) == (700, ledger.root(700))


def test_concurrent_writers_on_postgresql(pg_store: Store, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Two writers appending at once (blocks completed from each other's tail included) end
    with every leaf exactly once and a tree that verifies; the look-up index is then built
    by the rebuild path (drop, bulk insert, create) inside one PostgreSQL transaction."""
    import threading

    from netwarden.ledger import storage

    monkeypatch.setattr(storage, "REBUILD_AT", 1)

    keys = tmp_path / "keys"
    init_key(keys)
    Ledger.open(pg_store, keys)  # registers the key once (not what this test is about)
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            ledger = Ledger.open(pg_store, keys)
            for k in range(40):
                ledger.append_many([Note(id=f"{name}-{k}-{j}") for j in range(1 + k % 13)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    ledger = Ledger.open(pg_store, keys)
    expected = 2 * sum(1 + k % 13 for k in range(40))
    assert ledger.size == expected
    assert len({e.record()["id"] for e in ledger.entries("note")}) == expected
    report = ledger.verify()
    assert report.ok, report.problems
