"""``ledger verify``: recompute the whole tree from stored entries and check every checkpoint.

Trust nothing stored except what a signature covers: each entry is re-hashed, the tree is
rebuilt leaf by leaf, every stored subtree hash is compared with the rebuilt one, and every
checkpoint's signature, size and root are checked against the rebuilt tree, as is consistency
between successive checkpoints. Memory stays bounded: leaves stream in chunks and only the
tree's right edge is kept.

``first_bad_index`` is the first leaf index that storage and signatures no longer prove intact:
exact for a changed entry, a gap, a reordered leaf; for a leaf moved together with its hash the
first stored subtree hash that disagrees brackets it, and its first leaf is reported. Inside a
full block (one ``ledger_bundles`` row of 256 leaves) the same holds: an entry removed from the
block while its leaf hash stays is exact; an entry and its hash removed or inserted together
(no index marks the gap) is bracketed like a moved leaf; a lost block is a gap.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from netwarden.ledger import merkle
from netwarden.ledger.checkpoint import Checkpoint, CheckpointError, parse_checkpoint
from netwarden.ledger.keys import VerifierKey
from netwarden.ledger.storage import (
    BLOCK,
    HEIGHT,
    _node_range,
    _query,
    inner_offset,
    stored_leaves,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from netwarden.ledger.storage import Ledger, StoredCheckpoint

CHUNK = 8192
MAX_PROBLEMS = 50


class Problem(StrEnum):
    """What kind of damage a problem of :func:`verify_ledger` is (its ``kind`` in the report).

    One value per broken condition, so a reader (the CLI, a court's expert, a test) can tell a
    forged signature from a rolled-back checkpoint or an edited entry without parsing words.
    """

    CHECKPOINT_SIGNATURE = "checkpoint_signature"  # unreadable note, unknown key, bad signature
    CHECKPOINT_COLUMNS = "checkpoint_columns"  # stored size/root differ from the signed note
    ROLLBACK = "rollback"  # a later checkpoint is smaller than an earlier one
    TIMESTAMP = "timestamp"  # the RFC 3161 token does not verify
    COSIGNATURE = "cosignature"  # a witness cosignature does not verify
    LEAF_MISSING = "leaf_missing"  # a gap in the leaf indexes
    ENTRY_MISSING = "entry_missing"  # a block lost an entry whose leaf hash stayed
    ENTRY_CHANGED = "entry_changed"  # entry bytes do not hash to the stored leaf hash
    SUBTREE_MISSING = "subtree_missing"  # a subtree hash the tree needs is not stored
    SUBTREE_MISMATCH = "subtree_mismatch"  # a stored subtree hash differs from the rebuilt one
    LEAVES_REMOVED = "leaves_removed"  # subtree hashes cover leaves past the last stored one
    LEAVES_LOST = "leaves_lost"  # a checkpoint covers more leaves than storage holds
    ROOT_MISMATCH = "root_mismatch"  # a checkpoint's root differs from the rebuilt tree
    INCONSISTENT = "inconsistent"  # no consistency proof to the previous checkpoint


@dataclass(frozen=True)
class Finding:
    """One problem: its kind, the first leaf it implicates (if known) and what it is in words."""

    kind: Problem
    index: int | None
    text: str


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_ledger`. ``ok`` only when there is no problem at all."""

    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    checkpoints: int = 0
    signed_size: int = 0  # leaves covered by the newest valid checkpoint
    first_bad_index: int | None = None
    problems: list[str] = field(default_factory=list)
    found: list[Finding] = field(default_factory=list)  # the same problems, typed
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    bytes_hashed: int = 0
    _ranges: list[tuple[int, int]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def kinds(self) -> list[Problem]:
        """The kinds of problem found, each once, in the order first found."""
        return list(dict.fromkeys(f.kind for f in self.found))

    @property
    def unsigned_tail(self) -> int:
        """Leaves appended after the newest checkpoint (valid, but no signature covers them)."""
        return max(0, self.size - self.signed_size)

    def bad(self, kind: Problem, index: int | None, problem: str,
            end: int | None = None) -> None:
        """Record a problem; ``[index, end)`` is the leaf range it implicates (if known).

        A range that contains an already-reported one adds nothing (every ancestor of a changed
        leaf differs too), so only the most specific explanation is kept.
        """
        if index is not None and end is not None:
            if any(index <= a and b <= end for a, b in self._ranges):
                return
            self._ranges.append((index, end))
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
            self.found.append(Finding(kind, index, problem))
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append("... further problems not listed")
        if index is not None and (self.first_bad_index is None or index < self.first_bad_index):
            self.first_bad_index = index

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "size": self.size, "root": self.root.hex(),
                "checkpoints": self.checkpoints, "signed_size": self.signed_size,
                "unsigned_tail": self.unsigned_tail, "first_bad_index": self.first_bad_index,
                "problems": self.problems, "problem_kinds": [k.value for k in self.kinds],
                "notes": self.notes, "seconds": round(self.seconds, 3),
                "bytes_hashed": self.bytes_hashed}


Signed = list[tuple["StoredCheckpoint", Checkpoint]]


def verify_ledger(ledger: Ledger, pinned: Sequence[VerifierKey] = ()) -> VerifyReport:
    """Check the stored ledger end to end (see module docstring), in four steps:
    the checkpoints' own signatures (:func:`_signed_checkpoints`), their witnesses
    (:func:`_check_witnesses`), the tree rebuilt from every stored entry
    (:func:`_rebuild_tree`), and each checkpoint against that tree (:func:`_check_roots`)."""
    started = time.perf_counter()
    report = VerifyReport()
    parsed = _signed_checkpoints(ledger, pinned, report)
    _check_witnesses(ledger, parsed, report)
    by_size: dict[int, Signed] = {}
    for cp, note in parsed:
        by_size.setdefault(note.size, []).append((cp, note))
    roots = _rebuild_tree(ledger, by_size, report)
    _check_roots(ledger, parsed, roots, report)
    if report.size > report.signed_size:
        report.notes.append(f"leaves {report.signed_size}..{report.size - 1} are not yet "
                            "covered by a checkpoint (appended after the last one, e.g. a run "
                            "cut short)")
    report.seconds = time.perf_counter() - started
    return report


def _signed_checkpoints(ledger: Ledger, pinned: Sequence[VerifierKey],
                        report: VerifyReport) -> Signed:
    """The stored checkpoints whose signature (by a known, or pinned, key) and stored columns
    hold, in order; each that does not, and a rollback or a bad timestamp, is a problem."""
    keys = {kid: VerifierKey(name, pub) for kid, (name, pub) in ledger.public_keys().items()}
    if pinned:
        pinned_ids = {k.key_id.hex(): k for k in pinned}
        keys = {kid: k for kid, k in keys.items() if pinned_ids.get(kid) == k}
    cps = ledger.checkpoints()
    report.checkpoints = len(cps)
    parsed: Signed = []
    for cp in cps:
        label = f"checkpoint #{cp.id} (size {cp.size})"
        try:
            note = parse_checkpoint(cp.note)
            key = keys.get(cp.key_id)
            if key is None:
                raise CheckpointError(f"signed by unknown{' or unpinned' if pinned else ''} "
                                      f"key {cp.key_id}")
            note.verify(key)
        except CheckpointError as exc:
            report.bad(Problem.CHECKPOINT_SIGNATURE, None, f"{label}: {exc}")
            continue
        if note.size != cp.size or note.root != cp.root:
            report.bad(Problem.CHECKPOINT_COLUMNS, None,
                       f"{label}: stored size/root differ from the signed note")
            continue
        if parsed and note.size < parsed[-1][1].size:
            report.bad(Problem.ROLLBACK, note.size, f"{label}: rollback, smaller than the "
                       f"earlier checkpoint #{parsed[-1][0].id} of size {parsed[-1][1].size}")
        _check_timestamp(cp, label, report)
        parsed.append((cp, note))
    return parsed


def _check_timestamp(cp: StoredCheckpoint, label: str, report: VerifyReport) -> None:
    """The checkpoint's RFC 3161 token, if it has one, covers its note."""
    if cp.tsa_token is None:
        return
    from netwarden.ledger.tsa import TSAError, check_token

    try:
        when = check_token(cp.tsa_token, cp.note.encode())
        report.notes.append(f"{label}: RFC 3161 time {when.isoformat()}")
    except TSAError as exc:
        report.bad(Problem.TIMESTAMP, None, f"{label}: timestamp token: {exc}")


def _check_witnesses(ledger: Ledger, parsed: Signed, report: VerifyReport) -> None:
    """Who witnessed the newest checkpoint; a cosignature that does not verify is a problem."""
    if not parsed or not ledger.witnesses:
        return
    from netwarden.ledger.cosign import check_cosignatures

    cp, note = parsed[-1]
    checked = check_cosignatures(note, [w.key for w in ledger.witnesses])
    for problem in checked.problems:
        report.bad(Problem.COSIGNATURE, None, f"checkpoint #{cp.id} (size {cp.size}): {problem}")
    report.notes += [f"checkpoint #{cp.id} (size {cp.size}) {line}" for line in checked.lines()]


def _rebuild_tree(ledger: Ledger, by_size: dict[int, Signed],
                  report: VerifyReport) -> dict[int, bytes]:
    """Rebuild the tree from every stored entry, comparing stored leaf and subtree hashes on
    the way; sets ``report.size``/``root`` and returns the rebuilt root at each checkpoint
    size. Intact stretches go through :func:`_fast_scan`; from the first damage on, leaf by
    leaf (:func:`_check_leaves`), so every problem is named where it is."""
    frontier = merkle.Frontier()
    roots: dict[int, bytes] = {}
    with ledger._read() as conn:
        expected = _fast_scan(conn, frontier, by_size, roots, report)
        top = _stored_extent(conn)
        while expected < top:
            # aligned to whole blocks, so a damaged block is read (and explained) at once
            hi = min(((expected + CHUNK) >> HEIGHT << HEIGHT) or CHUNK, top)
            hi = max(hi, expected + 1)
            expected = _check_leaves(conn, frontier, expected, hi, by_size, roots, report)
        report.size = frontier.size
        report.root = frontier.root()
        _check_nothing_beyond(conn, frontier.size, report)
    return roots


def _check_leaves(conn: Connection, frontier: merkle.Frontier, expected: int, hi: int,
                  by_size: dict[int, Signed], roots: dict[int, bytes],
                  report: VerifyReport) -> int:
    """Leaves [expected, hi) one by one: no gap, every entry present and hashing to its stored
    leaf hash, then the subtree hashes they complete against the stored ones. Returns where the
    next chunk starts."""
    rows = stored_leaves(conn, expected, hi)
    emitted: dict[int, list[tuple[int, bytes]]] = {}
    for idx, stored_hash, entry in rows:
        position = frontier.size
        if idx != expected:
            report.bad(Problem.LEAF_MISSING, position, f"leaf {expected}: missing (next "
                       f"stored index is {idx})", position + 1)
        expected = idx + 1
        if entry is None:
            report.bad(Problem.ENTRY_MISSING, position, f"leaf {idx}: its entry is missing "
                       "from its stored block (entries removed or moved)", position + 1)
            lh = stored_hash or b""
        else:
            lh = merkle.leaf_hash(entry)
            report.bytes_hashed += len(entry)
            if lh != stored_hash:
                report.bad(Problem.ENTRY_CHANGED, position, f"leaf {idx}: entry bytes do not "
                           "hash to the stored leaf hash (entry changed)", position + 1)
        if len(lh) != 32:
            continue
        for level, index, h in frontier.append(lh):
            emitted.setdefault(level, []).append((index, h))
        if frontier.size in by_size:
            roots[frontier.size] = frontier.root()
    _compare_nodes(conn, emitted, report)
    return max(expected, hi)


def _check_nothing_beyond(conn: Connection, n: int, report: VerifyReport) -> None:
    """No stored subtree hash covers a leaf past the last stored one (leaves removed)."""
    for level in range(1, 64):
        extra = _query(conn, "SELECT count(*) FROM ledger_nodes WHERE level = ? AND idx >= ?",
                       (level, n >> level))[0][0]
        if extra:
            report.bad(Problem.LEAVES_REMOVED, n, f"{extra} stored level-{level} subtree "
                       f"hash(es) cover leaves beyond the last stored leaf {n - 1}: leaves were "
                       "removed")
        if (1 << level) > max(n, 1) * 2 and not extra:
            break


def _check_roots(ledger: Ledger, parsed: Signed, roots: dict[int, bytes],
                 report: VerifyReport) -> None:
    """Each signed checkpoint against the rebuilt tree (size, root), and consistency between
    successive good ones; sets ``report.signed_size`` to what the good ones cover."""
    n = report.size
    proven = 0  # leaves [0, proven) are covered by a checkpoint that matched
    last_good = None
    for cp, note in parsed:
        label = f"checkpoint #{cp.id} (size {note.size})"
        if note.size > n:
            report.bad(Problem.LEAVES_LOST, n, f"{label}: claims {note.size} leaves but "
                       f"storage holds {n}: leaves {n}..{note.size - 1} lost")
            continue
        root = roots.get(note.size, merkle.EMPTY_ROOT if note.size == 0 else None)
        if root != note.root:
            known = report.first_bad_index
            hint = None if known is not None and proven <= known < note.size else proven
            report.bad(Problem.ROOT_MISMATCH, hint, f"{label}: root differs from the tree "
                       f"rebuilt from storage (a leaf in [{proven}, {note.size}) was changed, "
                       "moved or inserted)")
            continue
        if last_good is not None and last_good.size <= note.size:
            try:
                proof = merkle_consistency(ledger, last_good.size, note.size)
                merkle.verify_consistency(last_good.size, note.size, proof, last_good.root,
                                          note.root)
            except Exception as exc:  # a bad proof, or storage damage surfacing here
                report.bad(Problem.INCONSISTENT, proven,
                           f"{label}: not consistent with the previous checkpoint: {exc}")
                continue
        last_good = note
        proven = max(proven, note.size)
    report.signed_size = proven


FAST_CHUNK = 1 << 15


def _fast_scan(conn: Connection, frontier: merkle.Frontier,
               by_size: dict[int, list[tuple[StoredCheckpoint, Checkpoint]]],
               roots: dict[int, bytes], report: VerifyReport) -> int:
    """Verify aligned chunks of an intact ledger at C speed; return where it stopped.

    Per chunk: one range read of leaves, all leaf hashes recomputed and compared as one list,
    the chunk's subtrees built level by level (:meth:`Frontier.extend_perfect`) and each level
    compared with one range read of stored node hashes. The first chunk in which anything
    differs (a gap, a changed entry or hash, a missing node) is left, frontier untouched, to
    the leaf-by-leaf loop that explains *what* is wrong and where; so is everything after it.
    """
    sha256 = hashlib.sha256
    sizes = sorted(by_size)
    lo = 0
    stored = _stored_extent(conn)
    while lo < stored:
        hi = min(lo + FAST_CHUNK, stored)
        rows = stored_leaves(conn, lo, hi)
        if len(rows) != hi - lo or (rows and (rows[0][0], rows[-1][0]) != (lo, hi - 1)):
            return lo  # a gap: the slow loop names it
        if any(r[2] is None for r in rows):
            return lo
        hashes = [sha256(b"\x00" + r[2]).digest() for r in rows]  # type: ignore[operator]
        if hashes != [r[1] for r in rows]:
            return lo
        saved = frontier.copy()
        subtrees = {int(b): bytes(t) for b, t in _query(
            conn, "SELECT idx, subtrees FROM ledger_bundles WHERE idx >= ? AND idx < ?",
            (lo >> HEIGHT, ((hi - 1) >> HEIGHT) + 1))}
        chunk_roots: dict[int, bytes] = {}
        ok = True
        cuts = [lo, *(c for c in sizes if lo < c < hi), hi]
        for a, b in itertools.pairwise(cuts):
            for level, index in merkle.perfect_decomposition(a, b):
                start = index << level
                levels, above = frontier.extend_perfect(hashes[start - lo:
                                                               start - lo + (1 << level)])
                for lv, row in enumerate(levels, 1):
                    if _stored_row(conn, subtrees, lv, start >> lv, len(row)) != b"".join(row):
                        ok = False
                for lv, i, h in above:
                    if _node_range(conn, lv, i, i + 1).get(i) != h:
                        ok = False
                if not ok:
                    break
            if not ok:
                break
            if frontier.size in by_size:
                chunk_roots[frontier.size] = frontier.root()
        if not ok:
            frontier.size, frontier.hashes = saved.size, saved.hashes
            return lo
        roots.update(chunk_roots)
        report.bytes_hashed += sum([len(r[2] or b"") for r in rows])
        lo = hi
    return lo


def _stored_row(conn: Connection, subtrees: dict[int, bytes], level: int, first: int,
                count: int) -> bytes:
    """Stored hashes of nodes (level, first..first+count) joined: for whole blocks, slices of
    their ``subtrees`` (read once per chunk), else one range read; a missing one is absent
    (so the result is shorter and compares unequal)."""
    per = BLOCK >> level
    if level < HEIGHT and first % per == 0 and count % per == 0:
        blocks = range(first // per, (first + count) // per)
        if all(b in subtrees for b in blocks):
            off = inner_offset(level)
            return b"".join([subtrees[b][off:off + 32 * per] for b in blocks])
    got = _node_range(conn, level, first, first + count)
    return b"".join([got.get(i, b"") for i in range(first, first + count)])


def _stored_extent(conn: Connection) -> int:
    """One past the highest index anything is stored at (blocks or tail), gaps included."""
    tail = _query(conn, "SELECT max(idx) FROM ledger_tail")[0][0]
    block = _query(conn, "SELECT max(idx) FROM ledger_bundles")[0][0]
    return max(0 if tail is None else int(tail) + 1,
               0 if block is None else (int(block) + 1) << HEIGHT)


def merkle_consistency(ledger: Ledger, size1: int, size2: int) -> list[bytes]:
    return ledger.consistency_proof(size1, size2)


def _compare_nodes(conn: Connection, emitted: dict[int, list[tuple[int, bytes]]],
                   report: VerifyReport) -> None:
    """Compare rebuilt subtree hashes with stored ones, one range query per level."""
    for level, nodes in sorted(emitted.items()):
        lo, hi = nodes[0][0], nodes[-1][0]
        stored = _node_range(conn, level, lo, hi + 1)
        for index, h in nodes:
            got = stored.get(index)
            first, end = index << level, (index + 1) << level
            if got is None:
                report.bad(Problem.SUBTREE_MISSING, first, f"lost tail: subtree hash ({level}, "
                           f"{index}) for leaves {first}..{end - 1} is not stored", end)
            elif got != h:
                report.bad(Problem.SUBTREE_MISMATCH, first, f"stored subtree hash ({level}, "
                           f"{index}) for leaves {first}..{end - 1} differs from the rebuilt "
                           "tree (a leaf there was changed, moved or inserted)", end)
