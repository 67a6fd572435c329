"""Campaigns end to end: real loopback operator networks, real worker processes, real faults.

Each test runs a campaign over several generated operators and checks the final findings
against what the testbeds planted, that the ledger verifies, and that nothing was lost or
counted twice after a worker was killed -9 mid-audit, the coordinator was killed -9
mid-campaign, or the PostgreSQL server went away and came back.

The fault tests never race the audit: the subscribers' servers hold every file transfer behind
a ``Gate`` until the fault has been injected, so the audit is certainly still running when the
kill lands (waiting for "running" and then killing failed under load when the audit finished
in between).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from netwarden.campaign import load_campaign, make_executor, run_campaign, state
from netwarden.campaign.models import CampaignAttemptRow, CampaignJobRow
from netwarden.ledger import Ledger
from netwarden.store import open_store
from netwarden.store.models_findings import FindingRow, findings_of_runs
from netwarden.store.models_runs import RunRow
from netwarden.testbed import Gate

from .helpers import expected_served, operator_networks, write_campaign

pytestmark = pytest.mark.slow


def _campaign_served(store: Any, name: str) -> list[tuple[str, str, str]]:
    """Served findings of the campaign's finished jobs, as a list (duplicates would show)."""
    runs = [j["run_id"] for j in state.jobs(store, name) if j["status"] == "finished"]
    return [(f["host"], f["location"], f["reference"]) for f in findings_of_runs(store, runs)
            if f["evidence_level"] == "served"]


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _running_attempt(store: Any) -> tuple[int, int] | None:
    """(attempt id, worker pid) of an attempt that is auditing and has seen something."""
    with store.session() as session:
        row = session.execute(
            select(CampaignAttemptRow.id, CampaignAttemptRow.worker)
            .join(CampaignJobRow, CampaignJobRow.id == CampaignAttemptRow.job_id)
            .where(CampaignAttemptRow.status == "running", CampaignJobRow.observations > 0)
        ).first()
    if row is None or not row.worker:
        return None
    return row.id, int(row.worker.rsplit(":", 1)[1])


def _held_attempt(store: Any, gate: Gate) -> tuple[int, int] | None:
    """A running attempt while the gate holds a transfer: it cannot finish before release."""
    return _running_attempt(store) if gate.entered.is_set() and not gate.released else None


def _check_ledger(store: Any) -> None:
    report = Ledger.open(store, require_key=False).verify()
    assert report.ok, report.as_dict()


def test_campaign_runs_resumes_and_reports(tmp_path: Path, home: Path) -> None:
    from netwarden.report.campaign import build_report, write_report

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = open_store(url)
    ledger = Ledger.open(store)
    with operator_networks(tmp_path, 3) as nets:
        campaign = load_campaign(write_campaign(tmp_path / "campaign.toml", nets))
        updates: list[list[dict[str, Any]]] = []
        result = run_campaign(campaign, store, ledger, make_executor("local", url),
                              on_update=updates.append)
        assert result.complete and result.finished == 3 and not result.events
        served = _campaign_served(store, campaign.name)
        assert sorted(served) == sorted(expected_served(nets))
        assert len(served) == len(set(served))
        assert any(j["status"] == "running" for u in updates for j in u)  # progress was seen
        with store.session() as session:
            runs_before = session.query(RunRow).count()
        # running it again audits nothing: every job is finished
        again = run_campaign(campaign, store, ledger, make_executor("local", url))
        assert again.complete and again.recovered == 0
        with store.session() as session:
            assert session.query(RunRow).count() == runs_before
        assert sorted(_campaign_served(store, campaign.name)) == sorted(served)
    _check_ledger(store)

    data = build_report(store, campaign=campaign.name)
    paths = write_report(data, tmp_path / "report", pdf=True)
    html = paths[0].read_text(encoding="utf-8")
    for title in ("Findings by category", "Findings by protocol", "listed → contacted → served",
                  "Findings over time", "notice to removal", "Liability outcomes"):
        assert title in html
    assert html.count("<svg") >= 6
    assert "No notice has been sent" in html  # the empty-state chart
    some = json.loads(next(iter(store.session().__enter__().scalars(
        select(FindingRow.data)))))
    assert some["digests"]["sha256"] in html
    assert paths[1].read_bytes().startswith(b"%PDF")
    op_data = build_report(store, operator=nets[1].operator)
    assert {f["operator"] for f in op_data.findings} == {nets[1].operator}
    op_paths = write_report(op_data, tmp_path / "op-report")
    assert nets[1].operator in op_paths[0].read_text(encoding="utf-8")
    store.close()


def test_worker_killed_mid_audit_is_rerun_without_duplicates(tmp_path: Path,
                                                             home: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = open_store(url)
    ledger = Ledger.open(store)
    gate = Gate()
    with operator_networks(tmp_path, 2, gate=gate) as nets:
        campaign = load_campaign(write_campaign(tmp_path / "campaign.toml", nets, workers=2))
        box: dict[str, Any] = {}

        def coordinator() -> None:
            try:
                box["result"] = run_campaign(campaign, store, ledger,
                                             make_executor("local", url))
            except BaseException as exc:  # reported by the assertion below
                box["error"] = exc

        thread = threading.Thread(target=coordinator)
        thread.start()
        try:
            attempt_id, pid = _wait_for(lambda: _held_attempt(store, gate), 120,
                                        "an audit held mid-transfer")
            os.kill(pid, signal.SIGKILL)
        finally:
            gate.release()
        thread.join(180)
        assert not thread.is_alive() and "error" not in box, box.get("error")
        result = box["result"]
        assert result.complete
        served = _campaign_served(store, campaign.name)
        assert sorted(served) == sorted(expected_served(nets))
        assert len(served) == len(set(served))
    with store.session() as session:
        killed = session.get(CampaignAttemptRow, attempt_id)
        assert killed.status == "interrupted" and "signal 9" in killed.error
        assert killed.interrupted_leaf is not None
        ledger = Ledger.open(store, require_key=False)
        entry = ledger.leaf(killed.interrupted_leaf).record()
        assert entry["record_type"] == "run_interrupted" and entry["run_id"] == killed.run_id
        # the cut-short run's partial evidence is in the ledger, marked, and not counted
        assert ledger.entries(run_id=killed.run_id, limit=1)
        assert session.get(RunRow, killed.run_id).status == "interrupted"
        job = session.get(CampaignJobRow, killed.job_id)
        assert job.status == "finished" and job.run_id != killed.run_id and job.attempts == 2
    _check_ledger(store)
    store.close()


def _cli(*args: str) -> list[str]:
    code = ("import sys, netwarden.cli.campaign; from netwarden.cli import app; "
            "app(args=sys.argv[1:], prog_name='netwarden')")
    return [sys.executable, "-c", code, *args]


def test_coordinator_killed_mid_campaign_resumes(tmp_path: Path, home: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = open_store(url)
    gate = Gate()
    with operator_networks(tmp_path, 3, gate=gate) as nets:
        path = write_campaign(tmp_path / "campaign.toml", nets, workers=2)
        coordinator = subprocess.Popen(_cli("campaign", "run", str(path), "--db", url,
                                            "--no-progress"), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE)
        try:
            _wait_for(lambda: _held_attempt(store, gate), 120, "an audit held mid-transfer")
        finally:
            coordinator.kill()  # SIGKILL: no clean-up at all
            coordinator.wait(30)
        # its workers notice the coordinator is gone and stop, still held by the gate
        _wait_for(lambda: not [a for a in state.attempts(store, "test-campaign")
                               if a["worker"] and _alive(int(a["worker"].rsplit(":", 1)[1]))],
                  30, "the orphaned workers to stop")
        interrupted = [a for a in state.attempts(store, "test-campaign")
                       if a["status"] in state.OPEN_ATTEMPT]
        assert interrupted, "the kill must leave an attempt to recover"
        gate.release()
        done = subprocess.run(_cli("campaign", "run", str(path), "--db", url, "--json",
                                   "--no-progress"), capture_output=True, text=True,
                              timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(done.stdout)
        assert out["complete"] and out["recovered"] == len(interrupted)
        served = _campaign_served(store, "test-campaign")
        assert sorted(served) == sorted(expected_served(nets))
        assert len(served) == len(set(served))
    attempts = state.attempts(store, "test-campaign")
    assert any(a["status"] == "interrupted" and a["interrupted_leaf"] is not None
               for a in attempts)
    status = subprocess.run(_cli("campaign", "status", "test-campaign", "--db", url, "--json"),
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert all(j["status"] == "finished" for j in json.loads(status.stdout)["jobs"])
    _check_ledger(store)
    store.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours is gone for our purposes
    try:
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except OSError:
        return False


def test_postgresql_connection_lost_and_back(tmp_path: Path, home: Path, postgres: Any,
                                             pg_url: str) -> None:
    store = open_store(pg_url)
    ledger = Ledger.open(store)
    gate = Gate()
    with operator_networks(tmp_path, 2, octet0=140, gate=gate) as nets:
        campaign = load_campaign(write_campaign(tmp_path / "campaign.toml", nets, workers=1))
        box: dict[str, Any] = {}

        def coordinator() -> None:
            try:
                box["result"] = run_campaign(campaign, store, ledger,
                                             make_executor("local", pg_url), db_wait=90)
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=coordinator)
        thread.start()
        try:
            _wait_for(lambda: _held_attempt(store, gate), 120, "an audit held mid-transfer")
            postgres.stop("fast")  # every connection is cut
            time.sleep(2.0)
            postgres.start()
        finally:
            gate.release()
        thread.join(240)
        assert not thread.is_alive() and "error" not in box, box.get("error")
        assert box["result"].complete
        served = _campaign_served(store, campaign.name)
        assert sorted(served) == sorted(expected_served(nets))
        assert len(served) == len(set(served))
    attempts = state.attempts(store, campaign.name)
    assert any(a["status"] in ("failed", "interrupted") for a in attempts), attempts
    _check_ledger(store)
    store.close()
