"""The read-only view of the scope's banks that collectors get (``CollectContext.references``).

Collectors of protocols that ask by digest — BitTorrent infohashes, DC++ TTH roots — must ask
only for bank references, never for anything else; this view is all they see of the banks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, select

from netwarden.banks.digests import BY_CODE, algorithm, format_digest
from netwarden.banks.exact import DigestIndex
from netwarden.banks.models import Bank, BankDigest, BankReference
from netwarden.banks.torrents import torrents_of
from netwarden.collect.references import TorrentReference


class BankReferenceView:
    """:class:`~netwarden.collect.references.ReferenceView` over some banks of a store."""

    def __init__(self, index: DigestIndex, names: Iterable[str] | None = None) -> None:
        self.index = index
        self.names = frozenset(names) if names else None
        self._torrents: list[TorrentReference] | None = None
        self._digests: dict[str, frozenset[str]] = {}
        self._titles: list[str] | None = None

    def _bank_filter(self) -> ColumnElement[bool]:
        return Bank.name.in_(self.names) if self.names is not None else Bank.id.isnot(None)

    def torrents(self) -> list[TorrentReference]:
        """Every bank torrent: .torrent files with their info dict, magnet-only infohashes."""
        if self._torrents is not None:
            return self._torrents
        d, b, r = BankDigest.__table__.c, Bank.__table__.c, BankReference.__table__.c
        codes = (algorithm("btih").code, algorithm("btmh").code)
        query = (select(d.algorithm, d.digest, d.reference_pk, b.name, b.category,
                        r.reference_id, r.title)
                 .select_from(BankDigest.__table__)
                 .join(Bank.__table__, b.id == d.bank_id)
                 .outerjoin(BankReference.__table__, r.id == d.reference_pk)
                 .where(d.algorithm.in_(codes), self._bank_filter()))
        grouped: dict[tuple[str, str], dict[str, Any]] = {}
        with self.index.store.engine.connect() as conn:
            rows = conn.execute(query).all()
            metas = torrents_of(conn, {row.reference_pk for row in rows
                                       if row.reference_pk is not None})
        for row in rows:
            name = BY_CODE[row.algorithm].name
            value = format_digest(name, bytes(row.digest))
            ref_id = row.reference_id if row.reference_id is not None else value
            entry = grouped.setdefault((row.name, ref_id), {
                "bank": row.name, "category": row.category, "reference_id": ref_id,
                "title": row.title, "btih": None, "btmh": None, "info": None})
            entry[name] = value
            meta = metas.get(row.reference_pk)
            if meta is not None:
                entry["info"] = meta.info
        self._torrents = [TorrentReference(**e) for e in grouped.values()]
        return self._torrents

    def has_digest(self, algorithm_name: str, value: str) -> bool:
        """True when one of the view's banks holds ``value`` for ``algorithm_name``."""
        return any(self.names is None or ref.bank in self.names
                   for ref in self.index.lookup(algorithm_name, value))

    def digests(self, algorithm_name: str) -> frozenset[str]:
        """Every value the view's banks hold for ``algorithm_name`` (cached)."""
        if algorithm_name not in self._digests:
            d = BankDigest.__table__.c
            code = algorithm(algorithm_name).code
            query = (select(d.digest).select_from(BankDigest.__table__)
                     .join(Bank.__table__, Bank.id == d.bank_id)
                     .where(d.algorithm == code, self._bank_filter()))
            with self.index.store.engine.connect() as conn:
                self._digests[algorithm_name] = frozenset(
                    format_digest(algorithm_name, bytes(v)) for (v,) in conn.execute(query))
        return self._digests[algorithm_name]

    def titles(self) -> list[str]:
        """Distinct titles of the view's catalog references (cached), for discovery to order
        candidates by; a title is never evidence."""
        if self._titles is None:
            r, b = BankReference.__table__.c, Bank.__table__.c
            query = (select(r.title).distinct().select_from(BankReference.__table__)
                     .join(Bank.__table__, b.id == r.bank_id)
                     .where(r.title.isnot(None), self._bank_filter()).limit(1_000_000))
            with self.index.store.engine.connect() as conn:
                self._titles = sorted({str(t) for (t,) in conn.execute(query) if t})
        return self._titles
