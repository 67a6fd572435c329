"""Campaign state: the campaign, one job per (campaign, operator scope), and each attempt.

Why three tables: a job is the unit of resumption — keyed by the campaign and the SHA-256 of
the operator's scope, so a re-run after a crash finds what is already done and never audits a
finished operator twice. An attempt is one try at a job (one audit run); an attempt that did
not finish is kept, marked ``interrupted``, with the ledger leaf that says so, because its
partial evidence stays in the ledger forever and a reader must be able to tell why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from netwarden.store.base import Base

JOB_STATES = ("pending", "running", "finished", "failed", "dropped")
ATTEMPT_STATES = ("dispatched", "running", "finished", "failed", "interrupted")


class CampaignRow(Base):
    """A campaign: its name, the file it was defined by, its deadline and state."""

    __tablename__ = "campaigns"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(Text)  # path of campaign.toml
    source_sha256: Mapped[str] = mapped_column(String(64))
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|finished|...
    out_dir: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CampaignJobRow(Base):
    """One operator scope of a campaign: the unit that is audited, resumed and reported."""

    __tablename__ = "campaign_jobs"
    __table_args__ = (UniqueConstraint("campaign", "scope_sha256",
                                       name="uq_campaign_jobs_scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(ForeignKey("campaigns.name"), index=True)
    operator: Mapped[str] = mapped_column(String(200), index=True)
    scope_path: Mapped[str] = mapped_column(Text)
    scope_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the finished run
    out_dir: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    services: Mapped[int] = mapped_column(Integer, default=0)
    services_done: Mapped[int] = mapped_column(Integer, default=0)
    observations: Mapped[int] = mapped_column(Integer, default=0)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    served: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class CampaignAttemptRow(Base):
    """One try at a job: where it ran, its run, how it ended (``interrupted`` keeps a leaf)."""

    __tablename__ = "campaign_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("campaign_jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="dispatched")
    executor: Mapped[str] = mapped_column(String(16))
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)  # host:pid
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    out_dir: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    interrupted_leaf: Mapped[int | None] = mapped_column(Integer, nullable=True)
