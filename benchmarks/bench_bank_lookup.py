"""Exact bank look-up: netwarden's index vs a Python set and a naive SQLite table, same run.

    .venv/bin/python benchmarks/bench_bank_lookup.py [--entries 10000000] [--queries 1000000]

Builds a ``plain`` bank file of N SHA-256 digests (sha256 of a counter: synthetic, no content),
imports it through ``BankStore.import_file`` (the real path, batched) and runs Q queries of
which ``--hit-rate`` are in the bank (most files an audit sees are not). Reports:

* import entries/s, the import's peak RSS growth (batch plus SQLite's page cache, not N) and
  the WAL it left (the pages one batch touched), disk bytes per entry (SQLite file incl. WAL,
  after a checkpoint);
* look-ups/s through ``lookup_bulk`` (batched IN) and ``lookup_many`` (one per observation,
  the identify path) and the process RSS growth per entry;
* baselines measured in the same run: a Python ``set`` of the raw digests (RSS per entry,
  look-ups/s), a naive SQLite table (hex TEXT with rowid + secondary index: disk/entry,
  look-ups/s) and the same table without the index (a few look-ups: each is a full scan).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from _measure import parse_args, rss

from netwarden.banks import BankStore
from netwarden.store import open_store


def digest(i: int) -> bytes:
    return hashlib.sha256(b"bench-%d" % i).digest()


def disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=1_000_000)
    parser.add_argument("--single-queries", type=int, default=100_000,
                        help="how many of the queries also go one by one through lookup_many")
    parser.add_argument("--hit-rate", type=float, default=0.05,
                        help="share of queries that are in the bank (most files are benign)")
    parser.add_argument("--dir", type=Path, default=None)
    args = parse_args(parser, {"entries": 20_000, "queries": 5000, "single_queries": 1000})
    n, q = args.entries, args.queries
    work = Path(args.dir or tempfile.mkdtemp(prefix="nw-bench-"))
    rng = random.Random(42)
    queries = [digest(rng.randrange(n)) if rng.random() < args.hit_rate
               else digest(n + rng.randrange(10 * n)) for _ in range(q)]
    query_hex = [d.hex() for d in queries]
    print(f"entries {n:,}  queries {q:,}  hit rate {args.hit_rate:.0%}  dir {work}")

    bank_file = work / "bank.txt"
    t = time.perf_counter()
    with bank_file.open("w") as handle:
        for i in range(n):
            handle.write(digest(i).hex() + "\n")
    print(f"generated bank file: {time.perf_counter() - t:.1f} s")

    # --- netwarden
    db = work / "netwarden.sqlite"
    store = open_store(f"sqlite:///{db}")
    banks = BankStore(store)
    gc.collect()
    rss_before_import = rss()
    t = time.perf_counter()
    report = banks.import_file("bench", "films", "plain", bank_file)
    import_s = time.perf_counter() - t
    assert report.added == n, report
    # ru_maxrss is the process's peak (KiB on Linux); nothing freed before the import came
    # near it (the query lists are still held), so the growth is the import's.
    import_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before_import
    wal = db.with_name(db.name + "-wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        cache_pages = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        page_size = conn.exec_driver_sql("PRAGMA page_size").scalar()
    # Negative cache_size is KiB; positive is pages. This bounds the index's memory.
    cache_bytes = -cache_pages * 1024 if cache_pages < 0 else cache_pages * page_size
    nw_disk = disk(db)
    gc.collect()
    rss0 = rss()
    t = time.perf_counter()
    found = banks.lookup_bulk("sha256", query_hex)
    bulk_s = time.perf_counter() - t
    hits = sum(1 for h in query_hex if h in found)
    single = query_hex[:args.single_queries]
    t = time.perf_counter()
    single_hits = sum(1 for h in single if banks.lookup_many({"sha256": h}))
    single_s = time.perf_counter() - t
    nw_rss = rss() - rss0
    store.close()

    # --- baseline 1: Python set of raw digests
    members = {digest(i) for i in range(n)}
    # Exact object sizes (RSS deltas are noisy when freed arenas are reused).
    set_mem = sys.getsizeof(members) + sum(sys.getsizeof(d) for d in members)
    t = time.perf_counter()
    set_hits = sum(1 for d in queries if d in members)
    set_s = time.perf_counter() - t
    del members
    gc.collect()
    assert set_hits == hits, (set_hits, hits)

    # --- baseline 2: naive SQLite (hex text, rowid table, secondary index)
    naive = work / "naive.sqlite"
    conn = sqlite3.connect(naive)
    conn.execute("CREATE TABLE h (id INTEGER PRIMARY KEY, bank TEXT, algorithm TEXT, hex TEXT)")
    t = time.perf_counter()
    for start in range(0, n, 50_000):
        conn.executemany("INSERT INTO h (bank, algorithm, hex) VALUES ('bench', 'sha256', ?)",
                         ((digest(i).hex(),) for i in range(start, min(n, start + 50_000))))
        conn.commit()
    naive_import_s = time.perf_counter() - t
    t = time.perf_counter()
    few = query_hex[:5]
    for h in few:
        conn.execute("SELECT bank FROM h WHERE hex = ?", (h,)).fetchall()
    scan_s = (time.perf_counter() - t) / len(few)
    t = time.perf_counter()
    conn.execute("CREATE INDEX h_hex ON h (hex)")
    conn.commit()
    naive_index_s = time.perf_counter() - t
    naive_disk = disk(naive)
    t = time.perf_counter()
    naive_hits = sum(1 for h in single
                     if conn.execute("SELECT bank FROM h WHERE hex = ?", (h,)).fetchall())
    naive_s = time.perf_counter() - t
    conn.close()
    assert naive_hits == single_hits

    def rate(count: int, seconds: float) -> float:
        return count / seconds if seconds else float("inf")

    print(f"hits: {hits:,} of {q:,}")
    print("netwarden index (SQLite WITHOUT ROWID, raw-bytes key):")
    print(f"  import           {rate(n, import_s):12,.0f} entries/s ({import_s:.1f} s; "
          f"peak RSS {max(import_peak, 0) / 2**20:+.0f} MiB, WAL {wal_bytes / 2**20:.0f} MiB "
          "before checkpoint)")
    print(f"  disk             {nw_disk / n:12.1f} bytes/entry")
    print(f"  lookup_bulk      {rate(q, bulk_s):12,.0f} lookups/s")
    print(f"  lookup_many x1   {rate(len(single), single_s):12,.0f} lookups/s "
          f"(one query per observation, {len(single):,} queries)")
    print(f"  memory           {cache_bytes / n:12.2f} bytes/entry (SQLite page cache bound "
          f"{cache_bytes / 2**20:.1f} MiB per connection; RSS change during look-ups "
          f"{nw_rss / 2**20:+.1f} MiB)")
    print("baseline: Python set of raw 32-byte digests (all in RAM):")
    print(f"  memory           {set_mem / n:12.1f} bytes/entry")
    print(f"  lookups          {rate(q, set_s):12,.0f} lookups/s")
    print("baseline: naive SQLite table (hex TEXT, rowid, secondary index):")
    print(f"  import           {rate(n, naive_import_s + naive_index_s):12,.0f} entries/s")
    print(f"  disk             {naive_disk / n:12.1f} bytes/entry")
    print(f"  lookups x1       {rate(len(single), naive_s):12,.0f} lookups/s (raw sqlite3)")
    print(f"  without index    {rate(1, scan_s):12,.2f} lookups/s (full scan each)")
    print("ratios:")
    print(f"  lookup_bulk / set lookups/s           {set_s / bulk_s:8.3f}")
    print(f"  netwarden memory / set memory         {cache_bytes / set_mem:8.4f}")
    print(f"  netwarden disk / naive disk           {nw_disk / naive_disk:8.3f}")
    print(f"  lookup_many x1 / naive indexed x1     {naive_s / single_s:8.3f}")
    print(f"  lookup_bulk / naive without index     {scan_s * q / bulk_s:8.0f}")
    if not args.dir:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
