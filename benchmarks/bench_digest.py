"""Digest engine vs the ``rhash`` CLI: the same five digests over the same generated files.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_digest.py                 # ~1 GiB in 8 files
    .venv/bin/python benchmarks/bench_digest.py --total-mib 256 --files 4

Baseline: ``rhash --md5 --sha1 --sha256 --ed2k --tth FILE...`` (RHash's own CLI, one process,
one core), measured in the same run over the same files, after both have read them once so the
page cache is warm for both. Measured for netwarden:

- ``library``: :func:`netwarden.digest.hash_files` in this process, one thread per CPU;
- ``cli``: ``python -m netwarden hash --json FILE...`` in a subprocess (interpreter start-up
  and imports included);
- ``library, 1 thread``: the per-core comparison (same work on one core as rhash).

Prints each time and the ratio netwarden-time / rhash-time (target <= 1.1). It also checks
that every digest equals rhash's, so a fast wrong answer cannot pass. The files are synthetic
random bytes in a temporary directory, removed afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import parse_args

from netwarden.digest import hash_files

RHASH_ARGS = ["--md5", "--sha1", "--sha256", "--ed2k", "--tth"]


def generate(root: Path, total: int, count: int) -> list[Path]:
    """``count`` files of random bytes, ``total`` bytes in all (sizes differ a little)."""
    paths = []
    base = total // count
    for i in range(count):
        size = base + (i - count // 2) * 4099  # not all equal, not chunk-aligned
        path = root / f"bench-{i:02d}.bin"
        with path.open("wb") as fh:
            left = size
            while left:
                n = min(left, 1 << 20)
                fh.write(os.urandom(n))
                left -= n
        paths.append(path)
    return paths


def warm(paths: list[Path]) -> None:
    for path in paths:
        with path.open("rb", buffering=0) as fh:
            while fh.read(1 << 22):
                pass


def run_rhash(paths: list[Path]) -> tuple[float, dict[str, set[str]]]:
    start = time.perf_counter()
    out = subprocess.run(["rhash", *RHASH_ARGS, *map(str, paths)], check=True,
                         capture_output=True, text=True).stdout
    elapsed = time.perf_counter() - start
    digests = {}
    for line in out.splitlines():
        fields = line.split()
        digests[fields[0]] = {f.lower() for f in fields[1:]}
    return elapsed, digests


def run_library(paths: list[Path], workers: int | None) -> tuple[float, dict[str, set[str]]]:
    start = time.perf_counter()
    results = list(hash_files(paths, workers=workers))
    elapsed = time.perf_counter() - start
    digests = {}
    for path, result in results:
        if isinstance(result, Exception):
            raise result
        d = result.as_dict()
        digests[str(path)] = {str(d[k]).lower() for k in ("md5", "sha1", "sha256", "ed2k", "tth")}
    return elapsed, digests


def run_cli(paths: list[Path]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "netwarden", "hash", "--json", *map(str, paths)],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-mib", type=int, default=1024, help="bytes in all (MiB)")
    parser.add_argument("--files", type=int, default=8, help="number of files")
    parser.add_argument("--workers", type=int, default=None, help="threads (default: CPUs)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parse_args(parser, {"total_mib": 4, "files": 2})
    if shutil.which("rhash") is None:
        sys.exit("the baseline needs the rhash CLI: apt-get install -y rhash")

    root = Path(tempfile.mkdtemp(prefix="nw-bench-digest-", dir=args.dir))
    try:
        total = args.total_mib << 20
        paths = generate(root, total, args.files)
        size = sum(p.stat().st_size for p in paths)
        warm(paths)
        workers = args.workers or os.cpu_count() or 1
        print(f"{len(paths)} files, {size / 2**20:.0f} MiB, {os.cpu_count()} CPUs, "
              f"netwarden threads: {workers}, load average before: {os.getloadavg()[0]:.2f}")

        t_rhash, want = run_rhash(paths)
        t_lib, got = run_library(paths, workers)
        if got != want:
            sys.exit("MISMATCH: netwarden digests differ from rhash's")
        t_cli = run_cli(paths)
        t_one, got_one = run_library(paths, 1)
        if got_one != want:
            sys.exit("MISMATCH (1 thread): netwarden digests differ from rhash's")

        mib = size / 2**20
        print(f"{'what':38} {'seconds':>8} {'MiB/s':>8} {'ratio':>6}")
        rows = [
            ("rhash " + " ".join(RHASH_ARGS) + " (baseline)", t_rhash),
            (f"netwarden library, {workers} threads", t_lib),
            ("netwarden hash --json (CLI process)", t_cli),
            ("netwarden library, 1 thread", t_one),
        ]
        for label, t in rows:
            print(f"{label:38} {t:8.2f} {mib / t:8.0f} {t / t_rhash:6.2f}")
        print(f"digests equal rhash's for all {len(paths)} files")
        print(f"RATIO netwarden/rhash = {t_lib / t_rhash:.2f} (library), "
              f"{t_cli / t_rhash:.2f} (CLI); target <= 1.1; load average after: "
              f"{os.getloadavg()[0]:.2f}")
    finally:
        if args.keep:
            print(f"files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
