"""What the campaign dashboard shows: campaigns, their operators (jobs) and progress.

Read from the campaign tables (migration ``0006_campaigns``) that ``netwarden campaign run``
keeps up to date while it runs (job states, services done, findings), so the page shows live
progress without talking to the coordinator. Counts are SQL aggregates; a job list is one
campaign's jobs (one per operator scope), bounded by the campaign file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from netwarden.store.base import Store

JOB_STATES = ("pending", "running", "finished", "failed", "dropped")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class CampaignSummary:
    """One campaign with its progress over every operator."""

    name: str
    status: str
    deadline: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    jobs: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    services: int = 0
    services_done: int = 0
    findings: int = 0
    served: int = 0
    interrupted: int = 0

    @property
    def done(self) -> int:
        """Jobs that need no more work (finished; dropped scopes do not count as work)."""
        return self.by_status.get("finished", 0)

    @property
    def planned(self) -> int:
        return self.jobs - self.by_status.get("dropped", 0)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "deadline": self.deadline,
                "created_at": self.created_at, "updated_at": self.updated_at,
                "jobs": self.jobs, "jobs_by_status": dict(self.by_status),
                "jobs_finished": self.done, "jobs_planned": self.planned,
                "services": self.services, "services_done": self.services_done,
                "findings": self.findings, "served": self.served,
                "interrupted_attempts": self.interrupted}


def campaigns(store: Store, name: str | None = None) -> list[CampaignSummary]:
    """Every campaign (or the one named), newest first, with job and attempt counts."""
    from netwarden.campaign.models import CampaignAttemptRow, CampaignJobRow, CampaignRow
    from netwarden.web.data import storable

    if not storable(name):
        return []
    query = select(CampaignRow).order_by(CampaignRow.created_at.desc())
    if name is not None:
        query = query.where(CampaignRow.name == name)
    with store.session() as session:
        found = {r.name: CampaignSummary(r.name, r.status, _aware(r.deadline),
                                         _aware(r.created_at), _aware(r.updated_at))
                 for r in session.execute(query).scalars()}
        if not found:
            return []
        jobs = (select(CampaignJobRow.campaign, CampaignJobRow.status, func.count(),
                       func.sum(CampaignJobRow.services), func.sum(CampaignJobRow.services_done),
                       func.sum(CampaignJobRow.findings), func.sum(CampaignJobRow.served))
                .where(CampaignJobRow.campaign.in_(list(found)))
                .group_by(CampaignJobRow.campaign, CampaignJobRow.status))
        for camp, status, n, services, done, findings, served in session.execute(jobs).all():
            s = found[camp]
            s.jobs += n
            s.by_status[status] += n
            s.services += services or 0
            s.services_done += done or 0
            s.findings += findings or 0
            s.served += served or 0
        interrupted = (select(CampaignJobRow.campaign, func.count())
                       .join(CampaignAttemptRow, CampaignAttemptRow.job_id == CampaignJobRow.id)
                       .where(CampaignJobRow.campaign.in_(list(found)),
                              CampaignAttemptRow.status.in_(("interrupted", "failed")))
                       .group_by(CampaignJobRow.campaign))
        for camp, n in session.execute(interrupted).all():
            found[camp].interrupted = n
    return list(found.values())


def campaign_detail(store: Store, name: str) -> tuple[CampaignSummary, list[dict[str, Any]],
                                                      list[dict[str, Any]]] | None:
    """``(summary, jobs, attempts)`` of one campaign, or ``None``; jobs and attempts as
    ``netwarden campaign status`` reports them."""
    from netwarden.campaign.state import attempts, jobs

    found = campaigns(store, name)
    if not found:
        return None
    return found[0], jobs(store, name), attempts(store, name)
