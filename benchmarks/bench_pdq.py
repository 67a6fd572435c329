"""PDQ/vPDQ: index speed and memory vs threatexchange's PDQIndex, accuracy on generated
transforms, image hashing speed vs threatexchange's hasher — all in the same run.

    .venv/bin/python benchmarks/bench_pdq.py [--bank 1000000] [--queries 100000]
        [--images 1500] [--transform-images 300] [--videos 16] [--hash-images 200]
        [--only index,accuracy,video,hashing]

(a) index: a bank of N random 256-bit hashes; Q queries, half near duplicates of bank entries
    (0-40 random bits flipped, so some lie beyond the radius) and half random. netwarden's
    ``PdqIndex`` vs threatexchange's ``PDQIndex`` (faiss ``IndexBinaryMultiHash`` 16 x 16 bits).
    Both get hex strings (their API) and answer radius 31. faiss's default ``nflip = 0`` is not
    exact at 31 (pigeonhole needs one flip per 16-bit chunk), so the baseline is also run with
    ``nflip = 1``, which gives equal (100 %) recall: recall of every configuration is checked
    against brute force on a sample. Memory: array bytes and RSS growth per hash.
(b) accuracy: generated photo-like images (tests/perceptual/synthetic.py ``photo``), hashed once;
    recall per transform at threshold 31 (transforms from ``netwarden.testbed.network.transform``
    — "crop5" there is 5 % of the *area*, 1.25 % off each edge; 5 % off each edge is an extra
    row); flip and rotation with dihedral matching. False-match rate over all N(N-1)/2 pairs of
    unrelated images, plain and with dihedral variants.
(video) generated clips (photo scenes, 640x480, 25 fps) re-encoded at 320x240 / 150 kbit/s and
    cropped by 10 px per edge, matched through the real bank import and ``PerceptualMatcher``:
    reference settings (distance 31) and a per-frame distance of 52 (threatexchange's
    ``PDQFlatIndex`` threshold); unrelated clips give the clip-level false matches.
(c) hashing: images/s on one core, netwarden's ``pdq_from_bytes`` vs threatexchange's
    ``pdq_from_bytes`` (Python) and the ``threatexchange hash photo`` CLI on the same files.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _measure import parse_args, rss  # noqa: E402

from netwarden.banks.pdq_index import PdqIndex, brute_force, hex_to_array  # noqa: E402
from netwarden.digest.pdq import dihedral_from_array, pdq_from_bytes  # noqa: E402
from netwarden.testbed.network import encode, transform  # noqa: E402
from perceptual.synthetic import encode_video, photo, scene_frames  # noqa: E402

RADIUS = 31


def pairs(result: object) -> set[tuple[int, int]]:
    return {(int(q), int(i)) for q, i, _d in result}  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------- (a)
def bench_index(n: int, q: int, tx_queries: int, tx_single: int, sample: int) -> None:
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex

    print(f"\n== (a) index: bank {n:,} random PDQ hashes, {q:,} queries (half near duplicates), "
          f"radius {RADIUS}")
    rng = np.random.default_rng(7)
    bank = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    near = bank[rng.integers(0, n, size=q // 2)].copy()
    bits = np.unpackbits(near, axis=1)
    for row, k in zip(bits, rng.integers(0, 41, size=len(near)), strict=True):
        row[rng.choice(256, size=k, replace=False)] ^= 1
    queries = np.concatenate([np.packbits(bits, axis=1),
                              rng.integers(0, 256, size=(q - q // 2, 32), dtype=np.uint8)])
    queries = queries[rng.permutation(q)]
    query_hex = [bytes(row).hex() for row in queries]
    bank_hex = [bytes(row).hex() for row in bank]
    gc.collect()

    # netwarden
    before = rss()
    t = time.perf_counter()
    ours = PdqIndex.build(bank)
    build_ours = time.perf_counter() - t
    grow_ours = rss() - before
    t = time.perf_counter()
    hits = ours.search(hex_to_array(query_hex), RADIUS)
    search_ours = time.perf_counter() - t
    print(f"netwarden PdqIndex: build {build_ours:.1f} s, {len(hits):,} hits, "
          f"{q / search_ours:,.0f} queries/s (batched, hex in), arrays "
          f"{ours.nbytes / n:.1f} B/hash, "
          f"RSS growth {grow_ours / n:.1f} B/hash")

    # threatexchange
    gc.collect()
    before = rss()
    t = time.perf_counter()
    theirs = PDQIndex(entries=((h, i) for i, h in enumerate(bank_hex)))
    build_tx = time.perf_counter() - t
    grow_tx = rss() - before  # includes the (hex, entry) list PDQIndex keeps
    mih = theirs.index.mih_index
    print(f"threatexchange PDQIndex: build {build_tx:.1f} s, RSS growth {grow_tx / n:.1f} "
          f"B/hash (faiss index + the hex/entry list it keeps), default nflip={mih.nflip}")

    # recall against brute force on a sample
    truth = pairs(brute_force(bank, queries[:sample], RADIUS))
    mine = {(qq, ii) for qq, ii, _ in hits.triples() if qq < sample}

    def tx_pairs(index: PDQIndex) -> set[tuple[int, int]]:
        found = index.index.search_with_distance_in_result(query_hex[:sample], RADIUS)
        return {(k, int(i)) for k, h in enumerate(query_hex[:sample]) for i, _x, _d in found[h]}

    recall = {"netwarden": len(mine & truth) / max(1, len(truth))}
    extra = {"netwarden": len(mine - truth)}
    for flips in (0, 1):
        mih.nflip = flips
        got = tx_pairs(theirs)
        recall[f"threatexchange nflip={flips}"] = len(got & truth) / max(1, len(truth))
        extra[f"threatexchange nflip={flips}"] = len(got - truth)
    print(f"recall vs brute force on {sample} queries ({len(truth)} true pairs): "
          + ", ".join(f"{k} {v:.4f} (+{extra[k]} wrong)" for k, v in recall.items()))

    mih.nflip = 1  # equal recall
    sub = query_hex[:tx_queries]
    t = time.perf_counter()
    theirs.index.search_with_distance_in_result(sub, RADIUS)
    tx_batch = len(sub) / (time.perf_counter() - t)
    single = query_hex[:tx_single]
    t = time.perf_counter()
    for h in single:
        theirs.query(h)
    tx_one = len(single) / (time.perf_counter() - t)
    ours_rate = q / search_ours
    t = time.perf_counter()
    for h in single[:max(1, tx_single // 4)]:
        ours.search(hex_to_array([h]), RADIUS)
    ours_one = max(1, tx_single // 4) / (time.perf_counter() - t)
    print(f"threatexchange (nflip=1, 100 % recall): batched search {tx_batch:,.0f} queries/s on "
          f"{len(sub):,} queries; PDQIndex.query one by one {tx_one:,.0f} queries/s on "
          f"{len(single):,}")
    print(f"netwarden one by one: {ours_one:,.0f} queries/s")
    print(f"RATIO index batched: netwarden / threatexchange = {ours_rate / tx_batch:.1f}x; "
          f"one by one {ours_one / tx_one:.1f}x; memory per hash (RSS) "
          f"{grow_tx / max(1, grow_ours):.1f}x less")
    del theirs, ours
    gc.collect()


# ---------------------------------------------------------------------------------- (b)
def hash_images(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Hashes (N,32), dihedral hashes (N,8,32), qualities of photo(0..count-1)."""
    plain, variants, quality = [], [], []
    for seed in range(count):
        hexes, qual = dihedral_from_array(np.asarray(photo(seed)))
        plain.append(hexes[0])
        variants.append(hexes)
        quality.append(qual)
    flat = hex_to_array([h for v in variants for h in v]).reshape(count, 8, 32)
    return hex_to_array(plain), flat, np.array(quality), plain


def distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.view(np.uint64).reshape(-1, 1, 4), b.view(np.uint64).reshape(1, -1, 4)
    return np.bitwise_count(a64 ^ b64).sum(axis=2, dtype=np.int16)


def bench_accuracy(count: int, transforms_n: int) -> None:
    print(f"\n== (b) accuracy: {count} generated photo-like images (480x360), threshold {RADIUS}")
    t = time.perf_counter()
    hashes, dihedral, quality, plain_hex = hash_images(count)
    print(f"generated and hashed (8 variants) in {time.perf_counter() - t:.0f} s; quality "
          f"min {quality.min()}, median {int(np.median(quality))}, below 50: "
          f"{int((quality < 50).sum())}")
    good = np.nonzero(quality >= 50)[0]
    hashes, dihedral = hashes[good], dihedral[good]
    m = len(good)
    total = m * (m - 1) // 2
    close = {31: 0, 52: 0}
    close_dihedral = 0
    minimum = 256
    hist = np.zeros(257, dtype=np.int64)
    for start in range(0, m, 200):
        d = distance_matrix(hashes[start:start + 200], hashes)
        rows = np.arange(start, min(m, start + 200))[:, None]
        upper = d[rows < np.arange(m)[None, :]]
        hist += np.bincount(upper, minlength=257)
        minimum = min(minimum, int(upper.min()) if upper.size else 256)
        for k in close:
            close[k] += int((upper <= k).sum())
        # dihedral on: any of the query's 8 variants within the radius of another original
        dv = distance_matrix(dihedral[start:start + 200].reshape(-1, 32), hashes)
        dv = dv.reshape(len(d), 8, m).min(axis=1)
        mask = rows != np.arange(m)[None, :]
        close_dihedral += int(((dv <= RADIUS) & mask).sum())
    cumulative = np.cumsum(hist)
    p = [int(np.searchsorted(cumulative, total * f)) for f in (0.001, 0.5)]
    print(f"unrelated pairs: {total:,}; distance min {minimum}, 0.1th percentile {p[0]}, "
          f"median {p[1]}; pairs <= 31: {close[31]} (false-match rate "
          f"{close[31] / total:.2e}); <= 52: {close[52]} ({close[52] / total:.2e}); "
          f"with dihedral (ordered pairs, 8 variants) <= 31: {close_dihedral} "
          f"({close_dihedral / (2 * total):.2e})")

    print(f"recall on the first {transforms_n} images (quality >= 50), bank = the originals' PDQ:")
    print("| transform | matching | recall | median d | p95 d | max d |")
    print("|---|---|---|---|---|---|")
    seeds = [int(s) for s in good[:transforms_n]]
    rows_spec = [("resize50", False, "resize 50 % (bilinear) + JPEG q90"),
                 ("jpeg60", False, "JPEG quality 60"),
                 ("crop5", False, "crop 5 % of the area (1.25 % off each edge)"),
                 ("crop5edge", False, "crop 5 % off each edge (extra: 9.75 % of the area)"),
                 ("flip", True, "horizontal flip"),
                 ("rotate90", True, "rotation 90°")]
    for how, use_dihedral, label in rows_spec:
        dists = []
        for seed in seeds:
            original = photo(seed)
            if how == "crop5edge":
                w, h = original.size
                dx, dy = round(w * 0.05), round(h * 0.05)
                data = encode(original.crop((dx, dy, w - dx, h - dy)), "PNG")
            else:
                data = transform(original, how)
            result = pdq_from_bytes(data, dihedral=use_dihedral)
            candidates = result.dihedral if use_dihedral and result.dihedral else (result.hex,)
            ref = int.from_bytes(bytes.fromhex(plain_hex[seed]), "big")
            dists.append(min((ref ^ int(c, 16)).bit_count() for c in candidates))
        arr = np.array(dists)
        print(f"| {label} | {'dihedral' if use_dihedral else 'plain'} | "
              f"{(arr <= RADIUS).mean():.3f} ({int((arr <= RADIUS).sum())}/{len(arr)}) | "
              f"{int(np.median(arr))} | {int(np.percentile(arr, 95))} | {arr.max()} |")
        if how == "flip":
            plain_d = [(int(plain_hex[s], 16) ^ int(pdq_from_bytes(transform(photo(s), how)).hex,
                                                     16)).bit_count() for s in seeds[:50]]
            print(f"|   (flip without dihedral, first {len(plain_d)}) | plain | "
                  f"{np.mean(np.array(plain_d) <= RADIUS):.3f} | {int(np.median(plain_d))} | "
                  f"| |")


# ---------------------------------------------------------------------------------- video
def bench_video(count: int, frames: int) -> None:
    from netwarden.banks import BankStore
    from netwarden.banks.perceptual import PerceptualMatcher
    from netwarden.digest.perceptual import PerceptualDigest
    from netwarden.digest.vpdq import vpdq_from_bytes
    from netwarden.records import Endpoint, Observation
    from netwarden.store import open_store

    print(f"\n== video: {count} generated clips, 640x480, {frames} frames at 25 fps "
          f"(a new photo-like scene every 25 frames, panning)")
    t = time.perf_counter()
    originals, copies = [], {"reencode": [], "crop10": [], "unrelated": []}
    for k in range(count):
        clip = scene_frames(50_000 + 100 * k, frames, (640, 480), picture=photo)
        originals.append(vpdq_from_bytes(encode_video(clip)).signal())
        copies["reencode"].append(encode_video(clip, size=(320, 240), bitrate=150_000))
        copies["crop10"].append(encode_video(clip, crop=10))
        other = scene_frames(90_000 + 100 * k, frames, (640, 480), picture=photo)
        copies["unrelated"].append(encode_video(other))
    print(f"encoded in {time.perf_counter() - t:.0f} s")

    with tempfile.TemporaryDirectory() as tmp:
        bank_file = Path(tmp) / "videos.txt"
        bank_file.write_text("".join(f"vpdq {s} clip{k}\n" for k, s in enumerate(originals)),
                             encoding="utf-8")
        banks = BankStore(open_store(f"sqlite:///{tmp}/db.sqlite"))
        banks.import_file("ref31", "film", "hma", bank_file)
        banks.import_file("frame52", "film", "hma", bank_file, vpdq={"distance": 52})
        matcher = PerceptualMatcher.open(banks)
        print("| copy | bank setting | recall / false matches | median frame distance |")
        print("|---|---|---|---|")
        for how, items in copies.items():
            found: dict[str, list[bool]] = {"ref31": [], "frame52": []}
            medians: dict[str, list[int]] = {"ref31": [], "frame52": []}
            for k, data in enumerate(items):
                acc = PerceptualDigest("clip.mp4")
                acc.update(data)
                out = acc.finish()
                obs = Observation(run_id="bench", endpoint=Endpoint(
                    protocol="http", host="127.0.0.1", port=1), location="clip.mp4",
                    method="http-get", size=len(data), digests=out.digests,
                    details=out.details, bytes_from_endpoint=True)
                refs = matcher.matches(obs)
                for bank in found:
                    mine = [r for r in refs if r.bank == bank]
                    hit = any(r.reference_id == f"clip{k}" or r.title == f"clip{k}"
                              for r in mine) if how != "unrelated" else bool(mine)
                    found[bank].append(hit)
                    medians[bank] += [r.distance for r in mine]
            for bank, hits in found.items():
                label = "false matches" if how == "unrelated" else "recall"
                med = int(np.median(medians[bank])) if medians[bank] else "-"
                print(f"| {how} | {bank} | {label} {np.mean(hits):.3f} "
                      f"({sum(hits)}/{len(hits)}) | {med} |")


# ---------------------------------------------------------------------------------- (c)
def bench_hashing(count: int) -> None:
    from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes as tx_pdq_from_bytes

    print(f"\n== (c) hashing: {count} generated images (480x360, half JPEG q90, half PNG), "
          "one core (process CPU time)")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for seed in range(count):
            fmt = "JPEG" if seed % 2 else "PNG"
            path = Path(tmp) / f"img{seed}.{fmt.lower()}"
            path.write_bytes(encode(photo(seed), fmt, **({"quality": 90} if seed % 2 else {})))
            paths.append(path)
        blobs = [p.read_bytes() for p in paths]

        def rate(fn: object) -> float:
            t = time.process_time()
            for blob in blobs:
                fn(blob)  # type: ignore[operator]
            return len(blobs) / (time.process_time() - t)

        ours = rate(pdq_from_bytes)
        theirs = rate(tx_pdq_from_bytes)
        assert all(pdq_from_bytes(b).hex == tx_pdq_from_bytes(b)[0] for b in blobs[:20])
        cli = Path(sys.executable).with_name("threatexchange")
        t = time.perf_counter()
        before = os.times()
        proc = subprocess.run([str(cli), "hash", "photo", *map(str, paths)], capture_output=True,
                              text=True, timeout=3600, check=False)
        after = os.times()
        wall = time.perf_counter() - t
        cpu = (after.children_user - before.children_user
               + after.children_system - before.children_system)
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        print(f"netwarden pdq_from_bytes: {ours:,.1f} images/s per core")
        print(f"threatexchange pdq_from_bytes (Python): {theirs:,.1f} images/s per core")
        print(f"threatexchange hash photo CLI (one process, {len(lines)} lines, rc "
              f"{proc.returncode}): {count / cpu:,.1f} images/s per core CPU, wall {wall:.1f} s")
        print(f"RATIO hashing: netwarden / threatexchange Python = {ours / theirs:.2f}x; "
              f"netwarden / threatexchange CLI = {ours / (count / cpu):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bank", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--tx-queries", type=int, default=None,
                        help="queries for the baseline's batched search (default: all)")
    parser.add_argument("--tx-single", type=int, default=1000,
                        help="queries for the one-by-one comparison")
    parser.add_argument("--recall-sample", type=int, default=300)
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--transform-images", type=int, default=300)
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--video-frames", type=int, default=125)
    parser.add_argument("--hash-images", type=int, default=200)
    parser.add_argument("--only", default="index,accuracy,video,hashing")
    args = parse_args(parser, {"bank": 5000, "queries": 500, "tx_single": 50,
                               "recall_sample": 100, "images": 12, "transform_images": 6,
                               "videos": 1, "video_frames": 30, "hash_images": 6})
    parts = set(args.only.split(","))
    print(f"bench_pdq on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"python {sys.version.split()[0]}, numpy {np.__version__}")
    if "index" in parts:
        bench_index(args.bank, args.queries, args.tx_queries or args.queries, args.tx_single,
                    args.recall_sample)
    if "accuracy" in parts:
        bench_accuracy(args.images, args.transform_images)
    if "video" in parts:
        bench_video(args.videos, args.video_frames)
    if "hashing" in parts:
        bench_hashing(args.hash_images)


if __name__ == "__main__":
    main()
