"""The ``runs`` table: every audit run of this installation, for listing and resuming."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from netwarden.store.base import Base


class RunRow(Base):
    """One audit run: which check, which operator, where its run directory is, how it ended."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    check_id: Mapped[str] = mapped_column(String(200), index=True)
    operator: Mapped[str] = mapped_column(String(200), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(8))
    scope_sha256: Mapped[str] = mapped_column(String(64))
    out_dir: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running|finished|failed
    observations: Mapped[int] = mapped_column(Integer, default=0)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    served: Mapped[int] = mapped_column(Integer, default=0)
