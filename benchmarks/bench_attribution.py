"""Benchmark: attribution over a large generated FreeRADIUS detail log.

Measures, in the same run: the time to build the on-disk interval index, look-ups per second
after indexing (raw index look-ups and full ``Attributor.attribute`` answers), and a naive scan
of the same log per look-up as the baseline. Prints the ratio indexed/naive.

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
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--naive", type=int, default=1, help="naive full-scan look-ups to time")
    args = parser.parse_args()
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

        cold = IntervalIndex(index.path, index.source, index.kind, cache_addresses=0)
        cold_n = min(len(queries), 50_000)
        t = time.perf_counter()
        for ip, moment in queries[:cold_n]:
            cold.lookup(ip, moment, 2.0)
        cold_rate = cold_n / (time.perf_counter() - t)
        cold.close()
        print(f"index look-ups, SQLite only (no address cache): {cold_rate:,.0f}/s "
              f"({cold_n:,} look-ups)")

        t = time.perf_counter()
        for ip, moment in queries:
            index.lookup(ip, moment, 2.0)
        raw_s = time.perf_counter() - t
        raw_rate = len(queries) / raw_s
        addresses = len({ip for ip, _ in queries})
        print(f"index look-ups with the address cache: {raw_rate:,.0f}/s ({len(queries):,} "
              f"look-ups over {addresses:,} addresses, first look-up of each from SQLite)")

        t = time.perf_counter()
        for ip, moment in queries:
            index.lookup(ip, moment, 2.0)
        warm_rate = len(queries) / (time.perf_counter() - t)
        print(f"index look-ups, repeated (every address already cached): {warm_rate:,.0f}/s")

        att = Attributor(sessions=[index], pseudonymizer=Pseudonymizer(b"b" * 32))
        t = time.perf_counter()
        hits = 0
        for ip, moment in queries:
            at = datetime.fromtimestamp(moment, UTC)
            hits += att.attribute(ip, None, at).status == "subscriber"
        full_s = time.perf_counter() - t
        full_rate = len(queries) / full_s
        print(f"full attribute() answers: {full_rate:,.0f}/s ({hits:,} of {len(queries):,} "
              "attributed)")
        print(f"ratio indexed/naive: SQLite only {cold_rate * naive_s:,.0f}x, cached "
              f"{raw_rate * naive_s:,.0f}x, repeated {warm_rate * naive_s:,.0f}x, "
              f"attribute() {full_rate * naive_s:,.0f}x")
        for name, rate in (("SQLite only", cold_rate), ("cached", raw_rate),
                           ("repeated", warm_rate), ("attribute()", full_rate)):
            print(f"target >= 100,000 look-ups/s, {name}: "
                  f"{'met' if rate >= 1e5 else 'NOT met'}")
        index.close()


if __name__ == "__main__":
    main()
