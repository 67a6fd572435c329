"""The whole audit over BitTorrent: a .torrent in a bank, a real tracker, real seeders.

Unlike the collector tests, this goes through ``netwarden.pipeline.run_audit``: the bank import
of the .torrent, the references the pipeline hands to the collector, identify (btih), verify
(the piece check), the ledger and the run directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netwarden.banks import BankStore
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.pipeline import run_audit
from netwarden.store import open_store

from .conftest import make_scope
from .swarm import make_torrent, opentracker, seeders

pytestmark = pytest.mark.slow

TRACKER = "127.77.0.10"


def test_audit_over_bittorrent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NETWARDEN_DB", raising=False)
    torrent = make_torrent(tmp_path, "film", 300_000, piece_length=32 * 1024)
    other = make_torrent(tmp_path, "unbanked", 100_000, piece_length=32 * 1024)
    lonely = make_torrent(tmp_path, "nobody-seeds", 100_000, piece_length=32 * 1024)
    store = open_store()
    init_key()
    banks = BankStore(store)
    report = banks.import_file("films", "film", "torrent", torrent.path)
    assert report.added >= 1
    assert banks.import_file("films", "film", "torrent", lonely.path).added >= 1
    hashes = [torrent.btih, other.btih, lonely.btih]
    with opentracker(tmp_path / "tracker", hashes, TRACKER) as port:
        announce = f"http://{TRACKER}:{port}/announce"
        with seeders(2, [torrent, other], trackers=[announce]) as honest:
            scope = make_scope([{"url": announce, "kind": "bittorrent-tracker"},
                                {"url": f"udp://{TRACKER}:{port}"}])
            result = run_audit(scope, tmp_path / "run", banks, ledger=Ledger.open(store),
                               store=store, banks=["films"])
    by_host: dict[str, set[str]] = {}
    for f in result.findings:
        by_host.setdefault(f.host, set()).add(f.evidence_level.value)
    for seeder in honest:
        assert by_host.get(seeder.host) == {"served"}, (seeder.host, by_host)
    # (liars, silent and stalling peers through the collector: test_e2e_swarm.py)
    # only the banked torrent is looked for: the unbanked one never becomes a finding
    assert {f.bank for f in result.findings} == {"films"}
    assert len({f.reference for f in result.findings}) == 1
    # the torrent nobody seeds: the tracker knows it, but named nobody but the auditor
    assert lonely.btih not in {f.digests.get("btih") for f in result.findings}
    # the auditor never refuses itself (opentracker lists the requester back)
    assert not result.refusals, [r.target for r in result.refusals]
    # the operator's own tracker (HTTP and UDP) lists the seeded swarm: leads, and no more
    tracker = [f for f in result.findings if f.host == TRACKER]
    assert sorted((f.evidence_level.value, f.operator_infrastructure, f.protocol)
                  for f in tracker) == [("listed", True, "http"), ("listed", True, "udp")]
    for f in tracker:
        a = f.assessment
        assert a["role"] is None and a["lead"] and a["evidence_needed"]
        assert any("coordinates this swarm" in x for x in a["lead_facts"])
        assert any("verified copies were served in the same swarm" in x
                   for x in a["lead_facts"])
        for r in a["results"].values():
            assert r["outcome"] == "lead" and r["exposures"] == []
    # next to the served copies in the same swarm the operator's tracker is weighed
    for f in result.findings:
        if f.evidence_level.value == "served":
            assert f.assessment["role"] == "operator_sharing_service", f.assessment
            assert "coordinates this swarm" in f.assessment["role_basis"]
    lines = (tmp_path / "run" / "findings.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["match_algorithm"] for line in lines} <= {"btih", "btmh"}
    assert Ledger.open(store).verify().ok
    store.close()
