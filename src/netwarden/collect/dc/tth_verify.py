"""Verify a downloaded segment against a file's TTH leaves and root (THEX, Tiger tree).

Why this proves distribution: the leaves (``GET tthl``) are first hashed up to the root and
compared with the bank's TTH root, so they are authentic; then each block of the received
segment is hashed as a Tiger tree of 1024-byte leaves and compared with its leaf. A segment
aligned to the leaf granularity hashes exactly to its leaf, because the subtree over an
aligned run of 2^k leaves is the tree of those bytes alone. Bytes pass through librhash and
are dropped.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from netwarden.digest import _librhash as rh

LEAF = 1024  # THEX base leaf size in DC
HASH = 24  # Tiger digest size


class TthError(ValueError):
    """Leaves or a segment do not match: the text says which and how."""


def tiger(data: bytes) -> bytes:
    return rh.digest(rh.TIGER, data)


def tth_of(data: bytes) -> bytes:
    """Raw TTH root of ``data`` (librhash's THEX implementation)."""
    return rh.digest(rh.TTH, data)


def root_b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def parse_root(text: str) -> bytes:
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:
        raise TthError(f"TTH root {text[:48]!r} is not base32") from None
    if len(raw) != HASH:
        raise TthError(f"TTH root {text[:48]!r} is not 24 bytes")
    return raw


def split_leaves(blob: bytes, max_leaves: int = 1 << 20) -> list[bytes]:
    """The 24-byte hashes of a ``tthl`` body; :class:`TthError` when its length is wrong."""
    if not blob or len(blob) % HASH:
        raise TthError(f"leaf data of {len(blob)} bytes is not a whole number of 24-byte "
                       "hashes")
    if len(blob) // HASH > max_leaves:
        raise TthError(f"more than {max_leaves} leaves")
    return [blob[i:i + HASH] for i in range(0, len(blob), HASH)]


def merkle_root(leaves: list[bytes]) -> bytes:
    """Root of a THEX tree over ``leaves`` (an odd node is promoted unchanged)."""
    if not leaves:
        raise TthError("no leaves")
    level = leaves
    while len(level) > 1:
        nxt = [tiger(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def block_size(file_size: int, n_leaves: int) -> int:
    """The byte span of one leaf: the smallest 1024·2^k giving exactly ``n_leaves`` leaves."""
    if file_size < 0 or n_leaves <= 0:
        raise TthError("bad file size or leaf count")
    size = LEAF
    while True:
        count = max(1, -(-file_size // size))
        if count == n_leaves:
            return size
        if count < n_leaves:
            raise TthError(f"{n_leaves} leaves do not fit a file of {file_size} bytes")
        size *= 2
        if size > 1 << 62:
            raise TthError("no leaf size fits")


@dataclass(frozen=True)
class LeafSet:
    """Authentic leaves (they hash to the root) and the byte span each covers."""

    root: str
    file_size: int
    leaves: tuple[bytes, ...]
    block: int

    def segment(self, want: int) -> tuple[int, int]:
        """``(start, length)`` of a leaf-aligned segment of about ``want`` bytes (≥ one leaf).

        The segment starts at the first leaf: the point is to prove that this peer serves
        bytes of the file, and one aligned run is as good as any.
        """
        blocks = max(1, want // self.block)
        length = min(self.file_size, blocks * self.block)
        return 0, length


def check_leaves(root: str, file_size: int, blob: bytes) -> LeafSet:
    """Check that ``blob`` (a ``tthl`` body) hashes to ``root`` for a file of ``file_size``."""
    leaves = split_leaves(blob)
    got = merkle_root(leaves)
    if got != parse_root(root):
        raise TthError(f"the {len(leaves)} leaves hash to {root_b32(got)}, not to the "
                       f"TTH root {root}: wrong leaf stream")
    return LeafSet(root, file_size, tuple(leaves), block_size(file_size, len(leaves)))


class SegmentVerifier:
    """Feed a segment's bytes as they arrive; blocks are checked and dropped as they complete.

    Memory is one block (the leaf span, at most a few MiB for large files).
    """

    def __init__(self, leaves: LeafSet, start: int, length: int) -> None:
        if start % leaves.block or start < 0 or start + length > leaves.file_size or length <= 0:
            raise TthError(f"segment {start}+{length} is not aligned to the leaf span "
                           f"{leaves.block} inside {leaves.file_size} bytes")
        if (start + length) % leaves.block and start + length != leaves.file_size:
            raise TthError("segment does not end on a leaf boundary or at the end of file")
        self.leaves, self.index, self.remaining = leaves, start // leaves.block, length
        self.buffer = bytearray()
        self.blocks_ok = 0

    def update(self, data: bytes | memoryview) -> None:
        if len(data) > self.remaining:
            raise TthError("peer sent more bytes than the segment holds")
        self.remaining -= len(data)
        self.buffer += data
        block = self.leaves.block
        while len(self.buffer) >= block:
            self._check(bytes(self.buffer[:block]))
            del self.buffer[:block]
        if self.remaining == 0 and self.buffer:
            self._check(bytes(self.buffer))
            self.buffer.clear()

    def _check(self, data: bytes) -> None:
        want = self.leaves.leaves[self.index]
        got = tth_of(data)
        if got != want:
            raise TthError(f"block {self.index} ({len(data)} bytes) hashes to {root_b32(got)}, "
                           f"its leaf is {root_b32(want)}: bytes do not match the file")
        self.index += 1
        self.blocks_ok += 1

    def finish(self) -> int:
        """Blocks verified; :class:`TthError` when the segment is incomplete."""
        if self.remaining:
            raise TthError(f"segment ended {self.remaining} bytes short")
        return self.blocks_ok
