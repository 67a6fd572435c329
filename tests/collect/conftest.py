"""Helpers for the collector tests: a scope over the test's loopback hosts and a runner."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

import pytest

from netwarden.collect import CollectContext, ProgressEvent, collector_for
from netwarden.records import EvidenceLevel, Observation, Outcome, Refusal
from netwarden.scope import Scope, parse_scope


def make_scope(urls: list[str], prefixes: tuple[str, ...] = ("127.77.0.0/16",),
               infrastructure: tuple[str, ...] = (), **limits: Any) -> Scope:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "check": {"id": "T-1", "authorization": "test", "not_before": now - timedelta(hours=1),
                  "not_after": now + timedelta(hours=1), "jurisdiction": "ru"},
        "operator": {"name": "Test Telecom", "prefixes": list(prefixes),
                     "infrastructure": list(infrastructure)},
        "services": [{"url": url} for url in urls],
    }
    if limits:
        data["limits"] = limits
    return parse_scope(data, "test-scope")


def collect(scope: Scope, timeout: float = 60.0
            ) -> tuple[list[Observation | Refusal], list[ProgressEvent]]:
    """Run every service's collector, as the pipeline does; return records and progress."""
    events: list[ProgressEvent] = []

    async def main() -> list[Observation | Refusal]:
        ctx = CollectContext(scope=scope, run_id="test-run", limits=scope.limits,
                             progress=events.append)
        records: list[Observation | Refusal] = []

        async def one(service: Any) -> None:
            async for record in collector_for(service)(service, ctx).collect():
                records.append(record)

        await asyncio.wait_for(asyncio.gather(*(one(s) for s in scope.services)), timeout)
        return records

    return asyncio.run(main()), events


def assert_served_exactly(records: list[Observation | Refusal], files: dict[str, bytes]
                          ) -> None:
    """Every file (by its base name) was served whole with the right SHA-256, and nothing
    went wrong anywhere: the check of a walk of a real web server's listing."""
    served = {o.name: o for o in records if isinstance(o, Observation)
              and o.level is EvidenceLevel.SERVED and o.outcome is Outcome.OK}
    problems = [o for o in records if isinstance(o, Observation) and o.outcome is not Outcome.OK]
    assert not problems, [(o.location, o.reason) for o in problems]
    expected = {PurePosixPath(name).name: data for name, data in files.items()}
    assert set(served) == set(expected)
    for name, data in expected.items():
        obs = served[name]
        assert obs.size == len(data)
        assert obs.digests["sha256"] == hashlib.sha256(data).hexdigest()
        assert obs.bytes_from_endpoint


def by_location(records: list[Observation | Refusal]) -> dict[str, list[Observation]]:
    out: dict[str, list[Observation]] = {}
    for record in records:
        if isinstance(record, Observation):
            out.setdefault(record.location, []).append(record)
    return out


@pytest.fixture
def scope_for() -> Any:
    """``scope_for(urls, **limits)``: a scope over 127.77.0.0/16 with those services."""
    return make_scope


@pytest.fixture
def run_collect() -> Any:
    """``run_collect(scope)``: run every service's collector → (records, progress events)."""
    return collect


@pytest.fixture
def locations() -> Any:
    """``locations(records)``: observations grouped by location."""
    return by_location


@pytest.fixture
def served_exactly() -> Any:
    """``served_exactly(records, files)``: see :func:`assert_served_exactly`."""
    return assert_served_exactly
