"""The bulk append path: ``append_canonical`` and the WAL checkpoint it overlaps with its hashing.

What these pin: bulk appends build the same tree as record-by-record appends (roots, proofs,
look-ups, verify); the WAL checkpoint a bulk append starts is finished before it returns and
keeps the WAL at about a batch (it grows with every batch when the checkpoint is switched off);
the connection goes back to the pool with SQLite's automatic checkpoint on; a checkpoint that
cannot run falls back to SQLite's own; two writers bulk-appending at once lose nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from netwarden.ledger import Ledger, merkle, verify_inclusion
from netwarden.ledger import storage as ledger_storage
from netwarden.store import Store

from .conftest import filler

#: batch sizes around the bulk threshold and the 256-leaf blocks
SIZES = (1023, 1024, 3000, 257, 2048, 1)


def _bytes(count: int, run_id: str = "run-bulk") -> list[bytes]:
    return [Ledger.prepare(n).data for n in filler(count, run_id)]


def _wal(store: Store) -> Path:
    return Path(str(store.engine.url.database) + "-wal")


def test_bulk_appends_build_the_same_tree(ledger: Ledger, store: Store, tmp_path: Path,
                                          key_dir: Path) -> None:
    from netwarden.store import open_store

    other_store = open_store(f"sqlite:///{tmp_path / 'other.sqlite'}")
    try:
        other = Ledger.open(other_store, key_dir)
        hashes: list[bytes] = []
        start = 0
        for count in SIZES:
            records = filler(count, "run-bulk")  # fresh ids each call: made once here
            datas = [Ledger.prepare(r).data for r in records]
            taken = ledger.append_canonical(datas)
            assert taken == range(start, start + count)
            refs = other.append_many(records)
            assert [r.leaf_hash for r in refs] == merkle.leaf_hashes(datas)
            hashes += merkle.leaf_hashes(datas)
            start += count
            assert ledger.root() == other.root() == merkle.root_of(hashes)
        assert ledger.append_canonical([]) == range(start, start)
        for index in (0, 1023, 1024, 4000, start - 1):
            proof = ledger.inclusion_proof(index)
            assert verify_inclusion(hashes[index], index, start, proof, ledger.root())
        # the look-up index reads its columns from the bulk-appended bytes
        found = ledger.entries("note", run_id="run-bulk")
        assert [e.index for e in found] == list(range(start))
        report = ledger.verify()
        assert report.ok, report.problems
    finally:
        other_store.close()


def _bulk(ledger: Ledger, batches: int, per_batch: int = 3000) -> int:
    """Bulk-append ``batches`` batches; return the largest WAL size seen after one."""
    largest = 0
    for _ in range(batches):
        ledger.append_canonical(_bytes(per_batch))
        assert not [t for t in threading.enumerate() if t.name == "netwarden-wal-checkpoint"]
        largest = max(largest, _wal(ledger.store).stat().st_size)
    return largest


def test_the_wal_stays_about_a_batch(ledger: Ledger, store: Store,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    batch_bytes = sum(map(len, _bytes(3000)))
    largest = _bulk(ledger, 8)
    # one batch waits in the WAL for the next append's checkpoint; the WAL is reset once
    # copied, so it never holds much more than two batches
    assert largest < 3 * batch_bytes + (1 << 20)
    with store.engine.connect() as conn:  # the pool's connection got SQLite's default back
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    assert ledger.verify().ok

    # the same appends with the overlapped checkpoint switched off and no automatic one:
    # the WAL keeps every batch (what the bound above tells apart)
    monkeypatch.setattr(ledger_storage._WalCheckpointer, "start",
                        lambda self: (lambda: True))
    grown = _bulk(ledger, 8)
    assert grown > 6 * batch_bytes


def test_a_checkpoint_that_cannot_run_leaves_sqlites_own(ledger: Ledger, store: Store,
                                                         tmp_path: Path) -> None:
    ledger._wal = ledger_storage._WalCheckpointer(str(tmp_path / "no" / "such.sqlite"))
    batch_bytes = sum(map(len, _bytes(10_000)))
    largest = _bulk(ledger, 8, 10_000)
    # SQLite's automatic checkpoint ran: the WAL passed 1,000 pages at most by a batch,
    # far less than the eight batches written
    assert largest < 1000 * 4096 + 2 * batch_bytes < 8 * batch_bytes
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    report = ledger.verify()
    assert report.ok and report.size == 80_000, report.problems


def test_two_bulk_writers_at_once(store: Store, key_dir: Path) -> None:
    """Two ledgers on one file, each in its own thread with its own checkpointer."""
    writers = [Ledger.open(store, key_dir), Ledger.open(store, key_dir)]
    errors: list[BaseException] = []

    def write(ledger: Ledger, run_id: str) -> None:
        try:
            for _ in range(5):
                ledger.append_canonical(_bytes(1500, run_id))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w, f"run-{i}"))
               for i, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    report = writers[0].verify()
    assert report.ok and report.size == 15_000, report.problems
    for run_id in ("run-0", "run-1"):
        assert len(writers[0].entries("note", run_id=run_id)) == 7_500


def test_a_plan_made_stale_by_another_writer_is_made_again(
        store: Store, key_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk append lays out its rows before it takes the write lock; when another writer
    appends in between (here: 300 leaves, which complete the stored block), the rows are laid
    out again at the new size instead of overwriting or forking the tree."""
    bulk, other = Ledger.open(store, key_dir), Ledger.open(store, key_dir)
    first = [Ledger.prepare(r).data for r in filler(100)]
    bulk.append_canonical(first)
    cut_in = [Ledger.prepare(r).data for r in filler(300)]
    plan = Ledger._plan

    def plan_then_cut_in(self: Ledger, datas: list[bytes], hashes: list[bytes]) -> object:
        made = plan(self, datas, hashes)
        if self is bulk:
            other.append_canonical(cut_in)
        return made

    monkeypatch.setattr(Ledger, "_plan", plan_then_cut_in)
    late = [Ledger.prepare(r).data for r in filler(2000)]
    taken = bulk.append_canonical(late)
    assert taken == range(400, 2400)
    everything = first + cut_in + late
    assert bulk.root() == merkle.root_of(merkle.leaf_hashes(everything))
    assert [bulk.entry(i) for i in (0, 100, 399, 400, 2399)] == [
        everything[i] for i in (0, 100, 399, 400, 2399)]
    report = bulk.verify()
    assert report.ok and report.size == 2400, report.problems


def test_no_checkpointer_for_memory_or_uri_databases(tmp_path: Path, key_dir: Path) -> None:
    from netwarden.store import open_store

    for url in ("sqlite://", f"sqlite:///file:{tmp_path / 'u.sqlite'}?uri=true"):
        store = open_store(url)
        try:
            ledger = Ledger.open(store, key_dir)
            assert ledger._checkpointer() is None
            ledger.append_canonical(_bytes(1500))
            assert ledger.size == 1500
        finally:
            store.close()
    assert not list(tmp_path.glob("file:*"))


def test_closing_the_store_leaves_no_wal(tmp_path: Path, key_dir: Path) -> None:
    """The last bulk batch waits in the WAL for the next append; closing the store still
    copies it into the database file and removes the WAL (no connection of the checkpointer
    outlives the store's), so a copy of the database file alone has every leaf."""
    import shutil

    from netwarden.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'w.sqlite'}")
    ledger = Ledger.open(store, key_dir)
    ledger.append_canonical(_bytes(1500))
    ledger.append_canonical(_bytes(1500))
    assert _wal(store).stat().st_size > 0  # the second batch is still in the WAL
    root = ledger.root()
    store.close()
    assert not _wal(store).exists()
    shutil.copy(tmp_path / "w.sqlite", tmp_path / "copy.sqlite")
    copy = open_store(f"sqlite:///{tmp_path / 'copy.sqlite'}")
    try:
        assert Ledger.open(copy, require_key=False).root() == root
        assert Ledger.open(copy, require_key=False).size == 3000
    finally:
        copy.close()


def test_the_application_appends_records_not_bytes() -> None:
    """``append_canonical`` trusts its bytes (checking them would cost what it saves), so
    nothing outside ``ledger/`` may call it: the pipeline, the web UI and the CLI append
    :class:`~netwarden.records.Record` objects (issue 18)."""
    import netwarden

    src = Path(netwarden.__file__).parent
    callers = [str(p.relative_to(src)) for p in sorted(src.rglob("*.py"))
               if "append_canonical" in p.read_text(encoding="utf-8")
               and src / "ledger" not in p.parents]
    assert not callers
