"""One audit run, stage by stage: scope → collect → identify → verify → ledger → findings.

Stages talk only through the records of :mod:`netwarden.records`. Collectors run concurrently
(one task per service, bounded by the scope's limits inside each collector); everything they
emit goes through one consumer that appends to the ledger, identifies and verifies, so the
ledger's order is the order in which facts were learnt. Nothing below this module imports the
CLI or the web application.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import platform
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

import rfc8785

from netwarden import __version__, netguard, rundir
from netwarden.collect import CollectContext, collector_for
from netwarden.collect.references import ReferenceView
from netwarden.identify import identify
from netwarden.ledger.clock import clock_info
from netwarden.records import (
    FINDING_SCHEMA_VERSION,
    PENDING,
    Attribution,
    Endpoint,
    EvidenceLevel,
    Finding,
    Match,
    Observation,
    Outcome,
    Record,
    Refusal,
    Run,
    RunEnd,
    Verification,
    content_track,
    new_id,
    utc_now,
)
from netwarden.scope import Scope, Service
from netwarden.seams import Attributor, BankIndex, LedgerSink
from netwarden.store import liveness
from netwarden.verify import verify_match

if TYPE_CHECKING:
    from netwarden.ledger.storage import PreparedEntry
    from netwarden.liability.assess import AssessmentReport
    from netwarden.liability.facts import NoticeFacts
    from netwarden.store.base import Store

log = logging.getLogger("netwarden.pipeline")


@dataclass
class RunResult:
    """What an audit produced, handed from stage to stage in memory.

    The run directory (:mod:`netwarden.rundir`) is written from it once, at the end
    (:func:`write_run_dir`); nothing of a run reads its own directory back.
    """

    run_id: str
    out_dir: Path
    scope: Scope
    started_at: datetime
    finished_at: datetime
    findings: list[Finding]
    observations: int
    outcomes: dict[str, int]
    refusals: list[Refusal]
    problems: list[Observation]
    checkpoint: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    assessment: AssessmentReport | None = None
    # one {"url", "status": "checked" | "failed", "reason"} per scope service (see
    # _Recorder.service_status): the CLI exits non-zero unless every service was checked
    services: list[dict[str, Any]] = field(default_factory=list)
    # "finished", or "interrupted" (a signal or an error stopped the run; what was recorded
    # before is reported) with the reason in ``interrupted``
    status: str = "finished"
    interrupted: str | None = None
    # totals when more problems/refusals happened than are kept in memory (see _Recorder)
    problems_total: int | None = None
    refused_total: int | None = None


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGTERM, SIGHUP): a KeyboardInterrupt, so that callers
    that handle Ctrl-C handle it too, after the run directory was written and marked."""

    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame


ProgressHook = Callable[[str, dict[str, Any]], None]


def scope_digest(scope: Scope) -> str:
    """SHA-256 of the scope's canonical JSON: which authorization this run acted under."""
    return hashlib.sha256(rfc8785.dumps(json.loads(json.dumps(scope.raw, default=str)))
                          ).hexdigest()


class _Recorder:
    """The single consumer: identify, verify, attribute, append to the ledger, make findings.

    Records are staged and appended to the ledger in batches (one transaction, one fsync per
    batch: at most ``FLUSH_ENTRIES`` entries or ``FLUSH_SECONDS`` old), because a durable append
    per record would bound a large crawl by the disk's fsync rate. A record's leaf hash is known
    when it is staged, so a match names its observation's leaf before either is durable; a
    finding is written to ``findings.jsonl`` (and flushed) only once its whole chain is in the
    ledger, so an interrupted run keeps every finding it reported.
    """

    FLUSH_ENTRIES = 256
    FLUSH_SECONDS = 1.0
    # Problems and refusals kept in memory for the report; beyond this they are only counted
    # (each is in the ledger anyway): a hostile server can make millions of them. Per service
    # and outcome, so that one hostile service cannot crowd the others' problems, nor a flood
    # of skipped names its errors, out of the report.
    MAX_KEPT = 1000
    MAX_KEPT_PER_SERVICE = 200

    def __init__(self, scope: Scope, run_id: str, index: BankIndex, ledger: LedgerSink | None,
                 banks: Iterable[str] | None, findings_file: IO[str],
                 attributor: Attributor | None = None) -> None:
        self.scope, self.run_id, self.index, self.ledger = scope, run_id, index, ledger
        self.attributor = attributor
        self.findings_file = findings_file
        self.banks = list(banks) if banks else None
        self.findings: list[Finding] = []
        self.refusals: list[Refusal] = []
        self.problems: list[Observation] = []
        self.outcomes: dict[str, int] = {}
        self.observations = 0
        self.problems_total = 0
        self.refused_total = 0
        self._kept: dict[tuple[str | None, str], int] = {}
        self.unstorable = 0  # records that could not be stored even as an error observation
        self.bytes_digested = 0
        self._service_ok: dict[str, int] = {}  # service URL -> OK observations
        self._service_problem: dict[str, str] = {}  # service URL -> first reason it failed
        self._staged: list[PreparedEntry] = []  # prepared ledger entries of the current batch
        # findings to finish: their fields, and the batch positions of their chain's leaves
        # (by name: observation, match, verification, attribution; and each match's)
        self._waiting: list[tuple[dict[str, Any], dict[str, int], list[int]]] = []
        self._batch_started = 0.0

    # -- staging and flushing ---------------------------------------------------------------
    def _stage(self, record: Record) -> tuple[int, str | None]:
        """Stage a record for the next batch: its position in the batch and its leaf hash."""
        if self.ledger is None:
            return -1, None
        prepared = self.ledger.prepare(record)
        if not self._staged:
            self._batch_started = time.monotonic()
        self._staged.append(prepared)
        return len(self._staged) - 1, prepared.leaf_hash.hex()

    def due(self) -> bool:
        """Whether the staged batch should be flushed now."""
        return bool(self._staged or self._waiting) and (
            len(self._staged) >= self.FLUSH_ENTRIES
            or time.monotonic() - self._batch_started >= self.FLUSH_SECONDS)

    def flush(self) -> None:
        """Append the staged batch to the ledger, then write the findings it completes."""
        refs = (self.ledger.append_many(self._staged)
                if self.ledger is not None and self._staged else [])
        self._staged = []
        for fields, positions, match_positions in self._waiting:
            if self.ledger is not None:
                def ref(pos: int) -> dict[str, Any]:
                    return {"index": refs[pos].index, "leaf_hash": refs[pos].leaf_hash.hex()}
                fields["ledger"] = {name: ref(pos) for name, pos in positions.items()}
                for item, pos in zip(fields["matches"], match_positions, strict=True):
                    item["ledger"] = ref(pos)
            finding = Finding(**fields)
            self.findings.append(finding)
            self.findings_file.write(finding.model_dump_json() + "\n")
        if self._waiting:
            self._waiting = []
            self.findings_file.flush()

    def append_now(self, record: Record) -> None:
        """Append one record outside the batches (the run's first and last records)."""
        self._stage(record)
        self.flush()

    def service_status(self) -> list[dict[str, Any]]:
        """Per scope service: ``checked`` unless it yielded problems and nothing OK, or was
        refused, or its collector crashed (``failed``, with the first reason).

        Why: an audit in which every service failed used to end with exit 0 and "0 findings",
        which reads as a clean network.
        """
        out = []
        for service in self.scope.services:
            problem = self._service_problem.get(service.url)
            failed = problem is not None and not self._service_ok.get(service.url)
            out.append({"url": service.url, "status": "failed" if failed else "checked",
                        "reason": problem if failed else None})
        return out

    # -- records ------------------------------------------------------------------------------
    def take(self, record: Observation | Refusal) -> None:
        """Record one collector record; a record that cannot be stored becomes an error.

        Per record, never per run (issue 14): an entry that cannot be canonicalised (a number
        outside the JSON safe-integer domain, say) or indexed is replaced by an ``error``
        observation of its service saying why, and the run goes on.
        """
        try:
            self._take(record)
        except Exception as exc:
            log.exception("record %s could not be stored", record.id)
            substitute = _unstorable(record, exc)
            try:
                self._take(substitute)
            except Exception:
                self.unstorable += 1
                log.exception("the error observation for record %s could not be stored either",
                              record.id)

    def _take(self, record: Observation | Refusal) -> None:
        if isinstance(record, Refusal):
            if record.found_in in ("scope", "scope services"):
                self._service_problem.setdefault(record.target, f"refused: {record.reason}")
            self._stage(record)
            self.refused_total += 1
            if len(self.refusals) < self.MAX_KEPT:
                self.refusals.append(record)
            log.info("refused %s (found in %s): %s", record.target, record.found_in,
                     record.reason)
            return
        obs_pos, obs_leaf = self._stage(record)
        self.observations += 1
        self.outcomes[record.outcome.value] = self.outcomes.get(record.outcome.value, 0) + 1
        if record.bytes_from_endpoint and record.size:
            self.bytes_digested += record.size
        if record.service is not None:
            if record.outcome is Outcome.OK:
                self._service_ok[record.service] = self._service_ok.get(record.service, 0) + 1
            else:
                self._service_problem.setdefault(
                    record.service, f"{record.outcome.value}: {record.reason or 'no reason'}")
        if record.outcome is not Outcome.OK:
            self.problems_total += 1
            key = (record.service, record.outcome.value)  # skips do not crowd out errors
            kept = self._kept.get(key, 0)
            if kept < self.MAX_KEPT_PER_SERVICE and len(self.problems) < self.MAX_KEPT * 5:
                self._kept[key] = kept + 1
                self.problems.append(record)
            log.info("%s %s: %s", record.outcome.value, record.location, record.reason)
            return
        matches = identify(record, self.index, obs_leaf, self.banks)
        if matches:
            self._finding(record, obs_pos, matches)

    def _finding(self, obs: Observation, obs_pos: int, matches: list[Match]) -> None:
        """ONE finding for all the matches of one observation (one finding per copy).

        Every match and its verification stays a ledger leaf of its own (each stays
        provable); the finding lists them in ``matches``, primary first (identify's order).
        Its evidence level is the best any match reached, and its ``verification`` is that
        match's (the primary's when they tie).
        """
        staged: list[tuple[Match, int, Verification, int]] = []
        for match in matches:
            match_pos, match_leaf = self._stage(match)
            verification: Verification = verify_match(obs, match, match_leaf)
            ver_pos, _ = self._stage(verification)
            staged.append((match, match_pos, verification, ver_pos))
            log.info("match %s %s → %s/%s (%s), %s", obs.location, match.algorithm,
                     match.bank, match.reference_id, verification.result,
                     verification.level.value)
        rank = list(EvidenceLevel)
        best = max(staged, key=lambda s: rank.index(s[2].level))  # first of the best: primary
        primary, match_pos, _v, _p = staged[0]
        _m, _mp, verification, ver_pos = best
        attribution, attr_pos = self._attribute(obs, primary, self._leaf_of(match_pos))
        positions = {"observation": obs_pos, "match": match_pos, "verification": ver_pos}
        if attr_pos is not None:
            positions["attribution"] = attr_pos
        self._waiting.append((dict(
            schema_version=FINDING_SCHEMA_VERSION, id=obs.id,
            track=content_track(primary.category, primary.bank),
            matches=[{"match_id": m.id, "bank": m.bank, "category": m.category,
                      "reference": m.reference_id, "title": m.title, "method": m.method,
                      "algorithm": m.algorithm, "distance": m.distance, "ledger": PENDING}
                     for m, _mp, _v, _p in staged],
            run_id=self.run_id, check_id=self.scope.check_id,
            operator=self.scope.operator_name, category=primary.category, bank=primary.bank,
            reference=primary.reference_id, title=primary.title, match_method=primary.method,
            match_algorithm=primary.algorithm, match_distance=primary.distance,
            location=obs.location, endpoint=str(obs.endpoint), host=obs.endpoint.host,
            port=obs.endpoint.port, protocol=obs.endpoint.protocol, name=obs.name,
            size=obs.size, digests=obs.digests, observed_at=obs.observed_at,
            evidence_level=verification.level,
            verification={"result": verification.result, "method": verification.method,
                          "checked": verification.checked,
                          "verified_at": verification.verified_at.isoformat()},
            attribution=attribution,
            operator_infrastructure=obs.operator_infrastructure, observation_id=obs.id,
            match_id=primary.id, verification_id=verification.id, ledger=PENDING,
        ), positions, [pos for _m, pos, _v, _p in staged]))

    def _leaf_of(self, pos: int) -> str | None:
        """Leaf hash (hex) of a staged entry of the current batch."""
        if self.ledger is None or pos < 0:
            return None
        return self._staged[pos].leaf_hash.hex()

    def _attribute(self, obs: Observation, match: Match, match_leaf: str | None
                   ) -> tuple[dict[str, Any] | str, int | None]:
        """Who was behind the endpoint when it served the item: a leaf of its own."""
        if self.attributor is None:
            return PENDING, None
        try:
            answer = self.attributor.attribute(obs.endpoint.host, obs.endpoint.port,
                                               obs.observed_at).as_dict()
            record = Attribution(run_id=self.run_id, match_id=match.id,
                                 match_leaf=match_leaf, **answer)
        except Exception as exc:  # a log problem (or an answer no leaf can hold) must not
            log.exception("attribution of %s failed", obs.location)  # lose the finding
            answer = {"status": "none", "reason_code": "attribution_error",
                      "reason": f"attribution failed: {type(exc).__name__}: {exc}"}
            record = Attribution(run_id=self.run_id, match_id=match.id,
                                 match_leaf=match_leaf, **answer)
        pos, _ = self._stage(record)
        return answer, (pos if self.ledger is not None else None)


def _unstorable(record: Observation | Refusal, exc: Exception) -> Observation:
    """The error observation that stands for a record the ledger could not take.

    Built only from fields that are always storable (strings the collector made, the
    endpoint), never from the record's details, sizes or digests, which are what failed.
    """
    problem = f"{type(exc).__name__}: {exc}"
    if len(problem) > 300:
        problem = problem[:300] + "…"
    reason = f"record could not be stored ({problem}); recorded as this error instead"
    if isinstance(record, Refusal):
        return Observation(run_id=record.run_id, endpoint=Endpoint(protocol="unknown",
                           host="unknown", port=0), location=record.target[:4096],
                           method="refusal", outcome=Outcome.ERROR, reason=reason,
                           service=record.found_in[:4096])
    return Observation(run_id=record.run_id, endpoint=record.endpoint,
                       location=record.location[:4096], method=record.method[:64],
                       outcome=Outcome.ERROR, reason=reason, service=record.service,
                       operator_infrastructure=record.operator_infrastructure,
                       details={"unstored_record_id": record.id})


def _run_record(scope: Scope, run_id: str, started: datetime, extra: dict[str, Any]) -> Run:
    """The run's first leaf; ``extra`` is the caller's run metadata (a campaign worker's
    campaign, job, attempt and worker), refused when it names a field :class:`Run` lacks."""
    return Run(
        id=run_id, run_id=run_id, check_id=scope.check_id,
        authorization=scope.authorization, operator=scope.operator_name,
        jurisdiction=scope.jurisdiction, scope_sha256=scope_digest(scope),
        started_at=started.isoformat(), software=f"netwarden {__version__}",
        host=platform.node(), python=platform.python_version(),
        clock=clock_info(), **extra,
    )


async def _collect_all(scope: Scope, run_id: str, recorder: _Recorder,
                       progress: ProgressHook | None, references: ReferenceView | None) -> None:
    ctx = CollectContext(scope=scope, run_id=run_id, limits=scope.limits,
                         progress=(lambda event: progress("collect", {"event": event}))
                         if progress else None, references=references)
    queue: asyncio.Queue[Observation | Refusal | None] = asyncio.Queue(maxsize=1000)
    unwake = _wake_the_loop_on_termination(asyncio.get_running_loop())

    async def run_service(service: Service) -> None:
        try:
            decision = scope.check(service.host, service.port)
            if not decision:
                await queue.put(Refusal(run_id=run_id, target=service.url, found_in="scope",
                                        reason=decision.reason))
                return
            collector = collector_for(service)(service, ctx)
            seconds = scope.limits.max_service_seconds
            try:
                async with asyncio.timeout(seconds):  # the walk's wall-clock bound
                    async for record in collector.collect():
                        await queue.put(record)
            except TimeoutError:
                await queue.put(Observation(
                    run_id=run_id, endpoint=Endpoint(protocol=service.scheme,
                                                     host=service.host, port=service.port),
                    location=service.url, method="collect", outcome=Outcome.SKIPPED,
                    reason=f"service walk stopped after {seconds:g} s (the limit "
                    "max_service_seconds); what was seen before is recorded",
                    service=service.url,
                    operator_infrastructure=scope.is_infrastructure(service.host)))
        except Exception as exc:  # a collector bug must not lose what others recorded
            log.exception("collector for %s failed", service.url)
            await queue.put(Observation(
                run_id=run_id, endpoint=Endpoint(protocol=service.scheme, host=service.host,
                                                 port=service.port),
                location=service.url, method="collect", outcome=Outcome.ERROR,
                reason=f"collector failed: {type(exc).__name__}: {exc}", service=service.url,
                operator_infrastructure=scope.is_infrastructure(service.host)))
        finally:
            task = asyncio.current_task()
            # a cancelled run (Ctrl-C, SIGTERM) has no consumer any more: waiting for room in
            # the bounded queue would hang the shutdown
            if task is None or not task.cancelling():
                await queue.put(None)

    tasks = [asyncio.create_task(run_service(s)) for s in scope.services]
    try:
        await _consume(queue, len(tasks), recorder, progress)
    finally:  # interrupted: stop the collectors now rather than when asyncio.run ends
        unwake()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    recorder.flush()
    if progress:  # findings become final when their chain is durable: show the last count
        progress("findings", {"findings": len(recorder.findings)})


async def _consume(queue: asyncio.Queue[Observation | Refusal | None], remaining: int,
                   recorder: _Recorder, progress: ProgressHook | None) -> None:
    """Take the collectors' records until each of the ``remaining`` services has ended."""
    while remaining:
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the queue yields a record, and Ctrl-C would then never end the run
            async with asyncio.timeout(recorder.FLUSH_SECONDS):
                record = await queue.get()
        except TimeoutError:  # quiet period: make what was staged durable
            if recorder.due():
                recorder.flush()
            continue
        if recorder.due():
            recorder.flush()
        if record is None:
            remaining -= 1
            if progress:
                progress("service_done", {})
            continue
        recorder.take(record)
        if progress and isinstance(record, Observation):
            progress("observation", {"observation": record,
                                     "findings": len(recorder.findings)})


def summarize(result: RunResult) -> dict[str, Any]:
    """``summary.json``: counts by category, host and evidence level, plus run facts."""
    by_category: dict[str, dict[str, int]] = {}
    by_host: dict[str, dict[str, int]] = {}
    by_track: dict[str, dict[str, int]] = {}
    by_level: dict[str, int] = {level.value: 0 for level in EvidenceLevel}
    for f in result.findings:  # one finding per copy: these count distinct copies
        level = f.evidence_level.value
        by_level[level] += 1
        by_category.setdefault(f.category, {lv.value: 0 for lv in EvidenceLevel})[level] += 1
        by_host.setdefault(f.host, {lv.value: 0 for lv in EvidenceLevel})[level] += 1
        by_track.setdefault(f.track, {lv.value: 0 for lv in EvidenceLevel})[level] += 1
    return {
        "run_id": result.run_id, "check_id": result.scope.check_id,
        "operator": result.scope.operator_name, "jurisdiction": result.scope.jurisdiction,
        "authorization": result.scope.authorization,
        "tlp": result.scope.tlp,
        "started_at": result.started_at.isoformat(),
        "finished_at": result.finished_at.isoformat(),
        "services": [s.url for s in result.scope.services],
        "service_status": result.services,
        "failed_services": sum(1 for s in result.services if s["status"] == "failed"),
        "observations": result.observations, "outcomes": result.outcomes,
        "refused": (result.refused_total if result.refused_total is not None
                    else len(result.refusals)),
        "problems": (result.problems_total if result.problems_total is not None
                     else len(result.problems)),
        "findings": len(result.findings),
        "findings_schema_version": FINDING_SCHEMA_VERSION,
        "matches": sum(len(f.matches) or 1 for f in result.findings),
        "distribution": by_level[EvidenceLevel.SERVED.value],
        "by_level": by_level, "by_category": by_category, "by_host": by_host,
        "by_track": by_track,
        "infrastructure_findings": sum(1 for f in result.findings if f.operator_infrastructure),
        "checkpoint": result.checkpoint,
        "assessment": ({"primary_jurisdiction": result.assessment.primary,
                        "operators": result.assessment.operators}
                       if result.assessment is not None else PENDING),
        "software": f"netwarden {__version__}",
        "status": result.status,
        "interrupted": result.interrupted,
    }


def write_run_dir(result: RunResult) -> None:
    """Write the run directory from ``result``: ``findings.jsonl`` (replacing what was streamed
    while the run went), ``summary.json``, ``assessment.json`` (when assessed), ``report.html``.

    Called once, at the end of a run (finished or interrupted); each file is replaced
    atomically, so a reader never sees half of one.
    """
    from netwarden.report.html import render_report

    out = result.out_dir
    out.mkdir(parents=True, exist_ok=True)
    rundir.write_findings(out, result.findings)
    result.summary = summarize(result)
    rundir.write_json(out, rundir.SUMMARY, result.summary)
    if result.assessment is not None:
        rundir.write_json(out, rundir.ASSESSMENT, result.assessment.document())
    rundir.write_text(out, rundir.REPORT, render_report(result))


def _attach_log(out_dir: Path) -> logging.Handler:
    out_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("netwarden")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def _assess(result: RunResult, ledger: LedgerSink | None, store: Store | None) -> None:
    """The liability stage, in memory: the run's findings come back assessed."""
    from netwarden.liability.assess import assess

    notices: list[NoticeFacts] = []
    if store is not None:
        from netwarden.notices.tracking import notice_facts

        notices = notice_facts(store, result.run_id)
    result.assessment = assess(
        result.findings, notices, run_id=result.run_id, ledger=ledger,
        infrastructure=[str(a) for a in result.scope.infrastructure],
        primary=result.scope.jurisdiction, run_dir=result.out_dir)
    result.findings = result.assessment.assessed


def _record_run(store: Store | None, run_id: str, **values: Any) -> None:
    """Insert or update this run's row in the installation database (if there is one)."""
    if store is None:
        return
    from netwarden.store.models_runs import RunRow

    with store.session() as session:
        row = session.get(RunRow, run_id)
        if row is None:
            if "check_id" in values:  # a run that failed before it was recorded has no row
                session.add(RunRow(id=run_id, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)


def run_audit(scope: Scope, out_dir: Path, index: BankIndex, *, ledger: LedgerSink | None = None,
              store: Store | None = None, banks: Iterable[str] | None = None,
              progress: ProgressHook | None = None, attributor: Attributor | None = None,
              assess: bool = True, run_metadata: dict[str, Any] | None = None) -> RunResult:
    """Audit every service of ``scope`` and write the run directory ``out_dir``.

    Refuses to start outside the authorization window. ``banks`` defaults to the scope's
    ``[banks] use``; when both are empty every bank is used.

    The stages hand the run on in memory: collect → identify → verify → attribute (per
    record, into the ledger), then the liability assessment of the run's findings
    (``assess``), then the run directory, written once (findings are also streamed into
    ``findings.jsonl`` as they become final, so an interrupted run keeps them), then the
    ``findings`` table of ``store``.

    A run stopped by Ctrl-C, SIGTERM/SIGHUP (raised as :class:`RunInterrupted`) or an
    unexpected error still makes durable what it had staged, writes ``findings.jsonl``,
    ``summary.json`` and ``report.html`` of what was recorded, appends a ``run_end`` leaf and
    marks itself ``interrupted`` (summary, database row), then re-raises.
    """
    scope.require_window()
    out_dir = Path(out_dir)
    handler = _attach_log(out_dir)
    run_id = new_id()
    started = utc_now()
    banks = list(banks or scope.banks) or None
    findings_file = (out_dir / rundir.FINDINGS).open("w", encoding="utf-8")
    recorder = _Recorder(scope, run_id, index, ledger, banks, findings_file, attributor)
    restore = _raise_on_termination()
    alive = contextlib.ExitStack()
    try:
        # held until this function returns: a run killed -9 is seen as ended (store/liveness)
        alive.enter_context(liveness.hold(out_dir))
        if store is not None:
            liveness.close_stale_runs(store)
        log.info("run %s: check %s, operator %s, %d services", run_id, scope.check_id,
                 scope.operator_name, len(scope.services))
        recorder.append_now(_run_record(scope, run_id, started, run_metadata or {}))
        _record_run(store, run_id, check_id=scope.check_id, operator=scope.operator_name,
                    jurisdiction=scope.jurisdiction, scope_sha256=scope_digest(scope),
                    out_dir=str(out_dir.resolve()), started_at=started, status="running",
                    observations=0, findings=0, served=0)
        references = index.references(banks)
        # The net guard is the backstop under every collector's own scope check: any socket
        # this process opens to an address outside the scope (or the database/TSA it needs)
        # is refused, and each refusal is recorded like any other (netguard.py).
        policy = netguard.scope_policy(scope, netguard.store_endpoints(store, ledger))
        with netguard.guarded(policy) as guard_refusals:
            asyncio.run(_collect_all(scope, run_id, recorder, progress, references))
        for refused in guard_refusals:
            host = f"[{refused.host}]" if ":" in refused.host else refused.host
            recorder.take(Refusal(run_id=run_id, target=f"{host}:{refused.port}",
                                  found_in=f"net guard ({refused.event})",
                                  reason=refused.reason, seen_at=refused.at))
        finished = utc_now()
        recorder.flush()
        findings_file.close()
        result = _result(scope, run_id, out_dir, started, finished, recorder)
        if assess:
            _assess(result, ledger, store)
        recorder.append_now(RunEnd(run_id=run_id, finished_at=finished.isoformat(),
                                   observations=recorder.observations,
                                   findings=len(result.findings),
                                   refused=recorder.refused_total))
        if ledger is not None:
            result.checkpoint = str(ledger.checkpoint())
        write_run_dir(result)
        if store is not None:  # the findings table: campaigns, reports and the web UI read it
            from netwarden.store.models_findings import record_findings

            record_findings(store, result.findings)
        _record_run(store, run_id, finished_at=finished, status="finished",
                    observations=recorder.observations, findings=len(recorder.findings),
                    served=result.summary["distribution"])
        log.info("run %s finished: %d observations, %d findings (%d served), %d refused",
                 run_id, recorder.observations, len(recorder.findings),
                 result.summary["distribution"], recorder.refused_total)
        return result
    except BaseException as exc:
        _interrupted(exc, scope, run_id, out_dir, started, recorder, findings_file, ledger,
                     store)
        raise
    finally:
        alive.close()
        restore()
        findings_file.close()
        logging.getLogger("netwarden").removeHandler(handler)
        handler.close()


def _result(scope: Scope, run_id: str, out_dir: Path, started: datetime, finished: datetime,
            recorder: _Recorder) -> RunResult:
    return RunResult(run_id=run_id, out_dir=out_dir, scope=scope, started_at=started,
                     finished_at=finished, findings=recorder.findings,
                     observations=recorder.observations, outcomes=recorder.outcomes,
                     refusals=recorder.refusals, problems=recorder.problems,
                     problems_total=recorder.problems_total,
                     refused_total=recorder.refused_total,
                     services=recorder.service_status())


def _why(exc: BaseException) -> str:
    """An interruption in words: the signal, Ctrl-C or the error."""
    if isinstance(exc, RunInterrupted):
        return f"signal {exc.signame}"
    if isinstance(exc, KeyboardInterrupt):
        return "keyboard interrupt (SIGINT)"
    if isinstance(exc, SystemExit):
        return f"exit ({exc.code})"
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:500] + "…"


def _interrupted(exc: BaseException, scope: Scope, run_id: str, out_dir: Path,
                 started: datetime, recorder: _Recorder, findings_file: IO[str],
                 ledger: LedgerSink | None, store: Store | None) -> None:
    """Report what an interrupted run recorded and mark it ``interrupted`` (issue 14).

    Each step is tried on its own: a step that fails (the ledger's database is what failed,
    say) must not stop the others, and nothing here may hide the original exception.
    """
    reason = _why(exc)
    log.error("run %s interrupted: %s", run_id, reason, exc_info=not isinstance(
        exc, KeyboardInterrupt | SystemExit))
    finished = utc_now()
    result = _result(scope, run_id, out_dir, started, finished, recorder)
    result.status, result.interrupted = "interrupted", reason
    steps: list[tuple[str, Callable[[], None]]] = [
        ("flush the last batch", recorder.flush),
        ("close findings.jsonl", findings_file.close),
        ("append run_end", lambda: recorder.append_now(RunEnd(
            run_id=run_id, finished_at=finished.isoformat(), status="interrupted",
            interrupted=reason, observations=recorder.observations,
            findings=len(recorder.findings), refused=recorder.refused_total))),
        ("checkpoint", lambda: setattr(result, "checkpoint", str(ledger.checkpoint()))
         if ledger is not None else None),
        ("write the run directory", lambda: write_run_dir(result)),
        ("mark the run", lambda: _record_run(
            store, run_id, finished_at=finished, status="interrupted",
            observations=recorder.observations, findings=len(recorder.findings))),
    ]
    for what, step in steps:
        try:
            step()
        except Exception:
            log.exception("interrupted run %s: could not %s", run_id, what)


def _wake_the_loop_on_termination(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Make SIGTERM and SIGHUP wake the event loop and raise :class:`RunInterrupted` in it while
    the services are collected; return the function that puts the run's handlers back.

    Why: the handler :func:`_raise_on_termination` installs is Python code, which runs only
    when the main thread runs Python code; nothing but the next event wakes a main thread
    asleep in the loop's ``select()`` for a signal another thread took (the kernel may hand a
    process's signal to any of its threads). ``loop.add_signal_handler`` makes the loop's
    self-pipe the wakeup fd, so the signal wakes the loop whichever thread takes it. Seen
    before this: the SIGTERM test of ``tests/test_runaway_audit.py`` hung with the main thread
    in ``select()`` three times in about 35 runs; in about 85 runs after it, none did. That
    this was the cause is likely, not proven: the hang could not be made to happen on demand.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}

    def interrupt(signame: str) -> None:
        raise RunInterrupted(signame)

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is None:
            continue
        try:
            old = signal.getsignal(sig)
            loop.add_signal_handler(sig, interrupt, signal.Signals(sig).name)
        except (ValueError, RuntimeError, NotImplementedError, OSError):
            continue
        previous[sig] = old

    def restore() -> None:
        for sig, old in previous.items():
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                loop.remove_signal_handler(sig)  # which sets the default action: put ours back
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, old)
        previous.clear()

    return restore


def _raise_on_termination() -> Callable[[], None]:
    """Turn SIGTERM and SIGHUP into :class:`RunInterrupted` while a run is going; the restorer.

    Why: their default action kills the process at once, leaving the run ``running`` with no
    report. As an exception they unwind like Ctrl-C, through the run's reporting. Only the main
    thread may set handlers; elsewhere (a web worker thread) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}  # what signal.signal returned: a handler, SIG_DFL, None...

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise RunInterrupted(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is None:
            continue
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, old)

    return restore
