"""Tampering with the stored ledger is detected by `ledger verify`, with the first bad index.

Each test edits the SQLite file directly, as an insider with database access would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.cli import _load_commands, app
from netwarden.ledger import Ledger, merkle
from netwarden.ledger.checkpoint import sign_checkpoint
from netwarden.ledger.keys import load_key
from netwarden.store import Store

from .conftest import filler

N = 40


@pytest.fixture
def sealed(ledger: Ledger) -> Ledger:
    ledger.append_many(filler(16))
    ledger.checkpoint()
    ledger.append_many(filler(N - 16))
    ledger.checkpoint()
    assert ledger.verify().ok
    return ledger


def _db(store: Store) -> sqlite3.Connection:
    return sqlite3.connect(store.url.removeprefix("sqlite:///"), isolation_level=None)


def _edit(store: Store, fn: Callable[[sqlite3.Connection], None]) -> None:
    store.engine.dispose()
    con = _db(store)
    try:
        con.execute("BEGIN")
        fn(con)
        con.execute("COMMIT")
    finally:
        con.close()


def _shift(con: sqlite3.Connection, start: int, by: int) -> None:
    rows = con.execute("SELECT idx FROM ledger_leaves WHERE idx >= ? ORDER BY idx "
                       f"{'DESC' if by > 0 else 'ASC'}", (start,)).fetchall()
    for (idx,) in rows:
        con.execute("UPDATE ledger_leaves SET idx = ? WHERE idx = ?", (idx + by, idx))


def _flip_entry(i: int) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        (entry,) = con.execute("SELECT entry FROM ledger_leaves WHERE idx=?", (i,)).fetchone()
        con.execute("UPDATE ledger_leaves SET entry=? WHERE idx=?",
                    (entry[:5] + bytes([entry[5] ^ 1]) + entry[6:], i))
    return fn


def _rewrite_entry_and_hash(i: int) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        new = b'{"forged":true,"record_type":"note"}'
        con.execute("UPDATE ledger_leaves SET entry=?, leaf_hash=? WHERE idx=?",
                    (new, merkle.leaf_hash(new), i))
    return fn


def _delete(i: int, shift: bool) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        con.execute("DELETE FROM ledger_leaves WHERE idx=?", (i,))
        if shift:
            _shift(con, i + 1, -1)
    return fn


def _swap(i: int, j: int) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        con.execute("UPDATE ledger_leaves SET idx=-1 WHERE idx=?", (i,))
        con.execute("UPDATE ledger_leaves SET idx=? WHERE idx=?", (i, j))
        con.execute("UPDATE ledger_leaves SET idx=? WHERE idx=-1", (j,))
    return fn


def _insert(i: int) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        _shift(con, i, +1)
        new = b'{"inserted":true,"record_type":"note"}'
        con.execute("INSERT INTO ledger_leaves (idx, leaf_hash, entry, record_type) "
                    "VALUES (?,?,?,'note')", (i, merkle.leaf_hash(new), new))
    return fn


def _truncate(keep: int) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        con.execute("DELETE FROM ledger_leaves WHERE idx >= ?", (keep,))
    return fn


CASES = {
    "byte flip in entry 23": (_flip_entry(23), 23),
    "entry and its hash rewritten (leaf 22)": (_rewrite_entry_and_hash(22), 22),
    "deleted leaf 9": (_delete(9, shift=False), 9),
    "deleted leaf 10, later ones renumbered": (_delete(10, shift=True), 10),
    "leaves 4 and 30 swapped": (_swap(4, 30), 4),
    "leaf inserted at 18": (_insert(18), 18),
    "leaf inserted at 27 (odd: bracketed by its pair)": (_insert(27), 26),
    "tail cut after 35": (_truncate(35), 35),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_tampering_is_found_with_first_bad_index(sealed: Ledger, store: Store, case: str) -> None:
    edit, first_bad = CASES[case]
    _edit(store, edit)
    report = sealed.verify()
    assert not report.ok
    assert report.first_bad_index == first_bad, report.problems
    assert report.problems


@pytest.mark.parametrize("chunk", [4, 8, 32])
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_fast_scan_hands_over_with_the_same_answer(sealed: Ledger, store: Store, case: str,
                                                   chunk: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With chunks small enough that the bulk scan verifies the intact chunks before the
    damage, the leaf-by-leaf loop still gets the first bad index exactly right."""
    from netwarden.ledger import audit

    monkeypatch.setattr(audit, "FAST_CHUNK", chunk)
    edit, first_bad = CASES[case]
    _edit(store, edit)
    report = sealed.verify()
    assert not report.ok
    assert report.first_bad_index == first_bad, report.problems


def test_fast_scan_checks_nodes_and_checkpoints_inside_chunks(
        ledger: Ledger, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from netwarden.ledger import audit

    monkeypatch.setattr(audit, "FAST_CHUNK", 64)
    for n in (5, 59, 64, 100, 1, 90):  # checkpoints at 5, 64, 128, 228, 229, 319
        ledger.append_many(filler(n))
        ledger.checkpoint()
    report = ledger.verify()
    assert report.ok, report.problems
    assert (report.size, report.signed_size, report.checkpoints) == (319, 319, 6)
    assert report.bytes_hashed == sum(len(e.data) for e in ledger.entries())
    seen: list[int] = []
    real = audit._fast_scan

    def spy(*args):  # type: ignore[no-untyped-def]
        seen.append(real(*args))
        return seen[-1]

    monkeypatch.setattr(audit, "_fast_scan", spy)
    assert ledger.verify().ok and seen == [319]  # the bulk scan covered every leaf
    # a stored subtree hash (not a leaf) changed: the bulk scan stops at its chunk
    _edit(store, lambda con: con.execute(
        "UPDATE ledger_nodes SET hash=? WHERE level=3 AND idx=20", (b"\0" * 32,)))
    report = ledger.verify()
    assert not report.ok and report.first_bad_index == 160, report.problems
    assert seen[-1] == 128


def test_checkpoint_edit_is_found(sealed: Ledger, store: Store) -> None:
    def fn(con: sqlite3.Connection) -> None:
        (note,) = con.execute("SELECT note FROM ledger_checkpoints WHERE id=1").fetchone()
        con.execute("UPDATE ledger_checkpoints SET note=?, size=17 WHERE id=1",
                    (note.replace("\n16\n", "\n17\n"),))
    _edit(store, fn)
    report = sealed.verify()
    assert not report.ok
    assert any("does not verify" in p for p in report.problems), report.problems


def test_rollback_is_found(sealed: Ledger, store: Store, key_dir: Path) -> None:
    # a validly signed checkpoint of an older, smaller tree stored after a bigger one
    note = sign_checkpoint(load_key(key_dir), 16, sealed.root(16))
    _edit(store, lambda con: con.execute(
        "INSERT INTO ledger_checkpoints (size, root, note, key_id, created_at) "
        "VALUES (16, ?, ?, ?, '2026-01-01 00:00:00')",
        (sealed.root(16), note, load_key(key_dir).public.key_id.hex())))
    report = sealed.verify()
    assert not report.ok
    assert any("rollback" in p for p in report.problems), report.problems


def test_cli_verify_exit_codes(sealed: Ledger, store: Store) -> None:
    _load_commands()
    runner = CliRunner()
    good = runner.invoke(app, ["ledger", "verify", "--db", store.url])
    assert good.exit_code == 0, good.output
    assert "ledger OK" in good.output
    _edit(store, _flip_entry(3))
    bad = runner.invoke(app, ["ledger", "verify", "--db", store.url])
    assert bad.exit_code == 1
    assert "first bad index 3" in bad.output
