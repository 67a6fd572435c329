"""Import bank files into the database and look digests up in the exact index.

Import streams a format's entries in batches (50,000 by default), one transaction per batch:
existing digests are found with the same primary-key look-up an audit uses, only new rows are
inserted (executemany, sorted by key for B-tree locality). Importing a file twice therefore
adds nothing and counts every entry as a duplicate.

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
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from netwarden.banks.digests import BY_CODE, DigestError, algorithm, format_digest, parse_digest
from netwarden.banks.formats import BankEntry, LineProblem, TorrentFile, TorrentMeta, get_format
from netwarden.banks.models import Bank, BankDigest, BankImport, BankReference, BankTorrent
from netwarden.codec.bencode import decode as bdecode
from netwarden.codec.bencode import encode as bencode
from netwarden.errors import InputError
from netwarden.store.base import Store

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
IN_CHUNK = 5000  # well under SQLite's 32,766 bound parameters


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


def _insert_ignoring_duplicates(conn: Connection, table: Any) -> Any:
    """INSERT that skips rows already present: a safety net behind the explicit dedup."""
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return insert(table)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class BankStore:
    """Reference banks in an open :class:`~netwarden.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
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
        self._statements: dict[tuple[int, ...], Any] = {}

    # ------------------------------------------------------------------ import

    def import_file(self, name: str, category: str, fmt: str, path: str | Path, *,
                    batch_size: int = 50_000, max_problems: int = 1000,
                    progress: Callable[[int], None] | None = None) -> ImportReport:
        """Import ``path`` in format ``fmt`` into bank ``name`` (created if new).

        Raises InputError if the file cannot be used at all or the bank exists with another
        category; bad records are counted and listed in the report instead.
        """
        check_slug(name, "name")
        check_slug(category, "category")
        bank_format = get_format(fmt)
        path = Path(path)
        items = bank_format.parse(path)
        first = next(items, None)  # opens and checks the file before anything is written
        report = ImportReport(bank=name, category=category, format=fmt, source=str(path),
                              source_sha256=_file_sha256(path) if path.is_file() else None)
        bank_id = self._bank_for_import(name, category)
        batch: list[BankEntry] = []
        stream = items if first is None else _prepend(first, items)
        for item in stream:
            if isinstance(item, LineProblem):
                report.bad += 1
                if len(report.problems) < max_problems:
                    report.problems.append(item)
                continue
            batch.append(item)
            if len(batch) >= batch_size:
                self._flush(bank_id, batch, report)
                batch = []
                if progress:
                    progress(report.entries + report.bad)
        if batch:
            self._flush(bank_id, batch, report)
        if progress:
            progress(report.entries + report.bad)
        with self.store.engine.begin() as conn:
            conn.execute(insert(BankImport).values(
                bank_id=bank_id, imported_at=datetime.now(UTC), format=fmt, source=str(path),
                source_sha256=report.source_sha256, added=report.added,
                duplicates=report.duplicates, bad=report.bad))
        return report

    def _bank_for_import(self, name: str, category: str) -> int:
        with self.store.engine.begin() as conn:
            row = conn.execute(select(Bank.id, Bank.category).where(Bank.name == name)).first()
            if row is not None:
                if row.category != category:
                    raise InputError("--category", f"bank {name!r} holds category "
                                                   f"{row.category!r}, not {category!r}")
                return int(row.id)
            return int(conn.execute(insert(Bank).values(
                name=name, category=category, created_at=datetime.now(UTC), digest_count=0,
                reference_count=0, algorithm_counts={})).inserted_primary_key[0])

    def _flush(self, bank_id: int, batch: list[BankEntry], report: ImportReport) -> None:
        with self.store.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                # A bigger page cache for the import's random B-tree inserts (per connection).
                conn.exec_driver_sql("PRAGMA cache_size=-131072")
            ref_pks, new_refs = self._references(conn, bank_id, batch)
            # Candidate digests in batch order; the first entry to bring a digest owns it.
            existing: set[tuple[int, bytes]] = set()
            wanted: dict[int, list[bytes]] = {}
            for entry in batch:
                for alg, raw in entry.digests.items():
                    wanted.setdefault(algorithm(alg).code, []).append(raw)
            for code, raws in wanted.items():
                for chunk in _chunks(sorted(set(raws)), IN_CHUNK):
                    c = BankDigest.__table__.c
                    found = conn.execute(
                        select(c.digest).where(c.algorithm == code, c.bank_id == bank_id,
                                               c.digest.in_(chunk))).scalars()
                    existing.update((code, bytes(d)) for d in found)
            rows: dict[tuple[int, bytes], int | None] = {}
            counts: dict[str, int] = {}
            references_added = 0
            for i, entry in enumerate(batch):
                new = i in new_refs
                for alg, raw in entry.digests.items():
                    key = (algorithm(alg).code, raw)
                    if key in existing or key in rows:
                        continue
                    rows[key] = ref_pks.get(i)
                    counts[alg] = counts.get(alg, 0) + 1
                    new = True
                if new:
                    report.added += 1
                    # A plain digest is its own reference; others count when their row is new.
                    if entry.reference_id is None or i in new_refs:
                        references_added += 1
                else:
                    report.duplicates += 1
            if rows:
                conn.execute(_insert_ignoring_duplicates(conn, BankDigest.__table__), [
                    {"algorithm": code, "digest": raw, "bank_id": bank_id, "reference_pk": pk}
                    for (code, raw), pk in sorted(rows.items(), key=lambda kv: kv[0])])
            bank = conn.execute(select(Bank.algorithm_counts).where(Bank.id == bank_id)).one()
            merged = dict(bank.algorithm_counts or {})
            for alg, n in counts.items():
                merged[alg] = merged.get(alg, 0) + n
            conn.execute(update(Bank).where(Bank.id == bank_id).values(
                digest_count=Bank.digest_count + len(rows),
                reference_count=Bank.reference_count + references_added,
                algorithm_counts=merged))
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size=-2000")

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
            try:
                keys.append((algorithm(name).code, parse_digest(name, str(value))))
            except DigestError:
                continue
        return self._query(keys) if keys else []

    def lookup_bulk(self, algorithm_name: str,
                    values: Iterable[str]) -> dict[str, list[Reference]]:
        """Batched look-up of many digests of one algorithm: canonical value → references.

        For bulk work (re-checking a bank against a stored run, benchmarks): one
        ``IN`` query per 5,000 values. Malformed values are skipped.
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

    def _statement(self, codes: tuple[int, ...]) -> Any:
        """``(algorithm = c1 AND digest IN (...)) OR ...``, built once per set of algorithms."""
        statement = self._statements.get(codes)
        if statement is None:
            c = BankDigest.__table__.c
            statement = self._digest_query.where(or_(*(
                and_(c.algorithm == code, c.digest.in_(bindparam(f"v{code}", expanding=True)))
                for code in codes)))
            self._statements[codes] = statement
        return statement

    def _query(self, keys: list[tuple[int, bytes]]) -> list[Reference]:
        by_code: dict[int, list[bytes]] = {}
        for code, raw in keys:
            by_code.setdefault(code, []).append(raw)
        codes = tuple(sorted(by_code))
        with self.store.engine.connect() as conn:
            rows = conn.execute(self._statement(codes),
                                {f"v{code}": by_code[code] for code in codes}).all()
            return self._references_from(conn, rows)

    def _query_in(self, code: int, raws: list[bytes]) -> list[Reference]:
        return self._query([(code, raw) for raw in raws]) if raws else []

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
    }


def _torrent_meta(row: Any) -> TorrentMeta:
    layers = bdecode(bytes(row.piece_layers), max_size=1 << 40)
    return TorrentMeta(
        name=row.name, piece_length=row.piece_length, total_size=row.total_size,
        files=tuple(TorrentFile(f["path"], f["length"], f.get("pieces_root"))
                    for f in row.files),
        info_hash_v1=row.info_hash_v1, info_hash_v2=row.info_hash_v2, pieces=bytes(row.pieces),
        piece_layers={k.hex(): v for k, v in layers.items()})
