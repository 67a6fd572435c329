"""The campaign's durable state: jobs, attempts and the recovery of interrupted attempts.

Resumption rests on two facts kept in the database: a job (campaign, scope SHA-256) is
``finished`` only in the same transaction that records its run's findings, and every attempt
is a row written *before* its worker starts. So after any crash the coordinator knows which
attempts may have been cut short; it closes each one as ``interrupted`` with a ledger leaf
(its partial evidence stays in the ledger, proven, but is not counted as findings), or adopts
it when its run had in fact finished, and audits the operator again.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from netwarden.campaign.config import Campaign
from netwarden.campaign.models import CampaignAttemptRow, CampaignJobRow, CampaignRow
from netwarden.records import RunInterrupted, utc_now
from netwarden.store.base import Store
from netwarden.store.models_findings import record_findings_file
from netwarden.store.models_runs import RunRow

log = logging.getLogger("netwarden.campaign")

OPEN_ATTEMPT = ("dispatched", "running")


def aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def slug(text: str) -> str:
    """A file-system-safe name for an operator's run directories."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return (cleaned or "operator")[:60]


def sync_campaign(store: Store, campaign: Campaign) -> None:
    """Create or update the campaign and one job per operator scope (the resume key).

    A job already in the database keeps its state (finished stays finished); a job whose scope
    is no longer in the file and never finished is marked ``dropped``.
    """
    now = utc_now()
    keys = {op.scope_sha256: op for op in campaign.operators}
    with store.session() as session:
        row = session.get(CampaignRow, campaign.name)
        if row is None:
            row = CampaignRow(name=campaign.name, created_at=now)
            session.add(row)
        row.source, row.source_sha256 = str(campaign.source), campaign.source_sha256
        row.deadline, row.updated_at, row.status = campaign.deadline, now, "running"
        row.out_dir, row.settings = str(campaign.out_dir), campaign.settings()
        session.flush()
        jobs = {j.scope_sha256: j for j in session.scalars(
            select(CampaignJobRow).where(CampaignJobRow.campaign == campaign.name))}
        for digest, op in keys.items():
            job = jobs.get(digest)
            if job is None:
                session.add(CampaignJobRow(
                    campaign=campaign.name, operator=op.operator, scope_path=str(op.scope_path),
                    scope_sha256=digest, status="pending", attempts=0,
                    services=len(op.scope.services), services_done=0, observations=0,
                    findings=0, served=0))
            else:
                job.scope_path = str(op.scope_path)
                if job.status in ("dropped", "failed"):  # a new run tries failed ones again
                    job.status = "pending"
        for digest, job in jobs.items():
            if digest not in keys and job.status != "finished":
                job.status = "dropped"


def _interrupt_leaf(ledger: Any, attempt: CampaignAttemptRow, job: CampaignJobRow,
                    run_id: str | None, reason: str) -> int | None:
    if ledger is None:
        return None
    ref = ledger.append(RunInterrupted(
        run_id=run_id or "none", campaign=job.campaign, operator=job.operator,
        scope_sha256=job.scope_sha256, attempt=attempt.attempt, worker=attempt.worker,
        reason=reason, recorded_at=utc_now().isoformat()))
    return ref.index


def close_attempt(store: Store, ledger: Any, attempt_id: int, reason: str) -> str:
    """Close an attempt whose worker is gone without saying how it ended.

    If its run had finished (the worker died between the end of the audit and the job's
    update) the run is adopted: its findings are recorded (idempotently) and the job is
    finished. Otherwise the attempt and its run are marked ``interrupted`` and a
    ``run_interrupted`` leaf is appended (``failed`` instead when the worker noted an error).
    Returns the attempt's final status.
    """
    with store.session() as session:
        attempt = session.get(CampaignAttemptRow, attempt_id)
        if attempt is None or attempt.status not in OPEN_ATTEMPT:
            return attempt.status if attempt else "missing"
        job = session.get(CampaignJobRow, attempt.job_id)
        assert job is not None
        out_dir = str(Path(attempt.out_dir).resolve())
        run = session.scalars(select(RunRow).where(RunRow.out_dir == out_dir)
                              .order_by(RunRow.started_at.desc())).first()
        findings_path = Path(out_dir) / "findings.jsonl"
        if run is not None and run.status == "finished" and findings_path.exists():
            record_findings_file(store, findings_path)
            _finish(job, attempt, run.id, run.observations, run.findings, run.served)
            return "finished"
        run_id = run.id if run is not None else None
        if run is not None:
            run.status = "interrupted"
            run.finished_at = run.finished_at or utc_now()
        # an error the worker reported itself makes a failed attempt; silence, an interrupted one
        status = "failed" if attempt.error else "interrupted"
        reason = f"{reason}: {attempt.error}" if attempt.error else reason
        attempt.run_id = run_id
        attempt.status = status
        attempt.finished_at = utc_now()
        attempt.error = reason
        attempt.interrupted_leaf = _interrupt_leaf(ledger, attempt, job, run_id, reason)
        if job.status == "running":
            job.status = "pending"
        job.error = reason
    log.warning("campaign %s: attempt %d of %s %s: %s", job.campaign, attempt.attempt,
                job.operator, status, reason)
    return status


def _finish(job: CampaignJobRow, attempt: CampaignAttemptRow, run_id: str, observations: int,
            findings: int, served: int) -> None:
    now = utc_now()
    attempt.status, attempt.run_id, attempt.finished_at = "finished", run_id, now
    job.status, job.run_id, job.out_dir, job.finished_at = "finished", run_id, attempt.out_dir, now
    job.observations, job.findings, job.served, job.error = observations, findings, served, None
    job.services_done = job.services


def recover(store: Store, ledger: Any, campaign: str, reason: str) -> int:
    """Close every attempt of ``campaign`` still open (its coordinator died); returns how many."""
    with store.session() as session:
        open_ids = list(session.scalars(
            select(CampaignAttemptRow.id).join(CampaignJobRow,
                                               CampaignJobRow.id == CampaignAttemptRow.job_id)
            .where(CampaignJobRow.campaign == campaign,
                   CampaignAttemptRow.status.in_(OPEN_ATTEMPT))))
        for job in session.scalars(select(CampaignJobRow).where(
                CampaignJobRow.campaign == campaign, CampaignJobRow.status == "running")):
            job.status = "pending"
    for attempt_id in open_ids:
        close_attempt(store, ledger, attempt_id, reason)
    return len(open_ids)


def new_attempt(store: Store, job_id: int, executor: str, out_root: Path) -> int:
    """Write the attempt row (before any worker starts) and claim the job; returns its id."""
    with store.session() as session:
        job = session.get(CampaignJobRow, job_id)
        assert job is not None
        job.attempts += 1
        job.status = "running"
        job.started_at = job.started_at or utc_now()
        job.heartbeat_at = utc_now()
        job.services_done = job.observations = job.findings = job.served = 0
        out_dir = out_root / f"{slug(job.operator)}-{job.scope_sha256[:8]}" / \
            f"attempt-{job.attempts}"
        attempt = CampaignAttemptRow(job_id=job.id, attempt=job.attempts, status="dispatched",
                                     executor=executor, out_dir=str(out_dir.resolve()),
                                     started_at=utc_now())
        session.add(attempt)
        session.flush()
        return attempt.id


def jobs(store: Store, campaign: str) -> list[dict[str, Any]]:
    """The campaign's jobs as plain dicts (for progress, ``campaign status`` and reports)."""
    with store.session() as session:
        rows = session.scalars(select(CampaignJobRow).where(CampaignJobRow.campaign == campaign)
                               .order_by(CampaignJobRow.id)).all()
        return [{"id": r.id, "operator": r.operator, "scope": r.scope_path,
                 "scope_sha256": r.scope_sha256, "status": r.status, "attempts": r.attempts,
                 "run_id": r.run_id, "out_dir": r.out_dir, "services": r.services,
                 "services_done": r.services_done, "observations": r.observations,
                 "findings": r.findings, "served": r.served, "error": r.error,
                 "started_at": _iso(r.started_at), "finished_at": _iso(r.finished_at)}
                for r in rows]


def attempts(store: Store, campaign: str) -> list[dict[str, Any]]:
    """Every attempt of the campaign, interrupted ones included (for status and reports)."""
    with store.session() as session:
        rows = session.execute(
            select(CampaignAttemptRow, CampaignJobRow.operator)
            .join(CampaignJobRow, CampaignJobRow.id == CampaignAttemptRow.job_id)
            .where(CampaignJobRow.campaign == campaign).order_by(CampaignAttemptRow.id)).all()
        return [{"id": a.id, "operator": op, "attempt": a.attempt, "status": a.status,
                 "executor": a.executor, "worker": a.worker, "run_id": a.run_id,
                 "out_dir": a.out_dir, "started_at": _iso(a.started_at),
                 "finished_at": _iso(a.finished_at), "error": a.error,
                 "interrupted_leaf": a.interrupted_leaf} for a, op in rows]


def campaign_row(store: Store, name: str) -> dict[str, Any] | None:
    """The campaign's row as a dict, or None when no such campaign was ever run."""
    with store.session() as session:
        row = session.get(CampaignRow, name)
        if row is None:
            return None
        return {"name": row.name, "source": row.source, "deadline": _iso(row.deadline),
                "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
                "status": row.status, "out_dir": row.out_dir, "settings": row.settings}


def set_campaign_status(store: Store, name: str, status: str) -> None:
    with store.session() as session:
        row = session.get(CampaignRow, name)
        if row is not None:
            row.status, row.updated_at = status, utc_now()


def _iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat() if value else None


def dumps(value: Any) -> str:
    """JSON for ``--json`` output."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
