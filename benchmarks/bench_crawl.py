"""Crawl + digest an FTP store: netwarden's FTP collector vs ``lftp mirror`` + ``rhash``.

What an investigator would otherwise do is mirror the server to disk with lftp and hash the
copy with rhash (MD5, SHA-1, SHA-256, ED2K, TTH). netwarden walks the same server and digests
every file in one streaming pass, storing no file bytes. Both talk to the same pyftpdlib server
(run in its own process, so it competes with neither side for the GIL) serving a generated
store of random files. The script checks that both computed the same SHA-256 and TTH for every
file, then prints the times and the ratio netwarden / (lftp + rhash).

Run by hand (needs Debian ``lftp`` and ``rhash``):

    .venv/bin/python benchmarks/bench_crawl.py --files 200 --total-mb 500

The store is written under ``--workdir`` (default: a temporary directory) and removed after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _measure import parse_args

from netwarden.collect import CollectContext, collector_for
from netwarden.records import EvidenceLevel, Observation
from netwarden.scope import parse_scope

HOST = "127.77.0.10"

_SERVER = """
import sys, time
from pathlib import Path
from netwarden.testbed.servers import serve_ftp
server = serve_ftp(Path(sys.argv[1]), sys.argv[2])
print(server.port, flush=True)
sys.stdin.read()  # runs until the parent closes our stdin
server.stop()
"""


def generate_store(root: Path, files: int, total_bytes: int, seed: int) -> dict[str, int]:
    """Random files of varied sizes in a few directories; returns relative path → size."""
    rng = random.Random(seed)
    weights = [rng.uniform(0.2, 1.8) for _ in range(files)]
    scale = total_bytes / sum(weights)
    sizes: dict[str, int] = {}
    chunk = rng.randbytes(1 << 20)
    for i, weight in enumerate(weights):
        rel = f"dir{i % 8:02d}/sub{i % 3}/file{i:04d}.bin"
        size = int(weight * scale)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            handle.write(i.to_bytes(8, "big"))  # every file distinct
            left = size - 8
            while left > 0:
                handle.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
        sizes[rel] = max(size, 8)
    return sizes


def run_netwarden(port: int) -> tuple[float, list[Observation]]:
    now = datetime.now(UTC)
    scope = parse_scope({
        "check": {"id": "BENCH", "authorization": "benchmark", "jurisdiction": "ru",
                  "not_before": now - timedelta(hours=1), "not_after": now + timedelta(hours=2)},
        "operator": {"name": "bench", "prefixes": ["127.77.0.0/16"], "infrastructure": [HOST]},
        "services": [{"url": f"ftp://{HOST}:{port}/"}],
    }, "bench-scope")

    async def main() -> list[Observation]:
        ctx = CollectContext(scope=scope, run_id="bench", limits=scope.limits)
        service = scope.services[0]
        return [r async for r in collector_for(service)(service, ctx).collect()
                if isinstance(r, Observation)]

    started = time.perf_counter()
    records = asyncio.run(main())
    return time.perf_counter() - started, records


def run_baseline(port: int, mirror: Path, parallel: int) -> tuple[float, float, dict[str, str]]:
    started = time.perf_counter()
    subprocess.run(["lftp", "-e", f"set ftp:passive-mode on; mirror --parallel={parallel} / "
                    f"{mirror}; quit", f"ftp://anonymous:x@{HOST}:{port}"],
                   check=True, stdout=subprocess.DEVNULL)
    mirrored = time.perf_counter()
    out = subprocess.run(["rhash", "--md5", "--sha1", "--sha256", "--ed2k", "--tth", "-r",
                          str(mirror)], check=True, capture_output=True, text=True).stdout
    hashed = time.perf_counter()
    digests: dict[str, str] = {}
    for line in out.splitlines():
        # rhash order: path md5 sha1 tth ed2k sha256 (our paths contain no spaces)
        fields = line.split()
        if len(fields) != 6:
            continue
        path, _md5, _sha1, tth, _ed2k, sha256 = fields
        rel = os.path.relpath(path, mirror)
        digests[rel] = f"{sha256}:{tth.upper()}"
    return mirrored - started, hashed - mirrored, digests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--total-mb", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lftp-parallel", type=int, default=2,
                        help="lftp mirror --parallel (netwarden uses per_host_concurrency=2)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parse_args(parser, {"files": 6, "total_mb": 1})
    for tool in ("lftp", "rhash"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (Debian: apt-get install -y lftp rhash)")
    workdir = Path(tempfile.mkdtemp(dir=args.workdir, prefix="bench-crawl-"))
    try:
        store = workdir / "store"
        t0 = time.perf_counter()
        sizes = generate_store(store, args.files, args.total_mb * 1024 * 1024, args.seed)
        total = sum(sizes.values())
        print(f"store: {len(sizes)} files, {total / 1e6:.1f} MB "
              f"(generated in {time.perf_counter() - t0:.1f} s)")
        server = subprocess.Popen([sys.executable, "-c", _SERVER, str(store), HOST],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            nw_time, observations = run_netwarden(port)
            nw_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            mirror_time, rhash_time, baseline = run_baseline(port, workdir / "mirror",
                                                             args.lftp_parallel)
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=30)
        served = [o for o in observations if o.level is EvidenceLevel.SERVED]
        problems = [o for o in observations if o.outcome.value != "ok"]
        ours = {o.details["path"].lstrip("/"): f"{o.digests['sha256']}:{o.digests.get('tth')}"
                for o in served}
        agree = ours == baseline
        base_time = mirror_time + rhash_time
        print(f"netwarden ftp collector: {nw_time:.2f} s, {len(served)} files served and "
              f"digested, {len(problems)} problems, {sum(o.size or 0 for o in served) / 1e6:.1f}"
              f" MB, peak RSS {nw_rss:.0f} MiB, 0 bytes stored")
        print(f"lftp mirror (--parallel={args.lftp_parallel}): {mirror_time:.2f} s; "
              f"rhash -r (md5 sha1 sha256 ed2k tth): {rhash_time:.2f} s; "
              f"total {base_time:.2f} s, {total / 1e6:.1f} MB written to disk")
        print(f"digests agree (sha256 + tth, every file): {agree}")
        print(f"ratio netwarden / (lftp + rhash) = {nw_time / base_time:.2f}")
        if not agree:
            sys.exit(1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
