"""Bulk inserts into the exact index for bank imports, with exact counts of what was new.

Why not SQLAlchemy's ``insert(...).returning(...)``: its per-row parameter handling cost
several times what SQLite needs to insert the row (the import ran at 9-19k entries/s with it,
docs/perf-banks.md), and an import is millions of rows.
These functions run plain SQL on the DBAPI connection of the caller's SQLAlchemy transaction
(``conn.connection``), so they commit or roll back with everything else the import writes.

Two questions an import asks, each answered exactly, concurrent imports included: on SQLite
and PostgreSQL the insert itself decides what is new, never a look-up done before it.

* :func:`insert_counted`: how many of these digests were new? For entries that are nothing
  but one digest (a ``plain`` line), which is most of any big bank file. SQLite:
  ``INSERT … ON CONFLICT DO NOTHING`` through ``executemany`` and the connection's
  ``total_changes`` delta (only a key conflict is skipped, unlike ``OR IGNORE``);
  PostgreSQL: ``COPY`` into a temporary table, then one ``INSERT … SELECT … ON CONFLICT DO
  NOTHING`` whose row count is the rows it inserted.
* :func:`insert_returning`: which keys were new? For entries with references or several
  digests, whose added/duplicate verdict depends on which of their digests were new. SQLite:
  multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING``; PostgreSQL: the same ``COPY`` and
  ``INSERT … SELECT`` with ``RETURNING``.

Rows go in sorted by key: B-tree inserts in key order touch each page once per batch, which
doubled SQLite's raw insert rate at a million rows (docs/perf-banks.md). Other databases and
drivers (the PostgreSQL path needs psycopg 3 for COPY) fall back to SQLAlchemy Core: look the
keys up, insert the rest, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select

from netwarden.banks.models import BankDigest

Key = tuple[int, bytes]  # (algorithm code, raw digest)
Row = tuple[int, bytes, int | None]  # (algorithm code, raw digest, reference pk)

_TABLE = cast(Table, BankDigest.__table__)  # a declarative model's table is a Table
_COLUMNS = "algorithm, digest, bank_id, reference_pk"
# Rows per multi-row INSERT … RETURNING on SQLite: 4 parameters each, far below its 32,766
# bound parameters, large enough that statement overhead is a small share.
VALUES_ROWS = 500
IN_CHUNK = 4096
_STAGE = "nw_bank_import"  # PostgreSQL temporary table, dropped at commit


def insert_counted(conn: Connection, bank_id: int, code: int, raws: Sequence[bytes]) -> int:
    """Insert digests ``raws`` of algorithm ``code`` without references; return how many were new.

    ``raws`` should be sorted; repeats among them count once (the first is new at most).
    """
    if not raws:
        return 0
    dialect = _kind(conn)
    if dialect == "sqlite":
        # the sqlite3 objects themselves: SQLAlchemy types them as the generic DB-API, whose
        # executemany wants a Sequence (sqlite3 takes any iterable: no list of the batch)
        raw_conn: Any = conn.connection.driver_connection
        before = raw_conn.total_changes
        cursor: Any = conn.connection.cursor()
        try:
            cursor.executemany(
                f"INSERT INTO {_TABLE.name} ({_COLUMNS}) VALUES (?, ?, ?, NULL) "
                "ON CONFLICT DO NOTHING",
                zip(repeat(code), raws, repeat(bank_id)))
        finally:
            cursor.close()
        return int(raw_conn.total_changes - before)
    if dialect == "postgresql":
        cursor = conn.connection.cursor()
        try:
            _pg_stage(cursor, zip(repeat(code), raws, repeat(None)))
            # The command's row count is the rows it inserted: a conflict inserts none.
            cursor.execute(
                f"INSERT INTO {_TABLE.name} ({_COLUMNS}) "
                f"SELECT algorithm, digest, %s, reference_pk FROM {_STAGE} "
                "ORDER BY algorithm, digest ON CONFLICT DO NOTHING", (bank_id,))
            return int(cursor.rowcount)
        finally:
            cursor.close()
    return len(insert_returning(conn, bank_id, [(code, raw, None) for raw in dict.fromkeys(raws)]))


def insert_returning(conn: Connection, bank_id: int, rows: Sequence[Row]) -> set[Key]:
    """Insert ``rows`` (sorted, one per key) the bank lacks; return the keys actually inserted."""
    if not rows:
        return set()
    dialect = _kind(conn)
    cursor: Any = conn.connection.cursor() if dialect in ("sqlite", "postgresql") else None
    try:
        if dialect == "sqlite":
            return _sqlite_returning(cursor, bank_id, rows)
        if dialect == "postgresql":
            _pg_stage(cursor, rows)
            cursor.execute(
                f"INSERT INTO {_TABLE.name} ({_COLUMNS}) "
                f"SELECT algorithm, digest, %s, reference_pk FROM {_STAGE} "
                "ORDER BY algorithm, digest ON CONFLICT DO NOTHING RETURNING algorithm, digest",
                (bank_id,))
            return {(code, bytes(raw)) for code, raw in cursor.fetchall()}
        return _generic_returning(conn, bank_id, rows)
    finally:
        if cursor is not None:
            cursor.close()


def _kind(conn: Connection) -> str:
    """``sqlite``, ``postgresql`` (psycopg 3: its COPY API) or ``other`` (the Core fallback)."""
    dialect = conn.dialect
    if dialect.name == "sqlite" and dialect.driver == "pysqlite":
        return "sqlite"
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        return "postgresql"
    return "other"


def _sqlite_returning(cursor: Any, bank_id: int, rows: Sequence[Row]) -> set[Key]:
    new: set[Key] = set()
    full = _values_sql(VALUES_ROWS)
    for start in range(0, len(rows), VALUES_ROWS):
        chunk = rows[start:start + VALUES_ROWS]
        params: list[Any] = []
        for code, raw, ref in chunk:
            params += (code, raw, bank_id, ref)
        cursor.execute(full if len(chunk) == VALUES_ROWS else _values_sql(len(chunk)), params)
        new.update((code, bytes(raw)) for code, raw in cursor.fetchall())
    return new


def _values_sql(count: int) -> str:
    values = ", ".join(["(?, ?, ?, ?)"] * count)
    return (f"INSERT INTO {_TABLE.name} ({_COLUMNS}) VALUES {values} "
            "ON CONFLICT DO NOTHING RETURNING algorithm, digest")


def _pg_stage(cursor: Any, rows: Iterable[Row]) -> None:
    """Fill the transaction's staging table with ``rows`` by binary COPY (emptied first)."""
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (algorithm smallint, "
                   "digest bytea, reference_pk integer) ON COMMIT DROP")
    cursor.execute(f"TRUNCATE {_STAGE}")
    with cursor.copy(f"COPY {_STAGE} (algorithm, digest, reference_pk) FROM STDIN "
                     "(FORMAT BINARY)") as copy:
        copy.set_types(["int2", "bytea", "int4"])
        for row in rows:
            copy.write_row(row)


def _generic_returning(conn: Connection, bank_id: int, rows: Sequence[Row]) -> set[Key]:
    """Any other database: look the keys up, insert the rest (one transaction, no upsert)."""
    c = _TABLE.c
    existing: set[Key] = set()
    by_code: dict[int, list[bytes]] = {}
    for code, raw, _ in rows:
        by_code.setdefault(code, []).append(raw)
    for code, raws in by_code.items():
        for start in range(0, len(raws), IN_CHUNK):
            found = conn.execute(select(c.digest).where(
                c.algorithm == code, c.bank_id == bank_id,
                c.digest.in_(raws[start:start + IN_CHUNK]))).scalars()
            existing.update((code, bytes(d)) for d in found)
    new_rows: list[dict[str, Any]] = [
        {"algorithm": code, "digest": raw, "bank_id": bank_id, "reference_pk": ref}
        for code, raw, ref in rows if (code, raw) not in existing]
    if new_rows:
        conn.execute(insert(_TABLE), new_rows)
    return {(r["algorithm"], r["digest"]) for r in new_rows}
