"""The append-only ledger over the installation database.

An append is one database transaction that writes the leaf row (index, RFC 6962 leaf hash,
canonical entry bytes) together with the hashes of every perfect subtree the leaf completes, so
a crash leaves either the whole append or none of it; the transaction commits before
:meth:`Ledger.append` returns (SQLite runs with ``synchronous=FULL``), so a returned
:class:`LeafRef` is durable. Proofs fold at most O(log n) stored subtree hashes.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import rfc8785
from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from netwarden.errors import InputError, NetwardenError
from netwarden.ledger import merkle
from netwarden.ledger.checkpoint import parse_checkpoint, sign_checkpoint
from netwarden.ledger.keys import SigningKey, load_key
from netwarden.ledger.models import CheckpointRow, KeyRow, LeafRow, NodeRow
from netwarden.records import Record
from netwarden.store.base import Store

if TYPE_CHECKING:
    from netwarden.ledger.witness import WitnessEndpoint

LEAVES = LeafRow.__table__
NODES = NodeRow.__table__
CHECKPOINTS = CheckpointRow.__table__
KEYS = KeyRow.__table__


class LedgerError(NetwardenError):
    """The stored ledger cannot serve a request (damaged storage, unknown index)."""


@dataclass(frozen=True)
class LeafRef:
    """Where an entry landed: its 0-based leaf index and RFC 6962 leaf hash."""

    index: int
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
    def _write(self) -> Iterator[Connection]:
        """A write transaction that holds SQLite's write lock from its first statement, so the
        size read at its start stays true until commit."""
        with self.store.engine.connect() as conn:
            # The appends below go through the raw DBAPI cursor, which SQLAlchemy does not see:
            # the transaction must be begun at SQLAlchemy's level, or its commit() is a no-op
            # and the pool rolls the appends back when the connection is returned (on
            # PostgreSQL every leaf was lost that way).
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.begin()
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

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
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:  # raw cursor: this sits on every proof's hot path
            cursor.execute("SELECT max(idx) FROM ledger_leaves")
            top = cursor.fetchone()[0]
        finally:
            cursor.close()
        return 0 if top is None else top + 1

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
        for attempt in range(3):
            try:
                return self._append_prepared(prepared)
            except Exception as exc:  # another writer took the index (PostgreSQL): retry
                dbapi = self.store.engine.dialect.dbapi
                if not isinstance(exc, IntegrityError | dbapi.IntegrityError) or attempt == 2:
                    raise
                self._frontier = None
        raise AssertionError("unreachable")

    def _append_prepared(self, prepared: list[tuple]) -> list[LeafRef]:
        with self._write() as conn:
            size = self._stored_size(conn)
            frontier = self._frontier
            if frontier is None or frontier.size != size:
                frontier = self._load_frontier(conn, size)
            frontier = frontier.copy()
            nodes = _grow(frontier, [p[1] for p in prepared])
            leaves = [(index, lh, data, rtype, rid, run, match) for index,
                      (data, lh, rtype, rid, run, match) in enumerate(prepared, size)]
            refs = [LeafRef(index, p[1]) for index, p in enumerate(prepared, size)]
            # DBAPI executemany with tuples: SQLAlchemy's per-row parameter handling cost more
            # than SQLite's inserts themselves in the batch-append benchmark.
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(
                    "INSERT INTO ledger_leaves (idx, leaf_hash, entry, record_type, record_id, "
                    f"run_id, match_id) VALUES ({', '.join([mark] * 7)})", leaves)
                if nodes:
                    cursor.executemany("INSERT INTO ledger_nodes (level, idx, hash) VALUES "
                                       f"({mark}, {mark}, {mark})", nodes)
            finally:
                cursor.close()
        self._frontier = frontier
        return refs

    # -- reads ------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of leaves stored."""
        with self._read() as conn:
            return self._stored_size(conn)

    def entry(self, index: int) -> bytes:
        """The canonical entry bytes of leaf ``index``."""
        with self._read() as conn:
            row = conn.execute(select(LEAVES.c.entry).where(LEAVES.c.idx == index)).first()
        if row is None:
            raise LedgerError(f"no leaf with index {index}")
        return row[0]

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
        ``run_id`` and ``match_id`` the entry's fields of those names. Each filter is one of the
        look-ups the store keeps an index for.
        """
        query = select(LEAVES.c.idx, LEAVES.c.leaf_hash, LEAVES.c.entry)
        if kind is not None:
            query = query.where(LEAVES.c.record_type.in_(_one_or_many(kind)))
        if record_id is not None:
            query = query.where(LEAVES.c.record_id.in_(_one_or_many(record_id)))
        if run_id is not None:
            query = query.where(LEAVES.c.run_id.in_(_one_or_many(run_id)))
        if match_id is not None:
            if "\x00" in match_id:
                return []  # no id holds NUL (and PostgreSQL refuses to compare with one)
            query = query.where(LEAVES.c.match_id == match_id)
        if indices is not None:
            query = query.where(LEAVES.c.idx.in_([int(i) for i in indices]))
        query = query.order_by(LEAVES.c.idx.desc() if newest_first else LEAVES.c.idx)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [LedgerEntry(int(i), bytes(h), bytes(e)) for i, h, e in conn.execute(query)]

    def counts_by_kind(self) -> dict[str, int]:
        """Number of stored leaves of each ``record_type`` (metrics)."""
        query = select(LEAVES.c.record_type, func.count()).group_by(LEAVES.c.record_type)
        with self._read() as conn:
            return {str(k): int(n) for k, n in conn.execute(query)}

    def leaf_range(self, start: int, end: int) -> list[tuple[bytes, bytes]]:
        """``(leaf hash, entry)`` of leaves ``[start, end)`` in one range read (tile publishing);
        a gap in storage is an error, never a shorter list."""
        with self._read() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            try:
                cursor.execute("SELECT idx, leaf_hash, entry FROM ledger_leaves WHERE idx >= "
                               f"{mark} AND idx < {mark} ORDER BY idx", (start, end))
                rows = cursor.fetchall()
            finally:
                cursor.close()
        if len(rows) != end - start or (rows and (rows[0][0], rows[-1][0]) != (start, end - 1)):
            raise LedgerError(f"leaves {start}..{end - 1} are not all stored; run "
                              "`netwarden ledger verify`")
        return [(bytes(h), bytes(e)) for _, h, e in rows]

    def hash_range(self, level: int, start: int, count: int) -> list[bytes]:
        """Hashes of the ``count`` complete subtrees at ``level`` from index ``start`` (level 0:
        leaf hashes): one range read, the contents of a hash tile."""
        if level == 0:
            return [h for h, _ in self.leaf_range(start, start + count)]
        with self._read() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            try:
                cursor.execute(f"SELECT hash FROM ledger_nodes WHERE level = {mark} AND idx >= "
                               f"{mark} AND idx < {mark} ORDER BY idx",
                               (level, start, start + count))
                rows = cursor.fetchall()
            finally:
                cursor.close()
        if len(rows) != count:
            raise LedgerError(f"stored tree lacks level-{level} subtree hashes in "
                              f"{start}..{start + count - 1}; run `netwarden ledger verify`")
        return [bytes(r[0]) for r in rows]

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
            cid = conn.execute(insert(CHECKPOINTS).values(
                size=size, root=root, note=note, key_id=key.public.key_id.hex(), created_at=now,
                tsa_url=self.tsa_url if token else None, tsa_token=token)).inserted_primary_key[0]
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


def _grow(frontier: merkle.Frontier, hashes: list[bytes]) -> list[tuple[int, int, bytes]]:
    """Append ``hashes`` to ``frontier`` in aligned perfect blocks; every completed subtree.

    A batch [size, size + m) splits into O(log m) aligned blocks, each built level by level
    (:meth:`~netwarden.ledger.merkle.Frontier.extend_perfect`), about half the Python time
    of merging leaf by leaf; the subtrees are the same ones :meth:`Frontier.extend` makes.
    """
    nodes: list[tuple[int, int, bytes]] = []
    start = frontier.size
    for level, index in merkle.perfect_decomposition(start, start + len(hashes)):
        first = index << level
        levels, above = frontier.extend_perfect(hashes[first - start:first - start + (1 << level)])
        for lv, row in enumerate(levels, 1):
            nodes += zip(itertools.repeat(lv), range(first >> lv, (first >> lv) + len(row)), row,
                         strict=False)
        nodes += above
    return nodes


def _read_nodes(conn: Connection, keys: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Hashes of stored nodes (level 0 = leaf hashes); raises if any is missing.

    One primary-key probe per node through the DBAPI cursor: a proof needs about 2·log2(n)
    of them and SQLAlchemy statement building would cost more than the reads themselves.
    """
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    leaf_sql = f"SELECT leaf_hash FROM ledger_leaves WHERE idx = {mark}"
    node_sql = f"SELECT hash FROM ledger_nodes WHERE level = {mark} AND idx = {mark}"
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    found: dict[tuple[int, int], bytes] = {}
    try:
        for level, index in keys:
            if level == 0:
                cursor.execute(leaf_sql, (index,))
            else:
                cursor.execute(node_sql, (level, index))
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
