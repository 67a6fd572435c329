"""SQLAlchemy models of notices (outgoing and ingested) and their state history.

Why a table besides the ledger: the ledger proves what was sent and learnt; this table is the
working state (what is due for a re-check, what state a notice is in) that the CLI queries.
Every row change that matters is also a ledger leaf, referenced here by index and hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from netwarden.store.base import Base


class NoticeRow(Base):
    """One notice: sent by us (``outgoing``) or received by the abuse desk (``incoming``)."""

    __tablename__ = "notices"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    direction: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    run_id: Mapped[str | None] = mapped_column(String(80), index=True)
    format: Mapped[str] = mapped_column(String(20), nullable=False)
    jurisdiction: Mapped[str | None] = mapped_column(String(8))
    operator: Mapped[str | None] = mapped_column(String(200))
    recipient: Mapped[str | None] = mapped_column(String(320))
    notifier: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    finding_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    complete: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    message: Mapped[bytes | None] = mapped_column(LargeBinary)  # the exact MIME message
    message_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    smtp_outcome: Mapped[str | None] = mapped_column(String(30))
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    smtp_message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    leaf_index: Mapped[int | None] = mapped_column(Integer)
    leaf_hash: Mapped[str | None] = mapped_column(String(64))

    events: Mapped[list[NoticeEventRow]] = relationship(
        back_populates="notice", order_by="NoticeEventRow.id", cascade="all, delete-orphan")


class NoticeEventRow(Base):
    """A state change of a notice (sent, acknowledged, removed, still_available, expired...)."""

    __tablename__ = "notice_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    finding_id: Mapped[str | None] = mapped_column(String(80))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    leaf_index: Mapped[int | None] = mapped_column(Integer)
    leaf_hash: Mapped[str | None] = mapped_column(String(64))

    notice: Mapped[NoticeRow] = relationship(back_populates="events")
