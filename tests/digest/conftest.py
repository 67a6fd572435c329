"""Fixtures for the digest engine tests: synthetic files and rhash's answers for them."""

from __future__ import annotations

from pathlib import Path

import pytest
from digest_helpers import KNOWN_ANSWER_SIZES, rhash_digests, synthetic


@pytest.fixture(scope="session")
def known_files(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """One synthetic file per known-answer size."""
    root = tmp_path_factory.mktemp("digest-known")
    files = {}
    for size in KNOWN_ANSWER_SIZES:
        path = root / f"random-{size}.bin"
        path.write_bytes(synthetic(size))
        files[size] = path
    return files


@pytest.fixture(scope="session")
def rhash_answers(known_files: dict[int, Path]) -> dict[int, dict[str, str | int]]:
    """rhash's digests of every known-answer file, computed once per session."""
    sizes = list(known_files)
    rows = rhash_digests([known_files[s] for s in sizes])
    return dict(zip(sizes, rows, strict=True))
