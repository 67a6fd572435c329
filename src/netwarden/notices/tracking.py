"""Notice states, jurisdiction deadlines, and the state history (table rows + ledger leaves).

States: ``draft`` (made, not yet sent), ``failed`` (the mail server did not accept it: the
reason is recorded; nothing is assumed), ``sent`` (accepted by the recipient's server),
``acknowledged`` (the provider confirmed receipt), ``removed`` / ``still_available`` (what the
re-check after the deadline found), ``expired`` (the deadline passed with no conclusive
re-check). For incoming notices: ``received`` and ``rejected`` (unparseable or incomplete).

Deadlines come from the jurisdiction's rules file (``[deadlines]``, per content kind), where
each value says whether the law fixes it or it is a policy value; a caller may override it.
Working days skip Saturdays and Sundays (public holidays are not modelled: the deadline can
only come out earlier than the legal one, which is the cautious side for a re-check that must
not find "still available" before the provider's time is up — see docs/notices.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from netwarden.errors import InputError
from netwarden.liability.engine import Deadline, load_rules
from netwarden.liability.facts import NoticeFacts, Recheck
from netwarden.notices.models import NoticeEventRow, NoticeRow
from netwarden.records import NoticeState

STATES = ("draft", "failed", "sent", "acknowledged", "removed", "still_available", "expired",
          "received", "rejected")
# which states may follow which (anything may be re-recorded as itself)
TRANSITIONS = {
    "draft": {"sent", "failed"},
    "failed": {"sent", "failed"},
    "sent": {"acknowledged", "removed", "still_available", "expired"},
    "acknowledged": {"removed", "still_available", "expired"},
    "still_available": {"removed", "still_available", "expired"},
    "removed": {"removed", "still_available"},
    "expired": {"removed", "still_available"},
    "received": {"acknowledged"},
    "rejected": set(),
}


def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def add_deadline(start: datetime, deadline: Deadline) -> datetime:
    """``start`` plus the deadline (hours, or working days skipping weekends)."""
    if deadline.unit == "hours":
        return start + timedelta(hours=deadline.value)
    days = int(deadline.value)
    moment = start
    while days > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment + timedelta(days=deadline.value - int(deadline.value))


def deadline_for(jurisdiction: str, content: str, start: datetime,
                 override: timedelta | None = None) -> tuple[datetime, dict[str, Any]]:
    """When the provider's time is up, and the basis (rule file or override)."""
    if override is not None:
        return start + override, {"basis": "override given by the operator of netwarden",
                                  "seconds": override.total_seconds()}
    deadline = load_rules(jurisdiction).deadline_for(content)
    return add_deadline(start, deadline), deadline.as_dict()


def record_state(store: Any, notice_id: str, state: str, at: datetime, ledger: Any | None,
                 detail: dict[str, Any] | None = None, finding_id: str | None = None,
                 updates: dict[str, Any] | None = None) -> None:
    """Move notice ``notice_id`` to ``state`` (checked against TRANSITIONS) and log it.

    The ledger leaf is appended between two short transactions, never inside one: SQLite
    allows one writer, and the ledger is a writer of its own.
    """
    if state not in STATES:
        raise InputError("notice state", f"unknown state {state!r} (known: {', '.join(STATES)})")
    with store.session() as session:
        row = session.get(NoticeRow, notice_id)
        if row is None:
            raise InputError(notice_id, "no such notice")
        if state != row.state and state not in TRANSITIONS.get(row.state, set()):
            raise InputError(notice_id, f"a notice in state {row.state!r} cannot become "
                             f"{state!r}", "state")
        run_id, notice_leaf = row.run_id, row.leaf_hash
    detail = detail or {}
    leaf = None
    if ledger is not None:
        leaf = ledger.append(NoticeState(
            id=f"{notice_id}:{state}:{at.isoformat()}", run_id=run_id or None,
            notice_id=notice_id, notice_leaf=notice_leaf, state=state, at=at.isoformat(),
            detail=detail, finding_id=finding_id or None))
    with store.session() as session:
        row = session.get(NoticeRow, notice_id)
        for key, value in (updates or {}).items():
            setattr(row, key, value)
        row.state = state
        row.events.append(NoticeEventRow(at=at, state=state, finding_id=finding_id,
                                         detail=detail,
                                         leaf_index=leaf.index if leaf else None,
                                         leaf_hash=leaf.leaf_hash.hex() if leaf else None))


def acknowledge(store: Any, notice_id: str, ledger: Any | None, note: str = "",
                at: datetime | None = None) -> None:
    """Record that the provider confirmed receipt of ``notice_id``."""
    record_state(store, notice_id, "acknowledged", at or datetime.now(UTC), ledger,
                 {"note": note} if note else {})


def notice_facts(store: Any, run_id: str | None = None) -> list[NoticeFacts]:
    """The outgoing notices (of ``run_id``, or all) as the liability assessment needs them."""
    out = []
    with store.session() as session:
        query = select(NoticeRow).where(NoticeRow.direction == "outgoing")
        if run_id is not None:
            query = query.where(NoticeRow.run_id == run_id)
        for row in session.scalars(query):
            checks = tuple(
                Recheck(e.finding_id, e.state, aware(e.at),  # type: ignore[arg-type]
                        {"index": e.leaf_index, "leaf_hash": e.leaf_hash} if e.leaf_hash
                        else None)
                for e in row.events
                if e.finding_id and e.state in ("removed", "still_available", "inconclusive"))
            out.append(NoticeFacts(
                notice_id=row.id, format=row.format, finding_ids=tuple(row.finding_ids or ()),
                delivered_at=aware(row.delivered_at), complete=bool(row.complete),
                deadline_at=aware(row.deadline_at), rechecks=checks,
                leaf={"index": row.leaf_index, "leaf_hash": row.leaf_hash}
                if row.leaf_hash else None))
    return out


def notices_due(store: Any, now: datetime | None = None, notice_ids: Iterable[str] = (),
                force: bool = False) -> list[str]:
    """Ids of delivered notices whose deadline has passed (or the given ones with ``force``)."""
    now = now or datetime.now(UTC)
    wanted = set(notice_ids)
    with store.session() as session:
        rows = session.scalars(select(NoticeRow).where(
            NoticeRow.direction == "outgoing", NoticeRow.delivered_at.is_not(None))).all()
        due = []
        for row in rows:
            if wanted and row.id not in wanted:
                continue
            deadline = aware(row.deadline_at)
            if force or deadline is None or now >= deadline:
                due.append(row.id)
    return due
