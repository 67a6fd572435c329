"""Prometheus metrics: runs, collectors (findings per protocol), queue depths, errors.

The state metrics are read from the database when Prometheus scrapes (a custom collector, cached
for a few seconds so a tight scrape interval cannot load the database), because audits and
campaigns run in other processes; the request counters are kept in this process. Every app has
its own registry, so two apps in one process (tests) do not collide. Only aggregate counts are
exposed: no operator names, ids, locations or pseudonyms.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PCounter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from sqlalchemy import func, inspect, select

from netwarden.store.base import Store
from netwarden.store.models_runs import RunRow
from netwarden.web.models import EventRow

if TYPE_CHECKING:
    from sqlalchemy import Row
    from starlette.requests import Request

    from netwarden.web.data import FindingsSource
    from netwarden.web.evidence import EvidenceLedger

CACHE_SECONDS = 5.0


class _StateCollector:
    """Reads counts from the database at scrape time."""

    def __init__(self, store: Store, source: FindingsSource, evidence: EvidenceLedger) -> None:
        self.store = store
        self.source = source
        self.evidence = evidence
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > CACHE_SECONDS:
                self._cached = (time.monotonic(), self._gather())
            yield from self._cached[1]

    def _gather(self) -> list[Metric]:
        out: list[Metric] = []
        with self.store.session() as session:
            runs = session.execute(select(RunRow.status, func.count(), func.sum(
                RunRow.observations)).group_by(RunRow.status)).all()
            events = session.execute(select(EventRow.kind, func.count())
                                     .group_by(EventRow.kind)).all()
            tables = set(inspect(session.get_bind()).get_table_names())
            notices: Sequence[Row[str, int]] = []  # (state, count); none without the table
            if "notices" in tables:
                from netwarden.notices.models import NoticeRow

                notices = session.execute(select(NoticeRow.state, func.count())
                                          .group_by(NoticeRow.state)).all()
        g = GaugeMetricFamily("netwarden_runs", "Audit runs by status", labels=["status"])
        for status, n, _ in runs:
            g.add_metric([status or "unknown"], n)
        out.append(g)
        out.append(GaugeMetricFamily("netwarden_observations", "Observations over all runs",
                                     value=sum(o or 0 for _, _, o in runs)))
        by_level = self.source.counts("evidence_level")
        g = GaugeMetricFamily("netwarden_findings", "Findings by evidence level",
                              labels=["evidence_level"])
        for level, n in sorted(by_level.items()):
            g.add_metric([level], n)
        out.append(g)
        by_proto = self.source.counts("protocol")
        g = GaugeMetricFamily("netwarden_collector_findings",
                              "Findings by the collector (protocol) that made them",
                              labels=["protocol"])
        for proto, n in sorted(by_proto.items()):
            g.add_metric([proto], n)
        out.append(g)
        states = self.evidence.states()
        awaiting = sum(1 for label in states.values() if label.endswith("awaiting sign-off"))
        g = GaugeMetricFamily("netwarden_queue_depth", "Items waiting in a work queue",
                              labels=["queue"])
        g.add_metric(["review"], self.source.unreviewed(limit=0)[0])
        g.add_metric(["signoff"], awaiting)
        due = sum(n for state, n in notices if state in ("sent", "acknowledged", "still_available"))
        g.add_metric(["notice_followup"], due)
        out.append(g)
        g = GaugeMetricFamily("netwarden_notices", "Notices by state", labels=["state"])
        for state, n in notices:
            g.add_metric([state], n)
        out.append(g)
        g = GaugeMetricFamily("netwarden_ledger_leaves", "Ledger leaves by record type",
                              labels=["record_type"])
        for rtype, n in sorted(self.evidence.ledger.counts_by_kind().items()):
            g.add_metric([rtype], n)
        out.append(g)
        g = GaugeMetricFamily("netwarden_security_events", "Security events by kind",
                              labels=["kind"])
        for kind, n in events:
            g.add_metric([kind], n)
        out.append(g)
        out.append(GaugeMetricFamily("netwarden_findings_unreadable_lines",
                                     "Lines of findings.jsonl files that could not be read",
                                     value=self.source.bad_lines))
        return out


class Metrics:
    """The app's registry: request counters plus the database-backed state collector."""

    def __init__(self, store: Store, source: FindingsSource, evidence: EvidenceLedger) -> None:
        self.registry = CollectorRegistry()
        self.requests = PCounter("netwarden_http_requests", "HTTP requests answered",
                                 ["method", "status"], registry=self.registry)
        self.errors = PCounter("netwarden_http_errors", "HTTP requests answered with 5xx",
                               registry=self.registry)
        self.latency = Histogram("netwarden_http_request_seconds", "Time to answer a request",
                                 ["route"], registry=self.registry)
        self.registry.register(_StateCollector(store, source, evidence))

    def observe(self, request: Request, status: int, seconds: float) -> None:
        route = request.scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        method = request.method if request.method in ("GET", "POST", "HEAD", "PUT", "DELETE",
                                                       "PATCH", "OPTIONS") else "other"
        self.requests.labels(method, str(status)).inc()
        if status >= 500:
            self.errors.inc()
        self.latency.labels(path).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
