"""Discovery over BitTorrent: recall, false matches and bytes fetched, against examining every
media torrent the tracker coordinates — both in the same run, on the same swarm.

    .venv/bin/python benchmarks/bench_discovery.py [--films 8] [--noise 8] [--source dht]

The swarm (real opentracker, one real libtorrent seeder per kind): ``--films`` bank films known
to the bank only by their vPDQ signal and catalog title; for each, a *re-release* (rescaled to
192x144, re-encoded at 120 kbit/s) under a release name, a *decoy* (another film) under the
sequel-like name of the same title, and ``--noise`` media torrents named after nothing in the
catalog. Recall counts re-releases found ``served`` and matched to their film; false matches
count findings on decoys and noise.

Runs: ``default`` (``discover_min_score`` 0.6: only names close to a catalog title are
examined) and the baseline ``examine all`` (``discover_min_score`` 0). Printed: candidates
examined, bytes fetched, bytes per identification, recall, false matches, and the ratio of
bytes fetched (baseline / default).

``--source dht`` runs the same swarm with no tracker: the seeders and ``--nodes`` further
libtorrent DHT nodes announce into an in-scope DHT, and the audit enumerates it with BEP 51
``sample_infohashes`` (libtorrent's default sample is at most 20 infohashes per node, so
recall also measures how much of the swarm one walk of the DHT sees).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _measure import parse_args  # noqa: E402

TITLES = [("Брат", "Brat", 1997), ("Левиафан", "Leviafan", 2014), ("Сталкер", "Stalker", 1979),
          ("Иваново детство", "Ivanovo.detstvo", 1962), ("Ирония судьбы", "Ironiya.sudby", 1975),
          ("Движение вверх", "Dvizhenie.vverh", 2017), ("Солярис", "Solyaris", 1972),
          ("Зеркало", "Zerkalo", 1975), ("Кин-дза-дза", "Kin-dza-dza", 1986),
          ("Морозко", "Morozko", 1964)]
NOISE = ["Holiday.Video.2019", "Cats.Compilation", "Wedding.2021.part", "Birthday.Party",
         "Sea.Trip.2018", "Garden.Timelapse", "Concert.Rehearsal", "Skiing.2020",
         "Kitchen.Renovation", "Dog.Park"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--films", type=int, default=8)
    parser.add_argument("--noise", type=int, default=8)
    parser.add_argument("--source", choices=("tracker", "dht"), default="tracker")
    parser.add_argument("--nodes", type=int, default=4, help="extra DHT nodes (--source dht)")
    args = parse_args(parser, {"films": 1, "noise": 1, "nodes": 1})
    films, noise = min(args.films, len(TITLES)), min(args.noise, len(NOISE))
    with tempfile.TemporaryDirectory(prefix="nw-bench-discovery-") as tmp:
        os.environ["NETWARDEN_HOME"] = str(Path(tmp) / "home")
        os.environ.pop("NETWARDEN_DB", None)
        results = (run_dht(Path(tmp), films, noise, args.nodes) if args.source == "dht"
                   else run(Path(tmp), films, noise))
    base, dflt = results["examine all"], results["default"]
    print(json.dumps(results, indent=1, ensure_ascii=False))
    ratio = base["bytes_fetched"] / max(1, dflt["bytes_fetched"])
    print(f"bytes fetched, examine all / default: {ratio:.2f}x "
          f"(recall {dflt['recall']:.2f} vs {base['recall']:.2f}; false matches "
          f"{dflt['false_matches']} vs {base['false_matches']})")


def _swarm(tmp: Path, films: int, noise: int) -> tuple[Any, Any, list[Any], list[Any]]:
    """The bank (vPDQ signals + titles) and the torrents: re-releases, decoys and noise."""
    from bittorrent.test_discovery import _media_torrent  # type: ignore[import-not-found]
    from netwarden.banks import BankStore
    from netwarden.digest.vpdq import vpdq_from_bytes
    from netwarden.ledger.keys import init_key
    from netwarden.store import open_store
    from perceptual.synthetic import encode_video, photo, scene_frames

    init_key()
    store = open_store()
    banks = BankStore(store)
    lines, rereleases, others = [], [], []
    for k in range(films):
        title, latin, year = TITLES[k]
        frames = scene_frames(6000 + 17 * k, count=75, size=(320, 240), picture=photo)
        lines.append(f"vpdq {vpdq_from_bytes(encode_video(frames)).signal()} {title}\n")
        copy = encode_video(frames, size=(192, 144), bitrate=120_000)
        rereleases.append(_media_torrent(tmp, f"{latin}.{year}.480p.x264-NW.mp4", copy))
        other = encode_video(scene_frames(9000 + 17 * k, count=75, size=(320, 240),
                                          picture=photo))
        others.append(_media_torrent(tmp, f"{latin}.2.{year + 3}.720p.x264.mp4", other))
    for k in range(noise):
        clip = encode_video(scene_frames(12000 + 17 * k, count=50, size=(320, 240),
                                         picture=photo))
        others.append(_media_torrent(tmp, f"{NOISE[k]}.mp4", clip))
    (tmp / "bank.txt").write_text("".join(lines), encoding="utf-8")
    banks.import_file("films-vpdq", "films", "hma", tmp / "bank.txt")
    return store, banks, rereleases, others


def run(tmp: Path, films: int, noise: int) -> dict[str, dict[str, Any]]:
    from bittorrent.swarm import Seeder, opentracker  # type: ignore[import-not-found]
    from netwarden.ledger import Ledger

    store, banks, rereleases, others = _swarm(tmp, films, noise)
    hashes = [t.btih for t in rereleases + others]
    out: dict[str, dict[str, Any]] = {}
    with opentracker(tmp / "tracker", hashes, "127.77.0.10") as port:  # type: ignore[arg-type]
        announce = f"http://127.77.0.10:{port}/announce"
        # libtorrent keeps only 5 seeds active (announced) by default: lift that so every
        # torrent of the swarm is really offered
        active = {"active_seeds": 1000, "active_limit": 2000, "active_tracker_limit": 2000}
        started = []
        try:
            for host, torrents in (("127.77.1.1", rereleases), ("127.77.2.1", others)):
                seeder = Seeder(host, extra=active)
                started.append(seeder)
                for t in torrents:
                    seeder.seed(t, [announce])
            for seeder in started:
                seeder.wait_seeding(60)
            time.sleep(2)  # the announces of the last torrents reach the tracker
            for label, floor in (("default", 0.6), ("examine all", 0.0)):
                out[label] = _audit(tmp / label.replace(" ", "-"),
                                    {"url": announce, "kind": "bittorrent-tracker"}, floor,
                                    banks, Ledger.open(store), store, films)
        finally:
            for seeder in started:
                seeder.close()
    store.close()
    return out


def run_dht(tmp: Path, films: int, noise: int, extra_nodes: int) -> dict[str, dict[str, Any]]:
    """The same swarm announced into an in-scope DHT of libtorrent nodes, no tracker."""
    import asyncio
    import socket

    from bittorrent.swarm import Seeder, free_port  # type: ignore[import-not-found]
    from bittorrent.test_dht import DHT_SETTINGS  # type: ignore[import-not-found]
    from netwarden.collect.bittorrent.dht import sample_infohashes
    from netwarden.ledger import Ledger
    from netwarden.scope import Decision

    store, banks, rereleases, others = _swarm(tmp, films, noise)
    settings = {**DHT_SETTINGS, "active_seeds": 1000, "active_limit": 2000,
                "active_dht_limit": 2000}
    hosts = ["127.77.1.1", "127.77.2.1"] + [f"127.77.3.{i + 1}" for i in range(extra_nodes)]
    nodes = [Seeder(h, free_port(h, socket.SOCK_DGRAM), dht=True, extra=settings)
             for h in hosts]
    out: dict[str, dict[str, Any]] = {}
    try:
        for a in nodes:
            for b in nodes:
                if a is not b:
                    a.session.add_dht_node((b.host, b.port))
        handles = [nodes[0].seed(t) for t in rereleases] + [nodes[1].seed(t) for t in others]
        nodes[0].wait_seeding(60)
        nodes[1].wait_seeding(60)
        start = nodes[-1]
        bootstrap = [(start.host, start.port)]
        everyone = {h: True for h in hosts}
        deadline = time.monotonic() + 60
        seen: set[bytes] = set()
        while time.monotonic() < deadline:  # announces land; a node samples <= 20 of them
            for handle in handles:
                handle.force_dht_announce()
            time.sleep(1)
            walk = asyncio.run(sample_infohashes(
                bootstrap, lambda h, p: Decision(everyone.get(h, False), "not ours"),
                timeout=3))
            seen |= set(walk.samples)
            if walk.stored_claimed >= len(handles) * 2:
                break
        print(f"DHT: {len(hosts)} nodes; last walk: {walk.summary()}; distinct infohashes "
              f"sampled over the warm-up: {len(seen)} of {len(handles)}")
        for label, floor in (("default", 0.6), ("examine all", 0.0)):
            out[label] = _audit(tmp / label.replace(" ", "-"),
                                {"url": f"bittorrent://{start.host}:{start.port}",
                                 "kind": "dht", "dht_timeout": 5}, floor, banks,
                                Ledger.open(store), store, films)
    finally:
        for node in nodes:
            node.close()
    store.close()
    return out


def _audit(out: Path, service: dict[str, Any], floor: float, banks: object, ledger: object,
           store: object, films: int) -> dict[str, Any]:
    from bittorrent.conftest import make_scope  # type: ignore[import-not-found]
    from netwarden.pipeline import run_audit

    scope = make_scope([{**service, "discover_min_score": floor, "discover_candidates": 100}])
    started = time.perf_counter()
    result = run_audit(scope, out, banks, ledger=ledger, store=store,  # type: ignore[arg-type]
                       banks=["films-vpdq"])
    seconds = time.perf_counter() - started
    rows = [json.loads(x) for x in (out / "findings.jsonl").read_text("utf-8").splitlines()]
    served = [r for r in rows if r["evidence_level"] == "served"]
    hits = {r["reference"] for r in served if r["host"] == "127.77.1.1"}
    false = [r for r in rows if r["host"] != "127.77.1.1"]
    examined = fetched = 0
    outcomes: dict[str, int] = {}
    for leaf in ledger.entries("observation", run_id=result.run_id):
        data = leaf.record()
        if data.get("method") != "bt-discovery":
            continue
        why = str(data.get("reason") or data.get("level"))[:70]
        outcomes[why] = outcomes.get(why, 0) + 1
        cand = (data.get("details") or {}).get("discovery", {}).get("candidate")
        if cand:
            examined += 1
            if data.get("level") == "served":
                fetched += int(cand["length"])
    return {"candidates_examined": examined, "bytes_fetched": fetched,
            "bytes_per_identification": fetched / max(1, len(hits)),
            "recall": len(hits) / films, "false_matches": len(false),
            "seconds": round(seconds, 1), "outcomes": outcomes}


if __name__ == "__main__":
    main()
