"""`benchmarks/bench_ledger.py --quick` runs as committed (it once broke on a stale import and
nobody noticed until someone wanted figures)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_bench_ledger_quick_runs() -> None:
    pytest.importorskip("pymerkle", reason="the bench extra (pymerkle==7.0.0) is not installed")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_ledger.py"),
                          "--quick"], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    for phase in ("a. batch append", "d. single durable", "e. inclusion proof",
                  "f. verify", "g. publish", "verify from tiles", "target batch append"):
        assert phase in out.stdout, out.stdout
    # every target line is printed with its verdict
    assert out.stdout.count("(quick run: not a measurement)") == 4
    assert "not a target: batch append + index catch-up" in out.stdout
