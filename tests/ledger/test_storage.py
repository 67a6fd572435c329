"""The stored ledger: appends, O(log n) proofs from stored subtree hashes, checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from sqlalchemy import event

from netwarden.errors import InputError
from netwarden.ledger import Ledger, LedgerError, merkle, verify_consistency, verify_inclusion
from netwarden.ledger.checkpoint import CheckpointError, parse_checkpoint
from netwarden.ledger.keys import KeyMissingError, init_key, load_key, parse_vkey
from netwarden.records import Record
from netwarden.store import Store

from .conftest import Linked, Note, filler


class _Sample(Record):
    record_type: Literal["sample"] = "sample"
    a: str
    b: float


def test_append_proofs_and_roots(ledger: Ledger) -> None:
    hashes = []
    for batch in (1, 2, 5, 30, 1, 61):
        refs = ledger.append_many(filler(batch))
        hashes += [r.leaf_hash for r in refs]
        assert [r.index for r in refs] == list(range(len(hashes) - batch, len(hashes)))
    n = len(hashes)
    assert ledger.size == n
    for size in (1, 2, 3, 7, 8, 9, 33, 64, 99, n):
        root = ledger.root(size)
        assert root == merkle.root_of(hashes[:size])
        for index in {0, size // 2, size - 1}:
            assert verify_inclusion(hashes[index], index, size,
                                    ledger.inclusion_proof(index, size), root)
        for size1 in (1, size // 3 or 1, size):
            assert verify_consistency(size1, size, ledger.consistency_proof(size1, size),
                                      ledger.root(size1), root)
    with pytest.raises(LedgerError):
        ledger.inclusion_proof(n, n)
    with pytest.raises(LedgerError):
        ledger.root(n + 1)


def test_leaf_is_rfc8785_of_entry(ledger: Ledger) -> None:
    ref = ledger.append(_Sample(run_id="r", id="x", b=1.5, a="é"))
    data = ledger.entry(ref.index)
    assert data == (b'{"a":"\xc3\xa9","b":1.5,"id":"x","record_type":"sample",'
                    b'"record_version":1,"run_id":"r"}')
    assert ref.leaf_hash == merkle.leaf_hash(data)


@pytest.mark.parametrize("entry", [{"id": "x"}, {"record_type": "note", "id": "x"},
                                   Note(run_id="r", x=float("nan"))])
def test_bad_entries_are_refused(ledger: Ledger, entry: object) -> None:
    """A hand-built dict is no leaf (every leaf type is a Record, issue 18); a record that
    cannot be canonicalised is refused with the input named."""
    with pytest.raises(InputError):
        ledger.append(entry)  # type: ignore[arg-type]
    assert ledger.size == 0


def test_proof_reads_are_logarithmic(ledger: Ledger, store: Store) -> None:
    ledger.append_many(filler(3000))
    statements: list[tuple[str, object]] = []

    def count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        statements.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        ledger.inclusion_proof(1234, 2999)
        ledger.consistency_proof(1001, 2999)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    selects = [s for s, _ in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 6  # size + leaves + nodes, per proof
    params = sum(len(p) if isinstance(p, tuple | list | dict) else 1 for _, p in statements)
    assert params <= 4 * 12 * 2  # O(log n) hashes named, never a scan


def test_two_writers_share_the_tree(store: Store, key_dir: Path) -> None:
    a, b = Ledger.open(store, key_dir), Ledger.open(store, key_dir)
    a.append_many(filler(5))
    b.append_many(filler(3))  # b's frontier is stale: must reload, not fork
    a.append_many(filler(4))
    report = a.verify()
    assert report.ok, report.problems
    assert report.size == 12


def test_checkpoint_format_and_signature(ledger: Ledger, key_dir: Path) -> None:
    ledger.append_many(filler(10))
    cp = ledger.checkpoint()
    lines = cp.note.split("\n")
    assert lines[0] == "test.netwarden/ledger" and lines[1] == "10" and lines[3] == ""
    assert lines[4].startswith("\u2014 test.netwarden/ledger ")
    note = parse_checkpoint(cp.note)
    key = load_key(key_dir).public
    assert note.verify(key) and note.root == ledger.root(10)
    assert key.key_id == note.signatures[0][1]
    assert parse_vkey(key.vkey) == key
    forged = cp.note.replace("\n10\n", "\n11\n")
    with pytest.raises(CheckpointError, match="does not verify"):
        parse_checkpoint(forged).verify(key)
    other = init_key(key_dir.parent / "other", "test.netwarden/ledger").public
    with pytest.raises(CheckpointError, match="no signature by key"):
        note.verify(other)


def test_key_rotation_keeps_old_checkpoints_valid(store: Store, key_dir: Path) -> None:
    ledger = Ledger.open(store, key_dir)
    ledger.append_many(filler(3))
    ledger.checkpoint()
    init_key(key_dir, rotate=True)
    ledger = Ledger.open(store, key_dir)
    ledger.append_many(filler(3))
    ledger.checkpoint()
    assert len({c.key_id for c in ledger.checkpoints()}) == 2
    report = ledger.verify()
    assert report.ok, report.problems
    with pytest.raises(InputError, match="exists already"):
        init_key(key_dir)


def test_missing_key(store: Store, tmp_path: Path) -> None:
    with pytest.raises(KeyMissingError):
        Ledger.open(store, tmp_path / "nokeys")
    ledger = Ledger.open(store, tmp_path / "nokeys", require_key=False)
    ledger.append_many(filler(2))
    assert ledger.verify().ok


def test_migration_matches_models(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from netwarden.store.base import Base

    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "ledger_" in repr(d)] == []


@pytest.mark.parametrize(("where", "index"), [
    ("record_type = 'match' AND record_id = 'x'", "ix_ledger_index_type_record"),
    ("record_type = 'custody_export'", "ix_ledger_index_type_record"),
    ("run_id = 'r' AND record_type = 'observation'", "ix_ledger_index_run_type"),
    ("record_type IN ('run', 'run_end') AND run_id IN ('r')", "ix_ledger_index_"),
    ("match_id = 'm'", "ix_ledger_index_match_id"),
    ("idx = 5", "INTEGER PRIMARY KEY"),
])
def test_selection_queries_use_an_index(ledger: Ledger, store: Store, where: str,
                                        index: str) -> None:
    # the look-up index keeps only the indexes these look-ups need; each must still be one
    ledger.append_many(filler(3))
    assert ledger.catch_up_index() == 3
    with store.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN SELECT idx FROM ledger_index WHERE {where}"))
    assert "SCAN" not in plan.replace("COVERING", ""), plan
    assert index in plan, plan


def test_look_ups_see_every_append(ledger: Ledger) -> None:
    """The look-up index is brought up to date by the look-up itself: never a stale answer,
    across blocks, the tail and a block completed by a later append."""
    ledger.append_many(filler(300, run_id="a"))
    assert len(ledger.entries("note", run_id="a")) == 300
    ledger.append_many(filler(250, run_id="b"))  # completes block 1 from the tail
    ledger.append(Linked(id="m-1", run_id="b", match_id="f-1"))
    assert len(ledger.entries("note", run_id=["a", "b"])) == 550
    assert [e.index for e in ledger.entries(match_id="f-1")] == [550]
    assert [e.index for e in ledger.entries("match", record_id="m-1")] == [550]
    assert ledger.counts_by_kind() == {"note": 550, "match": 1}
    newest = ledger.entries(run_id="b", newest_first=True, limit=2)
    assert [e.index for e in newest] == [550, 549]
    assert [e.index for e in ledger.entries(indices=[3, 299, 512, 550, 9999])] == [3, 299, 512, 550]
    assert [e.index for e in ledger.entries(newest_first=True, limit=3)] == [550, 549, 548]
    assert ledger.entries()[257].record()["run_id"] == "a"
    assert ledger.catch_up_index() == 0


def test_blocks_and_tail_serve_the_same_tree(ledger: Ledger) -> None:
    hashes: list[bytes] = []
    for batch in (100, 156, 1, 255, 600, 3, 256):  # fills, crosses and lands on block edges
        hashes += [r.leaf_hash for r in ledger.append_many(filler(batch))]
        n = len(hashes)
        assert ledger.root() == merkle.root_of(hashes)
        for index in {i for i in (0, 255, 256, n // 2, n - 1) if i < n}:
            assert verify_inclusion(hashes[index], index, n, ledger.inclusion_proof(index, n),
                                    ledger.root())
        assert ledger.hash_range(0, 0, n) == hashes
        assert [h for h, _ in ledger.leaf_range(min(250, n), n)] == hashes[250:]
    assert ledger.verify().ok


def test_large_catch_up_rebuilds_the_indexes(ledger: Ledger, store: Store,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A catch-up of at least as many leaves as are indexed drops and rebuilds the indexes
    (a sort each, not a random-order insert per row): answers and query plans unchanged."""
    from netwarden.ledger import storage

    monkeypatch.setattr(storage, "REBUILD_AT", 1)
    ledger.append_many(filler(300, run_id="a"))
    assert len(ledger.entries("note", run_id="a")) == 300  # rebuilt: 300 >= max(0, 1)
    ledger.append_many(filler(10, run_id="b"))
    assert len(ledger.entries("note", run_id="b")) == 10  # 10 < 300: inserted in place
    ledger.append_many(filler(400, run_id="c"))
    assert len(ledger.entries(run_id=["a", "c"])) == 700  # rebuilt again
    with store.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT idx FROM ledger_index WHERE run_id = 'c'"))
    assert "ix_ledger_index_run_type" in plan, plan


def test_look_ups_on_a_read_only_copy(ledger: Ledger, store: Store, key_dir: Path,
                                      tmp_path: Path) -> None:
    """Whoever cannot write (a read-only copy, a read-only database role) still gets complete
    answers: the leaves the look-up index does not cover are read from the blocks."""
    import shutil

    from netwarden.store import open_store

    ledger.append_many(filler(300, run_id="a"))
    assert len(ledger.entries(run_id="a")) == 300  # indexed up to 300
    ledger.append_many(filler(20, run_id="b"))
    ledger.append(Linked(id="m-1", run_id="b", match_id="f-1"))
    store.engine.dispose()
    copy = tmp_path / "ro.sqlite"
    shutil.copy(store.url.removeprefix("sqlite:///"), copy)
    ro = open_store(f"file:{copy}?mode=ro&uri=true".join(["sqlite:///", ""]), migrate=False)
    reader = Ledger.open(ro, key_dir, require_key=False)
    assert [e.index for e in reader.entries(match_id="f-1")] == [320]
    assert len(reader.entries("note", run_id=["a", "b"])) == 320
    assert [e.index for e in reader.entries(run_id="b", newest_first=True, limit=2)] == [320, 319]
    assert reader.counts_by_kind() == {"note": 320, "match": 1}
    ro.close()
    import sqlite3

    with sqlite3.connect(copy) as con:  # nothing was written to the copy
        assert con.execute("SELECT count(*) FROM ledger_index").fetchone() == (300,)


def test_a_checkpoint_overtaken_by_a_larger_one_is_not_stored(
        store: Store, key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes checkpointing one ledger (a campaign's workers): the one that read the
    smaller size stores last. Stored as it was, the checkpoints went backwards and verify
    reported a rollback (seen in the coordinator-kill campaign test); the larger checkpoint
    covers every leaf the smaller one would, so that one is returned and nothing is stored."""
    from netwarden.ledger import storage

    a, b = Ledger.open(store, key_dir), Ledger.open(store, key_dir)
    a.append_many(filler(10))
    sign = storage.sign_checkpoint

    def sign_then_be_overtaken(key, size, root):  # type: ignore[no-untyped-def]
        note = sign(key, size, root)
        monkeypatch.setattr(storage, "sign_checkpoint", sign)
        b.append_many(filler(5))
        assert b.checkpoint().size == 15
        return note

    monkeypatch.setattr(storage, "sign_checkpoint", sign_then_be_overtaken)
    got = a.checkpoint()
    assert got.size == 15
    assert [c.size for c in a.checkpoints()] == [15]
    report = a.verify()
    assert report.ok, report.problems
    a.append_many(filler(1))
    assert [c.size for c in (a.checkpoint(), *a.checkpoints())] == [16, 15, 16]
