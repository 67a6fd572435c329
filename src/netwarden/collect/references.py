"""What collectors may know of the banks: the references they look for in their protocol.

Collectors for protocols that name content by digest (BitTorrent infohashes, DC++ TTH roots)
need to know which digests to ask for: they search, join swarms or fetch segments only for bank
references, never for anything else. They get that through :class:`ReferenceView`, a read-only
view the pipeline builds from the banks of the scope; they never touch the bank store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TorrentReference:
    """A bank torrent: its infohashes and, when the bank holds the .torrent, its info dict.

    ``info`` is the bencoded info dictionary exactly as in the .torrent (its SHA-1 is the v1
    infohash, its SHA-256 the v2 one); None for a magnet-only entry, whose info dictionary is
    then fetched from peers (BEP 9) and checked against the infohash.
    """

    bank: str
    category: str
    reference_id: str
    title: str | None
    btih: str | None  # v1 infohash, 40 hex
    btmh: str | None  # v2 infohash (SHA-256 of info), 64 hex
    info: bytes | None = None


class ReferenceView(Protocol):
    """Read-only view of the scope's banks for collectors."""

    def torrents(self) -> list[TorrentReference]:
        """Every torrent reference of the scope's banks."""
        ...

    def has_digest(self, algorithm: str, value: str) -> bool:
        """True when some bank of the scope holds ``value`` for ``algorithm`` (e.g. a TTH)."""
        ...

    def digests(self, algorithm: str) -> frozenset[str]:
        """All values the scope's banks hold for ``algorithm`` (e.g. every TTH root)."""
        ...

    def titles(self) -> list[str]:
        """Catalog titles of the scope's banks: discovery orders candidates by them."""
        ...
