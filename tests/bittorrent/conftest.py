"""Shared helpers for the BitTorrent tests: scope, references view, collector runner."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from netwarden.collect.base import CollectContext
from netwarden.collect.bittorrent import BitTorrentCollector
from netwarden.collect.references import TorrentReference
from netwarden.records import Observation, Refusal
from netwarden.scope import Scope, parse_scope


@dataclass
class References:
    """A plain ReferenceView over a list of torrent references (what the pipeline builds)."""

    refs: list[TorrentReference]

    def torrents(self) -> list[TorrentReference]:
        return list(self.refs)

    def has_digest(self, algorithm: str, value: str) -> bool:
        return value in self.digests(algorithm)

    def digests(self, algorithm: str) -> frozenset[str]:
        return frozenset(getattr(r, algorithm, None) for r in self.refs) - {None}

    def titles(self) -> list[str]:
        return []  # no catalog: discovery has no titles to order candidates by


def make_scope(services: list[dict[str, Any]], prefixes: tuple[str, ...] = ("127.77.0.0/16",),
               infrastructure: tuple[str, ...] = ("127.77.0.10",), **limits: Any) -> Scope:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "check": {"id": "BT-1", "authorization": "test", "not_before": now - timedelta(hours=1),
                  "not_after": now + timedelta(hours=1), "jurisdiction": "ru"},
        "operator": {"name": "Test Telecom", "prefixes": list(prefixes),
                     "infrastructure": list(infrastructure)},
        "services": services,
    }
    if limits:
        data["limits"] = limits
    return parse_scope(data, "test-scope")


async def run_collectors(scope: Scope, refs: list[TorrentReference], timeout: float = 90.0
                         ) -> list[Observation | Refusal]:
    """Run the BitTorrent collector over every service of ``scope`` (inside a running loop)."""
    ctx = CollectContext(scope=scope, run_id="bt-test", limits=scope.limits,
                         references=References(refs))
    records: list[Observation | Refusal] = []

    async def one(service: Any) -> None:
        async for record in BitTorrentCollector(service, ctx).collect():
            records.append(record)

    await asyncio.wait_for(asyncio.gather(*(one(s) for s in scope.services)), timeout)
    return records


def peer_obs(records: list[Any], host: str) -> list[Observation]:
    return [r for r in records if isinstance(r, Observation) and r.method == "bt-peer-wire"
            and r.endpoint.host == host]
