"""Benchmark: attribution over a large generated FreeRADIUS detail log.

Measures, in the same run: the time to build the on-disk (SQLite) interval index, the time and
memory to load it into NumPy arrays, look-ups per second after indexing (one SQLite query per
look-up, the old path; the arrays; full ``Attributor.attribute`` answers), and a naive scan of
the same log per look-up as the baseline. Prints the ratios arrays/SQLite and indexed/naive,
by wall clock and by this process's CPU time.

    .venv/bin/python benchmarks/bench_attribution.py --lines 10000000
    .venv/bin/python benchmarks/bench_attribution.py --lines 1000000 --naive 3

With ``--join`` (issue 13) the RADIUS records also carry ``Calling-Station-Id`` and
``NAS-Port-Id``, and an ISC ``dhcpd.leases`` holds one lease block per session of the same
subscribers (``hardware ethernet``, ``option agent.remote-id``, ``option agent.circuit-id``);
it then also measures *joined* look-ups: both indexes asked, the records joined into
subscribers (``JoinPolicy``) and the decision rule applied — what ``attribute()`` does before it
builds its answer — and full ``attribute()`` answers over both sources.

The logs are synthetic (accounts userNNNNNN, loopback addresses, locally administered MACs)
and written to a temporary directory that is removed afterwards.
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

from netwarden.attribute import (
    Attributor,
    DhcpdLeasesSource,
    Pseudonymizer,
    RadiusDetailSource,
    open_index,
)
from netwarden.attribute.identity import JoinPolicy
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


def _mac(u: int) -> str:
    return f"02:bb:00:{u >> 16 & 255:02x}:{u >> 8 & 255:02x}:{u & 255:02x}"


def _lease(ip: str, start: int, stop: int, u: int, user: str) -> str:
    """One dhcpd.leases block as dhcpd 4.4 writes it (13 lines)."""
    fmt = "%w %Y/%m/%d %H:%M:%S"
    begin, end = T0 + timedelta(seconds=start), T0 + timedelta(seconds=stop)
    return (f"lease {ip} {{\n  starts {begin:{fmt}};\n  ends {end:{fmt}};\n"
            f"  cltt {begin:{fmt}};\n  binding state active;\n  next binding state free;\n"
            f"  rewind binding state free;\n  hardware ethernet {_mac(u)};\n"
            f'  uid "\\001\\002\\273\\000{u >> 16 & 255:03o}";\n'
            f'  option agent.circuit-id "olt-1/{u // 4096}/{u // 64 % 64}:{u % 64}";\n'
            f'  option agent.remote-id "{user}";\n  client-hostname "cpe-{u}";\n}}\n')


def generate(path: Path, lines: int, leases: Path | None = None) -> list[tuple[str, int, int]]:
    """Write about ``lines`` RADIUS lines (and, with ``leases``, one dhcpd lease block per
    session); return (ip, start, stop) of a sample of the sessions."""
    written, rnd, sample = 0, 0, []
    lease_out = leases.open("w", buffering=1 << 20) if leases is not None else None
    with path.open("w", buffering=1 << 20) as out:
        while written < lines:
            for u in range(USERS):
                user, ip = f"user{u:06d}", f"127.{100 + u // 65536}.{(u // 256) % 256}.{u % 256}"
                start = rnd * SESSION + (u % 300)
                stop = start + SESSION - 400
                sid = f"{u}-{rnd}"
                ids = ""
                if lease_out is not None:
                    ids = (f'\tCalling-Station-Id = "{_mac(u).upper().replace(":", "-")}"\n'
                           f'\tNAS-Port-Id = "olt-1/{u // 4096}/{u // 64 % 64}:{u % 64}"\n')
                    lease_out.write(_lease(ip, start, stop, u, user))
                chunk = (_record("Start", user, ip, sid, start, ids)
                         + _record("Interim-Update", user, ip, sid, start + SESSION // 2, ids)
                         + _record("Stop", user, ip, sid, stop,
                                   f"{ids}\tAcct-Session-Time = {stop - start}\n"))
                out.write(chunk)
                written += chunk.count("\n")
                if u % 7 == 0:
                    sample.append((ip, start, stop))
                if written >= lines:
                    break
            rnd += 1
    if lease_out is not None:
        lease_out.close()
    return sample


def joined_lookup(indexes: list[IntervalIndex], policy: JoinPolicy, ip: str, moment: float,
                  skew: float) -> str | None:
    """Both indexes, the join into one subscriber and the decision rule: what ``attribute()``
    does before it builds the answer (the rare several-subscribers path is not timed here)."""
    first, second = indexes
    near = first.lookup(ip, moment, skew) + second.lookup(ip, moment, skew)
    one = policy.owner(near)
    if one is None:
        return None
    return decide(near, moment, skew, "session", owner=one[0]).account


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
    parser.add_argument("--join", action="store_true",
                        help="also write dhcpd.leases of the same subscribers and measure "
                        "joined look-ups over both (issue 13)")
    args = parse_args(parser, {"lines": 3000, "lookups": 2000})
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "detail"
        leases = Path(tmp) / "dhcpd.leases" if args.join else None
        t = time.perf_counter()
        sample = generate(log, args.lines, leases)
        gen_s = time.perf_counter() - t
        size = log.stat().st_size
        print(f"log: {args.lines:,} lines, {size / 1e6:,.0f} MB, generated in {gen_s:.1f}s")
        if leases is not None:
            with leases.open("rb") as handle:
                lease_lines = sum(block.count(b"\n") for block in iter(
                    lambda: handle.read(1 << 20), b""))
            print(f"dhcpd.leases: {lease_lines:,} lines, {leases.stat().st_size / 1e6:,.0f} MB "
                  "(one lease block per RADIUS session, same subscribers)")

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
        if leases is not None:
            _joined(Path(tmp), leases, index, batch, queries)
        index.close()


def _joined(tmp: Path, leases: Path, index: IntervalIndex, batch: list[tuple],
            queries: list[tuple[str, float]]) -> None:
    """Issue 13: RADIUS + dhcpd.leases of the same subscribers, joined per look-up."""
    t = time.perf_counter()
    dhcp = open_index(DhcpdLeasesSource(leases), tmp / "cache")
    build_s = time.perf_counter() - t
    print(f"dhcpd.leases index build + load: {build_s:.1f}s ({dhcp.rows:,} leases, "
          f"{dhcp.memory_bytes() / 1e6:,.1f} MB in memory)")
    policy = JoinPolicy()
    indexes = [index, dhcp]
    accounts = {joined_lookup(indexes, policy, ip, m, 2.0) for ip, m in queries[:1000]}
    assert None not in accounts, "a joined look-up found no single subscriber"
    rate, cpu = _rate(lambda: [joined_lookup(indexes, policy, ip, m, 2.0)
                               for ip, m in queries], len(queries))
    print(f"joined look-ups (radius + dhcpd, arrays, join, decision rule): {rate:,.0f}/s wall, "
          f"{cpu:,.0f}/s CPU ({len(queries):,} look-ups)")
    att = Attributor(sessions=indexes, pseudonymizer=Pseudonymizer(b"b" * 32))
    full, full_cpu = _rate(lambda: _each_answer(att.attribute, batch), len(batch))
    answers = [att.attribute(*query) for query in batch[:20_000]]
    joined = sum(a.status == "subscriber" and len({s.split(":")[0] for s in a.source}) == 2
                 for a in answers)
    print(f"full attribute() answers over both sources: {full:,.0f}/s wall, {full_cpu:,.0f}/s "
          f"CPU ({joined:,} of {len(answers):,} checked answers attributed from both logs)")
    for name, r, c in (("joined look-ups", rate, cpu), ("joined attribute()", full, full_cpu)):
        wall_met, cpu_met = ("met" if x >= 1e5 else "NOT met" for x in (r, c))
        print(f"target >= 100,000 look-ups/s, {name}: wall {wall_met}, CPU {cpu_met}")
    dhcp.close()


if __name__ == "__main__":
    main()
