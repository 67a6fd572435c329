"""Benchmark: attribution over a large generated FreeRADIUS detail log.

Measures, in the same run: the time to build the on-disk (SQLite) interval index, the time and
memory to load it into NumPy arrays, look-ups per second after indexing (one SQLite query per
look-up, the old path; the arrays; full ``Attributor.attribute`` answers), and a naive scan of
the same log per look-up as the baseline. Prints the ratios arrays/SQLite and indexed/naive,
by wall clock and by this process's CPU time.

    .venv/bin/python benchmarks/bench_attribution.py --lines 10000000
    .venv/bin/python benchmarks/bench_attribution.py --lines 1000000 --naive 3

The log is synthetic (accounts userNNNNNN, loopback addresses) and written to a temporary
directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _measure import parse_args

from netwarden.attribute import Attributor, Pseudonymizer, RadiusDetailSource, open_index
from netwarden.attribute.index import IntervalIndex
from netwarden.attribute.resolver import decide

T0 = datetime(2026, 11, 4, 0, 0, 0, tzinfo=UTC)
USERS = 50_000
SESSION = 3600  # seconds per session; one Interim-Update in the middle


def _record(status: str, user: str, ip: str, sid: str, t: int, extra: str = "") -> str:
    moment = T0 + timedelta(seconds=t)
    return (f"{moment:%a %b %e %H:%M:%S %Y}\n\tAcct-Status-Type = {status}\n"
            f'\tUser-Name = "{user}"\n\tAcct-Session-Id = "{sid}"\n'
            f"\tFramed-IP-Address = {ip}\n\tNAS-IP-Address = 127.0.0.1\n{extra}"
            f'\tEvent-Timestamp = "{moment:%b %e %Y %H:%M:%S} UTC"\n\n')


def generate(path: Path, lines: int) -> list[tuple[str, int, int]]:
    """Write about ``lines`` lines; return (ip, start, stop) of a sample of the sessions."""
    written, rnd, sample = 0, 0, []
    with path.open("w", buffering=1 << 20) as out:
        while written < lines:
            for u in range(USERS):
                user, ip = f"user{u:06d}", f"127.{100 + u // 65536}.{(u // 256) % 256}.{u % 256}"
                start = rnd * SESSION + (u % 300)
                stop = start + SESSION - 400
                sid = f"{u}-{rnd}"
                chunk = (_record("Start", user, ip, sid, start)
                         + _record("Interim-Update", user, ip, sid, start + SESSION // 2)
                         + _record("Stop", user, ip, sid, stop,
                                   f"\tAcct-Session-Time = {stop - start}\n"))
                out.write(chunk)
                written += chunk.count("\n")
                if u % 7 == 0:
                    sample.append((ip, start, stop))
                if written >= lines:
                    break
            rnd += 1
    return sample


def naive_lookup(path: Path, ip: str, moment: float, skew: float) -> str | None:
    """Baseline: stream and parse the whole log for one look-up (no index)."""
    near = [iv for iv in RadiusDetailSource(path).intervals()
            if iv.ip == ip and iv.start - skew <= moment <= iv.end + skew]
    return decide(near, moment, skew, "session").account


def _each(lookup: Callable[..., object], queries: list[tuple[str, float]]) -> None:
    for ip, moment in queries:
        lookup(ip, moment, 2.0)


def _each_answer(attribute: Callable[..., object], batch: list[tuple]) -> None:
    for ip, port, at in batch:
        attribute(ip, port, at)


def _rate(work: Callable[[], object], count: int) -> tuple[float, float]:
    """(per second by wall clock, per second of this process's CPU time) of ``work``.

    CPU time is reported too because the development machine is shared: wall-clock rates
    there mostly measure the other processes.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    work()  # loops that drop their answers: keeping 200,000 answers alive measures the GC
    return (count / (time.perf_counter() - wall), count / max(time.process_time() - cpu, 1e-9))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--naive", type=int, default=1, help="naive full-scan look-ups to time")
    args = parse_args(parser, {"lines": 3000, "lookups": 2000})
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "detail"
        t = time.perf_counter()
        sample = generate(log, args.lines)
        gen_s = time.perf_counter() - t
        size = log.stat().st_size
        print(f"log: {args.lines:,} lines, {size / 1e6:,.0f} MB, generated in {gen_s:.1f}s")

        rng = random.Random(1)
        queries = [(ip, (T0 + timedelta(seconds=rng.uniform(s + 10, e - 10))).timestamp())
                   for ip, s, e in (rng.choice(sample) for _ in range(args.lookups))]

        t = time.perf_counter()
        for ip, moment in queries[: args.naive]:
            assert naive_lookup(log, ip, moment, 2.0) is not None
        naive_s = (time.perf_counter() - t) / args.naive
        print(f"baseline naive scan: {naive_s:.2f}s per look-up "
              f"({1 / naive_s:.3f} look-ups/s, {args.naive} timed)")

        t = time.perf_counter()
        index = open_index(RadiusDetailSource(log), Path(tmp) / "cache")
        build_s = time.perf_counter() - t
        print(f"index build: {build_s:.1f}s ({index.rows:,} sessions, "
              f"{args.lines / build_s:,.0f} lines/s, index "
              f"{index.path.stat().st_size / 1e6:,.0f} MB)")

        sqlite = IntervalIndex(index.path, index.source, index.kind, in_memory=False)
        cold_n = min(len(queries), 50_000)
        cold_rate, cold_cpu = _rate(lambda: _each(sqlite.lookup, queries[:cold_n]), cold_n)
        sqlite.close()
        print(f"index look-ups, SQLite only (one query each, the old path): {cold_rate:,.0f}/s "
              f"wall, {cold_cpu:,.0f}/s CPU ({cold_n:,} look-ups)")

        index.close()
        t = time.perf_counter()
        index = IntervalIndex(index.path, index.source, index.kind)
        load_s = time.perf_counter() - t
        print(f"open + load into NumPy arrays: {load_s:.1f}s, {index.memory_bytes() / 1e6:,.1f} "
              f"MB in memory, {index.memory_bytes() / max(index.rows, 1):.1f} bytes per interval")

        addresses = len({ip for ip, _ in queries})
        arr_rate, arr_cpu = _rate(lambda: _each(index.lookup, queries), len(queries))
        print(f"index look-ups, arrays (first look-up of each of {addresses:,} addresses and "
              f"rows included): {arr_rate:,.0f}/s wall, {arr_cpu:,.0f}/s CPU "
              f"({len(queries):,} look-ups)")
        warm_rate, warm_cpu = _rate(lambda: _each(index.lookup, queries), len(queries))
        print(f"index look-ups, arrays, repeated: {warm_rate:,.0f}/s wall, {warm_cpu:,.0f}/s CPU")

        att = Attributor(sessions=[index], pseudonymizer=Pseudonymizer(b"b" * 32))
        batch = [(ip, None, datetime.fromtimestamp(m, UTC)) for ip, m in queries]
        full_rate, full_cpu = _rate(lambda: _each_answer(att.attribute, batch), len(batch))
        hits = sum(att.attribute(*query).status == "subscriber" for query in batch)
        print(f"full attribute() answers: {full_rate:,.0f}/s wall, {full_cpu:,.0f}/s CPU "
              f"({hits:,} of {len(batch):,} attributed)")
        many_rate, many_cpu = _rate(lambda: [att.attribute_many(batch[i:i + 1000])
                                             for i in range(0, len(batch), 1000)], len(batch))
        print(f"attribute_many() (same queries, batches of 1,000): {many_rate:,.0f}/s wall, "
              f"{many_cpu:,.0f}/s CPU")
        print(f"ratio arrays/SQLite only: {arr_rate / cold_rate:,.1f}x wall, "
              f"{arr_cpu / cold_cpu:,.1f}x CPU")
        print(f"ratio indexed/naive: SQLite only {cold_rate * naive_s:,.0f}x, arrays "
              f"{arr_rate * naive_s:,.0f}x, repeated {warm_rate * naive_s:,.0f}x, "
              f"attribute() {full_rate * naive_s:,.0f}x")
        for name, rate, cpu in (("SQLite only", cold_rate, cold_cpu),
                                ("arrays", arr_rate, arr_cpu),
                                ("arrays repeated", warm_rate, warm_cpu),
                                ("attribute()", full_rate, full_cpu)):
            wall_met, cpu_met = ("met" if r >= 1e5 else "NOT met" for r in (rate, cpu))
            print(f"target >= 100,000 look-ups/s, {name}: wall {wall_met}, CPU {cpu_met}")
        index.close()


if __name__ == "__main__":
    main()
