"""Make, ledger and send notices about a run's findings (``netwarden notice send``).

Order matters for evidence: the notice is rendered and appended to the ledger *before* it is
sent (so the ledger proves what the message said, by its SHA-256), then the server's answer is
recorded as the notice's state change (a second leaf). The deadline runs from the moment the
recipient's server accepted the message; a notice that was not accepted has no deadline and
gives no knowledge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from netwarden.errors import InputError
from netwarden.liability.facts import finding_track
from netwarden.notices.formats import get_format
from netwarden.notices.formats.base import NoticeInput, Party
from netwarden.notices.models import NoticeRow
from netwarden.notices.runs import noticed_run
from netwarden.notices.send import (
    Delivery,
    SmtpSettings,
    build_message,
    deliver,
    message_bytes,
)
from netwarden.notices.tracking import deadline_for, record_state
from netwarden.records import Finding, Notice, Record, new_id


@dataclass(frozen=True)
class SentNotice:
    """One notice made (and, with SMTP settings, sent)."""

    id: str
    format: str
    finding_ids: tuple[str, ...]
    complete: bool
    missing: tuple[str, ...]
    delivery: Delivery | None
    deadline_at: datetime | None
    leaf: dict[str, Any] | None
    state: str


def _leaf(ledger: Any | None, record: Record) -> dict[str, Any] | None:
    if ledger is None:
        return None
    ref = ledger.append(record)
    return {"index": ref.index, "leaf_hash": ref.leaf_hash.hex()}


def select_findings(findings: Iterable[Finding], fmt_categories: tuple[str, ...],
                    finding_ids: Iterable[str] = (), served_only: bool = True) -> list[Finding]:
    """The findings a notice may be about: chosen ids (or all), of kinds the format covers,
    and (by default) only verified distribution — leads are not noticed as facts."""
    wanted = set(finding_ids)
    chosen = [f for f in findings if not wanted or f.id in wanted]
    if wanted - {f.id for f in chosen}:
        raise InputError("--finding", f"no such finding(s) in the run: "
                         f"{', '.join(sorted(wanted - {f.id for f in chosen}))}")
    if served_only:
        chosen = [f for f in chosen if f.evidence_level.value == "served"]
    return [f for f in chosen if finding_track(f.model_dump()) in fmt_categories]


def send_notices(store: Any, run_dir: Path, *, fmt: str, notifier: Party, recipient: Party,
                 smtp: SmtpSettings | None, ledger: Any | None = None,
                 finding_ids: Iterable[str] = (), group: bool = True,
                 deadline: timedelta | None = None, served_only: bool = True,
                 now: datetime | None = None) -> list[SentNotice]:
    """Make one notice per finding (or one per operator with ``group``) and send each.

    Without ``smtp`` the notices are only made (state ``draft``). The findings and the
    jurisdiction of the run's scope come from the database (:func:`noticed_run`): a scope
    jurisdiction with a rules file sets the deadlines that apply to the provider, whatever
    the notice's format; without one, the format's own jurisdiction does.
    """
    form = get_format(fmt)
    run = noticed_run(store, run_dir)
    findings = select_findings(run.findings, form.categories, finding_ids, served_only)
    if not findings:
        raise InputError(str(run_dir), f"no finding to notify in format {fmt!r} (it covers "
                         f"{', '.join(form.categories)}; served_only={served_only})")
    batches: list[list[Finding]] = []
    if group and form.grouping:
        by_operator: dict[str, list[Finding]] = {}
        for f in findings:
            by_operator.setdefault(f.operator, []).append(f)
        batches = list(by_operator.values())
    else:
        batches = [[f] for f in findings]
    jurisdiction = run.jurisdiction or form.jurisdiction
    return [_one(store, ledger, form, batch, notifier, recipient, smtp, deadline, now,
                 jurisdiction) for batch in batches]


def _one(store: Any, ledger: Any | None, form: Any, batch: list[Finding], notifier: Party,
         recipient: Party, smtp: SmtpSettings | None, deadline: timedelta | None,
         now: datetime | None, jurisdiction: str) -> SentNotice:
    notice_id = new_id()
    created = now or datetime.now(UTC)
    data = NoticeInput(notice_id=notice_id, created_at=created,
                       findings=[f.model_dump(mode="json") for f in batch],
                       notifier=notifier, recipient=recipient, check_id=batch[0].check_id)
    rendered = form.render(data)
    message = build_message(rendered, notifier, recipient, notice_id, created)
    raw = message_bytes(message)
    digest = hashlib.sha256(raw).hexdigest()
    run_id = batch[0].run_id
    ver_leaves = [f.ledger["verification"]["leaf_hash"] for f in batch
                  if isinstance(f.ledger, dict) and "verification" in f.ledger]
    leaf = _leaf(ledger, Notice(
        id=notice_id, run_id=run_id, direction="outgoing", format=form.name,
        jurisdiction=jurisdiction, finding_ids=[f.id for f in batch],
        verification_leaves=ver_leaves, recipient=recipient.email, notifier=notifier.email,
        subject=rendered.subject, message_sha256=digest, complete=rendered.complete,
        missing=list(rendered.missing), created_at=created.isoformat()))
    with store.session() as session:
        session.add(NoticeRow(
            id=notice_id, direction="outgoing", run_id=run_id, format=form.name,
            jurisdiction=jurisdiction, operator=batch[0].operator, recipient=recipient.email,
            notifier=notifier.email, subject=rendered.subject,
            finding_ids=[f.id for f in batch], complete=rendered.complete,
            missing=list(rendered.missing), message=raw, message_sha256=digest,
            created_at=created, state="draft", details={},
            leaf_index=leaf["index"] if leaf else None,
            leaf_hash=leaf["leaf_hash"] if leaf else None))
    delivery = None
    deadline_at = None
    state = "draft"
    if smtp is not None:
        delivery = deliver(message, smtp)
        updates: dict[str, Any] = {"sent_at": delivery.started_at,
                                   "smtp_outcome": delivery.outcome,
                                   "smtp_code": delivery.code, "smtp_message": delivery.message}
        detail: dict[str, Any] = {"delivery": delivery.as_dict()}
        if delivery.accepted:
            kinds = {finding_track(f.model_dump()) for f in batch}
            content = "csam" if "csam" in kinds else "copyright"
            deadline_at, basis = deadline_for(jurisdiction, content, delivery.finished_at,
                                              deadline)
            updates.update(delivered_at=delivery.finished_at, deadline_at=deadline_at,
                           details={"deadline": basis})
            detail.update(deadline_at=deadline_at.isoformat(), deadline=basis)
        state = "sent" if delivery.accepted else "failed"
        record_state(store, notice_id, state, delivery.finished_at, ledger, detail,
                     updates=updates)
    return SentNotice(notice_id, form.name, tuple(f.id for f in batch), rendered.complete,
                      rendered.missing, delivery, deadline_at, leaf, state)
