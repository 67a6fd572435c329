"""One campaign attempt: audit one operator scope and finish its job in the database.

The same function runs in a local worker process (``python -m netwarden.campaign.worker``)
and inside a Ray task, so the two executors cannot drift apart. The job becomes ``finished``
in the same transaction that records the run's findings; a worker that dies earlier leaves
its attempt open, and the coordinator closes it (see :mod:`netwarden.campaign.state`).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from netwarden.records import utc_now

log = logging.getLogger("netwarden.campaign.worker")

HEARTBEAT_SECONDS = 1.0


class _Progress:
    """Pipeline progress → the job row (throttled), which the coordinator's bars read."""

    def __init__(self, store: Any, job_id: int) -> None:
        self.store, self.job_id = store, job_id
        self.services_done = self.observations = self.findings = 0
        self._last = 0.0

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "service_done":
            self.services_done += 1
        elif event == "observation":
            self.observations += 1
            self.findings = int(data.get("findings", self.findings))
        elif event == "findings":  # the final count once every chain is durable
            self.findings = int(data.get("findings", self.findings))
        now = time.monotonic()
        if now - self._last >= HEARTBEAT_SECONDS or event == "service_done":
            self._last = now
            self.flush()

    def flush(self) -> None:
        from netwarden.campaign.models import CampaignJobRow

        try:
            with self.store.session() as session:
                job = session.get(CampaignJobRow, self.job_id)
                if job is not None and job.status == "running":
                    job.services_done, job.observations = self.services_done, self.observations
                    job.findings, job.heartbeat_at = self.findings, utc_now()
        except Exception:  # progress is cosmetic: never fail an audit over it
            log.debug("progress update failed", exc_info=True)


def execute_attempt(db_url: str, attempt_id: int, home: str | None = None) -> dict[str, Any]:
    """Run attempt ``attempt_id``: its job's audit, then record findings and finish the job.

    Returns a small summary (run id, counts). Raises when the audit fails; the attempt is then
    marked ``failed`` if the database can still be reached.
    """
    if home:
        os.environ["NETWARDEN_HOME"] = home
    from netwarden.banks import BankStore
    from netwarden.campaign.models import CampaignAttemptRow, CampaignJobRow, CampaignRow
    from netwarden.campaign.state import _finish
    from netwarden.ledger import Ledger
    from netwarden.pipeline import run_audit
    from netwarden.scope import load_scope
    from netwarden.store import open_store
    from netwarden.store.base import default_home
    from netwarden.store.models_findings import record_findings

    store = open_store(db_url, migrate=False)  # the coordinator migrated it
    try:
        with store.session() as session:
            attempt = session.get(CampaignAttemptRow, attempt_id)
            if attempt is None or attempt.status != "dispatched":
                raise RuntimeError(f"attempt {attempt_id} is not waiting to run")
            job = session.get(CampaignJobRow, attempt.job_id)
            campaign = session.get(CampaignRow, job.campaign) if job is not None else None
            if job is None or campaign is None:
                raise RuntimeError(f"attempt {attempt_id} names a job or campaign that is gone")
            attempt.status = "running"
            attempt.worker = f"{socket.gethostname()}:{os.getpid()}"
            job_id, scope_path, out_dir = job.id, job.scope_path, Path(attempt.out_dir)
            banks = list((campaign.settings or {}).get("banks") or []) or None
            allow_wide = bool((campaign.settings or {}).get("allow_wide", False))
            meta = {"campaign": job.campaign, "campaign_job": job.id,
                    "campaign_attempt": attempt.attempt, "worker": attempt.worker}
        try:
            scope = load_scope(scope_path, allow_wide=allow_wide)
            ledger = Ledger.open(store)
            from netwarden.attribute import Attributor

            attributor = Attributor.from_scope(scope, default_home() / "cache" / "attribution")
            progress = _Progress(store, job_id)
            try:
                result = run_audit(scope, out_dir, BankStore(store), ledger=ledger, store=store,
                                   banks=banks, progress=progress, attributor=attributor,
                                   run_metadata=meta)
            finally:
                attributor.close()
            record_findings(store, result.findings)
            served = int(result.summary.get("distribution", 0))
            with store.session() as session:
                attempt = session.get(CampaignAttemptRow, attempt_id)
                job = session.get(CampaignJobRow, job_id)
                if job is None or attempt is None:
                    raise RuntimeError(f"attempt {attempt_id} or its job vanished while it ran")
                _finish(job, attempt, result.run_id, result.observations, len(result.findings),
                        served)
            return {"run_id": result.run_id, "observations": result.observations,
                    "findings": len(result.findings), "served": served}
        except BaseException as exc:
            _mark_failed(store, attempt_id, f"{type(exc).__name__}: {exc}")
            raise
    finally:
        store.close()


def _mark_failed(store: Any, attempt_id: int, error: str) -> None:
    """Note the error on the attempt (best effort: the database may be what failed)."""
    from netwarden.campaign.models import CampaignAttemptRow

    try:
        with store.session() as session:
            attempt = session.get(CampaignAttemptRow, attempt_id)
            if attempt is None or attempt.status not in ("dispatched", "running"):
                return
            # the status stays open: the coordinator closes it with a ledger leaf
            attempt.error = error[:2000]
    except Exception:
        log.warning("could not mark attempt %d failed", attempt_id, exc_info=True)


def _watch_parent() -> None:
    """Exit when the coordinator is gone (killed -9): no orphan keeps auditing unobserved."""
    parent = os.getppid()

    def loop() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=loop, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """``python -m netwarden.campaign.worker DB_URL ATTEMPT_ID``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m netwarden.campaign.worker DB_URL ATTEMPT_ID", file=sys.stderr)
        return 2
    _watch_parent()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        summary = execute_attempt(args[0], int(args[1]))
    except Exception as exc:
        print(f"attempt {args[1]} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"attempt {args[1]}: run {summary['run_id']}, {summary['findings']} findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
