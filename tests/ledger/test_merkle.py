"""RFC 6962/9162 hashing and proofs: the shared vectors, plus generated trees."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest

from netwarden.ledger import merkle
from netwarden.ledger.merkle import (
    ProofError,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# transparency-dev/merkle test vectors, copied with their LICENSE (tests/data/rfc6962/README.md)
VECTORS = Path(__file__).resolve().parents[1] / "data" / "rfc6962"


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(value: list[str] | None) -> list[bytes] | None:
    return None if value is None else [_b64(p) for p in value]


def _vectors(kind: str) -> list[Path]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert files, f"no {kind} vectors under {VECTORS}"
    return files


@pytest.mark.parametrize("path", _vectors("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_inclusion_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    args = (_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], _proof(v["proof"]), _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        assert verify_inclusion(*args) is True


@pytest.mark.parametrize("path", _vectors("consistency"),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_consistency_vectors(path: Path) -> None:
    v = json.loads(path.read_text())
    args = (v["size1"], v["size2"], _proof(v["proof"]), _b64(v["root1"]), _b64(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        assert verify_consistency(*args) is True


def _reference_root(hashes: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 §2.1, recursively: the oracle for the iterative code."""
    if not hashes:
        return merkle.EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = merkle.largest_power_of_two_below(len(hashes))
    return merkle.node_hash(_reference_root(hashes[:k]), _reference_root(hashes[k:]))


def _proof_from(hashes: list[bytes], ranges: list[tuple[int, int]]) -> list[bytes]:
    return [_reference_root(hashes[a:b]) for a, b in ranges]


def test_generated_proofs_verify_and_mutations_fail() -> None:
    rng = random.Random(7)
    hashes = [leaf_hash(rng.randbytes(8)) for _ in range(70)]
    for size in range(1, 71):
        root = _reference_root(hashes[:size])
        assert root_of(hashes[:size]) == root
        for index in range(size):
            proof = _proof_from(hashes, inclusion_ranges(index, size))
            assert verify_inclusion(hashes[index], index, size, proof, root)
            with pytest.raises(merkle.WrongProofSizeError):
                verify_inclusion(hashes[index], index, size, [*proof, root], root)
            if proof:
                with pytest.raises(merkle.WrongProofSizeError):
                    verify_inclusion(hashes[index], index, size, proof[:-1], root)
                bad = [bytes(32), *proof[1:]]
                with pytest.raises(merkle.RootMismatchError):
                    verify_inclusion(hashes[index], index, size, bad, root)
        for size1 in range(1, size + 1):
            root1 = _reference_root(hashes[:size1])
            proof = _proof_from(hashes, consistency_ranges(size1, size)) if size1 < size else []
            assert verify_consistency(size1, size, proof, root1, root)
            if size1 < size:
                with pytest.raises(merkle.WrongProofSizeError):
                    verify_consistency(size1, size, [*proof, root], root1, root)
                with pytest.raises(merkle.RootMismatchError):
                    verify_consistency(size1, size, proof, root, root1 if size1 > 1 else root)
    with pytest.raises(merkle.SizeOrderError):
        verify_consistency(5, 3, [], hashes[0], hashes[1])


def test_frontier_emits_every_perfect_subtree() -> None:
    hashes = [leaf_hash(bytes([i])) for i in range(37)]
    frontier = merkle.Frontier()
    emitted = {}
    for h in hashes:
        for level, index, value in frontier.append(h):
            emitted[(level, index)] = value
    expected = {
        (level, i): _reference_root(hashes[i << level:(i + 1) << level])
        for level in range(1, 6) for i in range(37 >> level)
    }
    assert emitted == expected
    assert frontier.root() == _reference_root(hashes)
    assert merkle.frontier_nodes(37) == [(5, 0), (2, 8), (0, 36)]


@pytest.mark.parametrize("start", [0, 1, 5, 8, 13])
def test_frontier_extend_equals_appends(start: int) -> None:
    hashes = [merkle.leaf_hash(bytes([i])) for i in range(start + 40)]
    one, many = merkle.Frontier(), merkle.Frontier()
    for h in hashes[:start]:
        one.append(h)
        many.append(h)
    emitted = [node for h in hashes[start:] for node in one.append(h)]
    assert many.extend(hashes[start:]) == emitted
    assert (many.size, many.hashes, many.root()) == (one.size, one.hashes, one.root())
    assert many.root() == merkle.root_of(hashes)


@pytest.mark.parametrize("start", [0, 1, 5, 255, 256, 1000, 4095])
@pytest.mark.parametrize("count", [1, 2, 3, 7, 256, 1000])
def test_block_growth_is_the_same_tree_as_leaf_by_leaf(start: int, count: int) -> None:
    """Appends build subtrees in aligned blocks of 256 (inner levels kept in the block's row,
    the rest as node rows); together they must be exactly the subtrees (and the frontier)
    that merging leaf by leaf makes."""
    from netwarden.ledger.storage import BLOCK, HEIGHT, inner_offset, layout

    rng = random.Random(start * 7919 + count)
    first = [leaf_hash(rng.randbytes(6)) for _ in range(start)]
    more = [leaf_hash(rng.randbytes(6)) for _ in range(count)]
    by_leaf, by_block = merkle.Frontier(), merkle.Frontier()
    expected = set(by_leaf.extend(first)) | set(by_leaf.extend(more))
    made: set[tuple[int, int, bytes]] = set()
    tail: list[tuple[bytes, bytes]] = []
    for hashes in (first, more):
        bundles, nodes, rows, folded = layout(by_block, [b"e"] * len(hashes), hashes,
                                              lambda: list(tail))  # noqa: B023
        if folded:  # the tail's subtrees below level 8 now live in the new bundle
            made = {n for n in made if n[0] >= HEIGHT or n[1] << n[0] < len(first) - len(tail)}
            tail = []
        tail += [(h, e) for _, h, e in rows]
        made |= set(nodes)
        for b, _, inner, _ in bundles:
            for level in range(1, HEIGHT):
                per = BLOCK >> level
                made |= {(level, b * per + j, inner[inner_offset(level) + 32 * j:
                                                    inner_offset(level) + 32 * j + 32])
                         for j in range(per)}
    assert made == expected
    assert (by_leaf.size, by_leaf.hashes) == (by_block.size, by_block.hashes)
    assert by_block.root() == _reference_root(first + more)


def test_extend_perfect_refuses_unaligned_blocks() -> None:
    f = merkle.Frontier()
    f.append(leaf_hash(b"a"))
    with pytest.raises(ValueError, match="aligned perfect block"):
        f.extend_perfect([leaf_hash(b"b"), leaf_hash(b"c")])
    with pytest.raises(ValueError, match="aligned perfect block"):
        f.extend_perfect([leaf_hash(b"b")] * 3)
