"""Tampering with the stored ledger is detected by `ledger verify`, with the first bad index.

Each test edits the SQLite file directly, as an insider with database access would: the tail
(one row per leaf after the last full block of 256) and the full blocks (one row per 256
leaves: entry bundle, leaf hashes, inner subtree hashes).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.cli import _load_commands, app
from netwarden.ledger import Ledger, merkle
from netwarden.ledger.audit import Problem
from netwarden.ledger.checkpoint import sign_checkpoint
from netwarden.ledger.keys import load_key
from netwarden.ledger.storage import inner_offset, pack_entries, unpack_entries
from netwarden.store import Store

from .conftest import filler

N = 40


def _sealed(ledger: Ledger, first: int, size: int) -> Ledger:
    """``size`` leaves with a checkpoint at ``first`` and one at ``size``; verifies."""
    ledger.append_many(filler(first))
    ledger.checkpoint()
    ledger.append_many(filler(size - first))
    ledger.checkpoint()
    assert ledger.verify().ok
    return ledger


@pytest.fixture
def sealed(ledger: Ledger) -> Ledger:
    return _sealed(ledger, 16, N)


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
    rows = con.execute("SELECT idx FROM ledger_tail WHERE idx >= ? ORDER BY idx "
                       f"{'DESC' if by > 0 else 'ASC'}", (start,)).fetchall()
    for (idx,) in rows:
        con.execute("UPDATE ledger_tail SET idx = ? WHERE idx = ?", (idx + by, idx))


def _flip_entry(i: int) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        (entry,) = con.execute("SELECT entry FROM ledger_tail WHERE idx=?", (i,)).fetchone()
        con.execute("UPDATE ledger_tail SET entry=? WHERE idx=?",
                    (entry[:5] + bytes([entry[5] ^ 1]) + entry[6:], i))
    return fn


def _rewrite_entry_and_hash(i: int) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        new = b'{"forged":true,"record_type":"note"}'
        con.execute("UPDATE ledger_tail SET entry=?, leaf_hash=? WHERE idx=?",
                    (new, merkle.leaf_hash(new), i))
    return fn


def _delete(i: int, shift: bool) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        con.execute("DELETE FROM ledger_tail WHERE idx=?", (i,))
        if shift:
            _shift(con, i + 1, -1)
    return fn


def _swap(i: int, j: int) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        con.execute("UPDATE ledger_tail SET idx=-1 WHERE idx=?", (i,))
        con.execute("UPDATE ledger_tail SET idx=? WHERE idx=?", (i, j))
        con.execute("UPDATE ledger_tail SET idx=? WHERE idx=-1", (j,))
    return fn


def _insert(i: int) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        _shift(con, i, +1)
        new = b'{"inserted":true,"record_type":"note"}'
        con.execute("INSERT INTO ledger_tail (idx, leaf_hash, entry) VALUES (?,?,?)",
                    (i, merkle.leaf_hash(new), new))
    return fn


def _truncate(keep: int) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        con.execute("DELETE FROM ledger_tail WHERE idx >= ?", (keep,))
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


# -- the same edits inside a full block (leaves 256..511 of a 600-leaf ledger) -------------------

B = 600


@pytest.fixture
def sealed_blocks(ledger: Ledger) -> Ledger:
    return _sealed(ledger, 300, B)


def _block_edit(block: int, fn: Callable[[list[bytes], list[bytes]], None],
                ) -> Callable[[sqlite3.Connection], None]:
    """Edit a block's entries and leaf hashes as lists (what an insider rewriting the row's
    entry bundle and hash tile does); inner subtree hashes are left as stored."""
    def edit(con: sqlite3.Connection) -> None:
        hs, es = con.execute("SELECT hashes, entries FROM ledger_bundles WHERE idx=?",
                             (block,)).fetchone()
        hashes = [hs[k:k + 32] for k in range(0, len(hs), 32)]
        entries = unpack_entries(es)
        fn(hashes, entries)
        con.execute("UPDATE ledger_bundles SET hashes=?, entries=? WHERE idx=?",
                    (b"".join(hashes), pack_entries(entries), block))
    return edit


def _b_flip(j: int) -> Callable[[list[bytes], list[bytes]], None]:
    def fn(hashes: list[bytes], entries: list[bytes]) -> None:
        e = entries[j]
        entries[j] = e[:5] + bytes([e[5] ^ 1]) + e[6:]
    return fn


def _b_rewrite(j: int) -> Callable[[list[bytes], list[bytes]], None]:
    def fn(hashes: list[bytes], entries: list[bytes]) -> None:
        entries[j] = b'{"forged":true,"record_type":"note"}'
        hashes[j] = merkle.leaf_hash(entries[j])
    return fn


def _b_remove_entry(j: int) -> Callable[[list[bytes], list[bytes]], None]:
    def fn(hashes: list[bytes], entries: list[bytes]) -> None:
        del entries[j]  # the hash tile still names it
    return fn


def _b_remove_both(j: int) -> Callable[[list[bytes], list[bytes]], None]:
    def fn(hashes: list[bytes], entries: list[bytes]) -> None:
        del entries[j], hashes[j]  # later ones move up; no index marks the gap
    return fn


def _b_swap(i: int, j: int) -> Callable[[list[bytes], list[bytes]], None]:
    def fn(hashes: list[bytes], entries: list[bytes]) -> None:
        entries[i], entries[j] = entries[j], entries[i]
        hashes[i], hashes[j] = hashes[j], hashes[i]
    return fn


def _b_insert(j: int) -> Callable[[list[bytes], list[bytes]], None]:
    def fn(hashes: list[bytes], entries: list[bytes]) -> None:
        new = b'{"inserted":true,"record_type":"note"}'
        entries.insert(j, new)
        hashes.insert(j, merkle.leaf_hash(new))
    return fn


def _b_delete_from(block: int) -> Callable[[sqlite3.Connection], None]:
    def fn(con: sqlite3.Connection) -> None:
        con.execute("DELETE FROM ledger_bundles WHERE idx >= ?", (block,))
        con.execute("DELETE FROM ledger_tail")
    return fn


# the same meaning as CASES: the first leaf storage no longer proves intact; a leaf moved
# together with its hash is bracketed by the first stored subtree hash that disagrees
BLOCK_CASES = {
    "byte flip in bundled entry 279": (_block_edit(1, _b_flip(23)), 279),
    "bundled entry and its hash rewritten (leaf 278)": (_block_edit(1, _b_rewrite(22)), 278),
    "entry 265 removed from its bundle": (_block_edit(1, _b_remove_entry(9)), 265),
    "entry and hash 266 removed, later ones moved up": (_block_edit(1, _b_remove_both(10)),
                                                        266),
    "bundled leaves 260 and 286 swapped": (_block_edit(1, _b_swap(4, 30)), 260),
    "leaf inserted in a bundle at 274": (_block_edit(1, _b_insert(18)), 274),
    "leaf inserted in a bundle at 283 (odd: bracketed by its pair)":
        (_block_edit(1, _b_insert(27)), 282),
    "blocks from 256 on and the tail deleted": (_b_delete_from(1), 256),
}


@pytest.mark.parametrize("chunk", [None, 8, 64, 256])
@pytest.mark.parametrize("case", BLOCK_CASES, ids=list(BLOCK_CASES))
def test_tampering_inside_a_block_is_found(sealed_blocks: Ledger, store: Store, case: str,
                                          chunk: int | None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from netwarden.ledger import audit

    if chunk is not None:
        monkeypatch.setattr(audit, "FAST_CHUNK", chunk)
    edit, first_bad = BLOCK_CASES[case]
    _edit(store, edit)
    report = sealed_blocks.verify()
    assert not report.ok
    assert report.first_bad_index == first_bad, report.problems
    assert report.problems


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
    def zero_node(con: sqlite3.Connection) -> None:  # node (3, 20), in block 0's inner hashes
        (inner,) = con.execute("SELECT subtrees FROM ledger_bundles WHERE idx=0").fetchone()
        at = inner_offset(3) + 32 * 20
        con.execute("UPDATE ledger_bundles SET subtrees=? WHERE idx=0",
                    (inner[:at] + b"\0" * 32 + inner[at + 32:],))

    _edit(store, zero_node)
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
    assert report.kinds[0] is Problem.CHECKPOINT_SIGNATURE, report.found


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
    assert Problem.ROLLBACK in report.kinds and report.kinds[0] is Problem.ROLLBACK


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


# The kind of the first problem each edit gives: a reader tells an edited entry from a lost
# leaf or a moved one without parsing the words (verify_ledger's typed problems).
FIRST_KIND = {
    "byte flip in entry 23": Problem.ENTRY_CHANGED,
    "entry and its hash rewritten (leaf 22)": Problem.SUBTREE_MISMATCH,
    "deleted leaf 9": Problem.LEAF_MISSING,
    "tail cut after 35": Problem.LEAVES_REMOVED,
}


@pytest.mark.parametrize("case", FIRST_KIND, ids=list(FIRST_KIND))
def test_each_problem_says_its_kind(sealed: Ledger, store: Store, case: str) -> None:
    edit, first_bad = CASES[case]
    _edit(store, edit)
    report = sealed.verify()
    assert report.kinds[0] is FIRST_KIND[case], report.found
    assert [f.text for f in report.found] == report.problems
    assert report.as_dict()["problem_kinds"][0] == FIRST_KIND[case].value
    assert min(f.index for f in report.found if f.index is not None) == first_bad
