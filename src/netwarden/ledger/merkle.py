"""Pure RFC 6962 / RFC 9162 Merkle tree hashing, proof layout and proof verification.

Nothing here touches storage: the ledger asks :func:`inclusion_ranges` and
:func:`consistency_ranges` *which* subtrees a proof needs, reads their hashes from stored
nodes (:func:`perfect_decomposition` tells which stored nodes make up a subtree), and the
verifiers check proofs exactly as RFC 9162 §2.1.3.2 / §2.1.4.2 describe, with the edge cases
(empty trees, wrong proof lengths, garbage hashes) handled like transparency-dev/merkle, whose
test vectors the test-suite runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof (or its inputs) does not prove what it claims. Subclasses name the condition."""


class BadHashSizeError(ProofError):
    """A leaf hash, root or proof element is not a 32-byte SHA-256 value."""


class IndexOutOfRangeError(ProofError):
    """The leaf index is not inside the tree (index >= size), or the tree is empty."""


class WrongProofSizeError(ProofError):
    """The proof has more or fewer hashes than the RFC 9162 algorithm consumes."""


class RootMismatchError(ProofError):
    """The root recomputed from the proof is not the expected root."""


class SizeOrderError(ProofError):
    """A consistency proof was asked from a larger tree to a smaller one."""


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def leaf_hashes(entries: Iterable[bytes]) -> list[bytes]:
    """:func:`leaf_hash` of each entry, in one list comprehension with the hash bound locally
    (a function call per entry was a fifth of a batch append)."""
    sha256 = hashlib.sha256
    return [sha256(b"\x00" + e).digest() for e in entries]


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The split point k of RFC 6962: the largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(hashes: Sequence[bytes]) -> bytes:
    """Root of a tree whose leaf hashes are given (in memory; for tests and small trees)."""
    frontier = Frontier()
    for h in hashes:
        frontier.append(h)
    return frontier.root()


class Frontier:
    """The right edge of a growing tree: one perfect-subtree hash per set bit of the size.

    Appending a leaf merges equal-sized subtrees like a binary counter; every merge completes a
    perfect, aligned subtree, returned as ``(level, index, hash)`` so storage can keep it and
    later proofs read it instead of rebuilding anything.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self.size = size
        self.hashes = list(hashes)
        if len(self.hashes) != size.bit_count():
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} hashes")

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the perfect subtrees (level >= 1) this completes."""
        completed: list[tuple[int, int, bytes]] = []
        n = self.size
        h = leaf
        level = 0
        while n & 1:
            h = node_hash(self.hashes.pop(), h)
            level += 1
            n >>= 1
            completed.append((level, self.size >> level, h))
        self.hashes.append(h)
        self.size += 1
        return completed

    def extend(self, leaves: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        """:meth:`append` each leaf hash in order; return every completed subtree.

        The same binary-counter merge as :meth:`append`, in one loop with the hash function
        bound locally: a batch append spends a third of its Python time here.
        """
        completed: list[tuple[int, int, bytes]] = []
        add = completed.append
        hashes = self.hashes
        push, pop = hashes.append, hashes.pop
        sha256 = hashlib.sha256
        size = self.size
        for h in leaves:
            n = size
            level = 0
            while n & 1:
                h = sha256(b"\x01" + pop() + h).digest()
                level += 1
                n >>= 1
                add((level, size >> level, h))
            push(h)
            size += 1
        self.size = size
        return completed

    def extend_perfect(self, leaves: Sequence[bytes]) -> tuple[list[list[bytes]],
                                                               list[tuple[int, int, bytes]]]:
        """Append an aligned perfect block of 2^k leaf hashes (``size`` a multiple of 2^k).

        The same tree as :meth:`extend`, built level by level with one list comprehension per
        level instead of a Python loop per leaf (about twice as fast). Returns the block's
        node hashes per level 1..k (level ``l`` starts at index ``size_before >> l``) and the
        subtrees above the block that the merge completes, as ``(level, index, hash)``.
        """
        count = len(leaves)
        k = count.bit_length() - 1
        if count == 0 or count != 1 << k or self.size & (count - 1):
            raise ValueError(f"{count} leaves are not an aligned perfect block at {self.size}")
        sha256 = hashlib.sha256
        levels: list[list[bytes]] = []
        row = leaves
        while len(row) > 1:
            row = [sha256(b"\x01" + a + b).digest() for a, b in zip(row[0::2], row[1::2],
                                                                      strict=True)]
            levels.append(row)
        h = row[0]
        completed: list[tuple[int, int, bytes]] = []
        n = self.size >> k
        level = k
        while n & 1:
            h = node_hash(self.hashes.pop(), h)
            level += 1
            n >>= 1
            completed.append((level, self.size >> level, h))
        self.hashes.append(h)
        self.size += count
        return levels, completed

    def root(self) -> bytes:
        """The RFC 6962 root of the current tree (SHA-256 of nothing when empty)."""
        if not self.hashes:
            return EMPTY_ROOT
        h = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            h = node_hash(left, h)
        return h

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)


def frontier_nodes(size: int) -> list[tuple[int, int]]:
    """The stored nodes ``(level, index)`` that make up the frontier of a tree of ``size``."""
    nodes = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def perfect_decomposition(start: int, end: int) -> list[tuple[int, int]]:
    """Split the subtree ``[start, end)`` of an RFC 6962 tree into aligned perfect subtrees.

    Returns ``(level, index)`` pairs left to right; the subtree's hash is the right fold
    ``H(p0, H(p1, ... pk))`` of their hashes (see :func:`fold_right`).
    """
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start & ((1 << level) - 1):  # not aligned: only for ranges outside a real tree
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Hash of a subtree from its perfect parts, left to right."""
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Subtrees ``[start, end)`` whose hashes form the inclusion proof of ``index`` (RFC 9162
    PATH(m, D[n])), in proof order (leaf side first)."""
    if not 0 <= index < size:
        raise IndexOutOfRangeError(f"index {index} is not inside a tree of size {size}")
    path = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = largest_power_of_two_below(hi - lo)
        if index < lo + k:
            path.append((lo + k, hi))
            hi = lo + k
        else:
            path.append((lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Subtrees whose hashes form the consistency proof from ``size1`` to ``size2`` (RFC 9162
    SUBPROOF(m, D[n], true)), in proof order."""
    if not 0 < size1 <= size2:
        raise SizeOrderError(f"no consistency proof from size {size1} to size {size2}")
    out = []
    lo, hi, m, whole = 0, size2, size1, True
    while True:
        if m == hi - lo:
            if not whole:
                out.append((lo, hi))
            break
        k = largest_power_of_two_below(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            m -= k
            whole = False
    out.reverse()
    return out


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise BadHashSizeError(f"{what} must be {HASH_SIZE} bytes, got {size}")


def _check_proof(proof: Sequence[bytes] | None) -> list[bytes]:
    proof = list(proof or [])
    for i, h in enumerate(proof):
        _check_hash(h, f"proof hash {i}")
    return proof


def _decomp(index: int, size: int) -> tuple[int, int]:
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def root_from_inclusion_proof(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes] | None
) -> bytes:
    """The root an inclusion proof leads to; raises :class:`ProofError` on malformed input."""
    if size <= 0 or not 0 <= index < size:
        raise IndexOutOfRangeError(f"leaf index {index} is not inside a tree of size {size}")
    _check_hash(leaf, "leaf hash")
    proof = _check_proof(proof)
    inner, border = _decomp(index, size)
    if len(proof) != inner + border:
        raise WrongProofSizeError(
            f"inclusion proof has {len(proof)} hashes, index {index} in size {size} needs "
            f"{inner + border}")
    h = leaf
    for i, p in enumerate(proof[:inner]):
        h = node_hash(h, p) if (index >> i) & 1 == 0 else node_hash(p, h)
    for p in proof[inner:]:
        h = node_hash(p, h)
    return h


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes] | None, root: bytes
) -> bool:
    """True if ``proof`` shows leaf ``leaf_hash`` at ``index`` in the tree of ``size`` with
    ``root``; otherwise raises a :class:`ProofError` subclass naming the broken condition."""
    _check_hash(root, "root")
    got = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if got != root:
        raise RootMismatchError(
            f"inclusion proof leads to root {got.hex()}, expected {bytes(root).hex()}")
    return True


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes] | None, root1: bytes, root2: bytes
) -> bool:
    """True if ``proof`` shows the tree (``size1``, ``root1``) is a prefix of (``size2``,
    ``root2``); otherwise raises a :class:`ProofError` subclass naming the broken condition.

    As in transparency-dev/merkle: a proof from an empty tree is meaningless (any tree extends
    it) and must itself be empty; equal sizes need an empty proof and equal roots.
    """
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    proof = _check_proof(proof)
    if size1 < 0 or size2 < size1:
        raise SizeOrderError(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == size2:
        if proof:
            raise WrongProofSizeError(f"size1 = size2 = {size1} needs an empty proof, "
                                      f"got {len(proof)} hashes")
        if root1 != root2:
            raise RootMismatchError("size1 = size2 but the roots differ")
        return True
    if size1 == 0:
        if proof:
            raise WrongProofSizeError(f"a proof from an empty tree must be empty, got "
                                      f"{len(proof)} hashes")
        return True
    if not proof:
        raise WrongProofSizeError(f"empty consistency proof from size {size1} to {size2}")
    inner, border = _decomp(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    if size1 == 1 << shift:
        seed, start = root1, 0
    else:
        seed, start = proof[0], 1
    if len(proof) != start + inner + border:
        raise WrongProofSizeError(
            f"consistency proof has {len(proof)} hashes, size {size1} to {size2} needs "
            f"{start + inner + border}")
    proof = proof[start:]
    mask = (size1 - 1) >> shift
    h1 = seed
    h2 = seed
    for i, p in enumerate(proof[:inner]):
        if (mask >> i) & 1:
            h1 = node_hash(p, h1)
            h2 = node_hash(p, h2)
        else:
            h2 = node_hash(h2, p)
    for p in proof[inner:]:
        h1 = node_hash(p, h1)
        h2 = node_hash(p, h2)
    if h1 != root1:
        raise RootMismatchError(f"consistency proof leads to root1 {h1.hex()}, expected "
                                f"{bytes(root1).hex()}")
    if h2 != root2:
        raise RootMismatchError(f"consistency proof leads to root2 {h2.hex()}, expected "
                                f"{bytes(root2).hex()}")
    return True
