"""Measurements and the argument parsing (``--quick``) the benchmarks share."""

from __future__ import annotations

import argparse
from typing import Any


def rss() -> int:
    """This process's resident set size now, in bytes (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def parse_args(parser: argparse.ArgumentParser, quick: dict[str, Any]) -> argparse.Namespace:
    """Parse the benchmark's arguments, adding ``--quick``.

    ``--quick`` swaps the defaults for the tiny sizes in ``quick`` (an option given explicitly
    still wins) so that the whole benchmark, baselines and ratio lines included, runs in seconds.
    Why: a benchmark nobody runs rots (an API changes under it and nobody notices);
    ``tests/test_benchmarks_quick.py`` runs every ``--quick`` in CI. Its figures measure
    nothing at those sizes, and the first line it prints says so.
    """
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, runs in seconds: checks that the benchmark still "
                             "works (CI); the figures it prints then measure nothing")
    known, _ = parser.parse_known_args()
    if known.quick:
        parser.set_defaults(**quick)
        print("QUICK MODE: tiny sizes to check that the benchmark runs; the figures below "
              "are not measurements", flush=True)
    return parser.parse_args()
