"""The ledger as a C2SP ``tlog-tiles`` static tree: write it, read it back, verify it.

A tiled log is a directory any web server can serve read-only (https://c2sp.org/tlog-tiles):

* ``checkpoint`` — the newest signed checkpoint (with the witnesses' cosignatures);
* ``tile/<L>/<N>[.p/<W>]`` — 256 consecutive Merkle Tree Hashes at tree height 8·L: level 0
  holds leaf hashes, level L the roots of the full level L-1 tiles; ``<N>`` is written in
  3-digit groups with an ``x`` before all but the last (1234067 → ``x001/x234/067``); the
  rightmost tiles are *partial*, ``.p/<W>`` with W = 1..255 hashes;
* ``tile/entries/<N>[.p/<W>]`` — the entries of level-0 tile N, each as a big-endian uint16
  length followed by the canonical entry bytes.

A third party needs nothing but HTTP GET and the operator's public key: every proof is
computed from tiles (:class:`TileSource`), and :func:`verify_tiles` re-hashes every published
entry, rebuilds every tile above it and checks the root against the signed checkpoint. Only
tiles of sizes a verified checkpoint commits to are ever fetched, as the spec requires.

The database stays the store of record (and the index bundles are selected by); publishing is
an incremental sync that writes the tiles which are new since the directory's checkpoint, in
batches of whole tiles, each file atomically, the checkpoint last, after checking that the
new tree extends the one the directory already published (a fork is refused, never written).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from netwarden.ledger import merkle
from netwarden.ledger.checkpoint import Checkpoint, CheckpointError, parse_checkpoint
from netwarden.ledger.cosign import CosignatureReport, CosignerKey, check_cosignatures
from netwarden.ledger.keys import VerifierKey

if TYPE_CHECKING:
    from netwarden.ledger.storage import Ledger

HEIGHT = 8
WIDTH = 1 << HEIGHT  # hashes in a full tile
TILE_BYTES = WIDTH * merkle.HASH_SIZE
MAX_ENTRY = 0xFFFF  # an entry bundle's uint16 length prefix
MAX_BUNDLE = WIDTH * (2 + MAX_ENTRY)
MAX_CHECKPOINT = 1 << 16
BATCH_TILES = 64  # level-0 tiles read from the database per query when publishing


class TileError(ValueError):
    """A tile, bundle or tiled log does not match the spec or its checkpoint; says which."""


# -- paths ----------------------------------------------------------------------------------


def encode_index(n: int) -> str:
    """``<N>`` of a tile path: 3-digit groups, all but the last prefixed with ``x``."""
    if n < 0:
        raise TileError(f"tile index {n} is negative")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def _suffix(width: int) -> str:
    if not 1 <= width <= WIDTH:
        raise TileError(f"tile width {width} is not in 1..{WIDTH}")
    return "" if width == WIDTH else f".p/{width}"


def tile_path(level: int, n: int, width: int = WIDTH) -> str:
    """Path of hash tile (level, n), partial when ``width`` < 256."""
    if not 0 <= level <= 63:
        raise TileError(f"tile level {level} is not in 0..63")
    return f"tile/{level}/{encode_index(n)}{_suffix(width)}"


def entries_path(n: int, width: int = WIDTH) -> str:
    """Path of the entry bundle of level-0 tile ``n``."""
    return f"tile/entries/{encode_index(n)}{_suffix(width)}"


def parse_path(path: str) -> tuple[int | None, int, int]:
    """``(level or None for entries, n, width)`` of a tile path; strict, the inverse of
    :func:`tile_path` / :func:`entries_path` (used to check a directory holds nothing else)."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise TileError(f"{path!r} is not under tile/")
    kind, rest = parts[1], parts[2:]
    width = WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        w = rest[-1]
        if not w.isdigit() or w.startswith("0") or not 1 <= int(w) < WIDTH:
            raise TileError(f"{path!r}: partial width {w!r} is not 1..255 without leading 0")
        width = int(w)
        rest = [*rest[:-2], rest[-2][:-2]]
    n = 0
    for i, group in enumerate(rest):
        last = i == len(rest) - 1
        digits = group if last else group[1:]
        if (not last and not group.startswith("x")) or len(digits) != 3 \
                or not digits.isdigit():
            raise TileError(f"{path!r}: index element {group!r} is not "
                            f"{'xNNN' if not last else 'NNN'}")
        n = n * 1000 + int(digits)
    if kind == "entries":
        level = None
    elif kind.isdigit() and (kind == "0" or not kind.startswith("0")) and int(kind) <= 63:
        level = int(kind)
    else:
        raise TileError(f"{path!r}: level {kind!r} is not 0..63 without leading zeroes")
    if encode_index(n) != "/".join(rest):
        raise TileError(f"{path!r}: index is not in canonical form")
    return level, n, width


def tiles_of(size: int) -> list[tuple[int, int, int]]:
    """Every hash tile ``(level, n, width)`` of a tree of ``size`` leaves, level 0 first.

    Level L has ``size // 256**(L+1)`` full tiles and, when ``size // 256**L % 256`` is not
    zero, one partial tile of that width (a tree of 70,000: 273 full level-0 tiles, a partial
    one of 112, one full level-1 tile, a partial of 17, a partial level-2 tile of 1).
    """
    out = []
    level = 0
    while size >> (HEIGHT * level):
        count = size >> (HEIGHT * level)
        out += [(level, n, WIDTH) for n in range(count >> HEIGHT)]
        if count % WIDTH:
            out.append((level, count >> HEIGHT, count % WIDTH))
        level += 1
    return out


def partial_width(level: int, n: int, size: int) -> int:
    """Width of tile (level, n) in a tree of ``size``: 256, the partial width, or 0 (absent)."""
    count = size >> (HEIGHT * level)
    if n < count >> HEIGHT:
        return WIDTH
    if n == count >> HEIGHT:
        return count % WIDTH
    return 0


# -- entry bundles ---------------------------------------------------------------------------


def encode_bundle(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as big-endian uint16 length ‖ bytes."""
    out = bytearray()
    for i, e in enumerate(entries):
        if len(e) > MAX_ENTRY:
            raise TileError(f"entry {i} of the bundle is {len(e)} bytes, over the uint16 "
                            f"length prefix's {MAX_ENTRY}")
        out += len(e).to_bytes(2, "big")
        out += e
    return bytes(out)


def decode_bundle(data: bytes, width: int) -> list[bytes]:
    """Split an entry bundle of ``width`` entries; any missing or trailing byte is an error."""
    out = []
    pos = 0
    view = memoryview(data)
    for i in range(width):
        if pos + 2 > len(data):
            raise TileError(f"entry bundle ends before entry {i} of {width}")
        length = int.from_bytes(view[pos:pos + 2], "big")
        pos += 2
        if pos + length > len(data):
            raise TileError(f"entry {i} of the bundle claims {length} bytes, only "
                            f"{len(data) - pos} left")
        out.append(bytes(view[pos:pos + length]))
        pos += length
    if pos != len(data):
        raise TileError(f"entry bundle has {len(data) - pos} bytes after its {width} entries")
    return out


def split_tile(data: bytes, width: int) -> list[bytes]:
    """The hashes of a tile of ``width``; its length must be exactly width·32."""
    if len(data) != width * merkle.HASH_SIZE:
        raise TileError(f"tile is {len(data)} bytes, a tile of width {width} is "
                        f"{width * merkle.HASH_SIZE}")
    return [data[i:i + merkle.HASH_SIZE] for i in range(0, len(data), merkle.HASH_SIZE)]


def subtree_root(hashes: Sequence[bytes]) -> bytes:
    """MTH over a power-of-two run of hashes, pairwise (a full tile's root in 255 hashes)."""
    level = list(hashes)
    sha = hashlib.sha256
    while len(level) > 1:
        level = [sha(b"\x01" + a + b).digest() for a, b in zip(level[0::2], level[1::2],
                                                               strict=True)]
    return level[0]


# -- writing ---------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes, sync: bool = False) -> None:
    """Write via a temporary file and rename, so a reader never sees half a tile. Tiles are
    not fsync'd one by one (that made publishing fsync-bound); :func:`publish` syncs once
    before it writes the checkpoint that makes them reachable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class PublishResult:
    """What :func:`publish` wrote."""

    size: int
    previous_size: int
    tiles_written: int = 0
    bundles_written: int = 0
    bytes_written: int = 0
    seconds: float = 0.0


def publish(ledger: Ledger, out: Path, note: str) -> PublishResult:
    """Write (or sync) the tiled tree of the checkpoint ``note`` into ``out``.

    Tiles wholly inside the directory's previous checkpoint are already there and immutable;
    only those that are new or were partial are written. The previous checkpoint must be a
    prefix of the new one (consistency proof checked here), or nothing is written.
    """
    started = time.perf_counter()
    cp = parse_checkpoint(note)
    old_size = 0
    old_file = out / "checkpoint"
    if old_file.exists():
        try:
            old = parse_checkpoint(old_file.read_text(encoding="utf-8"))
        except (CheckpointError, UnicodeDecodeError) as exc:
            raise TileError(f"{old_file} is not a checkpoint: {exc}") from exc
        if old.origin != cp.origin:
            raise TileError(f"{out} publishes log {old.origin!r}, not {cp.origin!r}")
        if old.size > cp.size:
            raise TileError(f"{out} already publishes size {old.size}, larger than the "
                            f"checkpoint's {cp.size}: refusing to roll it back")
        try:
            merkle.verify_consistency(old.size, cp.size,
                                      ledger.consistency_proof(old.size, cp.size),
                                      old.root, cp.root)
        except merkle.ProofError as exc:
            raise TileError(f"{out}'s checkpoint (size {old.size}) is not a prefix of the "
                            f"ledger's tree of size {cp.size}: {exc}") from exc
        old_size = old.size
    if ledger.root(cp.size) != cp.root:
        raise TileError(f"the ledger's tree of size {cp.size} does not have the checkpoint's "
                        "root")
    result = PublishResult(cp.size, old_size)

    def write(rel: str, data: bytes) -> None:
        _write_atomic(out / rel, data)
        result.bytes_written += len(data)

    for level, n, width in tiles_of(cp.size):
        if level == 0:
            continue
        if partial_width(level, n, old_size) == WIDTH:
            continue  # full already at the old size: immutable, published
        hashes = ledger.hash_range(HEIGHT * level, n * WIDTH, width)
        write(tile_path(level, n, width), b"".join(hashes))
        result.tiles_written += 1
    first = (old_size >> HEIGHT)  # level-0 tiles from the old partial one on
    last = (cp.size + WIDTH - 1) >> HEIGHT
    for start in range(first, last, BATCH_TILES):
        stop = min(start + BATCH_TILES, last)
        rows = ledger.leaf_range(start * WIDTH, min(stop * WIDTH, cp.size))
        for n in range(start, stop):
            chunk = rows[(n - start) * WIDTH:(n - start + 1) * WIDTH]  # (leaf hash, entry)
            width = len(chunk)
            write(tile_path(0, n, width), b"".join(h for h, _ in chunk))
            write(entries_path(n, width), encode_bundle([e for _, e in chunk]))
            result.tiles_written += 1
            result.bundles_written += 1
    os.sync()  # every tile is on disk before the checkpoint that needs it
    _write_atomic(out / "checkpoint", note.encode(), sync=True)
    result.bytes_written += len(note.encode())
    result.seconds = time.perf_counter() - started
    return result


# -- reading ---------------------------------------------------------------------------------


class TileSource:
    """Reads a tiled log from a directory or an ``http(s)://`` prefix, with bounded sizes.

    ``fetches`` counts reads, so tests and benchmarks can see how many tiles a proof needed.
    """

    def __init__(self, location: str | Path, timeout: float = 30.0) -> None:
        self.location = str(location)
        self.fetches = 0
        self._http = None
        self._cache: dict[str, bytes] = {}
        self._pyramids: dict[tuple[int, int, int], list[list[bytes]]] = {}
        if self.location.startswith(("http://", "https://")):
            import httpx

            self._http = httpx.Client(timeout=timeout, follow_redirects=False,
                                      headers={"Accept-Encoding": "gzip, identity"})
            self.prefix = self.location.rstrip("/") + "/"
        else:
            self.directory = Path(self.location)
            if not self.directory.is_dir():
                raise TileError(f"{self.location} is neither a directory nor an http(s) URL")

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> TileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, rel: str, limit: int) -> bytes | None:
        """Bytes of ``rel``, or None when absent; larger than ``limit`` is an error."""
        self.fetches += 1
        if self._http is None:
            path = self.directory / rel
            if not path.is_file():
                return None
            if path.stat().st_size > limit:
                raise TileError(f"{rel} is larger than {limit} bytes")
            return path.read_bytes()
        import httpx

        url = self.prefix + rel
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    raise TileError(f"GET {url}: HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise TileError(f"GET {url}: larger than {limit} bytes")
                return bytes(body)
        except httpx.HTTPError as exc:
            raise TileError(f"GET {url}: {exc}") from exc

    def checkpoint(self) -> Checkpoint:
        data = self.get("checkpoint", MAX_CHECKPOINT)
        if data is None:
            raise TileError(f"{self.location} has no checkpoint")
        try:
            return parse_checkpoint(data.decode("utf-8"))
        except (UnicodeDecodeError, CheckpointError) as exc:
            raise TileError(f"{self.location}/checkpoint: {exc}") from exc

    def _fetch(self, rel_full: str, rel_partial: str, width: int, limit: int) -> bytes | None:
        """A tile of ``width``: the partial file, else the full one (whose prefix it is)."""
        if width == WIDTH:
            return self.get(rel_full, limit)
        data = self.get(rel_partial, limit)
        if data is None:
            data = self.get(rel_full, limit)
        return data

    def tile(self, level: int, n: int, size: int) -> list[bytes]:
        """Hashes of tile (level, n) as a tree of ``size`` has it (partial at the edge)."""
        width = partial_width(level, n, size)
        if width == 0:
            raise TileError(f"a tree of size {size} has no tile ({level}, {n})")
        key = f"{level}/{n}/{width}"
        if key in self._cache:
            return split_tile(self._cache[key], width)
        data = self._fetch(tile_path(level, n), tile_path(level, n, width), width, TILE_BYTES)
        if data is None:
            raise TileError(f"{tile_path(level, n, width)} is missing (needed for size {size})")
        if width < WIDTH and len(data) == TILE_BYTES:
            data = data[:width * merkle.HASH_SIZE]  # the full tile, fetched as a fallback
        hashes = split_tile(data, width)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = data
        return hashes

    def bundle(self, n: int, size: int) -> list[bytes]:
        """Entries of level-0 tile ``n`` in a tree of ``size``."""
        width = partial_width(0, n, size)
        if width == 0:
            raise TileError(f"a tree of size {size} has no entry bundle {n}")
        data = self._fetch(entries_path(n), entries_path(n, width), width, MAX_BUNDLE)
        if data is None:
            raise TileError(f"{entries_path(n, width)} is missing (needed for size {size})")
        try:
            return decode_bundle(data, width)
        except TileError:
            if width == WIDTH:
                raise
            return decode_bundle(data, WIDTH)[:width]  # the full bundle, fetched as fallback

    def node(self, level: int, index: int, size: int) -> bytes:
        """Hash of the perfect subtree (level, index) of a tree of ``size``, from one tile.

        The tile's 8 inner levels are hashed once (at most 255 hashes) and kept, so further
        proofs through the same tile cost no hashing.
        """
        tile_level, sub = divmod(level, HEIGHT)
        first = index << sub  # position among the tile level's hashes
        n = first >> HEIGHT
        key = (tile_level, n, partial_width(tile_level, n, size))
        pyramid = self._pyramids.get(key)
        if pyramid is None:
            row = self.tile(tile_level, n, size)
            pyramid = [row]
            sha = hashlib.sha256
            while len(row) > 1:  # an odd last hash has no complete parent inside the tile
                row = [sha(b"\x01" + a + b).digest() for a, b in zip(row[0::2], row[1::2],
                                                                      strict=False)]
                pyramid.append(row)
            if len(self._pyramids) > 1024:
                self._pyramids.clear()
            self._pyramids[key] = pyramid
        return pyramid[sub][(first & (WIDTH - 1)) >> sub]

    def _proof(self, ranges: list[tuple[int, int]], size: int) -> list[bytes]:
        return [merkle.fold_right([self.node(lv, i, size)
                                   for lv, i in merkle.perfect_decomposition(a, b)])
                for a, b in ranges]

    def root(self, size: int) -> bytes:
        if size == 0:
            return merkle.EMPTY_ROOT
        return merkle.fold_right([self.node(lv, i, size)
                                  for lv, i in merkle.frontier_nodes(size)])

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size``, from tiles."""
        return self._proof(merkle.inclusion_ranges(index, size), size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 consistency proof from ``size1`` to ``size2``, from tiles."""
        if size1 == size2 or size1 == 0:
            return []
        return self._proof(merkle.consistency_ranges(size1, size2), size2)

    def leaf_hash(self, index: int, size: int) -> bytes:
        return self.tile(0, index >> HEIGHT, size)[index & (WIDTH - 1)]


# -- verification ----------------------------------------------------------------------------


@dataclass
class TileReport:
    """What :func:`verify_tiles` established (it raises on the first failure instead)."""

    origin: str = ""
    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    key: str = ""
    entries: int = 0
    bytes_hashed: int = 0
    tiles: int = 0
    seconds: float = 0.0
    cosignatures: CosignatureReport | None = None
    checks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"ok": True, "origin": self.origin, "size": self.size, "root": self.root.hex(),
                "key": self.key, "entries": self.entries, "bytes_hashed": self.bytes_hashed,
                "tiles": self.tiles, "seconds": round(self.seconds, 3), "checks": self.checks,
                "cosignatures": self.cosignatures.as_dict() if self.cosignatures else None}


def verified_checkpoint(source: TileSource, keys: Sequence[VerifierKey]) -> tuple[Checkpoint,
                                                                                    VerifierKey]:
    """The source's checkpoint, signed by one of ``keys`` (the log's keys a verifier pins)."""
    cp = source.checkpoint()
    for key in keys:
        if any(name == key.name and kid == key.key_id for name, kid, _ in cp.signatures):
            try:
                cp.verify(key)
            except CheckpointError as exc:
                raise TileError(f"checkpoint: {exc}") from exc
            return cp, key
    raise TileError(f"checkpoint of {cp.origin} (size {cp.size}) is not signed by any given "
                    f"log key ({', '.join(k.vkey for k in keys) or 'none given'})")


def verify_tiles(source: TileSource, keys: Sequence[VerifierKey],
                 witnesses: Sequence[CosignerKey] = (), quorum: int = 0,
                 progress: Callable[[int, int], None] | None = None) -> TileReport:
    """Check a published tiled log end to end; raise :class:`TileError` naming the first fault.

    Verifies the checkpoint signature, re-hashes every entry of every bundle against its
    level-0 tile, recomputes every full tile's root against the tile above, and the root of
    the whole tree against the checkpoint. Cosignatures by ``witnesses`` are checked and
    reported; fewer than ``quorum`` valid ones is a failure.
    """
    started = time.perf_counter()
    cp, key = verified_checkpoint(source, keys)
    report = TileReport(origin=cp.origin, size=cp.size, root=cp.root, key=key.vkey)
    report.checks.append(f"checkpoint signature by {key.name} ({key.key_id.hex()})")
    report.cosignatures = check_cosignatures(cp, tuple(witnesses))
    for problem in report.cosignatures.problems:
        raise TileError(f"cosignature: {problem}")
    if len(report.cosignatures.valid) < quorum:
        raise TileError(f"checkpoint carries {len(report.cosignatures.valid)} valid witness "
                        f"cosignature(s), the quorum is {quorum}")
    size = cp.size
    sha = hashlib.sha256
    # Level 0: every entry re-hashed against its tile. Each full tile's root must then be the
    # matching hash of the tile above; those are checked 256 at a time, level by level.
    roots: list[bytes] = []
    for n in range((size + WIDTH - 1) >> HEIGHT):
        entries = source.bundle(n, size)
        hashes = source.tile(0, n, size)
        report.tiles += 2
        got = [sha(b"\x00" + e).digest() for e in entries]
        if got != hashes:
            i = next(i for i, (a, b) in enumerate(zip(got, hashes, strict=True)) if a != b)
            raise TileError(f"leaf {n * WIDTH + i}: its entry in {entries_path(n, len(hashes))} "
                            "does not hash to the level-0 tile's leaf hash")
        report.bytes_hashed += sum(map(len, entries))
        report.entries += len(entries)
        if len(hashes) == WIDTH:
            roots.append(subtree_root(hashes))
        if len(roots) == WIDTH or (roots and n == ((size + WIDTH - 1) >> HEIGHT) - 1):
            _check_upper(source, 0, (n >> HEIGHT), roots, size, report)
            roots = []
        if progress is not None:
            progress(report.entries, size)
    level = 1
    while size >> (HEIGHT * (level + 1)):
        tiles = (size >> (HEIGHT * level)) >> HEIGHT  # full tiles at this level
        for m in range((tiles + WIDTH - 1) >> HEIGHT):
            roots = [subtree_root(source.tile(level, n, size))
                     for n in range(m * WIDTH, min((m + 1) * WIDTH, tiles))]
            report.tiles += len(roots)
            _check_upper(source, level, m, roots, size, report)
        level += 1
    tree_root = source.root(size)
    if tree_root != cp.root:
        raise TileError(f"the tiles' tree of size {size} has root {tree_root.hex()}, the "
                        "checkpoint "
                        f"says {cp.root.hex()}")
    report.checks.append(f"{report.entries} entries re-hashed, {report.tiles} tiles checked, "
                         f"root matches the checkpoint of size {size}")
    report.seconds = time.perf_counter() - started
    return report


def _check_upper(source: TileSource, level: int, m: int, roots: list[bytes], size: int,
                 report: TileReport) -> None:
    """The roots of full tiles ``m·256 ...`` at ``level`` against tile (level+1, m)."""
    upper = source.tile(level + 1, m, size)
    report.tiles += 1
    if upper != roots:
        j = next(j for j, (a, b) in enumerate(zip(roots, upper, strict=True)) if a != b)
        n = m * WIDTH + j
        raise TileError(f"tile ({level}, {n}) hashes to {roots[j].hex()}, the level-{level + 1} "
                        f"tile says {upper[j].hex()} (leaves from {n << (HEIGHT * (level + 1))})")


def iter_published(root: Path) -> Iterator[str]:
    """Every file path under a published directory, relative, sorted (for tests and checks)."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path.relative_to(root).as_posix()
