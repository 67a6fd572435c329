"""Torrent metadata of bank references: the ``bank_torrents`` rows, written and read.

A bank's ``.torrent`` entries keep what the BitTorrent collector needs to verify pieces a peer
sends (piece hashes, v2 piece layers, the bencoded info dictionary); the importer writes them
(:func:`torrent_row`), exact look-ups and the collectors' view read them back
(:func:`torrents_of`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, select

from netwarden.banks.formats import TorrentFile, TorrentMeta
from netwarden.banks.models import BankTorrent
from netwarden.codec.bencode import decode as bdecode
from netwarden.codec.bencode import encode as bencode

__all__ = ["torrent_meta", "torrent_row", "torrents_of"]


def torrent_row(pk: int, meta: TorrentMeta) -> dict[str, Any]:
    """The ``bank_torrents`` row of reference ``pk`` holding ``meta``."""
    return {
        "reference_pk": pk, "name": meta.name, "piece_length": meta.piece_length,
        "total_size": meta.total_size, "info_hash_v1": meta.info_hash_v1,
        "info_hash_v2": meta.info_hash_v2,
        "files": [{"path": f.path, "length": f.length, "pieces_root": f.pieces_root}
                  for f in meta.files],
        "pieces": meta.pieces,
        "piece_layers": bencode({bytes.fromhex(k): v for k, v in meta.piece_layers.items()}),
        "info": meta.info,
    }


def torrent_meta(row: Any) -> TorrentMeta:
    """The :class:`TorrentMeta` of a ``bank_torrents`` row (any row with its columns)."""
    layers = bdecode(bytes(row.piece_layers), max_size=1 << 40)
    return TorrentMeta(
        name=row.name, piece_length=row.piece_length, total_size=row.total_size,
        files=tuple(TorrentFile(f["path"], f["length"], f.get("pieces_root"))
                    for f in row.files),
        info_hash_v1=row.info_hash_v1, info_hash_v2=row.info_hash_v2, pieces=bytes(row.pieces),
        piece_layers={k.hex(): v for k, v in layers.items()},
        info=bytes(row.info) if row.info is not None else None)


def torrents_of(conn: Connection, reference_pks: Collection[int]) -> dict[int, TorrentMeta]:
    """Reference pk → its torrent metadata, for those of ``reference_pks`` that have one."""
    if not reference_pks:
        return {}
    return {int(t.reference_pk): torrent_meta(t) for t in conn.execute(
        select(*BankTorrent.__table__.c).where(BankTorrent.reference_pk.in_(reference_pks)))}
