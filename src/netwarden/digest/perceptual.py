"""The perceptual accumulator collectors feed next to :class:`~netwarden.digest.MultiDigest`.

Exact digests stream; PDQ and vPDQ need the whole file decoded. So for a file whose name or
first bytes say image or video — and only then — the bytes are also kept **in memory**, up to
a cap (images 32 MiB, videos 64 MiB by default), and decoded at the end (Pillow / PyAV, in
memory, bounded: see digest/pdq.py and digest/vpdq.py). Nothing is written anywhere, and the
buffer is dropped as soon as the hashes are made. A file over the cap, or one that does not
decode, still gets its exact digests; its observation says why there is no perceptual hash
(``details["perceptual"]``), a recorded outcome rather than a crash.

What it yields (:meth:`PerceptualDigest.finish`):

* images: ``digests["pdq"]`` (64 hex, threatexchange's bit order) and ``details``
  ``pdq_quality``, ``pdq_dihedral`` (the 8 rotations/flips, for banks with dihedral
  matching) and ``image`` (width, height, format);
* videos: ``digests["vpdq"]`` (SHA-256 of the vPDQ signal, so the ledger commits to it) and
  ``details["vpdq"]``: a summary and the deduplicated frame features ``"hex,quality,time"``
  (at most MAX_FEATURES, evenly thinned beyond, as matching uses distinct frames anyway).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from netwarden.digest.pdq import MAX_IMAGE_BYTES, PdqError, pdq_from_bytes
from netwarden.digest.vpdq import VpdqError, vpdq_from_bytes

MAX_VIDEO_BYTES = 64 * 1024 * 1024
MAX_FEATURES = 4096
READ_CHUNK = 1024 * 1024

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".bmp",
                              ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg",
                              ".mpeg", ".ts", ".wmv", ".flv", ".3gp", ".ogv"})


def kind_from_name(name: str | None) -> str | None:
    """``image``, ``video`` or None, from a file name's extension."""
    if not name:
        return None
    dot = name.rfind(".")
    ext = name[dot:].lower() if dot >= 0 else ""
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return None


def kind_from_magic(head: bytes) -> str | None:
    """``image``, ``video`` or None, from the first bytes (a renamed file is still seen)."""
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a",
                        b"II*\x00", b"MM\x00*", b"BM")):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[4:8] == b"ftyp" or head.startswith((b"\x1a\x45\xdf\xa3", b"\x00\x00\x01\xba",
                                                b"FLV")):
        return "video"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    return None


@dataclass
class PerceptualOutcome:
    """Digests and details to merge into an observation."""

    digests: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    vpdq_signal: str | None = None  # a video's full signal (not put in observations)


class PerceptualDigest:
    """Keep an image's or video's bytes in memory (capped) and hash them at the end."""

    def __init__(self, name: str | None = None, *, max_image_bytes: int = MAX_IMAGE_BYTES,
                 max_video_bytes: int = MAX_VIDEO_BYTES, enabled: bool = True) -> None:
        self.kind = kind_from_name(name) if enabled else None
        self.enabled = enabled
        self.limits = {"image": max_image_bytes, "video": max_video_bytes}
        self._buffer: bytearray | None = bytearray() if enabled else None
        self._seen = 0
        self._dropped: str | None = None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed the next chunk (the same chunks MultiDigest gets)."""
        if self._buffer is None:
            return
        if self._seen == 0 and self.kind is None:
            self.kind = kind_from_magic(bytes(data[:16]))
            if self.kind is None:
                self._buffer = None  # not media: keep nothing
                return
        self._seen += len(data)
        limit = self.limits[self.kind or "image"]
        if self._seen > limit:
            self._buffer = None
            self._dropped = _over_cap(self.kind or "image", limit)
            return
        self._buffer += data

    def finish(self) -> PerceptualOutcome:
        """Decode and hash; the buffer is released whatever happens."""
        buffer, self._buffer = self._buffer, None
        if self._dropped:
            return PerceptualOutcome(details={"perceptual": {"status": "skipped",
                                                             "reason": self._dropped}})
        if not buffer or self.kind is None:
            return PerceptualOutcome()
        data = bytes(buffer)
        del buffer
        if self.kind == "image":
            try:
                result = pdq_from_bytes(data, dihedral=True, max_bytes=self.limits["image"])
            except PdqError as exc:
                return _failed("image", str(exc))
            out = result.as_dict()
            return PerceptualOutcome(digests={"pdq": result.hex}, details={
                "pdq_quality": result.quality, "pdq_dihedral": out["pdq_dihedral"],
                "image": out["image"]})
        try:
            video = vpdq_from_bytes(data, max_bytes=self.limits["video"])
        except VpdqError as exc:
            return _failed("video", str(exc))
        return video_outcome(video)


def video_outcome(video: Any) -> PerceptualOutcome:
    """Digest and details of a :class:`~netwarden.digest.vpdq.VpdqResult`."""
    seen: dict[str, str] = {}
    for f in video.features:
        seen.setdefault(f.hex, f.compact())
    features = list(seen.values())
    thinned = len(features) > MAX_FEATURES
    if thinned:
        step = len(features) / MAX_FEATURES
        features = [features[int(i * step)] for i in range(MAX_FEATURES)]
    signal = video.signal()
    return PerceptualOutcome(
        digests={"vpdq": hashlib.sha256(signal.encode()).hexdigest()},
        details={"vpdq": {**video.summary(), "features": features, "thinned": thinned}},
        vpdq_signal=signal)


def _over_cap(kind: str, limit: int) -> str:
    return f"{kind} larger than the in-memory decoding limit of {limit} bytes; no perceptual hash"


def _failed(kind: str, reason: str) -> PerceptualOutcome:
    return PerceptualOutcome(details={"perceptual": {"status": "undecodable", "kind": kind,
                                                     "reason": reason}})


def perceptual_of_file(path: str | os.PathLike[str], *, size: int | None = None,
                       sha256: str | None = None) -> PerceptualOutcome:
    """What :class:`PerceptualDigest` gives for a local file (``netwarden hash``).

    Why a second, separate read: the exact digests stream in ``hash_files`` (many files on many
    threads); only media files are read again here, at most up to the in-memory cap, and a file
    known (``size``) to be over the cap is not read at all. When ``sha256`` (from the exact pass)
    is given, the bytes decoded here must have that digest, so the perceptual hash describes the
    same file as the exact ones; a file that changed in between gets a recorded outcome instead.
    Read errors are outcomes too (``details["perceptual"]``), never exceptions.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            head = handle.read(16)
            kind = kind_from_name(os.path.basename(name)) or kind_from_magic(head)
            if kind is None:
                return PerceptualOutcome()
            acc = PerceptualDigest(os.path.basename(name))
            limit = acc.limits[kind]
            if size is not None and size > limit:  # not read: finish() would say the same
                return PerceptualOutcome(details={"perceptual": {
                    "status": "skipped", "reason": _over_cap(kind, limit)}})
            digest = hashlib.sha256(head)
            acc.update(head)
            read = len(head)
            while read <= limit:
                chunk = handle.read(min(READ_CHUNK, limit + 1 - read))
                if not chunk:
                    break
                read += len(chunk)
                digest.update(chunk)
                acc.update(chunk)
    except OSError as exc:
        return PerceptualOutcome(details={"perceptual": {
            "status": "unreadable", "reason": f"read failed: {exc.strerror or exc}"}})
    if sha256 is not None and read <= limit and digest.hexdigest() != sha256.lower():
        acc.finish()  # drop the buffer
        return PerceptualOutcome(details={"perceptual": {
            "status": "changed", "reason": "the file changed between the exact and the "
                                           "perceptual pass; no perceptual hash"}})
    return acc.finish()
