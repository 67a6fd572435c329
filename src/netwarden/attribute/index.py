"""On-disk interval index of one log file, so look-ups never re-read the log.

Provider logs run to hundreds of megabytes; a finding needs one look-up. Each log is streamed
once through its :class:`~netwarden.attribute.base.LogSource` into a small SQLite file (its own
file, separate from the installation's main database, because it is a disposable cache of the
log and not evidence itself: the evidence is the log lines it points back to). The cache file's
name is keyed by the log's size, mtime and the SHA-256 of its first 64 KiB plus the parser's
settings, so a changed or rotated log, or a changed time zone, is indexed anew; an unchanged one
is reused across runs. The file is built under a temporary name and renamed when complete, so
a crash never leaves a half index that looks whole.

The SQLite file is what persists; look-ups do not query it. When the index is opened, its
intervals are read once (streamed in chunks) into compact NumPy columns sorted by (address,
start): addresses as integers (IPv4 as ``uint32``, IPv6 as two ``uint64`` halves), one row
offset per address, starts/ends as ``float64``, line numbers and ports in the smallest integer
type that holds them, and accounts, session ids, notes and end kinds as codes into string
tables kept as one UTF-8 blob each. A look-up is then a binary search for the address, a
binary search for the last start at or before the window's end and a short backward scan
bounded by the longest finite interval of the file: the same rows, in the same order, as the
SQLite query ``ip = ? AND start BETWEEN low AND high AND end >= floor`` (start, rowid order),
only about 100 times cheaper than one query from Python. A bounded map from recently asked
address texts to their row span saves the address search for repeated endpoints (an audit asks
about the same endpoints again and again: every item a peer offers is a finding).

``in_memory=False`` keeps the old one-query-per-look-up path; it is the reference the tests
compare the arrays against, and the fallback for an index whose stored addresses are not
canonical address texts (never written by :func:`build_index`, but a hand-made file might).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import os
import sqlite3
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from netwarden.attribute.base import Interval, LogProblem, LogSource
from netwarden.errors import InputError

SCHEMA_VERSION = 2  # 2: the ids column (identifiers for the join)
HEAD_BYTES = 64 * 1024
BATCH = 20_000
CACHE_ADDRESSES = 65_536  # address texts whose row span is remembered after a look-up

_COLUMNS = ("ip", "start", "end", "port_lo", "port_hi", "account", "line_first", "line_last",
            "end_kind", "session_id", "note", "ids")
_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE intervals(ip TEXT NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL,
    port_lo INTEGER NOT NULL, port_hi INTEGER NOT NULL, account TEXT NOT NULL,
    line_first INTEGER NOT NULL, line_last INTEGER NOT NULL, end_kind TEXT NOT NULL,
    session_id TEXT NOT NULL, note TEXT NOT NULL, ids TEXT NOT NULL DEFAULT '');
CREATE TABLE problems(line INTEGER NOT NULL, problem TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Coverage:
    """The time span a log speaks for (first and last event time, POSIX seconds)."""

    first: float
    last: float

    def contains(self, moment: float) -> bool:
        return self.first <= moment <= self.last


def cache_key(source: LogSource) -> str:
    """Hex key of (file identity, parser settings, schema): changes when any of them does."""
    try:
        stat = source.path.stat()
        with source.path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except FileNotFoundError:
        raise InputError(source.name, "log file not found") from None
    except OSError as exc:
        raise InputError(source.name, f"cannot be read: {exc.strerror}") from None
    ident = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
             "head": hashlib.sha256(head).hexdigest(), "params": source.cache_params(),
             "schema": SCHEMA_VERSION}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


_MASK64 = (1 << 64) - 1
SMALL_TABLE = 4_096  # string tables up to this size (or a quarter of the rows) stay decoded
_CHUNK = 65_536  # rows fetched from SQLite at a time while loading the arrays
_ROWS_QUERY = ('SELECT ip, start, "end", port_lo, port_hi, account, line_first, line_last, '
               'end_kind, session_id, note, ids FROM intervals ORDER BY rowid')


@lru_cache(maxsize=1 << 16)
def address_key(text: str) -> tuple[int, int, int] | None:
    """``(version, high 64 bits, low 64 bits)`` of a *canonical* address text, else None.

    Only the text :func:`~netwarden.attribute.base.normalize_ip` would write maps to a key, so
    the integer search finds exactly what the SQLite text comparison ``ip = ?`` finds (a
    non-canonical or scoped text matches nothing in either).
    """
    if "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if str(address) != text:
        return None
    value = int(address)
    return address.version, value >> 64, value & _MASK64


def _compact(values: np.ndarray) -> np.ndarray:
    """The same integers in the smallest of uint16/uint32/int64 that holds them."""
    if values.size == 0:
        return values.astype(np.uint16)
    low, high = int(values.min()), int(values.max())
    for dtype in (np.uint16, np.uint32):
        info = np.iinfo(dtype)
        if low >= info.min and high <= info.max:
            return values.astype(dtype)
    return values.astype(np.int64)


class _Strings:
    """A string column: per-row codes into a table of distinct strings held as one UTF-8 blob.

    Session ids are nearly unique per row and accounts repeat; either way a blob with offsets
    costs the string's bytes plus 8, not a Python object (~50 bytes) per string.
    """

    def __init__(self) -> None:
        self._table: dict[str, int] = {}
        self._chunks: list[np.ndarray] = []
        self.codes = np.zeros(0, dtype=np.uint32)
        self._blob = b""
        # ndarray.data is the array's memoryview (what memoryview(array) gives)
        self._offsets: memoryview = np.zeros(1, dtype=np.int64).data
        self._codes: memoryview = self.codes.data
        self._decoded: list[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        """Append a chunk of rows (while loading)."""
        table = self._table
        self._chunks.append(np.fromiter((table.setdefault(v, len(table)) for v in values),
                                        dtype=np.uint32))

    def finish(self, order: np.ndarray) -> None:
        """Put the rows into ``order`` and pack the table into the blob."""
        codes = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.uint32)
        self.codes = _compact(codes[order])
        encoded = [text.encode("utf-8", "surrogatepass") for text in self._table]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        self._blob = b"".join(encoded)
        self._offsets = offsets.data
        self._codes = self.codes.data
        # a table much smaller than the column (accounts, end kinds, notes) is also kept
        # decoded: a list index is cheaper than slicing and decoding the blob every time
        small = len(self._table) <= max(SMALL_TABLE, self.codes.size // 4)
        self._decoded = list(self._table) if small else None
        self._table, self._chunks = {}, []

    def __getitem__(self, row: int) -> str:
        code = self._codes[row]
        if self._decoded is not None:
            return self._decoded[code]
        return self._blob[self._offsets[code]:self._offsets[code + 1]].decode(
            "utf-8", "surrogatepass")

    @property
    def nbytes(self) -> int:
        decoded = 0 if self._decoded is None else \
            sum(sys.getsizeof(t) for t in self._decoded) + 8 * len(self._decoded)
        return self.codes.nbytes + len(self._blob) + self._offsets.nbytes + decoded


class _Arrays:
    """Every interval of one index as sorted NumPy columns (see the module docstring)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        starts: list[np.ndarray] = []
        ends: list[np.ndarray] = []
        ints: list[list[np.ndarray]] = [[], [], [], []]  # port_lo, port_hi, line_first, last
        keys: list[list[np.ndarray]] = [[], [], []]  # version, high, low
        strings = {name: _Strings() for name in ("account", "end_kind", "session_id", "note",
                                                 "ids")}
        self.canonical = True
        seen: dict[str, tuple[int, int, int]] = {}
        cursor = db.execute(_ROWS_QUERY)
        while self.canonical:
            chunk = cursor.fetchmany(_CHUNK)
            if not chunk:
                break
            (ip, start, end, port_lo, port_hi, account, line_first, line_last, end_kind,
             session_id, note, ids) = zip(*chunk, strict=True)
            chunk_keys = []
            for text in ip:
                key = seen.get(text)
                if key is None:
                    key = address_key(text)
                    if key is None:
                        self.canonical = False  # the caller falls back to SQLite
                        break
                    seen[text] = key
                chunk_keys.append(key)
            for column, values in zip(keys, zip(*chunk_keys, strict=True), strict=True):
                column.append(np.array(values, dtype=np.uint64))
            starts.append(np.array(start, dtype=np.float64))
            ends.append(np.array(end, dtype=np.float64))
            for column, values in zip(ints, (port_lo, port_hi, line_first, line_last),
                                      strict=True):
                column.append(np.array(values, dtype=np.int64))
            for name, values in (("account", account), ("end_kind", end_kind),
                                 ("session_id", session_id), ("note", note), ("ids", ids)):
                strings[name].add(values)
        if not self.canonical:
            return
        version, high, low = (np.concatenate(k) if k else np.zeros(0, np.uint64)
                              for k in keys)
        start_all = np.concatenate(starts) if starts else np.zeros(0)
        end_all = np.concatenate(ends) if ends else np.zeros(0)
        # sorted by (version, address, start, rowid): rowid keeps SQLite's order for ties
        order = np.lexsort((np.arange(start_all.size), start_all, low, high, version))
        version, high, low = version[order], high[order], low[order]
        self.starts = start_all[order]
        self.ends = end_all[order]
        self.port_lo, self.port_hi, self.line_first, self.line_last = (
            _compact(np.concatenate(c)[order] if c else np.zeros(0, np.int64)) for c in ints)
        for table in strings.values():
            table.finish(order)
        self.account, self.end_kind = strings["account"], strings["end_kind"]
        self.session_id, self.note = strings["session_id"], strings["note"]
        self.ids = strings["ids"]
        n = self.starts.size
        change = np.flatnonzero((version[1:] != version[:-1]) | (high[1:] != high[:-1])
                                | (low[1:] != low[:-1])) + 1
        first = np.concatenate(([0], change, [n])).astype(np.int64) if n else \
            np.zeros(1, np.int64)
        group_version = version[first[:-1]]
        n4 = int(np.count_nonzero(group_version == 4))
        self.v4_keys = low[first[:n4]].astype(np.uint32)
        self.v4_first = first[: n4 + 1]
        self.v6_high = high[first[n4:-1]]
        self.v6_low = low[first[n4:-1]]
        self.v6_first = first[n4:]
        self.addresses = first.size - 1
        # memoryviews: indexing one yields a plain Python float/int, far cheaper than NumPy
        # scalars, and bisect works on them directly
        self._v4 = self.v4_keys.data
        self._v4_first = self.v4_first.data
        self._v6_first = self.v6_first.data
        self.starts_view = self.starts.data
        self.ends_view = self.ends.data
        self.views = tuple(a.data for a in (self.port_lo, self.port_hi,
                                                   self.line_first, self.line_last))

    def span(self, key: tuple[int, int, int]) -> tuple[int, int] | None:
        """Row range ``[first, last)`` of the address with ``key``, or None."""
        version, high, low = key
        if version == 4:
            i = bisect_left(self._v4, low)
            if i < len(self._v4) and self._v4[i] == low:
                return self._v4_first[i], self._v4_first[i + 1]
            return None
        a = int(np.searchsorted(self.v6_high, np.uint64(high), side="left"))
        b = int(np.searchsorted(self.v6_high, np.uint64(high), side="right"))
        i = a + int(np.searchsorted(self.v6_low[a:b], np.uint64(low), side="left"))
        if i < b and int(self.v6_low[i]) == low:
            return self._v6_first[i], self._v6_first[i + 1]
        return None

    def builder(self, kind: str, source: str) -> Callable[[str, int], Interval]:
        """A function (address text, row) -> :class:`Interval` with every column bound to a
        local: a row is built with plain indexing, no method call per string column (that
        was most of the cost of a row, and a joined look-up builds one per log)."""
        starts, ends = self.starts_view, self.ends_view
        port_lo, port_hi, line_first, line_last = self.views

        def column(strings: _Strings) -> tuple[list[str] | None, memoryview, _Strings]:
            return strings._decoded, strings._codes, strings

        (acc_d, acc_c, acc), (kind_d, kind_c, ekind), (sid_d, sid_c, sid), \
            (note_d, note_c, note), (ids_d, ids_c, ids) = (
                column(c) for c in (self.account, self.end_kind, self.session_id, self.note,
                                    self.ids))
        make = Interval

        def build(ip: str, row: int) -> Interval:
            return make(kind, acc_d[acc_c[row]] if acc_d is not None else acc[row], ip,
                        starts[row], ends[row], source, line_first[row], line_last[row],
                        kind_d[kind_c[row]] if kind_d is not None else ekind[row],
                        port_lo[row], port_hi[row],
                        sid_d[sid_c[row]] if sid_d is not None else sid[row],
                        note_d[note_c[row]] if note_d is not None else note[row],
                        ids_d[ids_c[row]] if ids_d is not None else ids[row])
        return build

    @property
    def nbytes(self) -> int:
        arrays = (self.starts, self.ends, self.port_lo, self.port_hi, self.line_first,
                  self.line_last, self.v4_keys, self.v4_first, self.v6_high, self.v6_low,
                  self.v6_first)
        return (sum(a.nbytes for a in arrays) + self.account.nbytes + self.end_kind.nbytes
                + self.session_id.nbytes + self.note.nbytes + self.ids.nbytes)


_MISSING = (-1, -1)


class IntervalIndex:
    """A read-only, opened index of one log file (look-ups from in-memory arrays)."""

    def __init__(self, path: Path, source: str, kind: str,
                 cache_addresses: int = CACHE_ADDRESSES, in_memory: bool = True) -> None:
        self.path = path
        self.cache_addresses = cache_addresses
        self._spans: dict[str, tuple[int, int] | None] = {}
        self._made: dict[int, Interval] = {}  # rows recently turned into Interval objects
        self._build: Callable[[str, int], Interval] | None = None
        self.source = source
        self.kind = kind
        self._db = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True,
                                   check_same_thread=False)
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        self.meta = meta
        self.max_duration = float(meta.get("max_duration", "inf"))
        first, last = meta.get("first"), meta.get("last")
        self.coverage = (Coverage(float(first), float(last))
                         if first not in (None, "") and last not in (None, "") else None)
        self.problem_count = int(meta.get("problem_count", "0"))
        self.lines = int(meta.get("lines", "0"))
        self.rows = int(meta.get("rows", "0"))
        self._query = ('SELECT ip, start, "end", port_lo, port_hi, account, line_first, '
                       'line_last, end_kind, session_id, note, ids FROM intervals '
                       'WHERE ip = ? AND start >= ? AND start <= ? AND "end" >= ? '
                       'ORDER BY start, rowid')
        self._arrays: _Arrays | None = None
        if in_memory:
            arrays = _Arrays(self._db)
            self._arrays = arrays if arrays.canonical else None

    @property
    def in_memory(self) -> bool:
        """Are look-ups answered from the arrays (True) or by SQLite queries (False)?"""
        return self._arrays is not None

    def memory_bytes(self) -> int:
        """Bytes held by the in-memory arrays (0 on the SQLite path)."""
        return self._arrays.nbytes if self._arrays is not None else 0

    def lookup(self, ip: str, moment: float, margin: float = 0.0) -> list[Interval]:
        """Intervals of ``ip`` that overlap ``[moment - margin, moment + margin]``.

        In (start, rowid) order, the same list from the arrays as from SQLite.
        """
        low = moment - margin - self.max_duration  # -inf when some interval never ends
        arrays = self._arrays
        if arrays is None:
            rows = self._db.execute(self._query, (ip, low, moment + margin, moment - margin))
            return [self._interval(r) for r in rows]
        span = self._spans.get(ip, _MISSING)
        if span is _MISSING:
            span = self._span(ip)
        if span is None:
            return []
        first, i = span[0], bisect_right(arrays.starts_view, moment + margin, *span)
        starts, ends, floor = arrays.starts_view, arrays.ends_view, moment - margin
        found: list[Interval] = []
        made = self._made
        while i > first:
            i -= 1
            if starts[i] < low:
                break
            if ends[i] >= floor:
                interval = made.get(i)
                found.append(interval if interval is not None else self._row(ip, i))
        if len(found) > 1:
            found.reverse()
        return found

    def _span(self, ip: str) -> tuple[int, int] | None:
        span = self._spans.get(ip, _MISSING)
        if span is not _MISSING:
            return span
        assert self._arrays is not None
        key = address_key(ip)
        span = self._arrays.span(key) if key is not None else None
        if self.cache_addresses > 0:
            if len(self._spans) >= self.cache_addresses:
                self._spans.clear()  # bounded; refilling costs one binary search per address
            self._spans[ip] = span
        return span

    def _row(self, ip: str, row: int) -> Interval:
        if self._build is None:
            assert self._arrays is not None
            self._build = self._arrays.builder(self.kind, self.source)
        interval = self._build(ip, row)
        if self.cache_addresses > 0:
            if len(self._made) >= self.cache_addresses:
                self._made.clear()  # bounded: rebuilding an Interval is cheap
            self._made[row] = interval
        return interval

    def _interval(self, r: tuple[Any, ...]) -> Interval:
        return Interval(self.kind, r[5], r[0], r[1], r[2], self.source, r[6], r[7], r[8],
                        r[3], r[4], r[9], r[10], r[11])

    def has_address(self, ip: str) -> bool:
        """Does the log mention ``ip`` at all (at any time)?"""
        if self._arrays is not None:
            return self._span(ip) is not None
        row = self._db.execute("SELECT 1 FROM intervals WHERE ip = ? LIMIT 1", (ip,)).fetchone()
        return row is not None

    def accounts(self) -> Iterator[str]:
        """Every distinct account in the log (for :func:`~netwarden.attribute.pseudonym.reveal`)."""
        for (account,) in self._db.execute("SELECT DISTINCT account FROM intervals"):
            yield account

    def identities(self) -> Iterator[tuple[str, str]]:
        """Every distinct (account, encoded identifiers) pair of the log: what a reveal
        searches, since a joined subscriber's account may come from any identifier."""
        yield from self._db.execute("SELECT DISTINCT account, ids FROM intervals")

    def problems(self, limit: int = 1000) -> list[LogProblem]:
        """Recorded problems of the log (first ``limit``)."""
        rows = self._db.execute("SELECT line, problem FROM problems ORDER BY line LIMIT ?",
                                (limit,))
        return [LogProblem(self.source, line, text) for line, text in rows]

    def close(self) -> None:
        self._db.close()


def open_index(source: LogSource, cache_dir: Path, *, in_memory: bool = True) -> IntervalIndex:
    """The index of ``source``'s file: reused if the cache is current, else built now."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(source)
    target = cache_dir / f"{source.path.name}.{source.kind}.{key[:24]}.idx.sqlite"
    if not _complete(target):
        build_index(source, target)
    return IntervalIndex(target, source.name, source.kind, in_memory=in_memory)


def _complete(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        db = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'complete'").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return False
    return row is not None and row[0] == "1"


def build_index(source: LogSource, target: Path) -> None:
    """Stream ``source`` into a new index at ``target`` (atomic: temp file, then rename)."""
    temp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    db = sqlite3.connect(temp)
    try:
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        insert = f"INSERT INTO intervals VALUES ({', '.join('?' * len(_COLUMNS))})"
        batch: list[tuple[object, ...]] = []
        rows = 0
        first, last, max_duration = math.inf, -math.inf, 0.0
        for iv in source.intervals():
            batch.append((iv.ip, iv.start, iv.end, iv.port_lo, iv.port_hi, iv.account,
                          iv.line_first, iv.line_last, iv.end_kind, iv.session_id, iv.note,
                          iv.ids))
            first, last = min(first, iv.start), max(last, iv.start)
            if math.isfinite(iv.end):
                last = max(last, iv.end)
                max_duration = max(max_duration, iv.end - iv.start)
            else:
                max_duration = math.inf
            if len(batch) >= BATCH:
                db.executemany(insert, batch)
                rows += len(batch)
                batch.clear()
        db.executemany(insert, batch)
        rows += len(batch)
        db.executemany("INSERT INTO problems VALUES (?, ?)",
                       [(p.line, p.problem) for p in source.problems])
        db.execute("CREATE INDEX intervals_ip_start ON intervals(ip, start)")
        meta = {"complete": "1", "source": source.name, "kind": source.kind,
                "rows": str(rows), "lines": str(source.lines_read),
                "problem_count": str(source.problem_count),
                "first": repr(first) if rows else "", "last": repr(last) if rows else "",
                "max_duration": repr(max_duration), "schema": str(SCHEMA_VERSION),
                "params": json.dumps(source.cache_params(), sort_keys=True, default=str)}
        db.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
        db.commit()
    except BaseException:
        db.close()
        temp.unlink(missing_ok=True)
        raise
    db.close()
    os.replace(temp, target)
