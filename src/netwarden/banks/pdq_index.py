"""Exact Hamming-radius search over 256-bit PDQ hashes: multi-index hashing in NumPy.

Why multi-index hashing (Norouzi et al., "Fast search in Hamming space with multi-index
hashing", CVPR 2012): split each hash into ``m = 16`` chunks of 16 bits. If two hashes are
within distance ``r``, by the pigeonhole principle at least one chunk differs in at most
``r // m`` bits. So probing, for each chunk of the query, every chunk value within
``r // m`` bits (17 values at the default threshold 31) finds *every* hash within ``r``: a
candidate set with 100 % recall, which the exact distance then filters. Nothing is
approximate; the tests check equality with brute force.

Why our own and not faiss's ``IndexBinaryMultiHash`` (what threatexchange's ``PDQIndex``
wraps): measured in ``benchmarks/bench_pdq.py`` (docs/perf-perceptual.md). The decisive
points: (1) faiss keeps one hash map of vectors per chunk (tens of bytes per entry per chunk),
here each chunk is a counting-sort permutation — 4 bytes per hash per chunk plus a 65,537-entry
offset table — so 10 M hashes need ~1 GB (32 B hash + 64 B postings + 8 B id + 1 B flag);
(2) queries are answered in batches, fully vectorised; (3) the saved index is a directory of
``.npy`` arrays opened with ``mmap``, so loading 10 M hashes is instant and shares pages between
processes; (4) removal is a tombstone, adding goes to a small brute-forced delta segment that is
merged into the postings (one counting sort) when it grows past 1/8 of the main segment — no
full rebuild per change.

Positions are internal; callers give every hash an ``int64`` id (a database key) and get ids
back.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Literal

import numpy as np

BITS = 256
CHUNKS = 16
CHUNK_BITS = BITS // CHUNKS
BUCKETS = 1 << CHUNK_BITS
FORMAT_VERSION = 1
MAX_RADIUS = 95  # r // 16 = 5 flips: 6,885 probes per chunk; beyond this PDQ means nothing
QUERY_BATCH = 2048
CANDIDATES_PER_BATCH = 2_000_000


def to_array(raw_hashes: Iterable[bytes] | bytes) -> np.ndarray:
    """(N, 32) uint8 array of raw 32-byte hashes (a concatenation or an iterable of them)."""
    data = raw_hashes if isinstance(raw_hashes, bytes | bytearray) else b"".join(raw_hashes)
    if len(data) % 32:
        raise ValueError("PDQ hashes are 32 bytes each")
    return np.frombuffer(bytes(data), dtype=np.uint8).reshape(-1, 32)


def hex_to_array(hexes: Iterable[str]) -> np.ndarray:
    """(N, 32) uint8 array of hex PDQ hashes (ValueError on a malformed one)."""
    return to_array(b"".join(bytes.fromhex(h) for h in hexes))


def _flip_masks(flips: int) -> np.ndarray:
    masks = [0]
    for k in range(1, flips + 1):
        for bits in combinations(range(CHUNK_BITS), k):
            masks.append(sum(1 << b for b in bits))
    return np.array(masks, dtype=np.int64)


def brute_force(haystack: np.ndarray, queries: np.ndarray, radius: int
                ) -> list[tuple[int, int, int]]:
    """Every (query row, haystack row, distance) within ``radius``: the reference answer."""
    hay = np.ascontiguousarray(haystack).view(np.uint64).reshape(-1, 4)
    out: list[tuple[int, int, int]] = []
    for qi, q in enumerate(np.ascontiguousarray(queries).view(np.uint64).reshape(-1, 4)):
        d = np.bitwise_count(hay ^ q).sum(axis=1)
        for pos in np.nonzero(d <= radius)[0]:
            out.append((qi, int(pos), int(d[pos])))
    return out


@dataclass(frozen=True)
class Hits:
    """Search results as parallel arrays: query row, hash id, distance (sorted by query, id)."""

    query: np.ndarray
    id: np.ndarray
    distance: np.ndarray

    def __len__(self) -> int:
        return int(self.query.size)

    def triples(self) -> list[tuple[int, int, int]]:
        return list(zip(self.query.tolist(), self.id.tolist(), self.distance.tolist(),
                        strict=True))


class PdqIndex:
    """Exact radius search with incremental add/remove; see the module docstring."""

    def __init__(self) -> None:
        # The main (indexed) segment's hashes as 4 columns of 64-bit words (see _search_main).
        self._words = np.zeros((4, 0), dtype=np.uint64)
        self._ids = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._offsets = np.zeros((CHUNKS, BUCKETS + 1), dtype=np.int64)
        self._perm = np.zeros((CHUNKS, 0), dtype=np.int32)
        self._delta_hashes: list[np.ndarray] = []  # appended, brute-forced until merged
        self._delta_ids: list[np.ndarray] = []
        self._delta = (np.zeros((0, 32), dtype=np.uint8), np.zeros(0, dtype=np.int64))
        self._removed: set[int] = set()  # ids removed while in the delta
        self._id_order: np.ndarray | None = None

    # ------------------------------------------------------------------ size
    def __len__(self) -> int:
        delta = self._delta_arrays()
        alive_delta = int(np.count_nonzero(~np.isin(delta[1], list(self._removed)))) \
            if self._removed else int(delta[1].size)
        return int(np.count_nonzero(self._alive)) + alive_delta

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (what the index costs in memory, loaded without mmap)."""
        return int(self._words.nbytes + self._ids.nbytes + self._alive.nbytes
                   + self._offsets.nbytes + self._perm.nbytes
                   + sum(a.nbytes for a in self._delta_hashes + self._delta_ids))

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, hashes: np.ndarray, ids: np.ndarray | None = None) -> PdqIndex:
        """An index of (N, 32) uint8 ``hashes`` with ``ids`` (default 0..N-1)."""
        index = cls()
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, 32)
        if ids is None:
            ids = np.arange(len(hashes), dtype=np.int64)
        index._set_main(hashes, np.asarray(ids, dtype=np.int64),
                        np.ones(len(hashes), dtype=bool))
        return index

    def _set_main(self, hashes: np.ndarray, ids: np.ndarray, alive: np.ndarray) -> None:
        n = len(hashes)
        if n >= 2**31:
            raise ValueError("more than 2**31 hashes in one index")
        chunks = np.ascontiguousarray(hashes).view(np.uint16).reshape(n, CHUNKS)
        offsets = np.zeros((CHUNKS, BUCKETS + 1), dtype=np.int64)
        perm = np.empty((CHUNKS, n), dtype=np.int32)
        for c in range(CHUNKS):
            column = chunks[:, c]
            offsets[c, 1:] = np.cumsum(np.bincount(column, minlength=BUCKETS))
            perm[c] = np.argsort(column, kind="stable").astype(np.int32)
        self._ids, self._alive = ids, alive
        self._words = np.ascontiguousarray(hashes.view(np.uint64).reshape(n, 4).T)
        self._offsets, self._perm = offsets, perm
        self._id_order = None

    # ------------------------------------------------------------------ changes
    def add(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        """Add hashes with their ids; merged into the postings once the delta is large."""
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, 32)
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(hashes) != len(ids):
            raise ValueError("one id per hash")
        if not len(ids):
            return
        self._removed.difference_update(ids.tolist())
        self._delta_hashes.append(hashes.copy())
        self._delta_ids.append(ids.copy())
        self._delta = None  # type: ignore[assignment]
        if sum(len(i) for i in self._delta_ids) > max(65_536, len(self._ids) // 8):
            self.compact()

    def remove(self, ids: Iterable[int]) -> int:
        """Remove every hash with one of ``ids`` (tombstones); returns how many were live."""
        wanted = np.unique(np.fromiter((int(i) for i in ids), dtype=np.int64))
        if not wanted.size:
            return 0
        removed = 0
        if self._ids.size:
            if self._id_order is None:
                self._id_order = np.argsort(self._ids, kind="stable")
            sorted_ids = self._ids[self._id_order]
            lo = np.searchsorted(sorted_ids, wanted, side="left")
            hi = np.searchsorted(sorted_ids, wanted, side="right")
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                if b > a:
                    positions = self._id_order[a:b]
                    if not self._alive.flags.writeable:
                        self._alive = self._alive.copy()
                    removed += int(np.count_nonzero(self._alive[positions]))
                    self._alive[positions] = False
        delta_ids = self._delta_arrays()[1]
        in_delta = set(delta_ids[np.isin(delta_ids, wanted)].tolist()) - self._removed
        removed += sum(int(np.count_nonzero(delta_ids == i)) for i in in_delta)
        self._removed.update(in_delta)
        return removed

    def compact(self) -> None:
        """Merge the delta into the postings and drop removed hashes (one counting sort)."""
        dh, di = self._delta_arrays()
        keep_delta = ~np.isin(di, list(self._removed)) if self._removed else np.ones(
            len(di), dtype=bool)
        main = np.ascontiguousarray(self._words.T).view(np.uint8).reshape(-1, 32)
        hashes = np.concatenate([main[self._alive], dh[keep_delta]])
        ids = np.concatenate([self._ids[self._alive], di[keep_delta]])
        self._delta_hashes, self._delta_ids, self._removed = [], [], set()
        self._delta = (np.zeros((0, 32), dtype=np.uint8), np.zeros(0, dtype=np.int64))
        self._set_main(np.ascontiguousarray(hashes), ids, np.ones(len(ids), dtype=bool))

    def _delta_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._delta is None:
            self._delta = (np.concatenate(self._delta_hashes) if self._delta_hashes
                           else np.zeros((0, 32), dtype=np.uint8),
                           np.concatenate(self._delta_ids) if self._delta_ids
                           else np.zeros(0, dtype=np.int64))
        return self._delta

    # ------------------------------------------------------------------ search
    def search(self, queries: np.ndarray, radius: int) -> Hits:
        """Every (query row, id, distance) with distance ≤ ``radius``, exactly."""
        if not 0 <= radius <= MAX_RADIUS:
            raise ValueError(f"radius must be between 0 and {MAX_RADIUS}")
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, 32)
        masks = _flip_masks(radius // CHUNKS)
        # Bound the candidate arrays of one batch to about CANDIDATES_PER_BATCH entries.
        expected = CHUNKS * len(masks) * len(self._ids) // BUCKETS + 1
        step = max(1, min(QUERY_BATCH, CANDIDATES_PER_BATCH // expected))
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for start in range(0, len(queries), step):
            batch = queries[start:start + step]
            if self._ids.size:
                parts.append(self._search_main(batch, radius, masks, start))
            parts.append(self._search_delta(batch, radius, start))
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return Hits(empty, empty, empty.astype(np.int32))
        q = np.concatenate([p[0] for p in parts])
        i = np.concatenate([p[1] for p in parts])
        d = np.concatenate([p[2] for p in parts])
        order = np.lexsort((i, q))
        return Hits(q[order], i[order], d[order])

    def _search_main(self, batch: np.ndarray, radius: int, masks: np.ndarray, base: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = int(self._ids.size)
        q16 = batch.view(np.uint16).reshape(-1, CHUNKS).astype(np.int64)
        keys = q16[:, :, None] ^ masks[None, None, :]  # (Q, CHUNKS, F)
        chunk = np.arange(CHUNKS, dtype=np.int64)[None, :, None]
        starts = self._offsets[chunk, keys]
        counts = self._offsets[chunk, keys + 1] - starts
        counts_flat = counts.reshape(-1)
        total = int(counts_flat.sum())
        if total == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty.astype(np.int32)
        # Expand every bucket range into flat positions of the per-chunk permutation.
        flat_start = (starts + chunk * n).reshape(-1)
        first = np.cumsum(counts_flat) - counts_flat
        rows = np.repeat(flat_start - first, counts_flat) + np.arange(total, dtype=np.int64)
        positions = self._perm.reshape(-1)[rows].astype(np.int64)
        qrow = np.repeat(np.repeat(np.arange(len(batch), dtype=np.int64),
                                   CHUNKS * len(masks)), counts_flat)
        # Distance word by word on a column layout, pruning after each word: a random
        # candidate is over the radius after two of the four words, so most are never
        # gathered whole (the gather is what costs; see docs/perf-perceptual.md).
        q64 = batch.view(np.uint64).reshape(-1, 4)
        dist = np.zeros(total, dtype=np.int32)
        for word in range(4):
            dist += np.bitwise_count(self._words[word][positions] ^ q64[qrow, word]
                                     ).astype(np.int32)
            if word in (1, 2):
                keep = dist <= radius
                positions, qrow, dist = positions[keep], qrow[keep], dist[keep]
        keep = (dist <= radius) & self._alive[positions]
        # A near copy is found through several chunks: dedupe the (few) survivors.
        pair, first_seen = np.unique(qrow[keep] * n + positions[keep], return_index=True)
        qrow, positions = pair // n, pair % n
        return qrow + base, self._ids[positions], dist[keep][first_seen]

    def _search_delta(self, batch: np.ndarray, radius: int, base: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dh, di = self._delta_arrays()
        if not len(di):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty.astype(np.int32)
        d64 = dh.view(np.uint64).reshape(-1, 4)
        q64 = batch.view(np.uint64).reshape(-1, 4)
        dist = np.bitwise_count(q64[:, None, :] ^ d64[None, :, :]).sum(axis=2, dtype=np.int32)
        qrow, pos = np.nonzero(dist <= radius)
        ids = di[pos]
        if self._removed:
            keep = ~np.isin(ids, list(self._removed))
            qrow, pos, ids = qrow[keep], pos[keep], ids[keep]
        return qrow.astype(np.int64) + base, ids, dist[qrow, pos]

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write the index (delta merged) as ``.npy`` arrays, atomically (rename)."""
        self.compact()
        target = Path(directory)
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in ("words", "ids", "offsets", "perm"):
            np.save(tmp / f"{name}.npy", getattr(self, f"_{name}"))
        (tmp / "meta.json").write_text(json.dumps({
            "format": "netwarden-pdq-mih", "version": FORMAT_VERSION, "chunks": CHUNKS,
            "count": int(self._ids.size)}), encoding="utf-8")
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, mmap: bool = True) -> PdqIndex:
        """Open a saved index; with ``mmap`` the arrays are paged in on use (instant)."""
        source = Path(directory)
        meta = json.loads((source / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != "netwarden-pdq-mih" or meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"{source}: not a netwarden PDQ index of version {FORMAT_VERSION}")
        mode: Literal["r"] | None = "r" if mmap else None
        index = cls()
        index._words = np.load(source / "words.npy", mmap_mode=mode)
        index._ids = np.load(source / "ids.npy", mmap_mode=mode)
        index._offsets = np.load(source / "offsets.npy", mmap_mode=mode)
        index._perm = np.load(source / "perm.npy", mmap_mode=mode)
        index._alive = np.ones(len(index._ids), dtype=bool)
        if len(index._ids) != meta["count"] or index._perm.shape != (CHUNKS, meta["count"]):
            raise ValueError(f"{source}: arrays do not agree with meta.json")
        return index
