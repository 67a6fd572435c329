"""Discovery: torrents the operator's tracker coordinates that no bank names, identified by content.

A film lives on as many releases — re-encoded, rescaled, renamed — each a torrent of its own
whose infohash no bank holds. Asking trackers only for bank infohashes misses all of them. So,
for a tracker in the scope, discovery

1. **enumerates** the infohashes the tracker coordinates: a full scrape (the scrape URL without
   ``info_hash``, BEP 48; opentracker answers it), bounded in bytes and entries;
2. **picks candidates cheaply**: for each unknown infohash (most seeders first), one in-scope
   peer is asked for the info dictionary (BEP 9 ``ut_metadata``, checked against the infohash
   before any field is trusted); the torrent is scored by what it holds — a video or image file
   of a size we can identify, and how close its release name is to a catalog title (parsed
   with guessit, transliterated with Unidecode, compared with RapidFuzz);
3. **proves**: for a candidate, the peer's pieces covering that file are downloaded in order,
   each checked against the torrent's piece hash before a byte of it is used, and streamed
   through the same digests as every other collector (exact digests, PDQ/vPDQ in memory); the
   bytes are dropped at once. The observation is ``served`` only when every piece of the file
   verified: the bytes provably came from that peer.

Identification then happens as for any served file (:mod:`netwarden.identify`): an exact or
perceptual match against the banks. The release name and the catalog title only order the
work; they are never evidence, and a torrent whose content matches nothing makes no finding.

Limits (service options): ``discover`` (true), ``discover_min_score`` (0.6: how close the
release name must be to a catalog title; 0 examines every torrent holding media),
``discover_candidates`` (20 torrents examined
per tracker), ``discover_bytes`` (64 MiB per candidate, the perceptual cap for video),
``discover_total_bytes`` (512 MiB per run, over all trackers), ``discover_timeout`` (s, 120
per download session).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from netwarden.codec.bencode import BencodeError, decode
from netwarden.collect.bittorrent.metainfo import Metainfo, PieceSpec
from netwarden.collect.bittorrent.tracker_http import TrackerError
from netwarden.collect.candidates import Release, parse_release, title_similarity
from netwarden.digest import MultiDigest
from netwarden.digest.perceptual import (
    MAX_VIDEO_BYTES,
    PerceptualDigest,
    PerceptualOutcome,
    kind_from_name,
)

MAX_SCRAPE_BYTES = 8 * 1024 * 1024  # a full scrape of ~100k torrents
MAX_SCRAPE_ENTRIES = 100_000
MAX_FILES_EXAMINED = 10_000


@dataclass(frozen=True)
class SwarmCounts:
    """A tracker's counts for one infohash (full scrape)."""

    complete: int
    incomplete: int
    downloaded: int


def full_scrape_url(announce: str) -> str | None:
    """BEP 48: the announce URL's last ``announce`` segment → ``scrape``, with no infohash."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(announce)
    head, _, last = parts.path.rpartition("/")
    if not last.startswith("announce"):
        return None
    path = f"{head}/scrape{last[len('announce'):]}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def parse_full_scrape(raw: bytes) -> dict[bytes, SwarmCounts]:
    """``files`` of a scrape answer, infohash → counts; raises TrackerError when malformed.

    Bounded: at most MAX_SCRAPE_ENTRIES entries are read, negative or absurd counts are 0.
    A gzip answer (opentracker compresses full scrapes whatever the client asked) is inflated
    to at most MAX_SCRAPE_BYTES: a bomb ends as an error, never as memory."""
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip_bounded(raw)
    try:
        answer = decode(raw, max_size=MAX_SCRAPE_BYTES, max_depth=8, strict=False)
    except BencodeError as exc:
        raise TrackerError(f"full scrape is not bencode: {exc}") from None
    if not isinstance(answer, dict):
        raise TrackerError("full scrape is not a dictionary")
    failure = answer.get(b"failure reason")
    if isinstance(failure, bytes):
        raise TrackerError("tracker refused the full scrape: "
                           + failure[:200].decode("utf-8", "replace"))
    files = answer.get(b"files")
    if not isinstance(files, dict):
        raise TrackerError("full scrape has no files dictionary")
    out: dict[bytes, SwarmCounts] = {}
    for key, value in files.items():
        if len(out) >= MAX_SCRAPE_ENTRIES:
            break
        if not isinstance(key, bytes) or len(key) != 20 or not isinstance(value, dict):
            continue
        out[key] = SwarmCounts(*(_count(value.get(k)) for k in
                                 (b"complete", b"incomplete", b"downloaded")))
    return out


def _gunzip_bounded(raw: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(raw, MAX_SCRAPE_BYTES)
    except zlib.error as exc:
        raise TrackerError(f"full scrape: bad gzip: {exc}") from None
    if inflater.unconsumed_tail:
        raise TrackerError(f"full scrape inflates beyond {MAX_SCRAPE_BYTES} bytes; not read")
    return out


def _count(value: Any) -> int:
    return value if isinstance(value, int) and 0 <= value < 1 << 40 else 0


# -- what a torrent holds ----------------------------------------------------------------------

@dataclass(frozen=True)
class TorrentFile:
    """One file of a torrent, placed in the torrent's piece space."""

    path: str
    length: int
    offset: int  # first byte in the piece space (v1: concatenation; v2: piece-aligned)


def torrent_files(meta: Metainfo, raw_info: bytes | None) -> list[TorrentFile]:
    """The files of a torrent with their offsets in piece space (bounded in count)."""
    if meta.files_v2 and not meta.pieces_v1:
        return [TorrentFile(f.path, f.length, f.first_piece * meta.piece_length)
                for f in meta.files_v2[:MAX_FILES_EXAMINED]]
    if raw_info is None:
        return [TorrentFile(meta.name, meta.total_length, 0)]
    try:
        info = decode(raw_info, max_depth=64, strict=False)
    except BencodeError:
        return []
    if not isinstance(info, dict):
        return []
    if isinstance(info.get(b"length"), int):
        return [TorrentFile(meta.name, int(info[b"length"]), 0)]
    out: list[TorrentFile] = []
    offset = 0
    for entry in info.get(b"files", [])[:MAX_FILES_EXAMINED]:
        if not isinstance(entry, dict) or not isinstance(entry.get(b"length"), int):
            return []
        parts = [p.decode("utf-8", "replace") for p in entry.get(b"path", [])
                 if isinstance(p, bytes)]
        length = int(entry[b"length"])
        if b"attr" in entry and b"p" in entry.get(b"attr", b""):
            offset += length  # BEP 47 padding file: zeros, not content
            continue
        out.append(TorrentFile("/".join([meta.name, *parts]), length, offset))
        offset += length
    return out


@dataclass
class Candidate:
    """A torrent worth downloading part of: the file to identify and why it was picked."""

    target: TorrentFile
    kind: str  # image | video
    score: float
    release: Release
    title: str | None
    title_score: float

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.target.path, "length": self.target.length, "kind": self.kind,
                "score": round(self.score, 3), "release": self.release.as_dict(),
                "catalog_title": self.title, "title_score": round(self.title_score, 3)}


def choose(meta: Metainfo, raw_info: bytes | None, titles: list[str], max_bytes: int,
           min_score: float = 0.0) -> tuple[Candidate | None, str]:
    """The file of a torrent to identify, or None with the reason (in words).

    Identifiable means: a video or image by its name, not empty, and no longer than
    ``max_bytes`` (the in-memory decoding cap). The largest such file is taken (the feature in
    a release; samples and covers are smaller). The score orders candidates across torrents:
    title similarity first, then video before image."""
    files = torrent_files(meta, raw_info)
    usable = [(f, kind_from_name(f.path)) for f in files]
    media = [(f, k) for f, k in usable if k is not None and f.length > 0]
    if not media:
        return None, "no video or image file in the torrent"
    fitting = [(f, k) for f, k in media if f.length <= max_bytes]
    if not fitting:
        return None, f"every video/image file is larger than {max_bytes} bytes"
    target, kind = max(fitting, key=lambda fk: fk[0].length)
    release = parse_release(meta.name or target.path)
    if not release.title:
        release = parse_release(target.path.rsplit("/", 1)[-1])
    similarity, title = title_similarity(release, titles)
    if similarity < min_score:
        return None, (f"release name {release.title or meta.name!r} is not close to a catalog "
                      f"title ({similarity:.2f} < {min_score:g})")
    score = similarity + (0.1 if kind == "video" else 0.0)
    return Candidate(target, kind or "video", score, release, title, similarity), "candidate"


def pieces_for(meta: Metainfo, target: TorrentFile) -> list[int]:
    """The pieces covering ``target`` in its piece space, in order."""
    if target.length <= 0:
        return []
    first = target.offset // meta.piece_length
    last = (target.offset + target.length - 1) // meta.piece_length
    return list(range(first, min(last, meta.piece_count - 1) + 1))


@dataclass
class FileAssembler:
    """The sink of a download: verified pieces in, the file's digests out; no byte is kept
    beyond the perceptual cap, and nothing is written anywhere."""

    meta: Metainfo
    target: TorrentFile
    digest: MultiDigest = field(default_factory=MultiDigest)
    received: int = 0
    pieces: list[int] = field(default_factory=list)
    perceptual: PerceptualDigest | None = None

    def __post_init__(self) -> None:
        self.perceptual = PerceptualDigest(self.target.path)

    def __call__(self, spec: PieceSpec, data: bytes) -> None:
        start = spec.index * self.meta.piece_length
        lo = max(self.target.offset, start) - start
        hi = min(self.target.offset + self.target.length, start + len(data)) - start
        if hi <= lo:
            return
        part = data[lo:hi]
        self.digest.update(part)
        assert self.perceptual is not None
        self.perceptual.update(part)
        self.received += len(part)
        self.pieces.append(spec.index)

    @property
    def complete(self) -> bool:
        return self.received == self.target.length

    def finish(self) -> tuple[dict[str, str], PerceptualOutcome]:
        """Exact digests (hex/base32) and the perceptual outcome of the whole file."""
        result = self.digest.finalize().as_dict()
        result.pop("size", None)
        assert self.perceptual is not None
        return {k: str(v) for k, v in result.items()}, self.perceptual.finish()


DEFAULT_BYTES = MAX_VIDEO_BYTES
