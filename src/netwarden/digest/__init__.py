"""Streaming digests: one pass over a byte stream computes every digest netwarden matches on.

Interface (stable; the implementation behind it is the digest engine):

    engine = MultiDigest(piece_length=None)   # piece_length: also BitTorrent v1 piece SHA-1s
    engine.update(chunk)                      # any number of times, any chunk sizes
    result = engine.finalize()                # DigestResult
    result.as_dict() -> {"size": n, "md5": hex, "sha1": hex, "sha256": hex, "ed2k": hex, "tth": base32}

Bytes are never kept: memory stays flat whatever the stream's size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

ALGORITHMS = ("md5", "sha1", "sha256", "ed2k", "tth")


@dataclass(frozen=True)
class DigestResult:
    size: int
    md5: str
    sha1: str
    sha256: str
    ed2k: str | None = None
    tth: str | None = None
    pieces: tuple[bytes, ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str | int]:
        out: dict[str, str | int] = {"size": self.size, "md5": self.md5, "sha1": self.sha1,
                                     "sha256": self.sha256}
        if self.ed2k is not None:
            out["ed2k"] = self.ed2k
        if self.tth is not None:
            out["tth"] = self.tth
        out.update(self.extra)
        return out


class MultiDigest:
    """PLACEHOLDER until the digest engine lands: md5/sha1/sha256 only, via hashlib."""

    def __init__(self, piece_length: int | None = None) -> None:
        self._h = [hashlib.md5(), hashlib.sha1(), hashlib.sha256()]
        self._size = 0

    def update(self, data: bytes | memoryview) -> None:
        for h in self._h:
            h.update(data)
        self._size += len(data)

    def finalize(self) -> DigestResult:
        md5, sha1, sha256 = (h.hexdigest() for h in self._h)
        return DigestResult(size=self._size, md5=md5, sha1=sha1, sha256=sha256)
