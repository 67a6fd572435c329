"""``torrent``: BitTorrent metainfo files, v1 (BEP 3), v2 and hybrid v1+v2 (BEP 52).

The argument is one ``.torrent`` file or a directory searched (recursively, sorted) for them.
Each torrent becomes one reference: its v1 infohash (``btih``, SHA-1 of the bencoded info
dictionary exactly as in the file) and/or v2 infohash (``btmh``, SHA-256 of it), with the name,
piece length, v1 piece hashes, v2 piece layers and the file list, which later let a peer's
pieces be verified. A malformed torrent in a directory is reported and the others import.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from netwarden.banks.formats.base import (
    BankEntry,
    BankFormat,
    LineProblem,
    TorrentFile,
    TorrentMeta,
    open_regular_file,
)
from netwarden.codec.bencode import BencodeError, decode_with_spans
from netwarden.errors import InputError

MAX_TORRENT_BYTES = 64 * 1024 * 1024
MAX_TORRENTS_PER_DIRECTORY = 1_000_000
MAX_FILES_PER_TORRENT = 1_000_000
MAX_DEPTH = 64


class TorrentError(ValueError):
    """A metainfo file breaks BEP 3/52; ``where`` names the key."""

    def __init__(self, problem: str, where: str | None = None) -> None:
        self.problem = problem
        self.where = where
        super().__init__(problem)


class TorrentFormat(BankFormat):
    name = "torrent"
    description = "a .torrent file (v1, v2, hybrid) or a directory of them"

    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        if path.is_dir():
            found = 0
            for file in sorted(path.rglob("*.torrent")):
                found += 1
                if found > MAX_TORRENTS_PER_DIRECTORY:
                    yield LineProblem(str(path), f"more than {MAX_TORRENTS_PER_DIRECTORY} "
                                                 "torrents; the rest were not read")
                    return
                yield self._one(file)
            if not found:
                raise InputError(str(path), "directory holds no .torrent files")
            return
        yield self._one(path, single=True)

    def _one(self, path: Path, single: bool = False) -> BankEntry | LineProblem:
        try:
            data = read_bounded(path)
        except InputError as exc:
            if single:
                raise
            return LineProblem(str(path), exc.problem)
        try:
            meta = parse_torrent(data)
        except BencodeError as exc:
            return LineProblem(str(path), f"not bencode: {exc.problem} at byte {exc.offset}")
        except TorrentError as exc:
            return LineProblem(str(path), exc.problem, where=exc.where)
        digests: dict[str, bytes] = {}
        if meta.info_hash_v1:
            digests["btih"] = bytes.fromhex(meta.info_hash_v1)
        if meta.info_hash_v2:
            digests["btmh"] = bytes.fromhex(meta.info_hash_v2)
        return BankEntry(digests=digests, reference_id=meta.info_hash_v1 or meta.info_hash_v2,
                         title=meta.name, torrent=meta)


def read_bounded(path: Path) -> bytes:
    """The bytes of a metainfo file, refusing files over MAX_TORRENT_BYTES before reading."""
    with open_regular_file(path) as handle:
        try:
            data = handle.read(MAX_TORRENT_BYTES + 1)
        except OSError as exc:
            raise InputError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_TORRENT_BYTES:
        raise InputError(str(path), f"larger than {MAX_TORRENT_BYTES} bytes; not a torrent")
    if not data:
        raise InputError(str(path), "empty file")
    return data


def _text(value: Any, where: str) -> str:
    if not isinstance(value, bytes):
        raise TorrentError("must be a byte string", where)
    return value.decode("utf-8", errors="replace")


def _int(value: Any, where: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or value < minimum:
        raise TorrentError(f"must be an integer ≥ {minimum}", where)
    return value


def parse_torrent(data: bytes) -> TorrentMeta:
    """Validate a metainfo file and extract what a bank keeps. Raises TorrentError/BencodeError."""
    root, spans = decode_with_spans(data, strict=False, max_size=MAX_TORRENT_BYTES,
                                    max_depth=MAX_DEPTH)
    info = root.get(b"info")
    if not isinstance(info, dict):
        raise TorrentError("missing or not a dictionary", "info")
    raw_info = spans[b"info"]
    name = _text(info.get(b"name.utf-8", info.get(b"name")), "info.name")
    if not name:
        raise TorrentError("empty", "info.name")
    piece_length = _int(info.get(b"piece length"), "info.piece length", 1)
    meta_version = info.get(b"meta version")
    has_v2 = meta_version == 2
    if meta_version is not None and not has_v2:
        raise TorrentError(f"unsupported meta version {meta_version!r}", "info.meta version")
    has_v1 = b"pieces" in info
    if not has_v1 and not has_v2:
        raise TorrentError("no v1 pieces and no v2 file tree", "info")

    files_v1: list[TorrentFile] = []
    pieces = b""
    if has_v1:
        pieces = info[b"pieces"]
        if not isinstance(pieces, bytes) or len(pieces) % 20:
            raise TorrentError("must be a byte string of 20-byte SHA-1s", "info.pieces")
        files_v1, span = _v1_files(info, name)
        expected = -(-span // piece_length)
        if len(pieces) // 20 != expected:
            raise TorrentError(f"{len(pieces) // 20} piece hashes for {span} bytes in pieces of "
                               f"{piece_length} (expected {expected})", "info.pieces")
    files_v2: list[TorrentFile] = []
    layers: dict[str, bytes] = {}
    if has_v2:
        if piece_length < 16384 or piece_length & (piece_length - 1):
            raise TorrentError("v2 needs a power of two ≥ 16 KiB", "info.piece length")
        files_v2 = _v2_files(info.get(b"file tree"), name)
        layers = _piece_layers(root.get(b"piece layers"), files_v2, piece_length)
        same = [(f.path, f.length) for f in files_v1] == [(f.path, f.length) for f in files_v2]
        if has_v1 and not same:
            raise TorrentError("v1 file list and v2 file tree disagree", "info.files")
    files = files_v2 or files_v1
    return TorrentMeta(
        name=name,
        piece_length=piece_length,
        total_size=sum(f.length for f in files),
        files=tuple(files),
        info_hash_v1=hashlib.sha1(raw_info).hexdigest() if has_v1 else None,
        info_hash_v2=hashlib.sha256(raw_info).hexdigest() if has_v2 else None,
        pieces=pieces,
        piece_layers=layers,
        info=bytes(raw_info),
    )


def _v1_files(info: dict[bytes, Any], name: str) -> tuple[list[TorrentFile], int]:
    """Files without padding, and the byte span the pieces cover (padding included)."""
    if b"length" in info:
        if b"files" in info:
            raise TorrentError("both length and files", "info")
        length = _int(info[b"length"], "info.length")
        return [TorrentFile(name, length)], length
    entries = info.get(b"files")
    if not isinstance(entries, list) or not entries:
        raise TorrentError("neither length nor a non-empty files list", "info.files")
    if len(entries) > MAX_FILES_PER_TORRENT:
        raise TorrentError(f"more than {MAX_FILES_PER_TORRENT} files", "info.files")
    files: list[TorrentFile] = []
    span = 0
    for i, entry in enumerate(entries):
        where = f"info.files[{i}]"
        if not isinstance(entry, dict):
            raise TorrentError("must be a dictionary", where)
        length = _int(entry.get(b"length"), f"{where}.length")
        span += length
        attr = entry.get(b"attr", b"")
        if isinstance(attr, bytes) and b"p" in attr:
            continue  # BEP 47 padding file: part of the piece span, not of the content
        parts = entry.get(b"path.utf-8", entry.get(b"path"))
        if not isinstance(parts, list) or not parts:
            raise TorrentError("must be a non-empty list", f"{where}.path")
        path = "/".join(_text(p, f"{where}.path") for p in parts)
        files.append(TorrentFile(f"{name}/{path}", length))
    return files, span


def _v2_files(tree: Any, name: str) -> list[TorrentFile]:
    if not isinstance(tree, dict) or not tree:
        raise TorrentError("missing or empty", "info.file tree")
    files: list[TorrentFile] = []
    # Iterative depth-first walk in key order (BEP 52 order, the v1 list's order in a hybrid);
    # the depth is already bounded by the decoder.
    stack: list[tuple[str, Any]] = [(_text(k, "info.file tree"), tree[k])
                                    for k in sorted(tree, reverse=True)]
    while stack:
        label, node = stack.pop()
        where = f"info.file tree/{label}"
        if not isinstance(node, dict) or not node:
            raise TorrentError("must be a non-empty dictionary", where)
        leaf = node.get(b"")
        if leaf is None:
            stack.extend((f"{label}/{_text(k, where)}", node[k])
                         for k in sorted(node, reverse=True))
            continue
        if len(node) != 1 or not isinstance(leaf, dict):
            raise TorrentError("file entry mixed with directory entries", where)
        length = _int(leaf.get(b"length"), f"{where}.length")
        root = leaf.get(b"pieces root")
        if length and (not isinstance(root, bytes) or len(root) != 32):
            raise TorrentError("needs a 32-byte pieces root", f"{where}.pieces root")
        files.append(TorrentFile(label, length,
                                 root.hex() if length and isinstance(root, bytes) else None))
        if len(files) > MAX_FILES_PER_TORRENT:
            raise TorrentError(f"more than {MAX_FILES_PER_TORRENT} files", "info.file tree")
    # BEP 52: a multi-file torrent's paths are under the torrent's name (as in v1 above).
    if len(files) == 1 and files[0].path == name:
        return files
    return [TorrentFile(f"{name}/{f.path}", f.length, f.pieces_root) for f in files]


def _piece_layers(layers: Any, files: list[TorrentFile], piece_length: int) -> dict[str, bytes]:
    if layers is None:
        layers = {}
    if not isinstance(layers, dict):
        raise TorrentError("must be a dictionary", "piece layers")
    out: dict[str, bytes] = {}
    for f in files:
        if f.pieces_root is None or f.length <= piece_length:
            continue  # one-piece files have no layer: the root is the piece hash
        layer = layers.get(bytes.fromhex(f.pieces_root))
        expected = -(-f.length // piece_length) * 32
        if not isinstance(layer, bytes) or len(layer) != expected:
            raise TorrentError(f"layer for {f.path!r} missing or not {expected} bytes",
                               "piece layers")
        out[f.pieces_root] = layer
    return out
