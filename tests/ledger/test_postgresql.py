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
