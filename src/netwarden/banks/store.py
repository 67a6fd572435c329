"""Import bank files into the database and look digests up in the exact index.

Import streams a format's entries in batches (200,000 by default; at most 50,000 whole
entries), one transaction per batch. The database itself tells which digests were new
(``ON CONFLICT DO NOTHING``, banks/bulk.py): bare digests (``plain`` lines) are counted, the
others' new keys are returned, so every entry is classified added or duplicate exactly.
Rows go in sorted by key for B-tree locality. Importing a file twice therefore adds nothing
and counts every entry as a duplicate.

Look-ups take text digests as observations carry them, convert them to raw bytes and query
``(algorithm, digest) IN (...)`` on the primary key, batched.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast, overload

from sqlalchemy import Connection, Table, and_, bindparam, insert, or_, select, update

from netwarden.banks.batch import BARE, ImportBatch
from netwarden.banks.bulk import insert_counted, insert_returning
from netwarden.banks.digests import (
    BY_CODE,
    PERCEPTUAL,
    DigestError,
    algorithm,
    format_digest,
    parse_digest,
)
from netwarden.banks.formats import BankEntry, LineProblem, TorrentFile, TorrentMeta, get_format
from netwarden.banks.models import Bank, BankDigest, BankImport, BankReference, BankTorrent
from netwarden.codec.bencode import decode as bdecode
from netwarden.codec.bencode import encode as bencode
from netwarden.errors import InputError
from netwarden.store.base import Store

_VALUE_BIND = re.compile(r"^v\d+(_\d+)?$")  # the digest values' bind names (see _statement)
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
IN_CHUNK = 4096  # a power of two, well under SQLite's 32,766 bound parameters


def check_slug(value: str, what: str) -> str:
    """Bank names and categories are short lowercase slugs (``films``, ``csam-standin``)."""
    if not _SLUG.match(value or ""):
        raise InputError(f"--{what}", f"{value!r} is not a valid {what}: use 1-64 lowercase "
                                      "letters, digits, '.', '_' or '-', starting and ending "
                                      "with a letter or digit")
    return value


@dataclass(frozen=True)
class Reference:
    """A bank item whose digest matched: what identification turns into a ``Match``."""

    bank: str
    category: str
    reference_id: str
    title: str | None
    algorithm: str
    value: str
    rights_holder: str | None = None
    torrent: TorrentMeta | None = None


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
    imported_at: datetime
    format: str
    source: str
    source_sha256: str | None
    added: int
    duplicates: int
    bad: int


@dataclass(frozen=True)
class BankInfo:
    name: str
    category: str
    created_at: datetime
    references: int
    digests: int
    algorithms: dict[str, int]
    imports: tuple[ImportRecord, ...] = ()

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        for item in data["imports"]:
            item["imported_at"] = item["imported_at"].isoformat()
        return data


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class BankStore:
    """Reference banks in an open :class:`~netwarden.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._perceptual: Any = None  # the PerceptualMatcher, once asked for
        self._bank_options: tuple[bool, dict[str, Any] | None] = (False, None)
        # Core (not ORM) columns and prebuilt statements: per-call statement building cost
        # ten times the SQLite look-up itself.
        d, b, r = BankDigest.__table__.c, Bank.__table__.c, BankReference.__table__.c
        self._digest_query = (
            select(d.algorithm, d.digest, d.reference_pk, b.name, b.category, r.reference_id,
                   r.title, r.rights_holder)
            .select_from(BankDigest.__table__)
            .join(Bank.__table__, b.id == d.bank_id)
            .outerjoin(BankReference.__table__, r.id == d.reference_pk)
        )
        self._statements: dict[tuple[Any, ...], Any] = {}
        self._compiled: dict[tuple[Any, ...], tuple[str, tuple[str, ...], dict[str, Any]]] = {}

    # ------------------------------------------------------------------ import

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
        if hasattr(bank_format, "configure"):
            bank_format.configure(signal=signal)
        elif signal:
            raise InputError("--signal", f"format {fmt!r} names its own signal types")
        settings, negative = bank_settings(category, fmt, negative, pdq_threshold, dihedral,
                                           vpdq)
        self._bank_options = (negative, settings)
        path = Path(path)
        items = bank_format.parse(path)
        first = next(items, None)  # opens and checks the file before anything is written
        report = ImportReport(bank=name, category=category, format=fmt, source=str(path),
                              source_sha256=_file_sha256(path) if path.is_file() else None)
        bank_id = self._bank_for_import(name, category, create=False)
        stream = items if first is None else _prepend(first, items)
        batch = self._new_batch()
        try:
            for item in stream:
                if not isinstance(item, LineProblem):
                    batch.add(item)
                    if batch.full(batch_size):
                        # The bank is created with its first good batch: a file with nothing
                        # usable leaves no empty bank behind.
                        bank_id = bank_id or self._bank_for_import(name, category, create=True)
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
                bank_id = bank_id or self._bank_for_import(name, category, create=True)
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
    def _bank_for_import(self, name: str, category: str, *, create: Literal[True]) -> int: ...
    @overload
    def _bank_for_import(self, name: str, category: str, *, create: bool) -> int | None: ...

    def _bank_for_import(self, name: str, category: str, *, create: bool) -> int | None:
        """The bank's id (created if ``create``); InputError if it has another category."""
        with self.store.engine.begin() as conn:
            row = conn.execute(select(Bank.id, Bank.category, Bank.negative, Bank.settings)
                               .where(Bank.name == name)).first()
            negative, settings = getattr(self, "_bank_options", (False, None))
            if row is not None:
                if row.category != category:
                    raise InputError("--category", f"bank {name!r} holds category "
                                                   f"{row.category!r}, not {category!r}")
                if bool(row.negative) != negative:
                    raise InputError("--negative", f"bank {name!r} is "
                                     f"{'an allow-list' if row.negative else 'not an allow-list'}"
                                     "; import into another bank")
                if settings and settings != (row.settings or {}):
                    merged = {**(row.settings or {}), **settings}
                    conn.execute(update(Bank).where(Bank.id == row.id).values(settings=merged))
                return int(row.id)
            if not create:
                return None
            key = conn.execute(insert(Bank).values(
                name=name, category=category, created_at=datetime.now(UTC), digest_count=0,
                reference_count=0, algorithm_counts={}, negative=negative,
                settings=settings or None)).inserted_primary_key
            if key is None:
                raise RuntimeError(f"the database gave no id for the new bank {name!r}")
            return int(key[0])

    def _new_batch(self) -> ImportBatch:
        # While a perceptual matcher lives in this process it is told each new PDQ row, so
        # bare PDQ hashes then go the way that says which keys were new.
        matcher = getattr(self, "_perceptual", None)
        pdq = frozenset({algorithm("pdq").code}) if matcher is not None else frozenset()
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
            ref_pks, new_refs = self._references(conn, bank_id, others)
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
            for i in self._insert_vpdq(conn, bank_id, others, ref_pks):
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
            bank = conn.execute(select(Bank.algorithm_counts).where(Bank.id == bank_id)).one()
            merged = dict(bank.algorithm_counts or {})
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
        matcher = getattr(self, "_perceptual", None)
        if matcher is not None and (new_pdq or counts.get("vpdq")):
            matcher.added(bank_id, new_pdq, bool(counts.get("vpdq")))

    @staticmethod
    def _insert_vpdq(conn: Connection, bank_id: int, batch: list[BankEntry],
                     ref_pks: dict[int, int]) -> list[int]:
        """Store the batch's vPDQ signals the bank lacks; the entry indexes that were new."""
        from netwarden.banks.models import BankVpdq

        wanted: dict[str, int] = {}
        for i, entry in enumerate(batch):
            signal = getattr(entry, "vpdq", None)
            if signal and i in ref_pks:
                wanted.setdefault(hashlib.sha256(signal.encode()).hexdigest(), i)
        if not wanted:
            return []
        table = cast(Table, BankVpdq.__table__)
        existing = set(conn.execute(select(table.c.signal_sha256).where(
            table.c.bank_id == bank_id, table.c.signal_sha256.in_(list(wanted)))).scalars())
        rows = [{"bank_id": bank_id, "reference_pk": ref_pks[i], "signal_sha256": key,
                 "frames": batch[i].vpdq.count(",") // 2,  # type: ignore[attr-defined]
                 "signal": batch[i].vpdq}  # type: ignore[attr-defined]
                for key, i in wanted.items() if key not in existing]
        if rows:
            conn.execute(insert(table), rows)
        return [wanted[r["signal_sha256"]] for r in rows]

    def _references(self, conn: Connection, bank_id: int,
                    batch: list[BankEntry]) -> tuple[dict[int, int], set[int]]:
        """Reference rows for the batch's identified entries: (entry index → pk, new indexes)."""
        wanted = {e.reference_id: i for i, e in reversed(list(enumerate(batch)))
                  if e.reference_id is not None}
        if not wanted:
            return {}, set()
        pks = self._reference_pks(conn, bank_id, list(wanted))
        missing = [ref for ref in wanted if ref not in pks]
        if missing:
            conn.execute(insert(BankReference), [
                {"bank_id": bank_id, "reference_id": ref, "title": batch[wanted[ref]].title,
                 "rights_holder": batch[wanted[ref]].rights_holder} for ref in missing])
            pks.update(self._reference_pks(conn, bank_id, missing))
            torrents = [(pks[ref], batch[wanted[ref]].torrent) for ref in missing
                        if batch[wanted[ref]].torrent is not None]
            if torrents:
                conn.execute(insert(BankTorrent), [_torrent_row(pk, t) for pk, t in torrents
                                                   if t is not None])
        new_indexes = {wanted[ref] for ref in missing}
        by_index = {i: pks[e.reference_id] for i, e in enumerate(batch)
                    if e.reference_id is not None}
        return by_index, new_indexes

    @staticmethod
    def _reference_pks(conn: Connection, bank_id: int, refs: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(refs, IN_CHUNK):
            for row in conn.execute(select(BankReference.reference_id, BankReference.id).where(
                    BankReference.bank_id == bank_id, BankReference.reference_id.in_(chunk))):
                out[row.reference_id] = row.id
        return out

    # ------------------------------------------------------------------ look-up

    def lookup(self, algorithm_name: str, value: str) -> list[Reference]:
        """Every reference holding digest ``value`` of ``algorithm_name``; InputError if bad."""
        try:
            raw = parse_digest(algorithm_name, value)
        except DigestError as exc:
            raise InputError(f"{algorithm_name} digest", str(exc)) from None
        return self._query([(algorithm(algorithm_name).code, raw)])

    def lookup_many(self, digests: dict[str, str]) -> list[Reference]:
        """References matching any of an observation's digests, in one query.

        Unknown algorithms (``size``, ``pdq``) and malformed values are skipped: digests come
        from hostile endpoints too, and a malformed one simply matches nothing.
        """
        keys: list[tuple[int, bytes]] = []
        for name, value in digests.items():
            if name in PERCEPTUAL:  # matched by distance: see perceptual_matches
                continue
            try:
                keys.append((algorithm(name).code, parse_digest(name, str(value))))
            except DigestError:
                continue
        return self._query(keys) if keys else []

    def lookup_bulk(self, algorithm_name: str,
                    values: Iterable[str]) -> dict[str, list[Reference]]:
        """Batched look-up of many digests of one algorithm: canonical value → references.

        For bulk work (re-checking a bank against a stored run, benchmarks): one
        ``IN`` query per 4,096 values. Malformed values are skipped.
        """
        code = algorithm(algorithm_name).code
        out: dict[str, list[Reference]] = {}
        iterator = iter(values)
        while True:
            chunk = list(islice(iterator, IN_CHUNK))
            if not chunk:
                return out
            raws = []
            for value in chunk:
                try:
                    raws.append(parse_digest(algorithm_name, value))
                except DigestError:
                    continue
            for ref in self._query_in(code, raws):
                out.setdefault(ref.value, []).append(ref)

    def _statement(self, codes: tuple[int, ...], many: bool) -> Any:
        """``(algorithm = c1 AND digest = / IN ...) OR ...``, built once per shape.

        One value per algorithm (an observation) binds ``digest = ?``: an expanding ``IN``
        costs a re-render per call, which dominated the single look-up.
        """
        statement = self._statements.get((many, *codes))
        if statement is None:
            c = BankDigest.__table__.c
            statement = self._digest_query.where(or_(*(
                and_(c.algorithm == code,
                     c.digest.in_(bindparam(f"v{code}", expanding=True)) if many
                     else c.digest == bindparam(f"v{code}"))
                for code in codes)))
            self._statements[(many, *codes)] = statement
        return statement

    def _query(self, keys: list[tuple[int, bytes]]) -> list[Reference]:
        by_code: dict[int, list[bytes]] = {}
        for code, raw in keys:
            by_code.setdefault(code, []).append(raw)
        codes = tuple(sorted(by_code))
        many = len(keys) != len(codes)
        params = {f"v{code}": by_code[code] if many else by_code[code][0] for code in codes}
        statement = self._statement(codes, many)
        rows: Sequence[Any]
        if not many and self.store.engine.dialect.positional:
            rows = self._execute_precompiled(statement, params)
            if not rows:
                return []
        else:
            with self.store.engine.connect() as conn:
                rows = conn.execute(statement, params).all()
        with self.store.engine.connect() as conn:
            return self._references_from(conn, rows)

    def _execute_precompiled(self, statement: Any, params: dict[str, Any]) -> list[Any]:
        """Run a cached Core statement's compiled SQL straight on the DBAPI cursor.

        Why: SQLAlchemy's per-execution work (parameter processing, result set-up) costs
        ~8x the SQLite primary-key look-up itself, and identify calls this once per
        observation. The SQL is still SQLAlchemy's, compiled once per statement shape; only
        plain values (ints, bytes) are bound, which need no type processing.
        """
        key = ("one", id(statement))
        if key not in self._compiled:
            self._compiled[key] = _precompile(
                statement.compile(dialect=self.store.engine.dialect))
        sql, order, defaults = self._compiled[key]
        return self._run(sql, [params[n] if n in params else defaults[n] for n in order])

    def _query_in(self, code: int, raws: list[bytes]) -> list[Reference]:
        if not raws:
            return []
        if not self.store.engine.dialect.positional:
            return self._query([(code, raw) for raw in raws])
        # One compiled ``IN (?, ?, ...)`` per algorithm and power-of-two length (padded by
        # repeating a value), rendered once and run on the DBAPI cursor: a bounded cache.
        size = max(16, 1 << (len(raws) - 1).bit_length())
        raws = raws + [raws[-1]] * (size - len(raws))
        key = ("in", code, size)
        if key not in self._compiled:
            statement = self._statement((code,), True).params({f"v{code}": raws})
            self._compiled[key] = _precompile(statement.compile(
                dialect=self.store.engine.dialect, compile_kwargs={"render_postcompile": True}))
        sql, order, defaults = self._compiled[key]
        values = iter(raws)
        rows = self._run(sql, [defaults[n] if n in defaults else next(values) for n in order])
        if not rows:
            return []
        with self.store.engine.connect() as conn:
            return self._references_from(conn, rows)

    def _run(self, sql: str, values: list[Any]) -> list[Any]:
        raw = self.store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(sql, values)
                return [_Row(*row) for row in cursor.fetchall()]
            finally:
                cursor.close()
        finally:
            raw.close()

    @staticmethod
    def _references_from(conn: Connection, rows: Sequence[Any]) -> list[Reference]:
        pks = {row.reference_pk for row in rows if row.reference_pk is not None}
        torrents: dict[int, TorrentMeta] = {}
        if pks:
            for t in conn.execute(select(*BankTorrent.__table__.c).where(
                    BankTorrent.reference_pk.in_(pks))):
                torrents[t.reference_pk] = _torrent_meta(t)
        out = []
        for row in rows:
            alg = BY_CODE[row.algorithm].name
            value = format_digest(alg, bytes(row.digest))
            out.append(Reference(
                bank=row.name, category=row.category,
                reference_id=row.reference_id if row.reference_id is not None else value,
                title=row.title, algorithm=alg, value=value, rights_holder=row.rights_holder,
                torrent=torrents.get(row.reference_pk) if row.reference_pk else None))
        out.sort(key=lambda r: (r.bank, r.reference_id, r.algorithm))
        return out

    def perceptual(self) -> Any:
        """The perceptual matcher over every bank (built or loaded once, then kept current)."""
        from netwarden.banks.perceptual import PerceptualMatcher

        if getattr(self, "_perceptual", None) is None:
            self._perceptual = PerceptualMatcher.open(self)
        return self._perceptual

    def perceptual_matches(self, observation: Any, banks: Iterable[str] | None = None
                           ) -> list[Any]:
        """Perceptual (PDQ, vPDQ) matches of an observation: see banks/perceptual.py."""
        return self.perceptual().matches(observation, banks)

    def references(self, names: Iterable[str] | None = None) -> Any:
        """The read-only view collectors get of the banks ``names`` (all banks when None)."""
        from netwarden.banks.view import BankReferenceView

        return BankReferenceView(self, names)

    # ------------------------------------------------------------------ listing

    def list_banks(self) -> list[BankInfo]:
        """Every bank with its counts, by name."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(*Bank.__table__.c).order_by(Bank.name)).all()
            return [_info(row) for row in rows]

    def show(self, name: str) -> BankInfo:
        """One bank with its import history; InputError if there is no such bank."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(*Bank.__table__.c).where(Bank.name == name)).first()
            if row is None:
                raise InputError(name, "no such bank")
            imports = conn.execute(select(*BankImport.__table__.c)
                                   .where(BankImport.bank_id == row.id)
                                   .order_by(BankImport.id)).all()
            return _info(row, tuple(
                ImportRecord(_utc(i.imported_at), i.format, i.source, i.source_sha256, i.added,
                             i.duplicates, i.bad) for i in imports))


def _precompile(done: Any) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """SQL text, positional parameter names and the statement's fixed values."""
    order = tuple(done.positiontup or ())
    fixed = {n: done.binds[n].effective_value for n in order
             if n in done.binds and not _VALUE_BIND.match(n)}
    return str(done), order, fixed


class _Row(NamedTuple):
    """A row of the digest query, in its column order."""

    algorithm: int
    digest: bytes
    reference_pk: int | None
    name: str
    category: str
    reference_id: str | None
    title: str | None
    rights_holder: str | None


def _info(row: Any, imports: tuple[ImportRecord, ...] = ()) -> BankInfo:
    return BankInfo(name=row.name, category=row.category, created_at=_utc(row.created_at),
                    references=row.reference_count, digests=row.digest_count,
                    algorithms=dict(sorted((row.algorithm_counts or {}).items())),
                    imports=imports)


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


def _torrent_row(pk: int, meta: TorrentMeta) -> dict[str, Any]:
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


def _torrent_meta(row: Any) -> TorrentMeta:
    layers = bdecode(bytes(row.piece_layers), max_size=1 << 40)
    return TorrentMeta(
        name=row.name, piece_length=row.piece_length, total_size=row.total_size,
        files=tuple(TorrentFile(f["path"], f["length"], f.get("pieces_root"))
                    for f in row.files),
        info_hash_v1=row.info_hash_v1, info_hash_v2=row.info_hash_v2, pieces=bytes(row.pieces),
        piece_layers={k.hex(): v for k, v in layers.items()},
        info=bytes(row.info) if row.info is not None else None)
