"""On-disk interval index of one log file, so look-ups never re-read the log.

Provider logs run to hundreds of megabytes; a finding needs one look-up. Each log is streamed
once through its :class:`~netwarden.attribute.base.LogSource` into a small SQLite file (its own
file, separate from the installation's main database, because it is a disposable cache of the
log and not evidence itself: the evidence is the log lines it points back to). The cache file's
name is keyed by the log's size, mtime and the SHA-256 of its first 64 KiB plus the parser's
settings, so a changed or rotated log, or a changed time zone, is indexed anew; an unchanged one
is reused across runs. The file is built under a temporary name and renamed when complete, so
a crash never leaves a half index that looks whole.

Look-ups use an index on ``(ip, start)`` bounded below by the longest finite interval of the
file, so a look-up touches only the rows that can contain the time. On top of that, the
intervals of recently asked addresses are kept in a bounded in-memory map (an audit asks about
the same endpoints again and again: every item a peer offers is a finding): a repeated address
is answered by a binary search without touching SQLite. Only addresses with few intervals are
kept, and only a bounded number of them, so memory stays small whatever the log's size.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from netwarden.attribute.base import Interval, LogProblem, LogSource
from netwarden.errors import InputError

SCHEMA_VERSION = 1
HEAD_BYTES = 64 * 1024
BATCH = 20_000
CACHE_ADDRESSES = 65_536  # addresses whose intervals are kept in memory after a look-up
CACHE_MAX_ROWS = 1_024  # an address with more intervals than this is always asked of SQLite

_COLUMNS = ("ip", "start", "end", "port_lo", "port_hi", "account", "line_first", "line_last",
            "end_kind", "session_id", "note")
_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE intervals(ip TEXT NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL,
    port_lo INTEGER NOT NULL, port_hi INTEGER NOT NULL, account TEXT NOT NULL,
    line_first INTEGER NOT NULL, line_last INTEGER NOT NULL, end_kind TEXT NOT NULL,
    session_id TEXT NOT NULL, note TEXT NOT NULL);
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


class IntervalIndex:
    """A read-only, opened index of one log file."""

    def __init__(self, path: Path, source: str, kind: str,
                 cache_addresses: int = CACHE_ADDRESSES) -> None:
        self.path = path
        self.cache_addresses = cache_addresses
        self._cache: OrderedDict[str, tuple[list[float], list[Interval]]] = OrderedDict()
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
                       'line_last, end_kind, session_id, note FROM intervals '
                       'WHERE ip = ? AND start >= ? AND start <= ? AND "end" >= ?')
        self._all_query = ('SELECT ip, start, "end", port_lo, port_hi, account, line_first, '
                           'line_last, end_kind, session_id, note FROM intervals '
                           'WHERE ip = ? ORDER BY start LIMIT ?')

    def lookup(self, ip: str, moment: float, margin: float = 0.0) -> list[Interval]:
        """Intervals of ``ip`` that overlap ``[moment - margin, moment + margin]``."""
        low = moment - margin - self.max_duration if math.isfinite(self.max_duration) \
            else -math.inf
        cached = self._cache.get(ip)
        if cached is None and self.cache_addresses > 0:
            cached = self._load(ip)
        if cached is None:
            rows = self._db.execute(self._query, (ip, low, moment + margin, moment - margin))
            return [self._interval(r) for r in rows]
        starts, intervals = cached
        found = []
        floor = moment - margin
        for i in range(bisect_right(starts, moment + margin) - 1, -1, -1):
            if starts[i] < low:
                break
            if intervals[i].end >= floor:
                found.append(intervals[i])
        return found

    def _load(self, ip: str) -> tuple[list[float], list[Interval]] | None:
        """Read all intervals of ``ip`` into the bounded cache (None if it has too many)."""
        rows = self._db.execute(self._all_query, (ip, CACHE_MAX_ROWS + 1)).fetchall()
        if len(rows) > CACHE_MAX_ROWS:
            return None
        intervals = [self._interval(r) for r in rows]
        entry = ([iv.start for iv in intervals], intervals)
        self._cache[ip] = entry
        if len(self._cache) > self.cache_addresses:
            self._cache.popitem(last=False)  # the address cached longest ago goes
        return entry

    def _interval(self, r: tuple) -> Interval:  # type: ignore[type-arg]
        return Interval(self.kind, r[5], r[0], r[1], r[2], self.source, r[6], r[7], r[8],
                        r[3], r[4], r[9], r[10])

    def has_address(self, ip: str) -> bool:
        """Does the log mention ``ip`` at all (at any time)?"""
        row = self._db.execute("SELECT 1 FROM intervals WHERE ip = ? LIMIT 1", (ip,)).fetchone()
        return row is not None

    def accounts(self) -> Iterator[str]:
        """Every distinct account in the log (for :func:`~netwarden.attribute.pseudonym.reveal`)."""
        for (account,) in self._db.execute("SELECT DISTINCT account FROM intervals"):
            yield account

    def problems(self, limit: int = 1000) -> list[LogProblem]:
        """Recorded problems of the log (first ``limit``)."""
        rows = self._db.execute("SELECT line, problem FROM problems ORDER BY line LIMIT ?",
                                (limit,))
        return [LogProblem(self.source, line, text) for line, text in rows]

    def close(self) -> None:
        self._db.close()


def open_index(source: LogSource, cache_dir: Path) -> IntervalIndex:
    """The index of ``source``'s file: reused if the cache is current, else built now."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(source)
    target = cache_dir / f"{source.path.name}.{source.kind}.{key[:24]}.idx.sqlite"
    if not _complete(target):
        build_index(source, target)
    return IntervalIndex(target, source.name, source.kind)


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
                          iv.line_first, iv.line_last, iv.end_kind, iv.session_id, iv.note))
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
