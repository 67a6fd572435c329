"""``netwarden recheck``: after a notice's deadline, is the noticed content still served?

The noticed location is collected again with the same collector as in the audit (the scope's
service for that host and port, through ``Scope.check`` — so an expired authorization stops a
re-check too). Results per finding:

* ``still_available`` — the location served bytes whose digest equals the finding's again;
* ``removed`` — the service was walked without errors on the way and the location is gone,
  or it now serves other bytes;
* ``inconclusive`` — the service or the location failed (timeout, refused, out of scope):
  an unreachable server is *not* evidence of removal.

Each result is a ledger leaf (with the re-collected observation as its own leaf when the item
is still there) and a notice event; the notice's state becomes ``still_available`` if any
finding is, ``removed`` if all are. The assessment reads these results as the provider's
response (knowledge + failure to act).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netwarden.collect import CollectContext, collector_for
from netwarden.notices.models import NoticeEventRow, NoticeRow
from netwarden.notices.runs import noticed_run
from netwarden.notices.tracking import aware, notices_due, record_state
from netwarden.records import Finding, Observation, Outcome, Recheck, new_id
from netwarden.scope import Scope, Service


@dataclass(frozen=True)
class RecheckResult:
    """What the re-check of one noticed finding found."""

    notice_id: str
    finding_id: str
    result: str  # removed / still_available / inconclusive
    reason: str
    checked_at: datetime
    leaf: dict[str, Any] | None


def _service_for(scope: Scope, finding: Finding) -> Service | None:
    for service in scope.services:
        if service.host == finding.host and service.port == finding.port:
            return service
    return None


async def _collect(service: Service, scope: Scope, run_id: str, timeout: float,
                   references: Any) -> tuple[list[Observation], str | None]:
    ctx = CollectContext(scope=scope, run_id=run_id, limits=scope.limits, references=references)
    seen: list[Observation] = []

    async def walk() -> None:
        async for record in collector_for(service)(service, ctx).collect():
            if isinstance(record, Observation):
                seen.append(record)

    try:
        await asyncio.wait_for(walk(), timeout)
    except TimeoutError:
        return seen, f"the re-collection took longer than {timeout:g} s"
    except Exception as exc:  # a collector failure is a recorded outcome, not a crash
        return seen, f"collector failed: {type(exc).__name__}: {exc}"
    return seen, None


def judge(finding: Finding, seen: list[Observation], failure: str | None
          ) -> tuple[str, str, Observation | None]:
    """removed / still_available / inconclusive for one finding, with the reason."""
    algorithm = finding.match_algorithm
    expected = finding.digests.get(algorithm)
    at_location = [o for o in seen if o.location == finding.location]
    for obs in at_location:
        if obs.outcome is Outcome.OK and obs.bytes_from_endpoint and expected and \
                obs.digests.get(algorithm) == expected:
            return ("still_available", f"{finding.location} served bytes whose {algorithm} "
                    f"equals the finding's again", obs)
    for obs in at_location:
        if obs.outcome is Outcome.OK and obs.bytes_from_endpoint:
            return ("removed", f"{finding.location} now serves other bytes ({algorithm} "
                    f"{obs.digests.get(algorithm)})", obs)
    if at_location:
        obs = at_location[-1]
        return "inconclusive", f"{finding.location}: {obs.outcome.value}: {obs.reason}", obs
    if failure:
        return "inconclusive", failure, None
    problems = [o for o in seen if o.outcome is not Outcome.OK
                and finding.location.startswith(o.location.rstrip("/") + "/")]
    if problems:
        return ("inconclusive", f"a directory on the way failed: {problems[0].location}: "
                f"{problems[0].reason}", None)
    if not any(o.outcome is Outcome.OK for o in seen):
        return "inconclusive", "the service listed nothing", None
    return "removed", f"the service was walked without errors and {finding.location} is gone", \
        None


def recheck(store: Any, scope: Scope, run_dir: Path, *, ledger: Any | None = None,
            notice_ids: Iterable[str] = (), now: datetime | None = None, force: bool = False,
            timeout: float = 300.0, references: Any = None) -> list[RecheckResult]:
    """Re-check every delivered notice of ``run_dir`` whose deadline passed (see module doc)."""
    now = now or datetime.now(UTC)
    findings = {f.id: f for f in noticed_run(store, run_dir).findings}
    run_ids = {f.run_id for f in findings.values()}
    due = notices_due(store, now, notice_ids, force)
    results: list[RecheckResult] = []
    recheck_run = new_id()
    cache: dict[tuple[str, int], tuple[list[Observation], str | None]] = {}
    with store.session() as session:  # read what is due, then work outside transactions
        rows = [(r.id, r.run_id, list(r.finding_ids or ()), r.leaf_hash,
                 aware(r.deadline_at))
                for r in (session.get(NoticeRow, n) for n in due)
                if r is not None and r.run_id in run_ids]
    for notice_id, run_id, finding_ids, notice_leaf, deadline_at in rows:
        per_notice: list[str] = []
        for fid in finding_ids:
            finding = findings.get(fid)
            if finding is None:
                continue
            service = _service_for(scope, finding)
            seen: list[Observation]
            failure: str | None
            if service is None:
                seen, failure = [], f"the scope lists no service for {finding.host}:" \
                    f"{finding.port}"
            else:
                decision = scope.check(service.host, service.port)
                key = (service.host, service.port)
                if not decision:
                    seen, failure = [], f"not re-collected: {decision.reason}"
                elif key in cache:
                    seen, failure = cache[key]
                else:
                    seen, failure = asyncio.run(_collect(service, scope, recheck_run, timeout,
                                                         references))
                    cache[key] = (seen, failure)
            result, reason, obs = judge(finding, seen, failure)
            checked_at = datetime.now(UTC)
            obs_leaf = leaf = None
            if ledger is not None:
                if obs is not None:
                    ref = ledger.append(obs)
                    obs_leaf = {"index": ref.index, "leaf_hash": ref.leaf_hash.hex()}
                ref = ledger.append(Recheck(
                    run_id=run_id, recheck_run_id=recheck_run, notice_id=notice_id,
                    notice_leaf=notice_leaf, finding_id=fid, match_id=finding.match_id,
                    location=finding.location, result=result, reason=reason,
                    checked_at=checked_at.isoformat(),
                    deadline_at=deadline_at.isoformat() if deadline_at else None,
                    observation_leaf=obs_leaf))
                leaf = {"index": ref.index, "leaf_hash": ref.leaf_hash.hex()}
            with store.session() as session:
                session.add(NoticeEventRow(
                    notice_id=notice_id, at=checked_at, state=result, finding_id=fid,
                    detail={"reason": reason, "observation_leaf": obs_leaf},
                    leaf_index=leaf["index"] if leaf else None,
                    leaf_hash=leaf["leaf_hash"] if leaf else None))
            per_notice.append(result)
            results.append(RecheckResult(notice_id, fid, result, reason, checked_at, leaf))
        if "still_available" in per_notice:
            record_state(store, notice_id, "still_available", datetime.now(UTC), ledger,
                         {"findings": per_notice})
        elif per_notice and all(r == "removed" for r in per_notice):
            record_state(store, notice_id, "removed", datetime.now(UTC), ledger,
                         {"findings": per_notice})
    return results
