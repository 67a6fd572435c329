"""What a peer's pieces are checked against: the piece layout and hashes of an info dictionary.

Why not the bank's :class:`~netwarden.banks.formats.base.TorrentMeta`: a collector gets only the
bencoded ``info`` dictionary (:class:`~netwarden.collect.references.TorrentReference`), or
fetches it from peers (BEP 9) for a magnet-only entry, and v2 piece layers live outside ``info``
(they are then asked of the peer with a Merkle proof up to the file's ``pieces root``).

v1 (BEP 3): piece ``i`` is checked by SHA-1 against ``pieces[20i:20i+20]``.
v2 (BEP 52): each file starts on a piece boundary; a piece's hash is the root of a SHA-256
Merkle tree over its 16 KiB blocks, padded with zero leaves; a file of at most one piece has
its ``pieces root`` as that hash. Hybrid torrents are checked both ways when possible.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from netwarden.codec.bencode import BencodeError, decode
from netwarden.collect.bittorrent.messages import BLOCK

MAX_INFO_BYTES = 16 * 1024 * 1024
MAX_FILES = 100_000
ZERO = b"\0" * 32


class MetainfoError(ValueError):
    """An info dictionary we cannot verify pieces against; the text says why."""


@dataclass(frozen=True)
class V2File:
    path: str
    length: int
    pieces_root: bytes
    first_piece: int  # global piece index of the file's first piece
    piece_count: int


@dataclass(frozen=True)
class PieceSpec:
    """One piece: where it is, how long, and what it must hash to (when known from ``info``)."""

    index: int
    length: int
    sha1: bytes | None  # v1 hash
    v2_file: V2File | None  # v2: the file the piece belongs to
    v2_local: int  # v2: index of the piece inside its file
    v1_length: int = 0  # hybrid: the v1 piece may end with padding-file zeros beyond length


@dataclass(frozen=True)
class Metainfo:
    name: str
    piece_length: int
    piece_count: int
    total_length: int
    btih: str | None
    btmh: str | None
    pieces_v1: bytes
    files_v2: tuple[V2File, ...]

    @property
    def version(self) -> str:
        if self.btih and self.btmh:
            return "hybrid"
        return "v2" if self.btmh else "v1"

    @property
    def handshake_hash(self) -> bytes:
        """The 20 bytes put in the handshake: the v1 hash, else the truncated v2 hash."""
        return bytes.fromhex(self.btih) if self.btih else bytes.fromhex(self.btmh or "")[:20]

    def piece(self, index: int) -> PieceSpec:
        if not 0 <= index < self.piece_count:
            raise IndexError(index)
        sha1 = self.pieces_v1[index * 20:index * 20 + 20] if self.pieces_v1 else None
        v2_file, local = None, 0
        for f in self.files_v2:
            if f.first_piece <= index < f.first_piece + f.piece_count:
                v2_file, local = f, index - f.first_piece
                break
        if v2_file is not None:
            length = min(self.piece_length, v2_file.length - local * self.piece_length)
        else:
            length = min(self.piece_length, self.total_length - index * self.piece_length)
        v1_length = (min(self.piece_length, self.total_length - index * self.piece_length)
                     if self.pieces_v1 else length)
        return PieceSpec(index, length, sha1, v2_file, local, v1_length)


def parse_info(raw: bytes) -> Metainfo:
    """Parse a bencoded info dictionary (bounded); raises :class:`MetainfoError`."""
    if len(raw) > MAX_INFO_BYTES:
        raise MetainfoError(f"info dictionary of {len(raw)} bytes exceeds {MAX_INFO_BYTES}")
    try:
        info = decode(raw, max_size=MAX_INFO_BYTES, max_depth=64, strict=False)
    except BencodeError as exc:
        raise MetainfoError(f"info dictionary is not bencode: {exc}") from None
    if not isinstance(info, dict):
        raise MetainfoError("info is not a dictionary")
    name = info.get(b"name")
    name = name.decode("utf-8", "replace") if isinstance(name, bytes) else ""
    pl = info.get(b"piece length")
    if not isinstance(pl, int) or pl < 1 or pl > 1 << 30:
        raise MetainfoError("piece length missing or out of range")
    v2 = info.get(b"meta version") == 2
    pieces = info.get(b"pieces", b"")
    if not isinstance(pieces, bytes) or len(pieces) % 20:
        raise MetainfoError("pieces is not a string of 20-byte hashes")
    total_v1 = _v1_span(info) if pieces else 0
    files_v2: tuple[V2File, ...] = ()
    if v2:
        if pl < BLOCK or pl & (pl - 1):
            raise MetainfoError("v2 piece length must be a power of two ≥ 16 KiB")
        files_v2 = _v2_files(info.get(b"file tree"), pl)
    if not pieces and not files_v2:
        raise MetainfoError("neither v1 pieces nor a v2 file tree")
    if pieces:
        count = len(pieces) // 20
        if count != -(-total_v1 // pl):
            raise MetainfoError(f"{count} piece hashes for {total_v1} bytes")
        if files_v2 and sum(f.piece_count for f in files_v2) > count:
            raise MetainfoError("v2 file tree has more pieces than the v1 piece list")
    else:
        count = sum(f.piece_count for f in files_v2)
    total = total_v1 if pieces else sum(f.length for f in files_v2)
    return Metainfo(name=name, piece_length=pl, piece_count=count, total_length=total,
                    btih=hashlib.sha1(raw).hexdigest() if pieces else None,
                    btmh=hashlib.sha256(raw).hexdigest() if v2 else None,
                    pieces_v1=pieces, files_v2=files_v2)


def _v1_span(info: dict[bytes, Any]) -> int:
    if isinstance(info.get(b"length"), int):
        return max(0, info[b"length"])
    files = info.get(b"files")
    if not isinstance(files, list) or not files or len(files) > MAX_FILES:
        raise MetainfoError("neither length nor a usable files list")
    total = 0
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get(b"length"), int) or f[b"length"] < 0:
            raise MetainfoError("a files entry has no length")
        total += f[b"length"]
    return total


def _v2_files(tree: Any, piece_length: int) -> tuple[V2File, ...]:
    """Files of a v2 file tree in BEP 52 order, with their global piece ranges.

    In a hybrid torrent the v1 list has padding files so v1 and v2 piece indexes coincide; in a
    v2-only torrent pieces are numbered the same way (each file starts a new piece).
    """
    if not isinstance(tree, dict) or not tree:
        raise MetainfoError("file tree missing or empty")
    out: list[V2File] = []
    stack: list[tuple[str, Any]] = [(k.decode("utf-8", "replace"), tree[k])
                                    for k in sorted(tree, reverse=True)]
    piece = 0
    while stack:
        label, node = stack.pop()
        if not isinstance(node, dict) or not node:
            raise MetainfoError(f"file tree entry {label!r} is not a dictionary")
        leaf = node.get(b"")
        if leaf is None:
            stack.extend((f"{label}/{k.decode('utf-8', 'replace')}", node[k])
                         for k in sorted(node, reverse=True))
            continue
        if not isinstance(leaf, dict) or not isinstance(leaf.get(b"length"), int):
            raise MetainfoError(f"file {label!r} has no length")
        length = leaf[b"length"]
        if length <= 0:
            continue
        root = leaf.get(b"pieces root")
        if not isinstance(root, bytes) or len(root) != 32:
            raise MetainfoError(f"file {label!r} has no 32-byte pieces root")
        n = -(-length // piece_length)
        out.append(V2File(label, length, root, piece, n))
        piece += n
        if len(out) > MAX_FILES:
            raise MetainfoError(f"more than {MAX_FILES} files")
    return tuple(out)


# -- BEP 52 Merkle trees --------------------------------------------------------------------

def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def merkle_root(leaves: list[bytes], width: int) -> bytes:
    """Root of a tree over ``leaves`` padded with zero leaves to ``width`` (a power of two)."""
    if width < 1 or width & (width - 1) or len(leaves) > width:
        raise ValueError("width must be a power of two ≥ the number of leaves")
    layer = leaves + [ZERO] * (width - len(leaves))
    while len(layer) > 1:
        layer = [_h(layer[i] + layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


def pad_hash(piece_length: int) -> bytes:
    """Hash of a piece that is all padding: the root of piece_length/16 KiB zero leaves."""
    return merkle_root([], piece_length // BLOCK)


def next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def v2_piece_hash(block_hashes: list[bytes], piece_length: int, file_length: int) -> bytes:
    """The v2 hash of a piece from its blocks' SHA-256s (the file root for a one-piece file)."""
    if file_length <= piece_length:
        return merkle_root(block_hashes, next_pow2(-(-file_length // BLOCK)))
    return merkle_root(block_hashes, piece_length // BLOCK)


def verify_layer_proof(piece_hashes: list[bytes], index: int, uncles: list[bytes],
                       root: bytes) -> bool:
    """Check hashes of the piece layer ``[index, index+len)`` against the file's root.

    ``uncles`` are the sibling hashes from the subtree root up to the file root (BEP 52 hash
    messages, proof layers). The piece layer itself is padded with :func:`pad_hash` values,
    which the uncles already include.
    """
    n = len(piece_hashes)
    if n < 1 or n & (n - 1) or index % n:
        return False
    node = merkle_root(piece_hashes, n)
    pos = index // n
    for uncle in uncles:
        node = _h(uncle + node) if pos & 1 else _h(node + uncle)
        pos >>= 1
    return pos == 0 and node == root
