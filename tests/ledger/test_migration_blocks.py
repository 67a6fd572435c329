"""Migration 0011: a store with leaves in the per-leaf layout of 0003..0010 is moved into
blocks of 256 + tail + look-up index, verifies with the same root, and moves back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from netwarden.ledger import Ledger, merkle
from netwarden.ledger.checkpoint import sign_checkpoint
from netwarden.ledger.keys import load_key
from netwarden.ledger.storage import canonical
from netwarden.store import Store, open_store
from netwarden.store.base import MIGRATIONS_DIR

from .conftest import filler


def _migrate(store: Store, to: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, to)


def _old_layout(store: Store, n: int) -> tuple[list[bytes], list[dict]]:  # type: ignore[type-arg]
    """Leaves and subtree hashes written the way the ledger wrote them before 0011."""
    entries = [e.entry() for e in filler(n, run_id="old-run")]
    entries[7] = {"record_type": "match", "id": "m-7", "run_id": "old-run", "match_id": "f-7"}
    data = [canonical(e) for e in entries]
    hashes = [merkle.leaf_hash(d) for d in data]
    nodes = merkle.Frontier().extend(hashes)
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO ledger_leaves (idx, leaf_hash, entry, record_type, "
                          "record_id, run_id, match_id) VALUES (:i, :h, :e, :t, :r, :u, :m)"),
                     [{"i": i, "h": h, "e": d, "t": e["record_type"], "r": e["id"],
                       "u": e["run_id"], "m": e.get("match_id")}
                      for i, (h, d, e) in enumerate(zip(hashes, data, entries, strict=True))])
        conn.execute(text("INSERT INTO ledger_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
                     [{"l": lv, "i": i, "h": h} for lv, i, h in nodes])
    return hashes, entries


def test_upgrade_moves_leaves_into_blocks_with_the_same_root(tmp_path: Path,
                                                             key_dir: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'old.sqlite'}", migrate=False)
    _migrate(store, "0010_web_user_prefs")
    n = 700  # two full blocks and a tail of 188
    hashes, _ = _old_layout(store, n)
    key = load_key(key_dir)
    root = merkle.root_of(hashes)
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO ledger_keys (key_id, name, public_key, created_at) "
                          "VALUES (:k, :n, :p, :c)"),
                     {"k": key.public.key_id.hex(), "n": key.public.name,
                      "p": key.public.public, "c": datetime.now(UTC)})
        conn.execute(text("INSERT INTO ledger_checkpoints (size, root, note, key_id, created_at) "
                          "VALUES (:s, :r, :n, :k, :c)"),
                     {"s": n, "r": root, "n": sign_checkpoint(key, n, root),
                      "k": key.public.key_id.hex(), "c": datetime.now(UTC)})

    _migrate(store, "head")
    tables = set(inspect(store.engine).get_table_names())
    assert "ledger_leaves" not in tables and {"ledger_bundles", "ledger_tail",
                                              "ledger_index"} <= tables
    ledger = Ledger.open(store, key_dir)
    assert ledger.size == n and ledger.root() == root
    report = ledger.verify()
    assert report.ok, report.problems
    assert report.signed_size == n
    assert [e.index for e in ledger.entries(match_id="f-7")] == [7]
    assert ledger.catch_up_index() == 0  # the look-up columns came over as they were
    assert ledger.counts_by_kind() == {"note": n - 1, "match": 1}
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_bundles")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM ledger_tail")).scalar() == n - 512
    ledger.append_many(filler(100))  # completes block 2 from the migrated tail
    assert ledger.verify().ok

    _migrate(store, "0010_web_user_prefs", down=True)
    with store.engine.connect() as conn:
        got = [bytes(r[0]) for r in conn.execute(
            text("SELECT leaf_hash FROM ledger_leaves ORDER BY idx"))]
    assert got[:n] == hashes and len(got) == n + 100
    _migrate(store, "head")
    assert Ledger.open(store, key_dir).verify().ok
    store.close()


def test_upgrade_refuses_a_ledger_with_a_gap(tmp_path: Path) -> None:
    import pytest

    store = open_store(f"sqlite:///{tmp_path / 'gap.sqlite'}", migrate=False)
    _migrate(store, "0010_web_user_prefs")
    _old_layout(store, 20)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_leaves WHERE idx = 5"))
    with pytest.raises(RuntimeError, match=r"lacks leaves \[5\]"):
        _migrate(store, "head")
    store.close()
