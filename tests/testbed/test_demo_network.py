"""The demo network: deterministic content, valid scope and banks, the right answer, clean stop."""

from __future__ import annotations

import asyncio
import csv
import socket
from pathlib import Path

import pytest

from netwarden.collect import CollectContext, collector_for
from netwarden.records import EvidenceLevel, Observation, Outcome, Refusal
from netwarden.scope import load_scope
from netwarden.testbed import DemoNetwork


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _collect_all(scope_path: Path) -> tuple[list[Observation], list[Refusal]]:
    scope = load_scope(scope_path)

    async def main() -> tuple[list[Observation], list[Refusal]]:
        ctx = CollectContext(scope=scope, run_id="demo-test", limits=scope.limits)
        out: list[Observation] = []
        refused: list[Refusal] = []

        async def one(service: object) -> None:
            async for record in collector_for(service)(service, ctx).collect():  # type: ignore[arg-type]
                (refused if isinstance(record, Refusal) else out).append(record)

        await asyncio.wait_for(asyncio.gather(*(one(s) for s in scope.services)), 120)
        return out, refused

    return asyncio.run(main())


def test_demo_network_serves_the_planted_files_and_knows_the_answer(tmp_path: Path) -> None:
    with DemoNetwork(tmp_path / "net", seed=7) as net:
        scope = load_scope(net.scope_path)
        assert {s.scheme for s in scope.services} == {"ftp", "http"}
        assert len(scope.services) == 4
        assert [(b.name, b.format) for b in net.banks] == [
            ("films", "catalog"), ("csam-standin", "plain"), ("csam-pdq", "hma"),
            ("allow-list", "hma")]
        rows = list(csv.DictReader(net.banks[0].path.open(encoding="utf-8")))
        assert rows[0].keys() >= {"reference_id", "title", "rights_holder", "md5", "sha1",
                                  "sha256", "ed2k", "tth", "btih"}
        observations, refused = _collect_all(net.scope_path)
        # the subscriber's page links to 10.20.30.40: recorded, never contacted
        assert [r.target for r in refused] == ["http://10.20.30.40/pub/film.avi"]
        assert all(isinstance(o, Observation) for o in observations)
        servers = list(net.servers)
        # every content digest in the banks, by value → reference id
        bank_values = {v: r.reference_id for r in net.references for v in r.digests.values()}
        found = {(o.endpoint.host, o.location, bank_values[o.digests["sha256"]])
                 for o in observations if o.digests.get("sha256") in bank_values}
        transformed = {(p.host, p.location) for p in net.plants if p.role == "transformed"}
        # exact and renamed copies are found by digest; transformed ones only perceptually
        # (their expected findings are checked through the audit in test_audit_e2e.py)
        assert found == {e for e in net.expected if (e.host, e.location) not in transformed}
        assert transformed and all(o.digests.get("pdq") for o in observations
                                   if (o.endpoint.host, o.location) in transformed)
        roles = {p.role for p in net.plants}
        assert roles == {"exact", "renamed", "transformed", "decoy", "benign"}
        assert any(not _is_utf8(p.raw_path) for p in net.plants)  # a cp1251 name
        assert any(p.size > 1024 * 1024 for p in net.plants)
        served = [o for o in observations if o.level is EvidenceLevel.SERVED]
        assert len(served) == len(net.plants)
        assert all(o.outcome is Outcome.OK for o in observations)
        ftp_obs = [o for o in served if o.endpoint.protocol == "ftp"]
        assert ftp_obs and all(o.operator_infrastructure for o in ftp_obs)
        assert not any(o.operator_infrastructure for o in served if o not in ftp_obs)
        # file decoys carry a bank item's name but other bytes; the drawing decoy is a
        # different drawing (it must not match perceptually either)
        titles = {r.title for r in net.references}
        decoys = [p for p in net.plants if p.role == "decoy"]
        named = [p for p in decoys if not p.raw_path.endswith(b".jpg")]
        assert named and all(any(t in p.raw_path.decode("utf-8", "replace") for t in titles)
                             for p in named)
        assert any(p.raw_path.endswith(b".jpg") for p in decoys)
    for server in servers:
        assert not _listening(server.host, server.port)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_same_seed_same_content_other_seed_other_content(tmp_path: Path) -> None:
    with DemoNetwork(tmp_path / "a", seed=3) as a:
        first = {r.reference_id: r.digests["sha256"] for r in a.references}
    with DemoNetwork(tmp_path / "b", seed=3) as b:
        again = {r.reference_id: r.digests["sha256"] for r in b.references}
    with DemoNetwork(tmp_path / "c", seed=4) as c:
        other = {r.reference_id: r.digests["sha256"] for r in c.references}
    assert first == again
    assert set(first.values()).isdisjoint(other.values())


def test_servers_stop_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), DemoNetwork(tmp_path / "net") as net:
        servers = list(net.servers)
        assert all(_listening(s.host, s.port) for s in servers)
        raise RuntimeError("boom")
    assert not any(_listening(s.host, s.port) for s in servers)
