"""Which storage layout could reach 1.5x pymerkle on batch appends? Raw SQLite, same run.

    .venv/bin/python benchmarks/bench_ledger_layouts.py --n 200000

``bench_ledger.py`` measures the ledger as it is; this one measures the *layouts* the ledger
could have, with the netwarden code taken out of the way, to show where the time goes. Every
variant gets the same canonical entry bytes in the same batches, computes the leaf hashes in
its timed part (as pymerkle does), and commits each batch durably (WAL, synchronous=FULL):

* ``pymerkle``: pymerkle 7.0.0 ``SqliteTree.append_entries`` (one (entry, hash) row per leaf).
* ``leaf rows, no index``: our ``ledger_leaves`` row per leaf without its secondary indexes.
* ``leaf rows + 3 indexes``: the row per leaf with the three indexes bundle selection uses
  (record type + id, run + type, partial match id): what ``ledger_leaves`` is, minus nodes.
* ``tiles only``: C2SP entry bundles and level-0 hash tiles as one row per 256 leaves, plus
  the tree (pairwise levels); no per-leaf row at all.
* ``tiles + index rows (3 indexes)`` / ``tiles + record-id index only``: tiles, plus a per-leaf
  index row without the entry bytes.

The ratio column is pymerkle's time / the variant's (> 1: faster than pymerkle).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import rfc8785
from pymerkle import SqliteTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import parse_args
from bench_ledger import columns, entries

LEAF = ("CREATE TABLE ledger_leaves (idx INTEGER PRIMARY KEY, leaf_hash BLOB, entry BLOB, "
        "record_type TEXT, record_id TEXT, run_id TEXT, match_id TEXT)")
LEAF_INDEXES = [
    "CREATE INDEX a ON ledger_leaves(record_type, record_id)",
    "CREATE INDEX b ON ledger_leaves(run_id, record_type)",
    "CREATE INDEX c ON ledger_leaves(match_id) WHERE match_id IS NOT NULL"]
TILES = ["CREATE TABLE bundles (n INTEGER PRIMARY KEY, data BLOB)",
         "CREATE TABLE tiles (level INT, n INT, data BLOB, PRIMARY KEY (level, n)) WITHOUT ROWID"]
INDEX_ROWS = ("CREATE TABLE ix (idx INTEGER PRIMARY KEY, record_type TEXT, record_id TEXT, "
              "run_id TEXT, match_id TEXT)")
IX_INDEXES = ["CREATE INDEX ia ON ix(record_type, record_id)",
              "CREATE INDEX ib ON ix(run_id, record_type)",
              "CREATE INDEX ic ON ix(match_id) WHERE match_id IS NOT NULL"]

Batch = tuple[list[bytes], list[tuple[str, str | None, str | None, str | None]]]


def leaf_hashes(data: list[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    return [sha(b"\x00" + d).digest() for d in data]


def tree(hashes: list[bytes]) -> None:
    """The tree work every variant with a stored tree does (pairwise levels)."""
    sha = hashlib.sha256
    row = hashes
    while len(row) > 1:
        row = [sha(b"\x01" + a + b).digest() for a, b in zip(row[0::2], row[1::2], strict=False)]


def leaf_rows(con: sqlite3.Connection, start: int, data: list[bytes], cols: list) -> None:  # type: ignore[type-arg]
    lh = leaf_hashes(data)
    con.executemany("INSERT INTO ledger_leaves VALUES (?,?,?,?,?,?,?)",
                    [(start + i, h, d, *c) for i, (h, d, c) in enumerate(zip(lh, data, cols,
                                                                                strict=True))])
    tree(lh)


def tiles(con: sqlite3.Connection, start: int, data: list[bytes], cols: list,  # type: ignore[type-arg]
          index: str | None = None) -> None:
    lh = leaf_hashes(data)
    rows, hash_tiles = [], []
    for k in range(0, len(data), 256):  # batches are multiples of 256 here
        n = (start + k) >> 8
        rows.append((n, b"".join(len(d).to_bytes(2, "big") + d for d in data[k:k + 256])))
        hash_tiles.append((0, n, b"".join(lh[k:k + 256])))
    con.executemany("INSERT INTO bundles VALUES (?,?)", rows)
    con.executemany("INSERT INTO tiles VALUES (?,?,?)", hash_tiles)
    tree(lh)
    if index == "rows":
        con.executemany("INSERT INTO ix VALUES (?,?,?,?,?)",
                        [(start + i, *c) for i, c in enumerate(cols)])
    elif index == "record_id":
        con.executemany("INSERT INTO ix (idx, record_id) VALUES (?,?)",
                        [(start + i, c[1]) for i, c in enumerate(cols)])


def run(tmp: Path, name: str, schema: list[str], write: Callable[..., None],
        batches: list[Batch]) -> float:
    con = sqlite3.connect(tmp / f"{name.replace(' ', '_')}.sqlite", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    for statement in schema:
        con.execute(statement)
    start = 0
    t = time.perf_counter()
    for data, cols in batches:
        con.execute("BEGIN IMMEDIATE")
        write(con, start, data, cols)
        con.execute("COMMIT")
        start += len(data)
    elapsed = time.perf_counter() - t
    con.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_240, help="a multiple of 256")
    args = parse_args(parser, {"n": 2_560, "batch": 512})
    if args.batch % 256:
        parser.error("--batch must be a multiple of 256")
    tmp = Path(tempfile.mkdtemp(prefix="nw-layouts-"))
    batches: list[Batch] = []
    for start in range(0, args.n, args.batch):
        es = entries(start, min(args.batch, args.n - start))
        batches.append(([rfc8785.dumps(e) for e in es], [columns(e) for e in es]))
    n = sum(len(b[0]) for b in batches)
    print(f"n = {n:,} leaves, batches of {args.batch:,}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs", flush=True)
    t = time.perf_counter()
    pm = SqliteTree(str(tmp / "pm.sqlite"))
    for data, _ in batches:
        pm.append_entries(data)
    base = time.perf_counter() - t
    print(f"{'pymerkle SqliteTree':<34} {n / base:10,.0f}/s", flush=True)
    variants = [
        ("leaf rows, no index", [LEAF], leaf_rows),
        ("leaf rows + 3 indexes", [LEAF, *LEAF_INDEXES], leaf_rows),
        ("tiles only", TILES, tiles),
        ("tiles + index rows (3 indexes)", [*TILES, INDEX_ROWS, *IX_INDEXES],
         lambda c, s, d, x: tiles(c, s, d, x, "rows")),
        ("tiles + record-id index only", [*TILES, INDEX_ROWS, "CREATE INDEX ia ON ix(record_id)"],
         lambda c, s, d, x: tiles(c, s, d, x, "record_id")),
    ]
    for name, schema, write in variants:
        took = run(tmp, name, schema, write, batches)
        print(f"{name:<34} {n / took:10,.0f}/s   ratio {base / took:5.2f}x", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}; temp dir {tmp}")


if __name__ == "__main__":
    main()
