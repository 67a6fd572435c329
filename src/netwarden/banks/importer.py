"""Import bank files into the database: banks, references, torrents and digests.

Import streams a format's entries in batches (200,000 by default; at most 50,000 whole
entries), one transaction per batch. The database itself tells which digests were new
(``ON CONFLICT DO NOTHING``, banks/bulk.py): bare digests (``plain`` lines) are counted, the
others' new keys are returned, so every entry is classified added or duplicate exactly.
Rows go in sorted by key for B-tree locality. Importing a file twice therefore adds nothing
and counts every entry as a duplicate. Every import, even one that fails half-way, leaves a
``bank_imports`` row saying what it committed (read back by banks/catalog.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, cast, overload

from sqlalchemy import Connection, Table, insert, select, update

from netwarden.banks.batch import BARE, ImportBatch
from netwarden.banks.bulk import IN_CHUNK, insert_counted, insert_returning
from netwarden.banks.digests import BY_CODE, algorithm
from netwarden.banks.formats import BankEntry, LineProblem, get_format
from netwarden.banks.models import Bank, BankImport, BankReference, BankTorrent, BankVpdq
from netwarden.banks.torrents import torrent_row
from netwarden.errors import InputError
from netwarden.store.base import Store

__all__ = ["BankImporter", "ImportRecord", "ImportReport", "NewHashListener", "check_slug"]

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")


def check_slug(value: str, what: str) -> str:
    """Bank names and categories are short lowercase slugs (``films``, ``csam-standin``)."""
    if not _SLUG.match(value or ""):
        raise InputError(f"--{what}", f"{value!r} is not a valid {what}: use 1-64 lowercase "
                                      "letters, digits, '.', '_' or '-', starting and ending "
                                      "with a letter or digit")
    return value


@dataclass
class ImportReport:
    """What an import did. ``problems`` holds the first ``max_problems`` bad records."""

    bank: str
    category: str
    format: str
    source: str
    source_sha256: str | None = None
    added: int = 0
    duplicates: int = 0
    bad: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return self.added + self.duplicates

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = [asdict(p) for p in self.problems]
        data["problems_omitted"] = self.bad - len(self.problems)
        return data


@dataclass(frozen=True)
class ImportRecord:
    """One past import of a bank, as its ``bank_imports`` row keeps it (provenance)."""

    imported_at: datetime
    format: str
    source: str
    source_sha256: str | None
    added: int
    duplicates: int
    bad: int


class NewHashListener(Protocol):
    """Told of the PDQ rows (raw hash, reference pk) and vPDQ signals each batch added: the
    perceptual matcher of this process, which then needs no rebuild."""

    def added(self, bank_id: int, pdq: list[tuple[bytes, int | None]],
              vpdq_changed: bool) -> None: ...


@dataclass(frozen=True)
class _BankOptions:
    """The bank an import writes to, as the import's options describe it."""

    name: str
    category: str
    negative: bool
    settings: dict[str, Any]


class BankImporter:
    """Imports bank files into an open :class:`~netwarden.store.Store`.

    ``listener`` (the perceptual matcher, once one is loaded in this process) is told of each
    batch's new PDQ and vPDQ rows.
    """

    def __init__(self, store: Store, listener: NewHashListener | None = None) -> None:
        self.store = store
        self.listener = listener

    def import_file(self, name: str, category: str, fmt: str, path: str | Path, *,
                    batch_size: int = 200_000, max_problems: int = 1000,
                    progress: Callable[[int], None] | None = None,
                    signal: str | None = None, negative: bool | None = None,
                    pdq_threshold: int | None = None, dihedral: bool | None = None,
                    vpdq: dict[str, float] | None = None) -> ImportReport:
        """Import ``path`` in format ``fmt`` into bank ``name`` (created if new).

        Raises InputError if the file cannot be used at all or the bank exists with another
        category; bad records are counted and listed in the report instead.

        Perceptual options (see docs/perceptual.md): ``signal`` is the type of bare hashes in
        hash-sharing files (``pdq``); ``negative`` makes the bank an allow-list (default: true
        for the categories ``allow-list``/``known-good`` and the ``nsrl`` format);
        ``pdq_threshold``, ``dihedral`` and ``vpdq`` (distance, quality, query_percent,
        index_percent) set the bank's matching, stored with the bank.
        """
        from netwarden.banks.perceptual import bank_settings

        check_slug(name, "name")
        check_slug(category, "category")
        bank_format = get_format(fmt)
        configure = getattr(bank_format, "configure", None)
        if configure is not None:
            configure(signal=signal)
        elif signal:
            raise InputError("--signal", f"format {fmt!r} names its own signal types")
        settings, is_negative = bank_settings(category, fmt, negative, pdq_threshold, dihedral,
                                              vpdq)
        bank = _BankOptions(name, category, is_negative, settings)
        path = Path(path)
        items = bank_format.parse(path)
        first = next(items, None)  # opens and checks the file before anything is written
        report = ImportReport(bank=name, category=category, format=fmt, source=str(path),
                              source_sha256=_file_sha256(path) if path.is_file() else None)
        bank_id = self._bank_id(bank, create=False)
        stream = items if first is None else _prepend(first, items)
        batch = self._new_batch()
        try:
            for item in stream:
                if not isinstance(item, LineProblem):
                    batch.add(item)
                    if batch.full(batch_size):
                        # The bank is created with its first good batch: a file with nothing
                        # usable leaves no empty bank behind.
                        bank_id = bank_id or self._bank_id(bank, create=True)
                        self._flush(bank_id, batch, report)
                        batch = self._new_batch()
                        if progress:
                            progress(report.entries + report.bad)
                elif item.where in ("header", "note"):
                    report.notes.append(str(item))  # a remark on the file, not a bad record
                else:
                    report.bad += 1
                    if len(report.problems) < max_problems:
                        report.problems.append(item)
            if batch.size:
                bank_id = bank_id or self._bank_id(bank, create=True)
                self._flush(bank_id, batch, report)
            if progress:
                progress(report.entries + report.bad)
        finally:
            # Recorded even when a read fails half-way: what was committed stays explained.
            if bank_id is not None:
                with self.store.engine.begin() as conn:
                    conn.execute(insert(BankImport).values(
                        bank_id=bank_id, imported_at=datetime.now(UTC), format=fmt,
                        source=str(path), source_sha256=report.source_sha256,
                        added=report.added, duplicates=report.duplicates, bad=report.bad))
        return report

    @overload
    def _bank_id(self, bank: _BankOptions, *, create: Literal[True]) -> int: ...
    @overload
    def _bank_id(self, bank: _BankOptions, *, create: bool) -> int | None: ...

    def _bank_id(self, bank: _BankOptions, *, create: bool) -> int | None:
        """The bank's id (created if ``create``); InputError if it exists with another
        category or allow-list flag. New settings are merged into an existing bank's."""
        with self.store.engine.begin() as conn:
            row = conn.execute(select(Bank.id, Bank.category, Bank.negative, Bank.settings)
                               .where(Bank.name == bank.name)).first()
            if row is not None:
                if row.category != bank.category:
                    raise InputError("--category", f"bank {bank.name!r} holds category "
                                                   f"{row.category!r}, not {bank.category!r}")
                if bool(row.negative) != bank.negative:
                    raise InputError("--negative", f"bank {bank.name!r} is "
                                     f"{'an allow-list' if row.negative else 'not an allow-list'}"
                                     "; import into another bank")
                if bank.settings and bank.settings != (row.settings or {}):
                    merged = {**(row.settings or {}), **bank.settings}
                    conn.execute(update(Bank).where(Bank.id == row.id).values(settings=merged))
                return int(row.id)
            if not create:
                return None
            key = conn.execute(insert(Bank).values(
                name=bank.name, category=bank.category, created_at=datetime.now(UTC),
                digest_count=0, reference_count=0, algorithm_counts={}, negative=bank.negative,
                settings=bank.settings or None)).inserted_primary_key
            if key is None:
                raise RuntimeError(f"the database gave no id for the new bank {bank.name!r}")
            return int(key[0])

    def _new_batch(self) -> ImportBatch:
        # While a perceptual matcher lives in this process it is told each new PDQ row, so
        # bare PDQ hashes then go the way that says which keys were new.
        pdq = (frozenset({algorithm("pdq").code}) if self.listener is not None
               else frozenset())
        return ImportBatch(identified_codes=pdq)

    def _flush(self, bank_id: int, batch: ImportBatch, report: ImportReport) -> None:
        """Write one batch in one transaction; once committed, add its exact added/duplicate
        counts to ``report``."""
        with self.store.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # A bigger page cache for the batch's B-tree inserts, set back after it (per
                # connection). Durability (WAL, synchronous=FULL) stays as the store set it.
                conn.exec_driver_sql("PRAGMA cache_size=-131072")
            others = batch.others
            ref_pks, new_refs = _references(conn, bank_id, others)
            owner, counted = batch.owners()
            counts: dict[str, int] = {}
            bare_added = 0  # bare entries whose digest was new: each is an added entry
            for code, raws in counted.items():
                new = insert_counted(conn, bank_id, code, raws)
                if new:
                    counts[BY_CODE[code].name] = new
                bare_added += new

            def reference_pk(i: int) -> int | None:
                return None if i == BARE else ref_pks.get(i)

            inserted = insert_returning(conn, bank_id, [
                (code, raw, reference_pk(i)) for (code, raw), i in sorted(owner.items())])
            digests_added = bare_added + len(inserted)
            new_entries = set(new_refs)
            for i in _insert_vpdq(conn, bank_id, others, ref_pks):
                counts["vpdq"] = counts.get("vpdq", 0) + 1
                new_entries.add(i)
            pdq_code = algorithm("pdq").code
            new_pdq = [(raw, reference_pk(owner[(code, raw)])) for code, raw in inserted
                       if code == pdq_code]
            for code, raw in inserted:
                name = BY_CODE[code].name
                counts[name] = counts.get(name, 0) + 1
                i = owner[(code, raw)]
                if i == BARE:
                    bare_added += 1
                else:
                    new_entries.add(i)
            # A bare digest is its own reference; others count when their row is new.
            references_added = bare_added + sum(
                1 for i in new_entries if others[i].reference_id is None or i in new_refs)
            added = bare_added + len(new_entries)
            row = conn.execute(select(Bank.algorithm_counts).where(Bank.id == bank_id)).one()
            merged = dict(row.algorithm_counts or {})
            for alg, n in counts.items():
                merged[alg] = merged.get(alg, 0) + n
            conn.execute(update(Bank).where(Bank.id == bank_id).values(
                digest_count=Bank.digest_count + digests_added,
                reference_count=Bank.reference_count + references_added,
                algorithm_counts=merged))
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size=-2000")
        # Counted once committed: the import's record explains exactly what is in the bank.
        report.added += added
        report.duplicates += batch.size - added
        if self.listener is not None and (new_pdq or counts.get("vpdq")):
            self.listener.added(bank_id, new_pdq, bool(counts.get("vpdq")))


def _insert_vpdq(conn: Connection, bank_id: int, batch: list[BankEntry],
                 ref_pks: dict[int, int]) -> list[int]:
    """Store the batch's vPDQ signals the bank lacks; the entry indexes that were new."""
    wanted: dict[str, int] = {}
    signals: dict[int, str] = {}
    for i, entry in enumerate(batch):
        signal = getattr(entry, "vpdq", None)  # a VideoEntry's (banks/formats/_signals.py)
        if signal and i in ref_pks:
            signals[i] = signal
            wanted.setdefault(hashlib.sha256(signal.encode()).hexdigest(), i)
    if not wanted:
        return []
    table = cast(Table, BankVpdq.__table__)
    existing = set(conn.execute(select(table.c.signal_sha256).where(
        table.c.bank_id == bank_id, table.c.signal_sha256.in_(list(wanted)))).scalars())
    new = [(key, i) for key, i in wanted.items() if key not in existing]
    if new:
        conn.execute(insert(table), [
            {"bank_id": bank_id, "reference_pk": ref_pks[i], "signal_sha256": key,
             "frames": signals[i].count(",") // 2, "signal": signals[i]} for key, i in new])
    return [i for _key, i in new]


def _references(conn: Connection, bank_id: int,
                batch: list[BankEntry]) -> tuple[dict[int, int], set[int]]:
    """Reference rows for the batch's identified entries: (entry index → pk, new indexes)."""
    wanted = {e.reference_id: i for i, e in reversed(list(enumerate(batch)))
              if e.reference_id is not None}
    if not wanted:
        return {}, set()
    pks = _reference_pks(conn, bank_id, list(wanted))
    missing = [ref for ref in wanted if ref not in pks]
    if missing:
        conn.execute(insert(BankReference), [
            {"bank_id": bank_id, "reference_id": ref, "title": batch[wanted[ref]].title,
             "rights_holder": batch[wanted[ref]].rights_holder} for ref in missing])
        pks.update(_reference_pks(conn, bank_id, missing))
        torrents = [torrent_row(pks[ref], meta) for ref in missing
                    if (meta := batch[wanted[ref]].torrent) is not None]
        if torrents:
            conn.execute(insert(BankTorrent), torrents)
    new_indexes = {wanted[ref] for ref in missing}
    by_index = {i: pks[e.reference_id] for i, e in enumerate(batch)
                if e.reference_id is not None}
    return by_index, new_indexes


def _reference_pks(conn: Connection, bank_id: int, refs: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(refs), IN_CHUNK):
        for row in conn.execute(select(BankReference.reference_id, BankReference.id).where(
                BankReference.bank_id == bank_id,
                BankReference.reference_id.in_(refs[start:start + IN_CHUNK]))):
            out[str(row.reference_id)] = int(row.id)
    return out


def _prepend(first: BankEntry | LineProblem,
             rest: Iterator[BankEntry | LineProblem]) -> Iterator[BankEntry | LineProblem]:
    yield first
    yield from rest


def _file_sha256(path: Path) -> str | None:
    """SHA-256 of the imported file: which version of a bank file was loaded, for provenance."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
