"""BitTorrent evidence benchmark: verified peers/s, peak RSS, bytes per verified peer, and
time-to-verified-piece against libtorrent fetching the same piece from the same seeder.

Run by hand (not in CI):  .venv/bin/python benchmarks/bench_bittorrent.py --seeders 10 --torrents 3

Everything is on loopback: libtorrent seeders on 127.77.1.x serving random content; the
collector contacts every (seeder, torrent) pair as known peers, one piece each. The baseline is a
libtorrent session on 127.77.9.1 that is given the same seeder and asked for only that piece.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import libtorrent as lt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bittorrent.conftest import make_scope, run_collectors
from bittorrent.swarm import make_torrent, seeders
from netwarden.collect.bittorrent.metainfo import parse_info
from netwarden.collect.bittorrent.peerwire import PeerLimits, PeerSession
from netwarden.records import EvidenceLevel, Observation


def libtorrent_piece_time(torrent, seeder, piece: int, tmp: Path) -> float:  # type: ignore[no-untyped-def]
    """Seconds for a fresh libtorrent session to get ``piece`` from ``seeder`` (hash-checked)."""
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeders", type=int, default=10)
    ap.add_argument("--torrents", type=int, default=3)
    ap.add_argument("--size", type=int, default=4 * 1024 * 1024)
    ap.add_argument("--piece-length", type=int, default=256 * 1024)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--ratio-samples", type=int, default=5)
    args = ap.parse_args()
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
