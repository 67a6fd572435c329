"""Direct Connect discovery: shared files no bank names by TTH, identified by their content.

A user who shares a re-encoded copy of a bank film under another name has a TTH no bank holds,
so the TTH look-up never asks for it. From the file list we already fetched, discovery picks
the media files worth identifying (see :mod:`netwarden.collect.candidates`: a video or image
by name, within the in-memory decoding cap, ordered by release-name similarity to a catalog
title), downloads each one *whole* from the user, streams it through the exact digests and
PDQ/vPDQ (in memory; nothing is written), and checks the TTH of what arrived against the TTH
the user's own file list gave: equal means the bytes are that listed file and came from that
user, so the observation is ``served`` with every byte digested, and identification by content
(:mod:`netwarden.identify`) decides whether it is a bank item. A mismatch is recorded as a
failed verification at ``contacted``, never as served.

Limits (service options): ``discover`` (true), ``discover_min_score`` (0.6: how close a file's
release name must be to a catalog title; 0 examines every media file within the limits),
``discover_candidates`` (5 files per user), ``discover_bytes`` (64 MiB per file),
``discover_total_bytes`` (512 MiB per run).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from netwarden.collect.candidates import parse_release, title_similarity
from netwarden.digest import MultiDigest
from netwarden.digest.perceptual import MAX_VIDEO_BYTES, PerceptualDigest, kind_from_name
from netwarden.scope import Service


@dataclass(frozen=True)
class DcCandidate:
    """A listed file worth downloading whole, and why."""

    path: str
    tth: str
    size: int
    kind: str
    score: float
    title: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "kind": self.kind,
                "score": round(self.score, 3), "catalog_title": self.title}


@dataclass
class DiscoveryOptions:
    """The service's discovery limits."""

    enabled: bool = True
    per_user: int = 5
    max_bytes: int = MAX_VIDEO_BYTES
    total_bytes: int = 512 * 1024 * 1024
    min_score: float = 0.6

    @classmethod
    def of(cls, service: Service) -> DiscoveryOptions:
        """From the service's options, already checked at scope load (``DcOptions``)."""
        opts = service.options
        return cls(enabled=bool(opts.get("discover", True)),
                   per_user=int(opts.get("discover_candidates", 5)),
                   max_bytes=int(opts.get("discover_bytes", MAX_VIDEO_BYTES)),
                   total_bytes=int(opts.get("discover_total_bytes", 512 * 1024 * 1024)),
                   min_score=float(opts.get("discover_min_score", 0.6)))


def candidates(files: Iterable[Any], bank_tths: frozenset[str], titles: list[str],
               options: DiscoveryOptions) -> list[DcCandidate]:
    """Media files of a file list, not already bank items, best first, at most per_user."""
    out: list[DcCandidate] = []
    for item in files:
        tth = (item.tth or "").upper()
        size = item.size or 0
        if not tth or tth in bank_tths or not 0 < size <= options.max_bytes:
            continue
        kind = kind_from_name(item.path)
        if kind is None:
            continue
        name = item.path.rpartition("/")[2]
        similarity, title = title_similarity(parse_release(name), titles)
        if similarity < options.min_score:
            continue
        out.append(DcCandidate(item.path, tth, size, kind,
                               similarity + (0.1 if kind == "video" else 0.0), title))
    out.sort(key=lambda c: (-c.score, c.path))
    return out[:options.per_user]


class WholeFile:
    """The sink of a whole-file download: exact digests and PDQ/vPDQ, no byte kept after."""

    def __init__(self, path: str) -> None:
        self.digest = MultiDigest()
        self.perceptual = PerceptualDigest(path)
        self.received = 0

    def __call__(self, data: bytes | memoryview) -> None:
        chunk = bytes(data)
        self.digest.update(chunk)
        self.perceptual.update(chunk)
        self.received += len(chunk)

    def finish(self) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
        """(exact digests, perceptual digests, perceptual details)."""
        exact = self.digest.finalize().as_dict()
        exact.pop("size", None)
        outcome = self.perceptual.finish()
        return ({k: str(v) for k, v in exact.items() if v is not None}, outcome.digests,
                outcome.details)
