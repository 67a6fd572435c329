"""The exact-digest index: which bank references hold a given digest.

Look-ups take text digests as observations carry them, convert them to raw bytes and query
``(algorithm, digest)`` on the ``bank_digests`` primary key, batched.

Speed. Identification asks once per observation, and SQLAlchemy's per-execution work
(statement caching, parameter processing, result set-up) costs several times the SQLite
primary-key look-up itself. So each statement *shape* (which algorithms, one value or an
``IN`` list of a power-of-two length) is built once with SQLAlchemy Core, compiled once for
the engine's dialect, and then run as that SQL on a DBAPI cursor: :class:`_Prepared` holds the
SQL and positional parameters SQLAlchemy's ``Compiled.construct_expanded_state`` gives (the
supported way to take SQL and parameters out of a compiled statement), with the positions of
the per-call values. Every value bound per call is a plain ``int`` or ``bytes`` that needs
no type processing. Dialects with named parameters (PostgreSQL's psycopg) go through ordinary
Core execution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.engine import Dialect

from netwarden.banks.digests import (
    BY_CODE,
    PERCEPTUAL,
    DigestError,
    algorithm,
    format_digest,
    parse_digest,
)
from netwarden.banks.formats import TorrentMeta
from netwarden.banks.models import Bank, BankDigest, BankReference
from netwarden.banks.torrents import torrents_of
from netwarden.errors import InputError
from netwarden.store.base import Store

__all__ = ["IN_CHUNK", "DigestIndex", "Reference"]

_Select = Select[*tuple[Any, ...]]
IN_CHUNK = 4096  # a power of two, well under SQLite's 32,766 bound parameters
_MIN_IN = 16  # the shortest IN list compiled: fewer shapes for small batches


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


class _Slot:
    """Stands for the ``key``-th value of a call when a statement is compiled (see _Prepared)."""

    __slots__ = ("key",)

    def __init__(self, key: int) -> None:
        self.key = key


@dataclass(frozen=True)
class _Prepared:
    """A Core statement compiled once: its SQL and positional values, with the positions of
    the per-call values.

    SQLAlchemy's ``Compiled.construct_expanded_state`` renders the statement for a parameter
    set (expanding ``IN`` lists included) and gives the SQL and its positional parameters.
    It is given :class:`_Slot` markers for the per-call values, so the positions they land
    in are found by identity, without assuming how SQLAlchemy names bound parameters; the
    statement's own values (the algorithm codes) are kept as rendered.
    """

    sql: str
    template: tuple[Any, ...]
    slots: tuple[tuple[int, int], ...]  # (position in the SQL's parameters, value index)

    @classmethod
    def compile(cls, statement: _Select, dialect: Dialect,
                params: Mapping[str, _Slot | list[_Slot]]) -> _Prepared:
        state = statement.compile(dialect=dialect).construct_expanded_state(params)
        template = tuple(state.positional_parameters or ())
        slots = tuple((pos, value.key) for pos, value in enumerate(template)
                      if isinstance(value, _Slot))
        return cls(state.statement, template, slots)

    def values(self, args: Sequence[Any]) -> list[Any]:
        """The SQL's positional parameters for this call's values ``args``."""
        out = list(self.template)
        for pos, key in self.slots:
            out[pos] = args[key]
        return out


class DigestIndex:
    """Exact look-ups in the banks of an open :class:`~netwarden.store.Store`."""

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
        self._statements: dict[tuple[Any, ...], _Select] = {}
        self._prepared: dict[tuple[Any, ...], _Prepared] = {}

    def lookup(self, algorithm_name: str, value: str) -> list[Reference]:
        """Every reference holding digest ``value`` of ``algorithm_name``; InputError if bad."""
        try:
            raw = parse_digest(algorithm_name, value)
        except DigestError as exc:
            raise InputError(f"{algorithm_name} digest", str(exc)) from None
        return self._query([(algorithm(algorithm_name).code, raw)])

    def lookup_many(self, digests: Mapping[str, str]) -> list[Reference]:
        """References matching any of an observation's digests, in one query.

        Unknown algorithms (``size``) and malformed values are skipped, and so are perceptual
        hashes (``pdq``, matched by distance: banks/perceptual.py): digests come from hostile
        endpoints too, and a malformed one simply matches nothing.
        """
        keys: list[tuple[int, bytes]] = []
        for name, value in digests.items():
            if name in PERCEPTUAL:
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

    # ------------------------------------------------------------------ statements

    def _statement(self, codes: tuple[int, ...], many: bool) -> _Select:
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

    def _prepared_statement(self, codes: tuple[int, ...], size: int) -> _Prepared:
        """The statement of :meth:`_statement` rendered once for one value per algorithm
        (``size`` 0) or for one algorithm and an ``IN`` list of ``size`` values."""
        key = (size, *codes)
        prepared = self._prepared.get(key)
        if prepared is None:
            params: dict[str, _Slot | list[_Slot]] = (
                {f"v{code}": _Slot(i) for i, code in enumerate(codes)} if not size
                else {f"v{codes[0]}": [_Slot(i) for i in range(size)]})
            prepared = self._prepared[key] = _Prepared.compile(
                self._statement(codes, bool(size)), self.store.engine.dialect, params)
        return prepared

    # ------------------------------------------------------------------ execution

    def _query(self, keys: list[tuple[int, bytes]]) -> list[Reference]:
        by_code: dict[int, list[bytes]] = {}
        for code, raw in keys:
            by_code.setdefault(code, []).append(raw)
        codes = tuple(sorted(by_code))
        many = len(keys) != len(codes)
        rows: Sequence[Any]
        if not many and self.store.engine.dialect.positional:
            prepared = self._prepared_statement(codes, 0)
            rows = self._run(prepared.sql, prepared.values([by_code[c][0] for c in codes]))
            if not rows:
                return []
        else:
            params = {f"v{code}": by_code[code] if many else by_code[code][0] for code in codes}
            with self.store.engine.connect() as conn:
                rows = conn.execute(self._statement(codes, many), params).all()
        return self._references_from(rows)

    def _query_in(self, code: int, raws: list[bytes]) -> list[Reference]:
        if not raws:
            return []
        if not self.store.engine.dialect.positional:
            return self._query([(code, raw) for raw in raws])
        # One compiled ``IN (?, ?, ...)`` per algorithm and power-of-two length (padded by
        # repeating a value): a bounded cache of shapes.
        size = max(_MIN_IN, 1 << (len(raws) - 1).bit_length())
        prepared = self._prepared_statement((code,), size)
        rows = self._run(prepared.sql, prepared.values(raws + [raws[-1]] * (size - len(raws))))
        return self._references_from(rows) if rows else []

    def _run(self, sql: str, values: list[Any]) -> list[_Row]:
        """Run compiled SQL on a pooled DBAPI connection (see the module's docstring)."""
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

    def _references_from(self, rows: Sequence[Any]) -> list[Reference]:
        pks = {row.reference_pk for row in rows if row.reference_pk is not None}
        torrents: dict[int, TorrentMeta] = {}
        if pks:
            with self.store.engine.connect() as conn:
                torrents = torrents_of(conn, pks)
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
