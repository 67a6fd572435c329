"""Ledger benchmark against pymerkle (PyPI), measured in the same run.

    .venv/bin/python benchmarks/bench_ledger.py --n 1000000

Reports: batch append throughput (entries/s), single durable appends (one commit each),
inclusion-proof generation at n leaves (ms), and `ledger verify` of the whole store (s, MB/s).
pymerkle gets the very same canonical entry bytes; our figures include RFC 8785
canonicalisation of each entry, pymerkle's do not.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import rfc8785
from pymerkle import SqliteTree

from netwarden.ledger import Ledger, verify_inclusion
from netwarden.ledger.keys import init_key
from netwarden.store import open_store

BATCH = 10_000


def entries(start: int, count: int) -> list[dict]:
    return [{"record_type": "observation", "id": f"{i:032x}", "run_id": "bench-run",
             "location": f"ftp://127.77.0.10:21/files/{i}.bin", "size": i * 7,
             "digests": {"sha256": f"{i:064x}"}} for i in range(start, start + count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--single", type=int, default=300)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--pm-proofs", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="nw-bench-"))
    init_key(tmp / "keys", "bench.netwarden/ledger")
    store = open_store(f"sqlite:///{tmp / 'nw.sqlite'}")
    ledger = Ledger.open(store, tmp / "keys")
    tree = SqliteTree(str(tmp / "pm.sqlite"))
    print(f"n = {args.n:,} leaves, batches of {BATCH:,}; temp dir {tmp}")

    ours = theirs = canon = 0.0
    for start in range(0, args.n, BATCH):
        batch = entries(start, min(BATCH, args.n - start))
        t = time.perf_counter()
        ledger.append_many(batch)
        ours += time.perf_counter() - t
        t = time.perf_counter()
        data = [rfc8785.dumps(e) for e in batch]  # not timed for pymerkle
        canon += time.perf_counter() - t
        t = time.perf_counter()
        tree.append_entries(data)
        theirs += time.perf_counter() - t
    print(f"batch append   netwarden {args.n / ours:12,.0f}/s   pymerkle {args.n / theirs:12,.0f}/s"
          f"   ratio {theirs / ours:6.2f}x")
    rest = ours - canon
    print(f"  of which RFC 8785 canonicalisation {canon / args.n * 1e6:.1f} us/entry; "
          f"tree + storage alone {args.n / rest:,.0f}/s, ratio {theirs / rest:.2f}x")

    t = time.perf_counter()
    for e in entries(args.n, args.single):
        ledger.append(e)
    ours = time.perf_counter() - t
    single = [rfc8785.dumps(e) for e in entries(args.n, args.single)]
    t = time.perf_counter()
    for d in single:
        tree.append_entry(d)
    theirs = time.perf_counter() - t
    print(f"single durable netwarden {args.single / ours:12,.0f}/s   pymerkle "
          f"{args.single / theirs:12,.0f}/s   ratio {theirs / ours:6.2f}x")

    size = ledger.size
    rng = random.Random(1)
    root = ledger.root(size)
    times = []
    for index in (rng.randrange(size) for _ in range(args.proofs)):
        t = time.perf_counter()
        proof = ledger.inclusion_proof(index, size)
        times.append(time.perf_counter() - t)
    con = sqlite3.connect(tmp / "nw.sqlite")
    (lh,) = con.execute("SELECT leaf_hash FROM ledger_leaves WHERE idx=?", (index,)).fetchone()
    assert verify_inclusion(lh, index, size, proof, root)
    ours_ms = statistics.median(times) * 1e3
    pm_times = []
    for index in (rng.randrange(size) for _ in range(args.pm_proofs)):
        t = time.perf_counter()
        tree.prove_inclusion(index + 1, size)  # pymerkle counts leaves from 1
        pm_times.append(time.perf_counter() - t)
    pm_ms = statistics.median(pm_times) * 1e3
    print(f"inclusion proof at {size:,}: netwarden median {ours_ms:.3f} ms "
          f"(p99 {sorted(times)[int(len(times) * 0.99) - 1] * 1e3:.3f} ms, {args.proofs} proofs)"
          f"   pymerkle median {pm_ms:.3f} ms (first {pm_times[0] * 1e3:.1f} ms, "
          f"{args.pm_proofs} proofs)   ratio {pm_ms / ours_ms:6.1f}x")

    ledger.checkpoint()
    report = ledger.verify()
    assert report.ok, report.problems
    print(f"verify {report.size:,} leaves from storage: {report.seconds:.1f} s, "
          f"{report.bytes_hashed / 1e6 / report.seconds:.1f} MB/s of entries "
          f"({report.bytes_hashed / 1e6:.0f} MB), {report.size / report.seconds:,.0f} leaves/s")
    print(f"database size {(tmp / 'nw.sqlite').stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
