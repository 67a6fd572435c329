"""Measurements the benchmarks share."""

from __future__ import annotations


def rss() -> int:
    """This process's resident set size now, in bytes (Linux /proc)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0
