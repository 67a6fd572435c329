"""Helpers for the digest engine tests: synthetic bytes and the real ``rhash`` CLI.

A module with a unique name (not ``conftest``) so that test modules can import it without
clashing with other test directories' conftest files.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

# The sizes the issue asks for: around TTH leaves (1024) and ED2K chunks (9,728,000), plus a
# multi-chunk file that is not a multiple of our 1 MiB read size.
KNOWN_ANSWER_SIZES = (0, 1, 1023, 1024, 1025, 9_727_999, 9_728_000, 9_728_001, 25_000_037)

RHASH_FORMAT = "%{md5} %{sha1} %{sha-256} %{ed2k} %{tth} %s\\n"


def synthetic(size: int, seed: int | None = None) -> bytes:
    """Deterministic pseudo-random bytes (no real content anywhere in the tests)."""
    return random.Random(size if seed is None else seed).randbytes(size)


def rhash_binary() -> str:
    path = shutil.which("rhash")
    if path is None:
        pytest.fail("the known-answer tests need the rhash CLI: apt-get install -y rhash")
    return path


def rhash_digests(paths: list[Path]) -> list[dict[str, str | int]]:
    """What the real ``rhash`` CLI prints for each path (its own output, parsed)."""
    out = subprocess.run([rhash_binary(), "--printf", RHASH_FORMAT, *map(str, paths)],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    rows = []
    for line in out.splitlines():
        md5, sha1, sha256, ed2k, tth, size = line.split()
        rows.append({"size": int(size), "md5": md5, "sha1": sha1, "sha256": sha256,
                     "ed2k": ed2k, "tth": tth})
    assert len(rows) == len(paths), out
    return rows
