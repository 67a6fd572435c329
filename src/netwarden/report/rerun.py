"""Make a run's report again, later: in another language, or with its review and sign-off.

The report written at the end of an audit cannot show a review (none can have happened yet).
Afterwards the run directory (``findings.jsonl``, ``summary.json``, ``assessment.json``, read by
:func:`netwarden.rundir.read_run_dir`), the ledger (what could not be checked, what was
refused) and the scope file are enough to render it again. The scope is taken only if its
SHA-256 is the one the run recorded: a report must not pair a run with another authorization
than the one it acted under.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from netwarden.errors import InputError
from netwarden.i18n import N_
from netwarden.pipeline import RunResult, scope_digest
from netwarden.records import Observation, Outcome, Refusal
from netwarden.rundir import read_run_dir
from netwarden.scope import Scope
from netwarden.store.base import Store


def load_run(run_dir: Path, scope: Scope, store: Store) -> RunResult:
    """The :class:`RunResult` of a finished run directory, for :func:`render_report`."""
    from netwarden.ledger import Ledger
    from netwarden.liability.assess import AssessmentReport
    from netwarden.store.models_runs import RunRow

    stored = read_run_dir(run_dir, finished=True)
    summary = stored.summary
    run_id = str(summary.get("run_id", ""))
    with store.session() as session:
        row = session.get(RunRow, run_id)
        recorded = row.scope_sha256 if row is not None else None
    entries = [e.record() for e in Ledger.open(store, require_key=False).entries(
        ("observation", "refusal"), run_id=run_id)]
    if recorded is None:
        raise InputError(str(run_dir), N_("the database has no record of this run"))
    if recorded != scope_digest(scope):
        raise InputError("--scope", N_("is not the scope this run acted under (its SHA-256 "
                                       "differs from the one the run recorded)"))
    # observations of older runs say their protocol check in details.verified: Observation
    # reads that into protocol_check
    problems = [Observation.model_validate(e) for e in entries
                if e.get("record_type") == "observation" and e.get("outcome") != Outcome.OK]
    refusals = [Refusal.model_validate(e) for e in entries if e.get("record_type") == "refusal"]
    assessment = None
    if stored.assessment is not None:
        data = stored.assessment
        operators = data.get("operators") or []
        assessment = AssessmentReport(run_id, stored.path, data.get("jurisdictions") or [],
                                      data.get("primary_jurisdiction"), [], operators,
                                      {o["operator"]: o.get("text", "") for o in operators})
    return RunResult(
        run_id=run_id, out_dir=stored.path, scope=scope,
        started_at=datetime.fromisoformat(summary["started_at"]),
        finished_at=datetime.fromisoformat(summary["finished_at"]),
        findings=stored.findings, observations=summary.get("observations", 0),
        outcomes=summary.get("outcomes") or {}, refusals=refusals, problems=problems,
        checkpoint=summary.get("checkpoint"), summary=summary, assessment=assessment)


def reviews_of(store: Store, finding_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Finding id → its review and sign-off decisions (oldest first), from the web
    application's working table (each mirrors a ledger leaf); empty without that table."""
    from sqlalchemy import inspect

    if "web_reviews" not in inspect(store.engine).get_table_names():
        return {}
    from netwarden.web.models import ReviewRow

    out: dict[str, list[dict[str, Any]]] = {fid: [] for fid in finding_ids}
    with store.session() as session:
        for chunk in range(0, len(finding_ids), 500):
            for r in session.scalars(select(ReviewRow).where(
                    ReviewRow.finding_id.in_(finding_ids[chunk:chunk + 500]))
                    .order_by(ReviewRow.at)):
                out[r.finding_id].append({"kind": r.kind, "decision": r.decision,
                                          "user_name": r.user_name, "role": r.role,
                                          "at": r.at, "leaf_index": r.leaf_index})
    return out
