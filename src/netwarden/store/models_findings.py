"""The ``findings`` table: every finding of every run, queryable across runs and operators.

Why a table besides ``findings.jsonl``: campaign reports, the web UI and ``campaign status``
ask questions across hundreds of runs (per operator, category, level, time); reading every run
directory for that does not scale. Each row keeps the exact JSON line of ``findings.jsonl``
(the contract) plus indexed columns for the questions asked. The ledger stays the proof: a row
names its ledger leaf so anything shown can be proven.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from netwarden.store.base import Base

if TYPE_CHECKING:
    from netwarden.records import Finding
    from netwarden.store.base import Store


class FindingRow(Base):
    """One finding: the ``findings.jsonl`` line (``data``) and the columns reports filter on."""

    __tablename__ = "findings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the finding's id
    run_id: Mapped[str] = mapped_column(String(32), index=True)
    check_id: Mapped[str] = mapped_column(String(200))
    operator: Mapped[str] = mapped_column(String(200), index=True)
    category: Mapped[str] = mapped_column(String(100), index=True)
    evidence_level: Mapped[str] = mapped_column(String(16), index=True)
    protocol: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(64), index=True)
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    bank: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(200), index=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the match leaf
    data: Mapped[str] = mapped_column(Text)  # the findings.jsonl line, verbatim

    __table_args__ = (Index("ix_findings_operator_level", "operator", "evidence_level"),)

    def finding(self) -> dict[str, Any]:
        """The finding as the JSON object of its ``findings.jsonl`` line."""
        return json.loads(self.data)


def _leaf_index(ledger: Any) -> int | None:
    if isinstance(ledger, dict):
        match = ledger.get("match") or ledger.get("observation")
        if isinstance(match, dict) and isinstance(match.get("index"), int):
            return match["index"]
    return None


def _row(finding: Finding | dict[str, Any]) -> FindingRow:
    from netwarden.records import Finding

    model = finding if isinstance(finding, Finding) else Finding.model_validate(finding)
    observed = model.observed_at
    if observed.tzinfo is None:
        observed = observed.replace(tzinfo=UTC)
    return FindingRow(
        id=model.id, run_id=model.run_id, check_id=model.check_id, operator=model.operator,
        category=model.category, evidence_level=model.evidence_level.value,
        protocol=model.protocol, host=model.host, observed_at=observed, bank=model.bank,
        reference=model.reference, leaf_index=_leaf_index(model.ledger),
        data=model.model_dump_json())


def record_findings(store: Store, findings: Sequence[Finding | dict[str, Any]]) -> int:
    """Insert findings into the ``findings`` table; returns how many were new.

    Idempotent on the finding id: a finding recorded twice (the pipeline and then the campaign
    worker, or a resumed worker adopting a finished run) stays one row, so evidence is never
    duplicated. A row already present takes the newer line (``netwarden assess`` fills the
    ``assessment`` field of a finding after its run).
    """
    if not findings:
        return 0
    rows = {r.id: r for r in (_row(f) for f in findings)}
    added = 0
    with store.session() as session:
        ids = list(rows)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            known = {r.id: r for r in session.scalars(select(FindingRow).where(
                FindingRow.id.in_(chunk)))}
            for fid in chunk:
                row = rows[fid]
                old = known.get(fid)
                if old is None:
                    session.add(row)
                    added += 1
                elif old.data != row.data:
                    old.data, old.leaf_index = row.data, row.leaf_index
                    old.evidence_level = row.evidence_level
    return added


def record_findings_file(store: Store, path: Any) -> int:
    """Record every line of a run directory's ``findings.jsonl`` (see :func:`record_findings`)."""
    from pathlib import Path

    lines = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
             if line.strip()]
    return record_findings(store, lines)


def findings_of_runs(store: Store, run_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The findings of the given runs, as ``findings.jsonl`` objects, oldest first."""
    ids = list(dict.fromkeys(run_ids))
    out: list[dict[str, Any]] = []
    with store.session() as session:
        for start in range(0, len(ids), 500):
            rows = session.scalars(select(FindingRow).where(
                FindingRow.run_id.in_(ids[start:start + 500])))
            out.extend(r.finding() for r in rows)
    out.sort(key=lambda f: (f["observed_at"], f["id"]))
    return out
