"""The campaign coordinator: dispatch one attempt per pending operator, survive everything.

The coordinator holds no state that is not in the database. On start it syncs the campaign
file into jobs, closes attempts a previous coordinator left open (it died: kill -9, Ctrl-C,
power) and then keeps at most ``workers`` attempts running until every job is finished, failed
after its retries, or the deadline passed. It survives a lost database connection by waiting
for the database to come back (``db_wait`` seconds) — a worker that lost it fails its attempt,
which is then retried like any other interrupted one.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from netwarden.campaign import state
from netwarden.campaign.config import Campaign
from netwarden.campaign.executors import Executor
from netwarden.campaign.models import CampaignAttemptRow, CampaignJobRow
from netwarden.records import utc_now
from netwarden.store.base import Store

log = logging.getLogger("netwarden.campaign")

T = TypeVar("T")
UpdateHook = Callable[[list[dict[str, Any]]], None]


@dataclass
class CampaignResult:
    """How a ``campaign run`` ended."""

    name: str
    jobs: list[dict[str, Any]]
    recovered: int = 0
    missed_deadline: bool = False
    events: list[str] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return sum(1 for j in self.jobs if j["status"] == "finished")

    @property
    def complete(self) -> bool:
        return all(j["status"] in ("finished", "dropped") for j in self.jobs)


def _retrying(store: Store, what: str, fn: Callable[[], T], db_wait: float) -> T:
    """Run ``fn``; while the database is unreachable, wait (bounded) and try again."""
    deadline = time.monotonic() + db_wait
    delay = 0.2
    while True:
        try:
            return fn()
        except (OperationalError, DBAPIError) as exc:
            if not getattr(exc, "connection_invalidated", False) and \
                    not isinstance(exc, OperationalError):
                raise
            if time.monotonic() >= deadline:
                raise
            log.warning("database unreachable during %s (%s); retrying in %.1fs", what,
                        type(exc.orig).__name__ if exc.orig else exc, delay)
            store.engine.dispose()
            time.sleep(delay)
            delay = min(delay * 2, 3.0)


def import_banks(store: Store, campaign: Campaign) -> None:
    """Import the campaign's bank files (idempotent: known digests are not added twice)."""
    if not campaign.bank_files:
        return
    from netwarden.banks import BankStore

    banks = BankStore(store)
    for source in campaign.bank_files:
        banks.import_file(source.name, source.category, source.format, source.path)


def run_campaign(campaign: Campaign, store: Store, ledger: Any, executor: Executor, *,
                 on_update: UpdateHook | None = None, poll_seconds: float = 0.25,
                 db_wait: float = 120.0, now: Callable[[], datetime] = utc_now
                 ) -> CampaignResult:
    """Run (or resume) ``campaign`` until nothing is left to do; see the module docstring."""
    name = campaign.name
    _retrying(store, "sync", lambda: state.sync_campaign(store, campaign), db_wait)
    import_banks(store, campaign)
    recovered = _retrying(store, "recovery", lambda: state.recover(
        store, ledger, name, "coordinator stopped before the attempt ended"), db_wait)
    result = CampaignResult(name, [], recovered)
    if recovered:
        result.events.append(f"closed {recovered} attempt(s) left open by a previous run")
    tries: dict[int, int] = {}  # job id -> attempts made by this coordinator
    running: dict[int, tuple[int, Any]] = {}  # attempt id -> (job id, handle)
    last_update = 0.0

    def pending_jobs() -> list[int]:
        with store.session() as session:
            return list(session.scalars(
                select(CampaignJobRow.id).where(CampaignJobRow.campaign == name,
                                                CampaignJobRow.status == "pending")
                .order_by(CampaignJobRow.id)))

    try:
        while True:
            # 1. collect ended attempts
            for attempt_id, (job_id, handle) in list(running.items()):
                ended = executor.poll(handle)
                if ended is None:
                    continue
                del running[attempt_id]
                if not ended.ok:
                    result.events.append(f"attempt {attempt_id}: {ended.error}")
                # closes the attempt unless the worker finished it: adopt or interrupt
                _retrying(store, "closing an attempt", functools.partial(
                    state.close_attempt, store, ledger, attempt_id,
                    ended.error or "worker ended without finishing its job"), db_wait)
                _retrying(store, "job state", functools.partial(
                    _settle, store, job_id, tries.get(job_id, 0), campaign.retries), db_wait)
            # 2. start attempts while there is room
            waiting = _retrying(store, "listing jobs", pending_jobs, db_wait)
            waiting = [j for j in waiting if j not in {jid for jid, _ in running.values()}]
            past_deadline = campaign.deadline is not None and now() >= campaign.deadline
            if past_deadline and waiting:
                result.missed_deadline = True
                waiting = []
            while waiting and len(running) < campaign.workers:
                job_id = waiting.pop(0)
                tries[job_id] = tries.get(job_id, 0) + 1
                attempt_id = _retrying(store, "new attempt", functools.partial(
                    state.new_attempt, store, job_id, executor.name, campaign.out_dir), db_wait)
                out_dir = _retrying(store, "attempt", functools.partial(_out_dir, store,
                                                                        attempt_id), db_wait)
                handle = executor.submit(attempt_id, _log_path(out_dir))
                running[attempt_id] = (job_id, handle)
            if on_update and time.monotonic() - last_update >= 0.5:
                last_update = time.monotonic()
                with contextlib.suppress(OperationalError, DBAPIError):  # cosmetic
                    on_update(state.jobs(store, name))
            if not running and not waiting:
                break
            # wakes as soon as an attempt ends, so a worker never idles a whole poll period
            executor.wait([handle for _job, handle in running.values()], poll_seconds)
    except BaseException:
        for _job_id, handle in running.values():
            executor.cancel(handle)
        for attempt_id in running:
            try:
                state.close_attempt(store, ledger, attempt_id, "coordinator stopped (Ctrl-C)")
            except Exception:
                log.exception("could not close attempt %d", attempt_id)
        raise
    result.jobs = _retrying(store, "summary", lambda: state.jobs(store, name), db_wait)
    if on_update:
        on_update(result.jobs)
    status = "finished" if result.complete else (
        "missed_deadline" if result.missed_deadline else "incomplete")
    _retrying(store, "status", lambda: state.set_campaign_status(store, name, status), db_wait)
    return result


def _settle(store: Store, job_id: int, tries: int, retries: int) -> None:
    """After an attempt ended: a job not finished goes back to pending or, out of tries, failed."""
    with store.session() as session:
        job = session.get(CampaignJobRow, job_id)
        if job is None or job.status == "finished":
            return
        job.status = "pending" if tries <= retries else "failed"


def _out_dir(store: Store, attempt_id: int) -> str:
    with store.session() as session:
        row = session.get(CampaignAttemptRow, attempt_id)
        assert row is not None
        return row.out_dir


def _log_path(out_dir: str) -> Any:
    from pathlib import Path

    path = Path(out_dir)
    return path.parent / f"{path.name}.worker.log"
