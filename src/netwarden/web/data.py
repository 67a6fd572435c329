"""Where the web application reads runs and findings.

Findings come from the ``findings`` table (:mod:`netwarden.store.models_findings`, filled by
every audit): filters and pages run in SQL on its indexed columns (``run_id``, ``operator``,
``evidence_level``, ``category``, ``observed_at``), so a page costs the same with 100 findings
or 100,000, on SQLite and on PostgreSQL. A row keeps the ``findings.jsonl`` line verbatim, so
what a page shows is exactly what the run wrote.

Runs made before the table existed have no rows in it: for those (and only those) the
findings are read from ``findings.jsonl`` of the run directory (``runs.out_dir``, format in
docs/findings.md). Files are parsed once and cached until their size or mtime changes; reads
are bounded (file size, line length, line count) so a damaged or hostile file yields skipped
lines counted in :attr:`FindingsSource.bad_lines`, never a crash or an unbounded read. Such
findings come after the table's in every list.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from sqlalchemy import ColumnElement, Engine, exists, false, func, select

from netwarden.store.base import Store
from netwarden.store.models_findings import FindingRow
from netwarden.store.models_runs import RunRow
from netwarden.web.models import ReviewRow

MAX_FILE_BYTES = 1 << 30
MAX_LINE_BYTES = 1 << 20
MAX_LINES = 2_000_000
LEVELS = ("listed", "contacted", "served")
# ``data`` is pydantic's compact JSON (record_findings writes model_dump_json), where a true
# flag is exactly this text; inside a JSON string the quotes would be escaped, so no value can
# fake it. Cheaper and more portable than JSON functions over every row.
INFRA_MARK = '%"operator_infrastructure":true%'


@dataclass(frozen=True)
class RunInfo:
    """A row of the ``runs`` table."""

    id: str
    check_id: str
    operator: str
    jurisdiction: str
    out_dir: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    observations: int
    findings: int
    served: int


@dataclass
class OperatorSummary:
    """Counts for one operator over every run."""

    name: str
    runs: int = 0
    findings: int = 0
    by_level: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    infrastructure: int = 0
    last_run: datetime | None = None


@overload
def _aware(value: datetime) -> datetime: ...
@overload
def _aware(value: datetime | None) -> datetime | None: ...
def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class _Cached:
    stamp: tuple[int, int]
    findings: list[dict[str, Any]]
    bad: int


def _where(run_id: str | None, operator: str | None, level: str | None,
           category: str | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if run_id is not None:
        conds.append(FindingRow.run_id == run_id)
    if operator is not None:
        conds.append(FindingRow.operator == operator)
    if level is not None:
        conds.append(FindingRow.evidence_level == level)
    if category is not None:
        conds.append(FindingRow.category == category)
    return conds


def storable(*values: str | None) -> bool:
    """Whether every value could be stored in a text column at all. PostgreSQL text cannot hold
    NUL, and it rejects a query that compares with one (an error, not "no rows"); a filter with
    NUL matches nothing on either back end, so callers answer "none" without asking."""
    return not any(v is not None and "\x00" in v for v in values)


def _from_row(data: str, run_id: str) -> dict[str, Any]:
    finding = json.loads(data)
    finding.setdefault("run_id", run_id)
    return finding


class FindingsSource:
    """Runs from the database, findings from the ``findings`` table (run directories for
    older runs; see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        self.bad_lines = 0

    # -- runs -------------------------------------------------------------------------------

    def runs(self) -> list[RunInfo]:
        """Every run, newest first."""
        with self.store.session() as session:
            rows = session.execute(select(RunRow).order_by(RunRow.started_at.desc())).scalars()
            return [self._run(r) for r in rows]

    def run(self, run_id: str) -> RunInfo | None:
        with self.store.session() as session:
            row = session.get(RunRow, run_id)
            return None if row is None else self._run(row)

    @staticmethod
    def _run(r: RunRow) -> RunInfo:
        return RunInfo(r.id, r.check_id, r.operator, r.jurisdiction, r.out_dir,
                       _aware(r.started_at), _aware(r.finished_at), r.status,
                       r.observations or 0, r.findings or 0, r.served or 0)

    # -- older runs: findings.jsonl -----------------------------------------------------------

    def _legacy_runs(self, run_id: str | None = None,
                     operator: str | None = None) -> list[RunInfo]:
        """Runs without a row in the ``findings`` table, newest first (an anti-join on the
        indexed ``findings.run_id``: cheap however many findings there are)."""
        if not storable(run_id, operator):
            return []
        query = (select(RunRow).where(~exists().where(FindingRow.run_id == RunRow.id))
                 .order_by(RunRow.started_at.desc()))
        if run_id is not None:
            query = query.where(RunRow.id == run_id)
        if operator is not None:
            query = query.where(RunRow.operator == operator)
        with self.store.session() as session:
            return [self._run(r) for r in session.execute(query).scalars()]

    def _load(self, run: RunInfo) -> list[dict[str, Any]]:
        path = Path(run.out_dir) / "findings.jsonl"
        try:
            st = path.stat()
        except OSError:
            return []
        stamp = (st.st_size, st.st_mtime_ns)
        with self._lock:
            cached = self._cache.get(run.id)
            if cached is not None and cached.stamp == stamp:
                return cached.findings
        findings, bad = _read_jsonl(path)
        for f in findings:
            f.setdefault("run_id", run.id)
        with self._lock:
            previous = self._cache.get(run.id)
            self.bad_lines += bad - (previous.bad if previous else 0)
            self._cache[run.id] = _Cached(stamp, findings, bad)
        return findings

    def _legacy(self, run_id: str | None = None, operator: str | None = None,
                level: str | None = None, category: str | None = None,
                reviewed: set[str] | None = None) -> list[dict[str, Any]]:
        return [f for r in self._legacy_runs(run_id, operator) for f in self._load(r)
                if (level is None or f.get("evidence_level") == level)
                and (category is None or f.get("category") == category)
                and (reviewed is None or f["id"] not in reviewed)]

    # -- findings ---------------------------------------------------------------------------

    def findings(self, *, run_id: str | None = None, operator: str | None = None,
                 level: str | None = None, category: str | None = None, limit: int = 100,
                 offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """``(total matching, page)`` of findings filtered by run, operator, level, category;
        newest observation first."""
        conds = _where(run_id, operator, level, category)
        if not storable(run_id, operator, level, category):
            conds.append(false())
        return self._page(conds, self._legacy(run_id, operator, level, category),
                          limit, offset)

    def unreviewed(self, *, limit: int = 20) -> tuple[int, list[dict[str, Any]]]:
        """``(how many, the newest ``limit``)`` findings without a review decision yet."""
        conds: list[ColumnElement[bool]] = [
            ~exists().where(ReviewRow.finding_id == FindingRow.id)]
        with self.store.session() as session:
            reviewed = set(session.execute(select(ReviewRow.finding_id).distinct()).scalars())
        return self._page(conds, self._legacy(reviewed=reviewed), limit, 0)

    def _page(self, conds: list[ColumnElement[bool]], legacy: list[dict[str, Any]],
              limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        limit = max(0, limit)
        offset = max(0, offset)
        with self.store.session() as session:
            in_table = session.execute(
                select(func.count()).select_from(FindingRow).where(*conds)).scalar_one()
            page: list[dict[str, Any]] = []
            if offset < in_table and limit:
                # Deferred join: order and skip narrow (observed_at, id) keys, then fetch the
                # page's ~1 KB lines by primary key, instead of sorting whole rows.
                keys = (select(FindingRow.id, FindingRow.observed_at).where(*conds)
                        .order_by(FindingRow.observed_at.desc(), FindingRow.id)
                        .limit(limit).offset(offset).subquery())
                rows = session.execute(
                    select(FindingRow.data, FindingRow.run_id)
                    .join(keys, keys.c.id == FindingRow.id)
                    .order_by(keys.c.observed_at.desc(), keys.c.id)).all()
                page = [_from_row(data, rid) for data, rid in rows]
        if len(page) < limit:  # older runs' findings come after the table's
            start = max(0, offset - in_table)
            page.extend(legacy[start:start + limit - len(page)])
        return in_table + len(legacy), page

    def finding(self, finding_id: str) -> dict[str, Any] | None:
        """One finding by id (primary key), or ``None``."""
        if not storable(finding_id):
            return None
        with self.store.session() as session:
            row = session.execute(select(FindingRow.data, FindingRow.run_id).where(
                FindingRow.id == finding_id)).first()
        if row is not None:
            return _from_row(row[0], row[1])
        return next((f for f in self._legacy() if f.get("id") == finding_id), None)

    def count(self, *, level: str | None = None) -> int:
        """How many findings (of one evidence level)."""
        return self.findings(level=level, limit=0)[0]

    def counts(self, column: str) -> Counter[str]:
        """Findings per value of ``column`` (``evidence_level``, ``category``, ``protocol``,
        ``operator``): one GROUP BY, plus the older runs' files."""
        col = getattr(FindingRow, column)
        with self.store.session() as session:
            out: Counter[str] = Counter({str(k): n for k, n in session.execute(
                select(col, func.count()).group_by(col)).all()})
        out.update(str(f.get(column)) for f in self._legacy())
        return out

    def operators(self) -> list[OperatorSummary]:
        """One summary per operator, by name."""
        found: dict[str, OperatorSummary] = {}

        def summary(name: str) -> OperatorSummary:
            return found.setdefault(name, OperatorSummary(name))

        with self.store.session() as session:
            for name, runs, last in session.execute(select(
                    RunRow.operator, func.count(), func.max(RunRow.started_at))
                    .group_by(RunRow.operator)).all():
                s = summary(name)
                s.runs, s.last_run = runs, _aware(last)
            for name, level, category, n in session.execute(select(
                    FindingRow.operator, FindingRow.evidence_level, FindingRow.category,
                    func.count()).group_by(FindingRow.operator, FindingRow.evidence_level,
                                           FindingRow.category)).all():
                s = summary(name)
                s.findings += n
                s.by_level[level] += n
                s.by_category[category] += n
            for name, n in session.execute(select(FindingRow.operator, func.count())
                                           .where(FindingRow.data.like(INFRA_MARK))
                                           .group_by(FindingRow.operator)).all():
                summary(name).infrastructure += n
        for run in self._legacy_runs():
            s = summary(run.operator)
            for f in self._load(run):
                s.findings += 1
                s.by_level[str(f.get("evidence_level"))] += 1
                s.by_category[str(f.get("category"))] += 1
                s.infrastructure += bool(f.get("operator_infrastructure"))
        return sorted(found.values(), key=lambda s: s.name)

    def operator(self, name: str) -> OperatorSummary | None:
        """The summary of one operator, or ``None``."""
        return next((o for o in self.operators() if o.name == name), None)


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Objects of a JSON-lines file with bounds; returns (objects, skipped lines).

    ``readline`` with a limit keeps one over-long line from being read whole into memory.
    """
    out: list[dict[str, Any]] = []
    bad = 0
    read = 0
    with path.open("rb") as fh:
        for _ in range(MAX_LINES):
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                break
            read += len(raw)
            if read > MAX_FILE_BYTES:
                bad += 1
                break
            if len(raw) > MAX_LINE_BYTES:
                bad += 1
                while raw and not raw.endswith(b"\n") and read <= MAX_FILE_BYTES:
                    raw = fh.readline(MAX_LINE_BYTES)
                    read += len(raw)
                continue
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError):
                bad += 1
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                bad += 1
                continue
            out.append(obj)
    return out, bad


_NOTICES_SEEN: weakref.WeakSet[Engine] = weakref.WeakSet()


def _has_notices(store: Store) -> bool:
    """Whether the notices table exists; a yes is remembered (tables are not dropped under a
    running app), which saves a catalogue query on every finding page."""
    if store.engine in _NOTICES_SEEN:
        return True
    from sqlalchemy import inspect

    if "notices" not in inspect(store.engine).get_table_names():
        return False
    _NOTICES_SEEN.add(store.engine)
    return True


def notices(store: Store, *, operator: str | None = None, finding_id: str | None = None,
            limit: int = 200) -> list[dict[str, Any]]:
    """Notices with their state events, newest first (empty when the notices table is absent).

    The message bytes are not loaded: the page shows the state, not the letter.
    """
    if not _has_notices(store) or not storable(operator, finding_id):
        return []
    from netwarden.notices.models import NoticeRow

    query = select(NoticeRow).order_by(NoticeRow.created_at.desc()).limit(limit)
    if operator is not None:
        query = query.where(NoticeRow.operator == operator)
    out = []
    with store.session() as session:
        for n in session.execute(query).scalars():
            ids = [str(i) for i in (n.finding_ids or [])]
            if finding_id is not None and finding_id not in ids:
                continue
            out.append({
                "id": n.id, "direction": n.direction, "run_id": n.run_id, "format": n.format,
                "operator": n.operator, "recipient": n.recipient, "subject": n.subject,
                "finding_ids": ids, "state": n.state, "created_at": _aware(n.created_at),
                "sent_at": _aware(n.sent_at), "deadline_at": _aware(n.deadline_at),
                "leaf_index": n.leaf_index,
                "events": [{"at": _aware(e.at), "state": e.state, "finding_id": e.finding_id,
                            "leaf_index": e.leaf_index} for e in n.events]})
    return out
