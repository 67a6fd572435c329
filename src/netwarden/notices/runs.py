"""The run a notice is about, as the installation database records it.

Notices (and their re-checks) take a run's findings from the ``findings`` table and the
jurisdiction its scope named from the ``runs`` table: the database is the system of record,
which ``netwarden assess`` keeps current. A run directory the database does not know (made by
another installation, or by hand) is read from its ``findings.jsonl``; it has no recorded
jurisdiction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from netwarden.liability.engine import available_jurisdictions
from netwarden.records import Finding
from netwarden.rundir import read_findings
from netwarden.store.base import Store
from netwarden.store.models_findings import findings_of_runs
from netwarden.store.models_runs import RunRow


@dataclass(frozen=True)
class NoticedRun:
    """A run's findings and the jurisdiction of its scope (None when not recorded)."""

    run_id: str | None
    jurisdiction: str | None
    findings: list[Finding]


def recorded_run(store: Store, run_dir: Path) -> RunRow | None:
    """The ``runs`` row of the run written into ``run_dir`` (the latest, if several were)."""
    path = str(Path(run_dir).resolve())
    with store.session() as session:
        row = session.scalars(select(RunRow).where(RunRow.out_dir == path)
                              .order_by(RunRow.started_at.desc())).first()
        if row is not None:
            session.expunge(row)
        return row


def noticed_run(store: Store, run_dir: Path) -> NoticedRun:
    """The findings of the run in ``run_dir`` and its scope's jurisdiction, from the database.

    The jurisdiction is given only when it has a rules file (its deadlines then apply).
    """
    row = recorded_run(store, run_dir)
    if row is None:
        return NoticedRun(None, None, read_findings(run_dir))
    findings = [Finding.model_validate(f) for f in findings_of_runs(store, [row.id])]
    if not findings and (Path(run_dir) / "findings.jsonl").is_file():
        findings = read_findings(run_dir)  # a run recorded before the findings table existed
    jurisdiction = row.jurisdiction if row.jurisdiction in available_jurisdictions() else None
    return NoticedRun(row.id, jurisdiction, findings)
