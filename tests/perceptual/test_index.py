"""The PDQ index answers exactly what brute force answers, on Meta's reference vectors and on random
banks, through adds, removes and a save/load round trip."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from netwarden.banks.pdq_index import PdqIndex, brute_force, hex_to_array

# Meta's PDQ regression inputs, committed with their licence (tests/data/pdq/PROVENANCE.md)
VECTORS = Path(__file__).resolve().parents[1] / "data" / "pdq"


def _near(rng: np.random.Generator, base: np.ndarray, max_bits: int) -> np.ndarray:
    out = base.copy()
    for row in out:
        for bit in rng.choice(256, int(rng.integers(0, max_bits + 1)), replace=False):
            row[bit // 8] ^= 1 << (bit % 8)
    return out


@pytest.mark.parametrize("radius", [0, 10, 31, 47, 63])
def test_reference_vectors_equal_brute_force(radius: int) -> None:
    haystack = hex_to_array((VECTORS / "haystack.txt").read_text().split())
    needles = hex_to_array((VECTORS / "needles.txt").read_text().split())
    assert (len(haystack), len(needles)) == (1350, 100)
    got = PdqIndex.build(haystack).search(needles, radius).triples()
    assert set(got) == set(brute_force(haystack, needles, radius))
    assert len(got) == len(set(got))
    if radius >= 31:  # the needles are near-duplicates of haystack rows: the test is not vacuous
        assert got


def test_reference_vectors_are_the_documented_upstream_files() -> None:
    """The committed vectors are byte-identical to what PROVENANCE.md says was copied."""
    provenance = (VECTORS / "PROVENANCE.md").read_text()
    for name in ("needles.txt", "haystack.txt"):
        digest = hashlib.sha256((VECTORS / name).read_bytes()).hexdigest()
        assert f"{digest}  {name}" in provenance
    assert "Redistribution and use in source and binary forms" in (VECTORS / "LICENSE").read_text()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_banks_equal_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bank = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    queries = np.concatenate([_near(rng, bank[rng.integers(0, 5000, 200)], 45),
                              rng.integers(0, 256, (50, 32), dtype=np.uint8)])
    index = PdqIndex.build(bank)
    for radius in (31, 40):
        assert set(index.search(queries, radius).triples()) == set(
            brute_force(bank, queries, radius))


def test_add_remove_save_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    first = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    more = rng.integers(0, 256, (500, 32), dtype=np.uint8)
    index = PdqIndex.build(first, np.arange(3000) + 10_000)
    index.add(more, np.arange(500) + 50_000)
    queries = np.concatenate([_near(rng, first[:100], 20), _near(rng, more[:100], 20)])
    found = {(q, i) for q, i, _ in index.search(queries, 31).triples()}
    assert {(q, 10_000 + q) for q in range(100)} <= found
    assert {(100 + q, 50_000 + q) for q in range(100)} <= found
    assert index.remove([10_000, 50_000, 50_001, 99]) == 3
    found = {i for _, i, _ in index.search(queries, 31).triples()}
    assert not found & {10_000, 50_000, 50_001}
    assert len(index) == 3500 - 3
    index.save(tmp_path / "idx")
    loaded = PdqIndex.load(tmp_path / "idx")
    assert len(loaded) == 3497
    assert loaded.search(queries, 31).triples() == index.search(queries, 31).triples()
    everything = np.concatenate([first, more])
    ids = np.concatenate([np.arange(3000) + 10_000, np.arange(500) + 50_000])
    keep = ~np.isin(ids, [10_000, 50_000, 50_001])
    expected = {(q, int(ids[keep][p]), d) for q, p, d in
                brute_force(everything[keep], queries, 31)}
    assert set(loaded.search(queries, 31).triples()) == expected


def test_bad_radius_and_corrupt_save(tmp_path: Path) -> None:
    index = PdqIndex.build(np.zeros((1, 32), dtype=np.uint8))
    with pytest.raises(ValueError):
        index.search(np.zeros((1, 32), dtype=np.uint8), 200)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "meta.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError):
        PdqIndex.load(tmp_path / "bad")
