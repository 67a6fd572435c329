"""The append-only ledger over the installation database.

An append is one database transaction that writes the leaves (in blocks of 256: one
``ledger_bundles`` row per full block, one ``ledger_tail`` row per leaf after the last full
block; see :mod:`netwarden.ledger.models`) together with the hashes of every perfect subtree
they complete, so a crash leaves either the whole append or none of it; the transaction
commits before :meth:`Ledger.append` returns (SQLite runs with ``synchronous=FULL``), so a
returned :class:`LeafRef` is durable. Proofs fold at most O(log n) stored subtree hashes.

The look-up columns ``entries()`` filters by are not written on append (a per-leaf index row
with three secondary indexes cost more than everything else an append does): ``ledger_index``
is brought up to date from the entry bytes by the first look-up that needs it, in one sorted
bulk insert (:meth:`Ledger.catch_up_index`), so it is always complete when it is read.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import sys
import threading
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import rfc8785
from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from netwarden.errors import InputError, NetwardenError
from netwarden.ledger import merkle
from netwarden.ledger.checkpoint import parse_checkpoint, sign_checkpoint
from netwarden.ledger.keys import SigningKey, load_key
from netwarden.ledger.models import BundleRow, CheckpointRow, IndexRow, KeyRow, NodeRow, TailRow
from netwarden.records import Record
from netwarden.store.base import Store

if TYPE_CHECKING:
    from netwarden.ledger.witness import WitnessEndpoint

BUNDLES = cast(Table, BundleRow.__table__)
TAIL = cast(Table, TailRow.__table__)
INDEX = cast(Table, IndexRow.__table__)
NODES = cast(Table, NodeRow.__table__)
CHECKPOINTS = cast(Table, CheckpointRow.__table__)
KEYS = cast(Table, KeyRow.__table__)


#: leaves per stored block (and per C2SP tile / entry bundle): 2^HEIGHT
HEIGHT = 8
BLOCK = 1 << HEIGHT


class LedgerError(NetwardenError):
    """The stored ledger cannot serve a request (damaged storage, unknown index)."""


class LeafRef(NamedTuple):
    """Where an entry landed: its 0-based leaf index and RFC 6962 leaf hash.

    A named tuple, not a frozen dataclass: a batch append returns one per leaf, and building
    frozen dataclasses cost a sixth of the ledger's share of a 10,000-leaf batch.
    """

    # the field shadows tuple.index on purpose: every caller reads ``ref.index``
    index: int  # type: ignore[assignment]
    leaf_hash: bytes

    @property
    def hex(self) -> str:
        return self.leaf_hash.hex()


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as stored: the signed note and its optional RFC 3161 token."""

    id: int
    size: int
    root: bytes
    note: str
    key_id: str
    created_at: datetime
    tsa_url: str | None
    tsa_token: bytes | None

    def __str__(self) -> str:
        return self.note


@dataclass(frozen=True)
class LedgerEntry:
    """One stored leaf as a reader sees it: index, RFC 6962 leaf hash and canonical bytes.

    What :meth:`Ledger.entries` returns: readers outside ``ledger/`` get leaves through this
    and never through the storage tables, so the storage layout can change under them.
    """

    index: int
    leaf_hash: bytes
    data: bytes

    def record(self) -> dict[str, Any]:
        """The entry as a JSON object."""
        value = json.loads(self.data)
        if not isinstance(value, dict):
            raise LedgerError(f"leaf {self.index} is not a JSON object")
        return value


def _one_or_many(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class PreparedEntry(NamedTuple):
    """An entry ready to append: canonical bytes, leaf hash and its index columns."""

    data: bytes
    leaf_hash: bytes
    record_type: str | None
    record_id: str | None
    run_id: str | None
    match_id: str | None


def canonical(entry: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of an entry (the exact bytes that are hashed into the leaf)."""
    if not isinstance(entry, dict):
        raise InputError("ledger entry", f"must be a JSON object, got {type(entry).__name__}")
    try:
        return rfc8785.dumps(entry)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InputError("ledger entry", f"cannot be canonicalised as JSON: {exc}") from exc


def _column(entry: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InputError("ledger entry", f"field {key!r} must be a non-empty string",
                         where=str(entry.get("id", "?")))
    return value


class Ledger:
    """The installation's append-only Merkle ledger (see module docstring)."""

    def __init__(self, store: Store, key_dir: Path | None = None,
                 tsa_url: str | None = None,
                 witnesses: Sequence[WitnessEndpoint] | None = None) -> None:
        self.store = store
        self.key_dir = key_dir
        self.tsa_url = tsa_url if tsa_url is not None else os.environ.get("NETWARDEN_TSA_URL")
        if witnesses is None:
            witnesses = []
            if os.environ.get("NETWARDEN_WITNESSES", "").strip():
                from netwarden.ledger.witness import parse_endpoints

                witnesses = parse_endpoints(os.environ["NETWARDEN_WITNESSES"],
                                            "NETWARDEN_WITNESSES")
        self.witnesses = list(witnesses)
        #: what the last :meth:`checkpoint` could not get from its witnesses (refusals,
        #: unreachable witnesses); the checkpoint is stored all the same
        self.witness_problems: list[str] = []
        self._key: SigningKey | None = None
        self._frontier: merkle.Frontier | None = None
        self._wal: _WalCheckpointer | None = None

    @classmethod
    def open(cls, store: Store, key_dir: Path | None = None, tsa_url: str | None = None, *,
             require_key: bool = True,
             witnesses: Sequence[WitnessEndpoint] | None = None) -> Ledger:
        """Open the ledger in ``store``.

        With ``require_key`` (the default, for anything that appends and checkpoints) a missing
        signing key raises :class:`~netwarden.ledger.keys.KeyMissingError` now rather than at
        the end of a run; verification and reading need no private key.
        """
        ledger = cls(store, key_dir, tsa_url, witnesses)
        if require_key:
            _ = ledger.key
        return ledger

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def _write(self, defer_checkpoint: bool = False) -> Iterator[Connection]:
        """A write transaction that holds SQLite's write lock from its first statement, so the
        size read at its start stays true until commit.

        ``defer_checkpoint`` (SQLite): the WAL was copied into the database just before this
        transaction (:class:`_WalCheckpointer`), so its commit skips SQLite's automatic
        checkpoint (the next bulk append's checkpointer copies what it adds); the connection
        gets the default back after the commit.
        """
        with self.store.engine.connect() as conn:
            # The appends below go through the raw DBAPI cursor, which SQLAlchemy does not see:
            # the transaction must be begun at SQLAlchemy's level, or its commit() is a no-op
            # and the pool rolls the appends back when the connection is returned (on
            # PostgreSQL every leaf was lost that way).
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.begin()
            deferred = False
            try:
                yield conn
                if sqlite and defer_checkpoint:
                    conn.exec_driver_sql("PRAGMA wal_autocheckpoint = 0")
                    deferred = True
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                if deferred:
                    conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT}")

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read transaction over one consistent snapshot."""
        with self.store.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                conn.rollback()

    # -- appends --------------------------------------------------------------------------

    @staticmethod
    def _stored_size(conn: Connection) -> int:
        return _stored_size(conn)

    def _load_frontier(self, conn: Connection, size: int) -> merkle.Frontier:
        keys = merkle.frontier_nodes(size)
        found = _read_nodes(conn, set(keys))
        return merkle.Frontier(size, [found[k] for k in keys])

    def append(self, record: Record) -> LeafRef:
        """Append one record (a :class:`~netwarden.records.Record`); durable on return."""
        return self.append_many([record])[0]

    @staticmethod
    def prepare(record: Record) -> PreparedEntry:
        """Canonicalise ``record``'s entry and compute its leaf hash without appending it.

        The pipeline needs a record's leaf hash before the record is durable (a match names the
        leaf of its observation), and appends whole chains in one transaction; preparing once
        avoids canonicalising twice. Only records are taken: every leaf type is a ``Record``
        (issue 18), so no hand-built dict reaches the ledger.
        """
        if not isinstance(record, Record):
            raise InputError("ledger entry", "must be a netwarden.records.Record, got "
                             f"{type(record).__name__}")
        entry = record.entry()
        data = canonical(entry)
        return PreparedEntry(data, merkle.leaf_hash(data), _column(entry, "record_type", True),
                             _column(entry, "id"), _column(entry, "run_id"),
                             _column(entry, "match_id"))

    def append_many(self, entries: Sequence[Record | PreparedEntry]) -> list[LeafRef]:
        """Append records (or prepared ones) in order, in one transaction (all or nothing);
        durable on return."""
        prepared = [e if isinstance(e, PreparedEntry) else self.prepare(e) for e in entries]
        if not prepared:
            return []
        hashes = [p.leaf_hash for p in prepared]
        start = self._append_columns([p.data for p in prepared], hashes)
        return list(map(LeafRef._make, zip(range(start, start + len(hashes)), hashes,
                                           strict=True)))

    def append_canonical(self, entries: Sequence[bytes]) -> range:
        """Append entries that are already canonical record bytes (what :meth:`prepare` made,
        or another ledger's leaves), in order, in one transaction (all or nothing); durable
        on return. Returns the leaf indexes they took.

        The bulk path: no object per leaf, and the leaf hashes are computed here, while a
        second thread checkpoints SQLite's WAL (:class:`_WalCheckpointer`). The bytes are
        not re-checked: the look-up index reads its columns from them and files an entry
        that is not a record under an empty type.
        """
        datas = list(entries)
        if not datas:
            size = self.size
            return range(size, size)
        start = self._append_columns(datas, None)
        return range(start, start + len(datas))

    def _append_columns(self, datas: list[bytes], hashes: list[bytes] | None) -> int:
        """Append leaves (entries and their leaf hashes, None: compute them); return the
        first one's index."""
        for attempt in range(3):
            try:
                return self._append_once(datas, hashes)
            except Exception as exc:  # another writer took the index (PostgreSQL): retry
                if not isinstance(exc, self._errors("IntegrityError")) or attempt == 2:
                    raise
                self._frontier = None
        raise AssertionError("unreachable")

    def _append_once(self, datas: list[bytes], hashes: list[bytes] | None) -> int:
        if len(datas) < BULK_APPEND:
            return self._append_locked(
                datas, merkle.leaf_hashes(datas) if hashes is None else hashes, None, False)
        # a bulk append: its Python work (leaf hashes, tree, blocks) is done from a snapshot
        # before it takes the write lock, while a second thread checkpoints the WAL; the
        # checkpoint must be over before the write transaction begins, or SQLite cannot
        # restart the WAL from its beginning and it grows by a batch per append
        checkpointer = self._checkpointer()
        wait = checkpointer.start() if checkpointer is not None else None
        checkpointed = False
        try:
            if hashes is None:
                hashes = merkle.leaf_hashes(datas)
            plan = self._plan(datas, hashes)
        finally:
            if wait is not None:
                checkpointed = wait()
        return self._append_locked(datas, hashes, plan, checkpointed)

    def _plan(self, datas: list[bytes], hashes: list[bytes]) -> _Plan:
        """The rows an append would write at the size stored now (read without the write
        lock); the append uses them if nobody appended in between."""
        with self._read() as conn:
            size = self._stored_size(conn)
            frontier = self._frontier_at(conn, size)
            rows = _rows(conn, frontier, datas, hashes)
        return _Plan(size, frontier, rows)

    def _frontier_at(self, conn: Connection, size: int) -> merkle.Frontier:
        """A copy of the frontier at ``size`` (the cached one when it is current)."""
        frontier = self._frontier
        if frontier is None or frontier.size != size:
            frontier = self._load_frontier(conn, size)
        return frontier.copy()

    def _checkpointer(self) -> _WalCheckpointer | None:
        """The SQLite file's :class:`_WalCheckpointer` (none for PostgreSQL or memory)."""
        if self._wal is None:
            url = self.store.engine.url
            if (url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:")
                    or url.query.get("uri") or str(url.database).startswith("file:")):
                return None  # a URI names its file only to SQLite's own URI parser
            self._wal = _WalCheckpointer(str(url.database))
        return self._wal

    def _append_locked(self, datas: list[bytes], hashes: list[bytes], plan: _Plan | None,
                       checkpointed: bool) -> int:
        with self._write(defer_checkpoint=checkpointed) as conn:
            if conn.dialect.name != "sqlite":
                # one appender at a time, as SQLite's BEGIN IMMEDIATE gives: an append that
                # completes a block deletes the tail rows another one could be adding to
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({APPEND_LOCK})")
            size = self._stored_size(conn)
            if plan is not None and plan.size == size:
                frontier, rows = plan.frontier, plan.rows
            else:  # none made, or another writer appended since
                frontier = self._frontier_at(conn, size)
                rows = _rows(conn, frontier, datas, hashes)
            _write_rows(conn, rows)
        self._frontier = frontier
        return size

    # -- reads ------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of leaves stored."""
        with self._read() as conn:
            return self._stored_size(conn)

    def entry(self, index: int) -> bytes:
        """The canonical entry bytes of leaf ``index``."""
        return self.leaf(index).data

    def leaf(self, index: int) -> LedgerEntry:
        """Leaf ``index`` with its stored leaf hash."""
        found = self.entries(indices=[index])
        if not found:
            raise LedgerError(f"no leaf with index {index}")
        return found[0]

    def entries(self, kind: str | Sequence[str] | None = None, *,
                record_id: str | Sequence[str] | None = None,
                run_id: str | Sequence[str] | None = None,
                match_id: str | None = None,
                indices: Sequence[int] | None = None,
                newest_first: bool = False,
                limit: int | None = None) -> list[LedgerEntry]:
        """The stored leaves that match every given filter, in index order (or newest first).

        The only reader of stored entries for code outside ``ledger/`` (web, metrics, reports,
        liability, bundles): ``kind`` is the entry's ``record_type``; ``record_id`` its ``id``;
        ``run_id`` and ``match_id`` the entry's fields of those names. A filter by any of
        these first brings ``ledger_index`` up to date (:meth:`catch_up_index`), then uses one
        of its indexes; ``indices`` alone reads the blocks directly.
        """
        if match_id is not None and "\x00" in match_id:
            return []  # no id holds NUL (and PostgreSQL refuses to compare with one)
        filtered = any(f is not None for f in (kind, record_id, run_id, match_id))
        if not filtered:
            with self._read() as conn:
                n = self._stored_size(conn)
                if indices is None:
                    order = range(n - 1, -1, -1) if newest_first else range(n)
                    chosen = list(itertools.islice(order, limit))
                else:
                    chosen = sorted({int(i) for i in indices if 0 <= int(i) < n},
                                    reverse=newest_first)[:limit]
                return _entries_at(conn, chosen)
        covered = self._fresh_index()
        query = select(INDEX.c.idx)
        if kind is not None:
            query = query.where(INDEX.c.record_type.in_(_one_or_many(kind)))
        if record_id is not None:
            query = query.where(INDEX.c.record_id.in_(_one_or_many(record_id)))
        if run_id is not None:
            query = query.where(INDEX.c.run_id.in_(_one_or_many(run_id)))
        if match_id is not None:
            query = query.where(INDEX.c.match_id == match_id)
        if indices is not None:
            query = query.where(INDEX.c.idx.in_([int(i) for i in indices]))
        query = query.order_by(INDEX.c.idx.desc() if newest_first else INDEX.c.idx)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            chosen = [int(r[0]) for r in conn.execute(query)]
            n = self._stored_size(conn)
            if covered < n:  # the index could not be brought up to date: read the rest
                kinds, ids, runs = (None if f is None else set(_one_or_many(f))
                                    for f in (kind, record_id, run_id))
                wanted = None if indices is None else {int(i) for i in indices}
                for i, (_, data) in enumerate(_leaf_rows(conn, covered, n), covered):
                    rtype, rid, run, match = _index_columns(data)
                    if ((kinds is None or rtype in kinds) and (ids is None or rid in ids)
                            and (runs is None or run in runs)
                            and (match_id is None or match == match_id)
                            and (wanted is None or i in wanted)):
                        chosen.append(i)
                chosen = sorted(set(chosen), reverse=newest_first)[:limit]
            return _entries_at(conn, chosen)

    def counts_by_kind(self) -> dict[str, int]:
        """Number of stored leaves of each ``record_type`` (metrics)."""
        covered = self._fresh_index()
        query = select(INDEX.c.record_type, func.count()).where(INDEX.c.idx < covered
                                                                ).group_by(INDEX.c.record_type)
        with self._read() as conn:
            counts = {str(k): int(n) for k, n in conn.execute(query)}
            for _, data in _leaf_rows(conn, covered, self._stored_size(conn)):
                rtype = _index_columns(data)[0]
                counts[rtype] = counts.get(rtype, 0) + 1
        return counts

    def _errors(self, name: str) -> tuple[type[BaseException], ...]:
        """SQLAlchemy's and the database driver's exception classes called ``name``
        (``Error``: any database error; ``IntegrityError``: a key taken by another writer)."""
        ours: type[BaseException] = DBAPIError if name == "Error" else IntegrityError
        dbapi = self.store.engine.dialect.dbapi
        theirs = getattr(dbapi, name, None) if dbapi is not None else None
        return (ours, theirs) if isinstance(theirs, type) else (ours,)

    def _fresh_index(self) -> int:
        """Bring the look-up index up to date if this connection may write; return the size
        it covers. A reader without write access (a read-only copy of the database, a
        read-only PostgreSQL role for the web UI) gets the leaves past it read from the
        blocks instead, so a look-up is never stale and never needs to write."""
        try:
            self.catch_up_index()
        except Exception as exc:
            if not isinstance(exc, self._errors("Error")) or isinstance(
                    exc, self._errors("IntegrityError")):
                raise
        with self._read() as conn:
            return _indexed_size(conn)

    def catch_up_index(self) -> int:
        """Bring ``ledger_index`` up to the stored size; return how many leaves it added.

        Why not on append: a per-leaf row in three secondary indexes (one keyed by a random
        record id) dirties about a page per leaf, which cost more than the rest of a batch
        append together (docs/perf-ledger.md, "Layouts"). Deferred to the first look-up, the
        rows go in as one bulk insert, and they come from the entry bytes themselves, so the
        index cannot disagree with what the tree commits to. Another process catching up at
        the same time is harmless: whoever commits second finds nothing left (SQLite) or a
        duplicate key and starts over (PostgreSQL).
        """
        with self._read() as conn:
            if _indexed_size(conn) >= self._stored_size(conn):
                return 0
        for attempt in range(3):
            try:
                with self._write() as conn:
                    if conn.dialect.name != "sqlite":
                        conn.exec_driver_sql("LOCK TABLE ledger_index IN EXCLUSIVE MODE")
                    else:  # the record-id index takes random keys: keep its pages cached
                        conn.exec_driver_sql(f"PRAGMA cache_size = -{64 * 1024}")
                    start, end = _indexed_size(conn), self._stored_size(conn)
                    added = 0
                    # catching up at least as many leaves as are indexed: build the indexes
                    # afresh (one sort each) instead of a random-order insert per row
                    rebuild = end - start >= max(start, REBUILD_AT)
                    if rebuild:
                        for index in INDEX.indexes:
                            index.drop(conn)
                    for lo in range(start, end, INDEX_CHUNK):
                        hi = min(lo + INDEX_CHUNK, end)
                        rows = [(i, *_index_columns(e)) for i, (_, e)
                                in enumerate(_leaf_rows(conn, lo, hi), lo)]
                        _executemany(conn, "INSERT INTO ledger_index (idx, record_type, "
                                     "record_id, run_id, match_id) VALUES ({})", rows)
                        added += len(rows)
                    if rebuild:
                        for index in INDEX.indexes:
                            index.create(conn)
                    return added
            except Exception as exc:
                if not isinstance(exc, self._errors("IntegrityError")) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def leaf_range(self, start: int, end: int) -> list[tuple[bytes, bytes]]:
        """``(leaf hash, entry)`` of leaves ``[start, end)`` in one range read (tile publishing);
        a gap in storage is an error, never a shorter list."""
        with self._read() as conn:
            return _leaf_rows(conn, start, end)

    def hash_range(self, level: int, start: int, count: int) -> list[bytes]:
        """Hashes of the ``count`` complete subtrees at ``level`` from index ``start`` (level 0:
        leaf hashes): one range read, the contents of a hash tile."""
        if level == 0:
            return [h for h, _ in self.leaf_range(start, start + count)]
        with self._read() as conn:
            found = _node_range(conn, level, start, start + count)
        if len(found) != count:
            raise LedgerError(f"stored tree lacks level-{level} subtree hashes in "
                              f"{start}..{start + count - 1}; run `netwarden ledger verify`")
        return [found[i] for i in range(start, start + count)]

    def root(self, size: int | None = None) -> bytes:
        """Root of the tree of the first ``size`` leaves (default: all), from stored nodes."""
        with self._read() as conn:
            n = self._stored_size(conn)
            size = n if size is None else size
            if not 0 <= size <= n:
                raise LedgerError(f"the ledger has {n} leaves, no tree of size {size}")
            if size == 0:
                return merkle.EMPTY_ROOT
            keys = merkle.frontier_nodes(size)
            found = _read_nodes(conn, set(keys))
        return merkle.fold_right([found[k] for k in keys])

    def _proof(self, ranges: list[tuple[int, int]], size: int) -> list[bytes]:
        parts = [merkle.perfect_decomposition(a, b) for a, b in ranges]
        with self._read() as conn:
            n = self._stored_size(conn)
            if size > n:
                raise LedgerError(f"the ledger has {n} leaves, no tree of size {size}")
            found = _read_nodes(conn, {k for p in parts for k in p})
        return [merkle.fold_right([found[k] for k in p]) for p in parts]

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        size = self.size if size is None else size
        try:
            ranges = merkle.inclusion_ranges(index, size)
        except merkle.ProofError as exc:
            raise LedgerError(str(exc)) from exc
        return self._proof(ranges, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 consistency proof from the tree of ``size1`` to that of ``size2``."""
        if size1 == size2 or size1 == 0:
            return []
        try:
            ranges = merkle.consistency_ranges(size1, size2)
        except merkle.ProofError as exc:
            raise LedgerError(str(exc)) from exc
        return self._proof(ranges, size2)

    # -- checkpoints ------------------------------------------------------------------------

    @property
    def key(self) -> SigningKey:
        if self._key is None:
            self._key = load_key(self.key_dir)
            self._register_key(self._key)
        return self._key

    def _register_key(self, key: SigningKey) -> None:
        pub = key.public
        with self._write() as conn:
            known = conn.execute(select(KEYS.c.public_key).where(
                KEYS.c.key_id == pub.key_id.hex())).first()
            if known is None:
                now = datetime.now(UTC)
                conn.execute(KEYS.update().where(KEYS.c.retired_at.is_(None))
                             .values(retired_at=now))
                conn.execute(insert(KEYS).values(key_id=pub.key_id.hex(), name=pub.name,
                                                 public_key=pub.public, created_at=now))
            elif known[0] != pub.public:
                raise LedgerError(f"key id {pub.key_id.hex()} is stored with another public key")

    def public_keys(self) -> dict[str, tuple[str, bytes]]:
        """Every signing key the ledger has known: key id hex → (name, public key)."""
        with self._read() as conn:
            return {r.key_id: (r.name, r.public_key) for r in conn.execute(select(KEYS))}

    def checkpoint(self) -> StoredCheckpoint:
        """Sign, have witnessed, (optionally) timestamp and store a checkpoint of the tree.

        Cosignatures are gathered before the RFC 3161 timestamp, so the token covers the
        cosigned note as stored; a witness that refuses or is unreachable is recorded in
        :attr:`witness_problems` and the checkpoint is stored without its cosignature.
        """
        key = self.key
        with self._read() as conn:
            size = self._stored_size(conn)
        root = self.root(size)
        note = sign_checkpoint(key, size, root)
        self.witness_problems = []
        if self.witnesses:
            from netwarden.ledger.witness import gather_cosignatures

            gathered = gather_cosignatures(note, self.witnesses, self.consistency_proof)
            note, self.witness_problems = gathered.note, gathered.problems
        token = None
        if self.tsa_url:
            from netwarden.ledger.tsa import timestamp

            token = timestamp(note.encode(), self.tsa_url)
        now = datetime.now(UTC)
        with self._write() as conn:
            if conn.dialect.name != "sqlite":  # SQLite's BEGIN IMMEDIATE serialises this
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({APPEND_LOCK})")
            # Another process (a campaign's other worker) may have stored a checkpoint of a
            # larger tree since the size above was read. Storing this one after it would make
            # the stored checkpoints go backwards, which verify reports as a rollback; the
            # larger one covers every leaf this one does, so it is returned instead.
            newest = conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id.desc())
                                  .limit(1)).first()
            if newest is not None and newest.size > size:
                return StoredCheckpoint(newest.id, newest.size, newest.root, newest.note,
                                        newest.key_id, newest.created_at, newest.tsa_url,
                                        newest.tsa_token)
            inserted = conn.execute(insert(CHECKPOINTS).values(
                size=size, root=root, note=note, key_id=key.public.key_id.hex(), created_at=now,
                tsa_url=self.tsa_url if token else None, tsa_token=token)).inserted_primary_key
            if inserted is None:
                raise LedgerError("the checkpoint row was stored without an id")
            cid = int(inserted[0])
        parse_checkpoint(note)  # never store what we could not read back
        return StoredCheckpoint(cid, size, root, note, key.public.key_id.hex(), now,
                                self.tsa_url if token else None, token)

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Stored checkpoints, oldest first."""
        with self._read() as conn:
            rows = conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.id)).all()
        return [StoredCheckpoint(r.id, r.size, r.root, r.note, r.key_id, r.created_at, r.tsa_url,
                                 r.tsa_token) for r in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        cps = self.checkpoints()
        return cps[-1] if cps else None

    def verify(self, pinned: Sequence[Any] = ()) -> Any:
        """Recompute everything from storage; see :func:`netwarden.ledger.audit.verify_ledger`."""
        from netwarden.ledger.audit import verify_ledger

        return verify_ledger(self, pinned)


INDEX_CHUNK = 1 << 15
REBUILD_AT = 50_000
#: PostgreSQL advisory lock key that serialises appends (any constant; RFC 6962's number)
APPEND_LOCK = 6962
#: appends of at least this many leaves overlap SQLite's WAL checkpoint with their hashing
BULK_APPEND = 1024
#: SQLite's default: checkpoint when the WAL passes this many pages
WAL_AUTOCHECKPOINT = 1000
_SWAP = sys.byteorder == "big"
assert array("I").itemsize == 4


class _WalCheckpointer:
    """Copies the WAL into the database file on a second thread while a bulk append hashes.

    Why: in WAL mode every page is written twice, to the WAL at commit and into the database
    file by the checkpoint that SQLite runs inside the commit once the WAL passes 1,000
    pages; for a 10,000-leaf batch that checkpoint was a third of the append. A bulk append
    starts a checkpoint first (PASSIVE, of what earlier appends committed, on a connection
    of its own, with the GIL released while SQLite copies and syncs), lays out its rows
    meanwhile, waits for it before its write transaction begins (SQLite restarts the WAL
    only for a transaction that began on a fully copied WAL) and then commits without an
    automatic checkpoint. Nothing runs after the append returns, durability is untouched
    (what is in the WAL is committed), and the WAL stays at about one batch: the next bulk
    append copies it. If the checkpoint fails or copies only part of the WAL (a reader holds
    an old snapshot, another checkpoint is running), or another append of the same ledger is
    running one, the commit checkpoints as SQLite always does.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._busy = threading.Lock()

    def start(self) -> Callable[[], bool] | None:
        """Start a checkpoint; return the function that waits for it and says whether it
        ran (None: one is already running for another append)."""
        if not self._busy.acquire(blocking=False):
            return None
        done: list[bool] = []

        def run() -> None:
            # a connection per checkpoint, closed at once: one kept open would outlive the
            # store's own (engine.dispose()), and SQLite copies the WAL into the database and
            # removes it only when the last connection closes
            try:
                conn = sqlite3.connect(self.path, isolation_level=None)
                try:
                    conn.execute("PRAGMA synchronous = FULL")
                    busy, frames, copied = conn.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    # all of it copied, or the commit had better run SQLite's own checkpoint
                    done.append(busy == 0 and frames == copied)
                finally:
                    conn.close()
            except sqlite3.Error:
                done.append(False)
            finally:
                self._busy.release()

        thread = threading.Thread(target=run, name="netwarden-wal-checkpoint", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no thread to be had: the commit checkpoints as usual
            self._busy.release()
            return None

        def wait() -> bool:
            thread.join()
            return done == [True]
        return wait


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _executemany(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """DBAPI executemany with tuples: SQLAlchemy's per-row parameter handling cost more than
    SQLite's inserts themselves in the batch-append benchmark. ``{}`` in ``sql`` becomes the
    row's placeholders."""
    if not rows:
        return
    mark = _mark(conn)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql.format(", ".join([mark] * len(rows[0]))), rows)
    finally:
        cursor.close()


def _query(conn: Connection, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query through the raw cursor (``?`` in ``sql`` is the placeholder)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql.replace("?", _mark(conn)), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _stored_size(conn: Connection) -> int:
    """Leaves stored: one past the last tail leaf, else 256 × full blocks (raw cursor: this
    sits on every proof's hot path)."""
    top = _query(conn, "SELECT max(idx) FROM ledger_tail")[0][0]
    if top is not None:
        return int(top) + 1
    return _full_size(conn)


def _full_size(conn: Connection) -> int:
    """Leaves in full blocks: the first index the tail may hold."""
    top = _query(conn, "SELECT max(idx) FROM ledger_bundles")[0][0]
    return 0 if top is None else (int(top) + 1) << HEIGHT


def _indexed_size(conn: Connection) -> int:
    top = _query(conn, "SELECT max(idx) FROM ledger_index")[0][0]
    return 0 if top is None else int(top) + 1


def pack_entries(entries: Sequence[bytes]) -> bytes:
    """A stored block's entries: count, then each length (uint32, little-endian), then the
    entries back to back. Lengths up front let both directions run in C (``array``) instead
    of a Python step per entry; uint32, not C2SP's uint16, so an entry is not capped at 64 KiB
    (``ledger publish`` writes C2SP bundles from these)."""
    lengths = array("I", map(len, entries))
    if _SWAP:
        lengths.byteswap()
    return len(entries).to_bytes(4, "little") + lengths.tobytes() + b"".join(entries)


def unpack_entries(data: bytes) -> list[bytes]:
    """Inverse of :func:`pack_entries`. A damaged block gives what can be read (a short or
    truncated list); verify then names the leaves that no longer match their hashes."""
    count = int.from_bytes(data[:4], "little")
    lengths = array("I")
    lengths.frombytes(data[4:4 + 4 * count][:len(data[4:4 + 4 * count]) // 4 * 4])
    if _SWAP:
        lengths.byteswap()
    ends = itertools.accumulate(lengths, initial=4 + 4 * count)
    return [data[a:b] for a, b in itertools.pairwise(ends) if a < len(data)]


def inner_offset(level: int) -> int:
    """Byte offset of ``level`` (1..7) in a bundle's ``subtrees`` column."""
    return 32 * (BLOCK - (2 * BLOCK >> level))


def inner_levels(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Levels 1..8 of the perfect tree over one block's 256 leaf hashes."""
    sha256 = hashlib.sha256
    levels = []
    row = list(hashes)
    while len(row) > 1:
        row = [sha256(b"\x01" + a + b).digest() for a, b in zip(row[0::2], row[1::2],
                                                                  strict=True)]
        levels.append(row)
    return levels


Bundle = tuple[int, bytes, bytes, bytes]
#: (bundle rows, ``ledger_nodes`` rows, tail rows, whether the stored tail became a bundle)
Rows = tuple[list[Bundle], list[tuple[int, int, bytes]], list[tuple[int, bytes, bytes]], bool]


class _Plan(NamedTuple):
    """What an append will write, made before it takes the write lock."""

    size: int
    frontier: merkle.Frontier
    rows: Rows


def _rows(conn: Connection, frontier: merkle.Frontier, datas: list[bytes],
          hashes: list[bytes]) -> Rows:
    """The rows that write leaves [frontier.size, +len) and every subtree they complete;
    grows ``frontier``. Reads the stored tail when the append completes its block."""
    size = frontier.size

    def tail_rows() -> list[tuple[bytes, bytes]]:
        base = size - size % BLOCK
        old = _query(conn, "SELECT idx, leaf_hash, entry FROM ledger_tail WHERE idx >= ? "
                     "ORDER BY idx", (base,))
        if [r[0] for r in old] != list(range(base, size)):
            raise LedgerError(f"stored tail leaves {base}..{size - 1} are incomplete; run "
                              "`netwarden ledger verify`")
        return [(bytes(h), bytes(e)) for _, h, e in old]

    return layout(frontier, datas, hashes, tail_rows)


def _write_rows(conn: Connection, rows: Rows) -> None:
    bundles, nodes, tail, folded = rows
    if folded:
        conn.exec_driver_sql("DELETE FROM ledger_tail")
        conn.exec_driver_sql(f"DELETE FROM ledger_nodes WHERE level < {HEIGHT}")
    _executemany(conn, "INSERT INTO ledger_bundles (idx, hashes, subtrees, entries) VALUES ({})",
                 bundles)
    _executemany(conn, "INSERT INTO ledger_tail (idx, leaf_hash, entry) VALUES ({})", tail)
    _executemany(conn, "INSERT INTO ledger_nodes (level, idx, hash) VALUES ({})", nodes)


def layout(frontier: merkle.Frontier, datas: list[bytes], hashes: list[bytes],
           tail_rows: Callable[[], list[tuple[bytes, bytes]]]) -> Rows:
    """The rows an append of leaves [frontier.size, +len) writes; grows ``frontier``.

    Returns (bundle rows, ``ledger_nodes`` rows, tail rows, whether the stored tail became a
    bundle). The block the ledger was in the middle of (if any) is filled first: when it
    completes, its tail rows (``tail_rows()``) and tail subtree hashes become one bundle row;
    then every full block of the batch is one bundle row (its tree built level by level,
    :meth:`Frontier.extend_perfect`), and what is left over goes to the tail, one row per
    leaf. Kept apart from the database so a test can check it makes exactly the subtrees that
    merging leaf by leaf makes.
    """
    size = frontier.size
    m = len(hashes)
    bundles: list[Bundle] = []
    nodes: list[tuple[int, int, bytes]] = []
    tail: list[tuple[int, bytes, bytes]] = []
    folded = False
    i = 0
    if size % BLOCK:
        base = size - size % BLOCK
        i = min(m, base + BLOCK - size)
        emitted = frontier.extend(hashes[:i])
        if size + i == base + BLOCK:  # the tail block is full
            old = tail_rows()
            block = [h for h, _ in old] + hashes[:i]
            levels = inner_levels(block)
            bundles.append((base >> HEIGHT, b"".join(block),
                            b"".join([b"".join(lv) for lv in levels[:HEIGHT - 1]]),
                            pack_entries([e for _, e in old] + datas[:i])))
            nodes += [n for n in emitted if n[0] >= HEIGHT]
            folded = True
        else:
            tail += zip(range(size, size + i), hashes[:i], datas[:i], strict=True)
            nodes += emitted
    while m - i >= BLOCK:
        block = hashes[i:i + BLOCK]
        levels, above = frontier.extend_perfect(block)
        first = (size + i) >> HEIGHT
        bundles.append((first, b"".join(block),
                        b"".join([b"".join(lv) for lv in levels[:HEIGHT - 1]]),
                        pack_entries(datas[i:i + BLOCK])))
        nodes.append((HEIGHT, first, levels[HEIGHT - 1][0]))
        nodes += above
        i += BLOCK
    if i < m:
        nodes += frontier.extend(hashes[i:])
        tail += zip(range(size + i, size + m), hashes[i:], datas[i:], strict=True)
    return bundles, nodes, tail, folded


def stored_leaves(conn: Connection, start: int, end: int
                  ) -> list[tuple[int, bytes | None, bytes | None]]:
    """``(index, stored leaf hash, entry)`` of what is stored for leaves [start, end), as
    stored: a missing block or tail row is absent from the list, a bundle with fewer entries
    or hashes than 256 gives ``None`` for what it lacks (verify explains both)."""
    out: list[tuple[int, bytes | None, bytes | None]] = []
    if start >= end:
        return out
    rows = _query(conn, "SELECT idx, hashes, entries FROM ledger_bundles WHERE idx >= ? AND "
                  "idx < ? ORDER BY idx", (start >> HEIGHT, ((end - 1) >> HEIGHT) + 1))
    for b, hs, es in rows:
        hs = bytes(hs)
        entries = unpack_entries(bytes(es))
        base = int(b) << HEIGHT
        lo, hi = max(start, base), min(end, base + BLOCK)
        count = max(len(hs) // 32, len(entries))
        for j in range(lo - base, min(hi - base, count)):
            h = hs[32 * j:32 * j + 32] if 32 * j + 32 <= len(hs) else None
            out.append((base + j, h, entries[j] if j < len(entries) else None))
    for idx, h, e in _query(conn, "SELECT idx, leaf_hash, entry FROM ledger_tail WHERE idx >= ? "
                            "AND idx < ? ORDER BY idx", (start, end)):
        out.append((int(idx), bytes(h), bytes(e)))
    out.sort(key=lambda r: r[0])
    return out


def _leaf_rows(conn: Connection, start: int, end: int) -> list[tuple[bytes, bytes]]:
    """``(leaf hash, entry)`` of leaves [start, end); a gap or damaged block is an error."""
    rows = stored_leaves(conn, start, end)
    if (len(rows) != end - start or (rows and (rows[0][0], rows[-1][0]) != (start, end - 1))
            or any(h is None or e is None for _, h, e in rows)):
        raise LedgerError(f"leaves {start}..{end - 1} are not all stored; run "
                          "`netwarden ledger verify`")
    return [(h, e) for _, h, e in rows]  # type: ignore[misc]


def _entries_at(conn: Connection, indices: list[int]) -> list[LedgerEntry]:
    """The leaves at ``indices`` (stored ones; in the order given), each block read once."""
    if not indices:
        return []
    wanted = set(indices)
    found: dict[int, tuple[bytes, bytes]] = {}
    blocks = sorted({i >> HEIGHT for i in wanted})
    full = _full_size(conn) >> HEIGHT
    in_bundles = [b for b in blocks if b < full]
    for k in range(0, len(in_bundles), 500):
        part = in_bundles[k:k + 500]
        rows = _query(conn, "SELECT idx, hashes, entries FROM ledger_bundles WHERE idx IN ("
                      + ", ".join(["?"] * len(part)) + ")", tuple(part))
        for b, hs, es in rows:
            base = int(b) << HEIGHT
            hs, entries = bytes(hs), unpack_entries(bytes(es))
            for j, e in enumerate(entries):
                if base + j in wanted and 32 * j + 32 <= len(hs):
                    found[base + j] = (hs[32 * j:32 * j + 32], e)
    rest = sorted(i for i in wanted if i >= full << HEIGHT)
    for k in range(0, len(rest), 500):
        part = rest[k:k + 500]
        for idx, h, e in _query(conn, "SELECT idx, leaf_hash, entry FROM ledger_tail WHERE idx "
                                "IN (" + ", ".join(["?"] * len(part)) + ")", tuple(part)):
            found[int(idx)] = (bytes(h), bytes(e))
    return [LedgerEntry(i, *found[i]) for i in indices if i in found]


_DECODE = json.JSONDecoder().raw_decode


def _index_columns(data: bytes) -> tuple[str, str | None, str | None, str | None]:
    """``ledger_index`` columns of an entry, read from its canonical bytes (``raw_decode`` of
    the text: ``json.loads`` spends a third of its time detecting the encoding of bytes)."""
    try:
        value = _DECODE(data.decode())[0]
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return "", None, None, None
    get = value.get
    out = [get("record_type"), get("id"), get("run_id"), get("match_id")]
    for k, v in enumerate(out):
        if not (isinstance(v, str) and v):
            out[k] = "" if k == 0 else None
    return str(out[0]), out[1], out[2], out[3]


def _node_range(conn: Connection, level: int, start: int, end: int) -> dict[int, bytes]:
    """Stored hashes of nodes (level, i), start <= i < end (level >= 1), as stored: levels
    below 8 come from the blocks' ``subtrees`` column and, in the tail, from ``ledger_nodes``."""
    found: dict[int, bytes] = {}
    if start >= end:
        return found
    if level < HEIGHT:
        shift = HEIGHT - level
        per = BLOCK >> level
        off = inner_offset(level)
        for b, inner in _query(conn, "SELECT idx, subtrees FROM ledger_bundles WHERE idx >= ? AND "
                               "idx < ?", (start >> shift, ((end - 1) >> shift) + 1)):
            inner = bytes(inner)
            base = int(b) * per
            for j in range(max(start, base) - base, min(end, base + per) - base):
                h = inner[off + 32 * j:off + 32 * j + 32]
                if len(h) == 32:
                    found[base + j] = h
    for idx, h in _query(conn, "SELECT idx, hash FROM ledger_nodes WHERE level = ? AND idx >= ? "
                         "AND idx < ?", (level, start, end)):
        found.setdefault(int(idx), bytes(h))
    return found


def _read_nodes(conn: Connection, keys: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Hashes of stored nodes (level 0 = leaf hashes); raises if any is missing.

    One primary-key probe per node or block through the DBAPI cursor: a proof needs about
    2·log2(n) of them, those below level 8 from at most a few blocks, and SQLAlchemy
    statement building would cost more than the reads themselves.
    """
    mark = _mark(conn)
    full = _full_size(conn)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    found: dict[tuple[int, int], bytes] = {}
    blocks: dict[int, tuple[bytes, bytes] | None] = {}
    try:
        for level, index in keys:
            if level < HEIGHT and (index + 1) << level <= full:
                b = index >> (HEIGHT - level)
                if b not in blocks:
                    cursor.execute("SELECT hashes, subtrees FROM ledger_bundles WHERE idx = "
                                   f"{mark}", (b,))
                    row = cursor.fetchone()
                    blocks[b] = None if row is None else (bytes(row[0]), bytes(row[1]))
                block = blocks[b]
                if block is None:
                    continue
                j = index & ((BLOCK >> level) - 1)
                pos = 32 * j if level == 0 else inner_offset(level) + 32 * j
                h = (block[0] if level == 0 else block[1])[pos:pos + 32]
                if len(h) == 32:
                    found[(level, index)] = h
                continue
            if level == 0:
                cursor.execute(f"SELECT leaf_hash FROM ledger_tail WHERE idx = {mark}", (index,))
            else:
                cursor.execute(f"SELECT hash FROM ledger_nodes WHERE level = {mark} AND "
                               f"idx = {mark}", (level, index))
            row = cursor.fetchone()
            if row is not None:
                found[(level, index)] = bytes(row[0])
    finally:
        cursor.close()
    missing = keys - found.keys()
    if missing:
        raise LedgerError(f"stored tree is missing subtree hashes {sorted(missing)[:5]}; run "
                          "`netwarden ledger verify`")
    return found
