"""Where the web application reads runs and findings: the one module to change when findings
move from run directories into the ``findings`` table.

Today a finding lives in ``findings.jsonl`` of its run directory (``runs.out_dir``, format in
docs/findings.md). Files are parsed once and cached until their size or mtime changes; reads are
bounded (file size, line length, line count) so a damaged or hostile file yields skipped lines
counted in :attr:`FindingsSource.bad_lines`, never a crash or an unbounded read.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from netwarden.store.base import Store
from netwarden.store.models_runs import RunRow

MAX_FILE_BYTES = 1 << 30
MAX_LINE_BYTES = 1 << 20
MAX_LINES = 2_000_000
LEVELS = ("listed", "contacted", "served")


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


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class _Cached:
    stamp: tuple[int, int]
    findings: list[dict[str, Any]]
    bad: int


class FindingsSource:
    """Runs from the database, findings from their run directories (see module docstring)."""

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

    # -- findings ---------------------------------------------------------------------------

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

    def all_findings(self) -> list[dict[str, Any]]:
        """Every finding of every run, newest run first."""
        out: list[dict[str, Any]] = []
        for run in self.runs():
            out.extend(self._load(run))
        return out

    def findings(self, *, run_id: str | None = None, operator: str | None = None,
                 level: str | None = None, category: str | None = None, limit: int = 100,
                 offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
        """``(total matching, page)`` of findings filtered by run, operator, level, category."""
        runs = self.runs()
        if run_id is not None:
            runs = [r for r in runs if r.id == run_id]
        if operator is not None:
            runs = [r for r in runs if r.operator == operator]
        selected = [f for r in runs for f in self._load(r)
                    if (level is None or f.get("evidence_level") == level)
                    and (category is None or f.get("category") == category)]
        return len(selected), selected[offset:offset + limit]

    def finding(self, finding_id: str) -> dict[str, Any] | None:
        for run in self.runs():
            for f in self._load(run):
                if f.get("id") == finding_id:
                    return f
        return None

    def operators(self) -> list[OperatorSummary]:
        """One summary per operator, by name."""
        found: dict[str, OperatorSummary] = {}
        for run in self.runs():
            s = found.setdefault(run.operator, OperatorSummary(run.operator))
            s.runs += 1
            if s.last_run is None or run.started_at > s.last_run:
                s.last_run = run.started_at
            for f in self._load(run):
                s.findings += 1
                s.by_level[str(f.get("evidence_level"))] += 1
                s.by_category[str(f.get("category"))] += 1
                s.infrastructure += bool(f.get("operator_infrastructure"))
        return sorted(found.values(), key=lambda s: s.name)


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


def notices(store: Store, *, operator: str | None = None, finding_id: str | None = None,
            limit: int = 200) -> list[dict[str, Any]]:
    """Notices with their state events, newest first (empty when the notices table is absent).

    The message bytes are not loaded: the page shows the state, not the letter.
    """
    from sqlalchemy import inspect

    if "notices" not in inspect(store.engine).get_table_names():
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
