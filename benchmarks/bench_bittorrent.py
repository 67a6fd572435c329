"""BitTorrent evidence benchmark: verified peers/s, peak RSS, bytes per verified peer, and
time-to-verified-piece against libtorrent fetching the same piece from the same seeder.

Run by hand (not in CI):  .venv/bin/python benchmarks/bench_bittorrent.py --seeders 10 --torrents 3

Everything is on loopback: libtorrent seeders on 127.77.1.x serving random content; the
collector contacts every (seeder, torrent) pair as known peers, one piece each. The baseline is a
libtorrent session on 127.77.9.1 that is given the same seeder and asked for only that piece.

``--simultaneous N`` (e.g. 500) is the issue's load mode: the seeders run in a child process
(so the peak RSS printed is the collector's alone), each listening on ``--ports`` ports, so that
seeders × ports × torrents distinct (peer, torrent) sessions run at once with the scope's
``total_concurrency`` = N. It prints verified peers/s, the peak number of sessions (connections)
held at once, and the collector's peak RSS; the baseline is the same sessions at the scope's
default concurrency (8 total, 2 per host), measured right after in the same process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _measure import parse_args

from bittorrent.conftest import make_scope, run_collectors
from netwarden.collect.bittorrent.metainfo import parse_info
from netwarden.collect.bittorrent.peerwire import PeerLimits, PeerSession
from netwarden.records import EvidenceLevel, Observation


def libtorrent_piece_time(torrent, seeder, piece: int, tmp: Path) -> float:  # type: ignore[no-untyped-def]
    """Seconds for a fresh libtorrent session to get ``piece`` from ``seeder`` (hash-checked)."""
    import libtorrent as lt  # here, so the load mode's collector process never loads it

    session = lt.session({"listen_interfaces": "127.77.9.1:0",
                          "outgoing_interfaces": "127.77.9.1",
                          "enable_dht": False, "enable_lsd": False, "enable_upnp": False,
                          "enable_natpmp": False, "enable_outgoing_utp": False,
                          "enable_incoming_utp": False,
                          "alert_mask": (lt.alert_category.status
                                         | lt.alert_category.piece_progress)})
    try:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(str(torrent.path))
        params.save_path = str(tmp)
        count = params.ti.num_pieces()
        priorities = [0] * count
        priorities[piece] = 7
        params.piece_priorities = priorities
        start = time.perf_counter()
        handle = session.add_torrent(params)
        deadline = time.monotonic() + 30
        connected = False
        while time.monotonic() < deadline:
            session.wait_for_alert(5)
            for alert in session.pop_alerts():
                if isinstance(alert, lt.piece_finished_alert) and alert.piece_index == piece:
                    return time.perf_counter() - start
                if not connected and isinstance(alert, lt.torrent_checked_alert):
                    # the clock starts at the connection, as ours does (no session start-up)
                    start = time.perf_counter()
                    handle.connect_peer((seeder.host, seeder.port))
                    connected = True
            if handle.have_piece(piece):  # hash-checked by libtorrent
                return time.perf_counter() - start
        raise RuntimeError(f"libtorrent did not get the piece: {handle.status().state}")
    finally:
        del session


async def ours_piece_time(torrent, seeder, piece: int) -> float:  # type: ignore[no-untyped-def]
    meta = parse_info(torrent.info)

    class Fixed:
        def sample(self, pop, k):  # type: ignore[no-untyped-def]
            return [piece]

    start = time.perf_counter()
    contact = await PeerSession(seeder.host, seeder.port, meta.handshake_hash, meta,
                                PeerLimits(), 1, Fixed()).run()  # type: ignore[arg-type]
    took = time.perf_counter() - start
    assert contact.verified, contact.error
    return took


def _seeder_child(conn, tmp: str, n_seeders: int, n_torrents: int, ports: int,  # type: ignore[no-untyped-def]
                  size: int, piece_length: int) -> None:
    """Child process: make the torrents, seed them from n_seeders × ports listen sockets."""
    from bittorrent.swarm import Seeder, free_port, make_torrent

    torrents = [make_torrent(Path(tmp), f"film{i}", size, piece_length)
                for i in range(n_torrents)]
    started = []
    try:
        for i in range(n_seeders):
            host = f"127.77.1.{i + 1}"
            listen = [free_port(host) for _ in range(ports)]
            s = Seeder(host, listen[0], extra={
                "listen_interfaces": ",".join(f"{host}:{p}" for p in listen),
                "connections_limit": 4000, "unchoke_slots_limit": -1,
                "listen_queue_size": 512, "max_allowed_in_request_queue": 2000})
            started.append((s, listen))
            for t in torrents:
                s.seed(t)
        for s, _ in started:
            s.wait_seeding(120)
        conn.send(([(s.host, listen) for s, listen in started],
                   [(t.info, t.btih, t.name) for t in torrents]))
        conn.recv()  # until the parent is done
    finally:
        for s, _ in started:
            s.close()


class _Gauge:
    """Sessions in progress (each holds one TCP connection from connect to close)."""

    active = 0
    peak = 0


def _count_sessions() -> None:
    import netwarden.collect.bittorrent.collector as collector

    base = collector.PeerSession

    class Counted(base):  # type: ignore[misc, valid-type]
        async def run(self):  # type: ignore[no-untyped-def]
            _Gauge.active += 1
            _Gauge.peak = max(_Gauge.peak, _Gauge.active)
            try:
                return await super().run()
            finally:
                _Gauge.active -= 1

    collector.PeerSession = Counted  # type: ignore[misc]


def _open_sockets() -> int:
    import os

    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return n


async def _run_sampled(scope, refs):  # type: ignore[no-untyped-def]
    """Run the collectors; sample open sockets every 5 ms (a second, independent count)."""
    peak = 0
    done = False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, _open_sockets())
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    try:
        return await run_collectors(scope, refs, timeout=600), peak
    finally:
        done = True
        await sampler


def simultaneous(args: argparse.Namespace) -> None:
    import multiprocessing

    from netwarden.collect.references import TorrentReference

    _count_sessions()
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tmp = Path(tempfile.mkdtemp(prefix="bench-bt-"))
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    child = ctx.Process(target=_seeder_child, args=(there, str(tmp), args.seeders, args.torrents,
                                                    args.ports, args.size, args.piece_length))
    child.start()
    try:
        if not here.poll(300):
            raise RuntimeError("seeders did not start")
        endpoints, made = here.recv()
        refs = [TorrentReference(bank="films", category="film", reference_id=f"r{i}",
                                 title=name, btih=btih, btmh=None, info=info)
                for i, (info, btih, name) in enumerate(made)]
        services = [{"url": f"bittorrent://{host}:{port}"}
                    for host, ports in endpoints for port in ports]
        per_host = args.ports * args.torrents
        runs = []
        for total, host_limit in ((args.simultaneous, per_host), (8, 2)):
            _Gauge.peak = 0
            scope = make_scope(services, per_host_concurrency=host_limit,
                               total_concurrency=total)
            start = time.perf_counter()
            records, sockets = asyncio.run(_run_sampled(scope, refs))
            elapsed = time.perf_counter() - start
            served = [r for r in records if isinstance(r, Observation)
                      and r.level is EvidenceLevel.SERVED]
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            runs.append((total, host_limit, len(records), len(served), elapsed, _Gauge.peak,
                         sockets, rss))
            for r in [r for r in records if r not in served][:10]:
                print(f"not served (concurrency {total}): {r.endpoint} {r.level.value}: "
                      f"{r.reason}")
        here.send("stop")
    finally:
        child.join(60)
        if child.is_alive():
            child.terminate()
            child.join()
    sessions = args.seeders * args.ports * args.torrents
    print(f"{args.seeders} libtorrent seeders x {args.ports} listen ports x {args.torrents} "
          f"torrents = {sessions} (peer, torrent) sessions; piece length "
          f"{args.piece_length // 1024} KiB; seeders in a child process")
    print(f"collector process RSS before the runs: {rss_start:.0f} MiB")
    for total, host_limit, n, served, elapsed, peak, sockets, rss in runs:
        print(f"concurrency {total} total / {host_limit} per host: {served}/{n} served-verified "
              f"in {elapsed:.2f} s = {served / elapsed:.1f} verified peers/s; sessions held at "
              f"once: peak {peak} (open sockets sampled: peak {sockets}); collector peak RSS "
              f"so far {rss:.0f} MiB")
    (_, _, _, s1, e1, *_), (_, _, _, s2, e2, *_) = runs
    print(f"verified peers/s ratio, concurrency {args.simultaneous} vs default 8: "
          f"{(s1 / e1) / (s2 / e2):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--simultaneous", type=int, default=0,
                    help="load mode: this many sessions at once, seeders in a child process")
    ap.add_argument("--ports", type=int, default=5, help="listen ports per seeder (load mode)")
    ap.add_argument("--seeders", type=int, default=10)
    ap.add_argument("--torrents", type=int, default=3)
    ap.add_argument("--size", type=int, default=4 * 1024 * 1024)
    ap.add_argument("--piece-length", type=int, default=256 * 1024)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--ratio-samples", type=int, default=5)
    args = parse_args(ap, {"seeders": 2, "torrents": 1, "size": 256 * 1024,
                           "piece_length": 64 * 1024, "ratio_samples": 1})
    if args.simultaneous:
        simultaneous(args)
        return
    from bittorrent.swarm import make_torrent, seeders

    tmp = Path(tempfile.mkdtemp(prefix="bench-bt-"))
    torrents = [make_torrent(tmp, f"film{i}", args.size, args.piece_length)
                for i in range(args.torrents)]
    with seeders(args.seeders, torrents) as ss:
        services = [{"url": f"bittorrent://{s.host}:{s.port}"} for s in ss]
        scope = make_scope(services, per_host_concurrency=args.torrents,
                           total_concurrency=args.concurrency)
        refs = [t.reference(ref_id=f"r{i}") for i, t in enumerate(torrents)]
        start = time.perf_counter()
        records = asyncio.run(run_collectors(scope, refs, timeout=600))
        elapsed = time.perf_counter() - start
        obs = [r for r in records if isinstance(r, Observation)]
        served = [o for o in obs if o.level is EvidenceLevel.SERVED]
        received = [o.details["contact"]["bytes_received"] for o in served]
        block = [o.details["contact"]["block_bytes"] for o in served]
        # time to a verified piece: ours vs libtorrent, same seeder, same piece
        ratios = []
        for i in range(args.ratio_samples):
            seeder, torrent = ss[i % len(ss)], torrents[i % len(torrents)]
            piece = (i * 7) % parse_info(torrent.info).piece_count
            ours = asyncio.run(ours_piece_time(torrent, seeder, piece))
            base_dir = tmp / f"lt{i}"
            base_dir.mkdir()
            theirs = libtorrent_piece_time(torrent, seeder, piece, base_dir)
            ratios.append((ours, theirs, ours / theirs))
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pairs = args.seeders * args.torrents
    print(f"pairs (seeder x torrent): {pairs}, served-verified: {len(served)}, "
          f"elapsed: {elapsed:.2f} s")
    print(f"verified peers/s: {len(served) / elapsed:.1f}")
    print(f"peak RSS (whole process, includes libtorrent seeders): {rss_mib:.0f} MiB")
    if received:
        print(f"bytes received per verified peer / piece length: "
              f"mean {statistics.mean(received) / args.piece_length:.4f}, "
              f"max {max(received) / args.piece_length:.4f} "
              f"(block payload only: {statistics.mean(block) / args.piece_length:.4f})")
    for ours, theirs, ratio in ratios:
        print(f"time to verified piece: netwarden {ours * 1000:.1f} ms, "
              f"libtorrent {theirs * 1000:.1f} ms, ratio {ratio:.2f}")
    print(f"median ratio netwarden/libtorrent: {statistics.median(r for *_, r in ratios):.2f} "
          "(target <= 1.5)")


if __name__ == "__main__":
    main()
