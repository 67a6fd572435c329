"""Benchmarks cannot rot: every ``benchmarks/bench_*.py`` runs with ``--quick`` (tiny sizes,
seconds each) and must exit 0 and still print its comparison line against its baseline.

A quick run measures nothing; it proves that the script, its baseline and the APIs it calls
still work, so that the next person who runs it for real gets figures instead of a traceback.
A new benchmark is picked up by the glob: it needs a ``--quick`` (``benchmarks/_measure.py``
``parse_args``) and, when its comparison line does not contain "ratio" and a number, an entry in
``RATIO_LINES``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
# bench_ledger.py's --quick has its own test with phase checks: tests/ledger/test_bench_quick.py
PENDING = {"bench_ledger.py"}
# The line(s) each benchmark must still print: its comparison with the baseline.
RATIO_LINES: dict[str, list[str]] = {
    "bench_attribution.py": [r"ratio arrays/SQLite only: [\d.,]+x", r"ratio indexed/naive: "],
    "bench_bank_lookup.py": [r"lookup_bulk / set lookups/s\s+[\d.]+",
                             r"netwarden disk / naive disk\s+[\d.]+"],
    "bench_bittorrent.py": [r"median ratio netwarden/libtorrent: [\d.]+"],
    "bench_campaign.py": [r"speed-up Ray 2 vs 1 workers, one core each:\s+[\d.]+x",
                          r"vs local baseline:\s+[\d.]+x",
                          r"same served findings in every run, equal to the planted copies: True"],
    "bench_crawl.py": [r"ratio netwarden / \(lftp \+ rhash\) = [\d.]+",
                       r"digests agree \(sha256 \+ tth, every file\): True"],
    "bench_dc_smb.py": [r"baseline \(decompress\+parse only.*ratio [\d.]+",
                        r"SMB: .*ratio [\d.]+"],
    "bench_discovery.py": [r"bytes fetched, examine all / default: [\d.]+x"],
    "bench_digest.py": [r"RATIO netwarden/rhash = [\d.]+ \(library\)"],
    "bench_digest_rss.py": [r"ratio netwarden/rhash peak RSS = [\d.]+"],
    "bench_pdq.py": [r"RATIO index batched: netwarden / threatexchange = [\d.]+x",
                     r"RATIO hashing: netwarden / threatexchange Python = [\d.]+x"],
    "bench_web.py": [r"p95 PostgreSQL / SQLite baseline: [\d.]+x"],
    "bench_ledger_layouts.py": [r"ratio\s+[\d.]+x"],
}
DEFAULT_LINES = [r"(?i)ratio.*\d"]
# Further modes of one benchmark that take another code path, each run --quick as well.
VARIANTS: dict[str, list[list[str]]] = {"bench_discovery.py": [["--source", "dht"]]}


def _benchmarks() -> list[str]:
    return sorted(p.name for p in BENCHMARKS.glob("bench_*.py") if p.name not in PENDING)


def test_every_benchmark_is_run_here() -> None:
    """The table names only benchmarks that exist (a renamed one is not silently dropped)."""
    assert set(RATIO_LINES) <= set(_benchmarks()), set(RATIO_LINES) - set(_benchmarks())
    assert len(_benchmarks()) >= 10


def _runs() -> list[tuple[str, list[str]]]:
    return [(n, []) for n in _benchmarks()] + [
        (n, v) for n, variants in VARIANTS.items() for v in variants]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "extra"), _runs(),
                         ids=[" ".join([n, *v]) for n, v in _runs()])
def test_quick_mode_runs_and_prints_its_ratio(name: str, extra: list[str]) -> None:
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                       os.environ.get("PYTHONPATH")]))}
    try:
        result = subprocess.run([sys.executable, str(BENCHMARKS / name), "--quick", *extra],
                                cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=420,
                                stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{name} --quick did not finish in {exc.timeout} s:\n{exc.stdout}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert result.stdout.startswith("QUICK MODE"), result.stdout[:500]
    for pattern in RATIO_LINES.get(name, DEFAULT_LINES):
        assert re.search(pattern, result.stdout), f"{name}: no line matching {pattern!r}:\n" + \
            result.stdout[-3000:]
