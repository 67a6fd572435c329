"""Issue 14 through the whole pipeline: a run against hostile servers ends, keeps the other
services' findings, stores every record (or an error in its place) and, when interrupted by a
signal, still writes its report and marks itself ``interrupted``.

Real servers on loopback (pyftpdlib, the runaway servers of ``netwarden.testbed.hostile``), a real
ledger in a real SQLite store; the bank is a small in-memory index of the planted file's digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fakes import OneReference
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.pipeline import _Recorder, run_audit
from netwarden.records import Endpoint, Observation, Outcome
from netwarden.scope import parse_scope
from netwarden.store import open_store
from netwarden.testbed.hostile import serve_runaway_ftp, serve_runaway_http
from netwarden.testbed.servers import serve_ftp

pytestmark = pytest.mark.slow

GOOD_HOST, HTTP_HOST, FTP_HOST, DRIP_HOST = "127.77.34.1", "127.77.34.2", "127.77.34.3", \
    "127.77.34.4"
PLANTED = b"synthetic planted file for the runaway audit " * 100


SmallIndex = OneReference  # the name the audit scripts below import


def scope_of(urls: list[str], **limits: Any) -> Any:
    now = datetime.now(UTC)
    return parse_scope({
        "check": {"id": "T-14", "authorization": "test", "not_before": now - timedelta(hours=1),
                  "not_after": now + timedelta(hours=1), "jurisdiction": "ru"},
        "operator": {"name": "Test Telecom", "prefixes": ["127.77.34.0/24"]},
        "services": [{"url": u} for u in urls], "limits": limits}, "test-scope")


def test_a_record_the_ledger_cannot_take_becomes_an_error_not_the_end_of_the_run(
        tmp_path: Path, home: Path) -> None:
    store = open_store()
    init_key()
    ledger = Ledger.open(store)
    scope = scope_of([f"http://{HTTP_HOST}:80/"])
    endpoint = Endpoint(protocol="http", host=HTTP_HOST, port=80)
    with (tmp_path / "findings.jsonl").open("w") as findings:
        recorder = _Recorder(scope, "run-1", SmallIndex(PLANTED), ledger, None, findings)
        # a size outside the JSON safe-integer domain (as a collector without bounds made it)
        bad = Observation(run_id="run-1", endpoint=endpoint, location=f"http://{HTTP_HOST}/x",
                          method="http-get", size=2**53 + 1, service=scope.services[0].url,
                          details={"n": 10**30})
        good = Observation(run_id="run-1", endpoint=endpoint, location=f"http://{HTTP_HOST}/y",
                           method="http-get", size=len(PLANTED), service=scope.services[0].url,
                           digests={"sha256": hashlib.sha256(PLANTED).hexdigest()},
                           bytes_from_endpoint=True)
        recorder.take(bad)
        recorder.take(good)
        recorder.flush()
    entries = [json.loads(ledger.entry(i)) for i in range(ledger.size)]
    observations = [e for e in entries if e["record_type"] == "observation"]
    assert [o["location"] for o in observations] == [bad.location, good.location]
    error = observations[0]
    assert error["outcome"] == "error" and error["size"] is None and error["details"] == {
        "unstored_record_id": bad.id}
    assert error["reason"].startswith("record could not be stored (InputError: ")
    assert "exceeds safe integer domain" in error["reason"]
    assert len(recorder.findings) == 1 and recorder.findings[0].location == good.location
    assert recorder.problems_total == 1 and recorder.observations == 2


def test_audit_against_runaway_servers_ends_and_keeps_the_other_findings(
        tmp_path: Path, home: Path) -> None:
    store = open_store()
    init_key()
    ledger = Ledger.open(store)
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "planted.bin").write_bytes(PLANTED)
    servers = [serve_ftp(tmp_path / "good", GOOD_HOST),
               serve_runaway_http(HTTP_HOST, flood_names=300, drip_interval=0.3),
               serve_runaway_ftp(FTP_HOST, flood_names=300, drip_interval=0.3),
               serve_runaway_ftp(DRIP_HOST, banner_drip=True, drip_interval=0.3)]
    try:
        scope = scope_of([s.url for s in servers], read_timeout=1, connect_timeout=2,
                         phase_timeout=2, max_files_per_service=2000, max_depth=8,
                         min_speed=100, min_speed_seconds=1)
        result = run_audit(scope, tmp_path / "run", SmallIndex(PLANTED), ledger=ledger,
                           store=store, assess=False)
    finally:
        for server in servers:
            server.stop()
    served = [(f.host, f.location) for f in result.findings
              if f.evidence_level.value == "served"]
    assert served == [(GOOD_HOST, f"ftp://{GOOD_HOST}:{servers[0].port}/planted.bin")]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["findings"] == 1
    reasons = [p.reason or "" for p in result.problems]
    assert any("not a plausible size" in r for r in reasons)
    assert any(r.startswith("server banner not finished after 2 s") for r in reasons)
    assert any("(the phase time limit: headers" in r for r in reasons)
    assert not [r for r in reasons if r.startswith("record could not be stored")]
    # every observation is in the ledger, which verifies
    stored = sum(1 for i in range(ledger.size)
                 if json.loads(ledger.entry(i))["record_type"] == "observation")
    assert stored == result.observations
    assert ledger.verify().ok


SCRIPT = """
import signal, sys
# a child of a background shell inherits SIGINT ignored: take Python's Ctrl-C handling back
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_runaway_audit import GOOD_HOST, HTTP_HOST, PLANTED, SmallIndex, scope_of
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.pipeline import run_audit
from netwarden.store import open_store
from netwarden.testbed.hostile import serve_runaway_http
from netwarden.testbed.servers import serve_ftp

store = open_store(); init_key(); ledger = Ledger.open(store)
good = serve_ftp(Path({root!r}), GOOD_HOST)
# the header drip holds the run (phase limit 600 s) until the signal comes
drip = serve_runaway_http(HTTP_HOST, flood_names=10, drip_interval=0.2)
scope = scope_of([good.url, drip.url], phase_timeout=600, read_timeout=5)
if {trigger!r}:  # SIGTERM to one thread that is not the main one, when the test says so
    import os, threading, time

    def signal_from_this_thread():
        while not os.path.exists({trigger!r}):
            time.sleep(0.05)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    threading.Thread(target=signal_from_this_thread, daemon=True).start()
run_audit(scope, Path({out!r}), SmallIndex(PLANTED), ledger=ledger, store=store)
"""


def _audit_until_its_first_finding(tmp_path: Path, out: Path,
                                   trigger: Path | None = None) -> subprocess.Popen[bytes]:
    """An audit (SCRIPT) in its own process, held by a dripping server after the planted
    file's finding is durable: the moment the tests interrupt or kill it. With ``trigger``,
    a thread of the audit's process sends SIGTERM to itself once that file exists."""
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "planted.bin").write_bytes(PLANTED)
    script = SCRIPT.format(tests=str(Path(__file__).parent), root=str(tmp_path / "good"),
                           out=str(out), trigger=str(trigger) if trigger else "")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    findings = out / "findings.jsonl"
    for _ in range(600):
        if (findings.exists() and findings.read_text().strip()) or proc.poll() is not None:
            break
        time.sleep(0.1)
    if proc.poll() is not None:
        raise AssertionError(proc.communicate()[0].decode()[-3000:])
    return proc


def _stop(proc: subprocess.Popen[bytes], signal_it: Callable[[], object]) -> str:
    """Signal the audit, wait (at most 120 s) for it to end, check it ended failing; its
    output. A run that does not end is killed, so the test fails instead of hanging."""
    try:
        signal_it()
        output = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, output[-3000:]
    return output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signalled_run_writes_its_report_and_marks_itself_interrupted(
        tmp_path: Path, home: Path, signum: int) -> None:
    out = tmp_path / "run"
    proc = _audit_until_its_first_finding(tmp_path, out)
    findings = out / "findings.jsonl"
    _stop(proc, lambda: proc.send_signal(signum))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted", summary
    assert summary["interrupted"] == ("signal SIGTERM" if signum == signal.SIGTERM
                                      else "keyboard interrupt (SIGINT)")
    assert summary["findings"] == 1 and summary["distribution"] == 1
    assert len(findings.read_text().splitlines()) == 1
    report = (out / "report.html").read_text()
    assert "interrupted" in report and "planted.bin" in report
    assert "interrupted" in (out / "run.log").read_text()
    from netwarden.store.models_runs import RunRow

    store = open_store()
    with store.session() as session:
        rows = session.query(RunRow).all()
        assert [r.status for r in rows] == ["interrupted"]
    ledger = Ledger.open(store, require_key=False)
    last = json.loads(ledger.entry(ledger.size - 1))
    assert last["record_type"] == "run_end" and last["status"] == "interrupted"
    assert ledger.verify().ok
    assert any(o["outcome"] == Outcome.OK.value for o in (
        json.loads(ledger.entry(i)) for i in range(ledger.size))
        if o["record_type"] == "observation")


def test_a_sigterm_taken_by_another_thread_still_stops_the_run(tmp_path: Path,
                                                              home: Path) -> None:
    """The kernel may hand a process's SIGTERM to any thread, and a Python handler runs only
    in the main thread: a SIGTERM that one of the run's other threads takes (here: sent to
    that thread alone) still ends the run as interrupted, with its report. (This passes with
    or without pipeline._wake_the_loop_on_termination, because the dripping server wakes the
    loop every 0.2 s; it pins the behaviour, not that function.)"""
    out, trigger = tmp_path / "run", tmp_path / "signal-now"
    proc = _audit_until_its_first_finding(tmp_path, out, trigger)
    _stop(proc, trigger.touch)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["interrupted"] == "signal SIGTERM"
    assert summary["findings"] == 1


def test_a_service_that_outlasts_max_service_seconds_is_stopped_and_recorded(
        tmp_path: Path, home: Path) -> None:
    """A drip under a generous phase limit (600 s) still ends with the service's time limit."""
    server = serve_runaway_http(HTTP_HOST, flood_names=10, drip_interval=0.2)
    try:
        scope = scope_of([server.url], phase_timeout=600, read_timeout=5,
                         max_service_seconds=3)
        result = run_audit(scope, tmp_path / "run", SmallIndex(PLANTED), assess=False)
    finally:
        server.stop()
    # (the flood's skips fill the report's share of this service: the run log has every one)
    log = (tmp_path / "run" / "run.log").read_text()
    assert log.count(f"skipped {server.url}: service walk stopped after 3 s (the limit "
                     "max_service_seconds); what was seen before is recorded") == 1
    assert result.outcomes["skipped"] >= 1
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "finished"


def test_a_run_killed_9_is_marked_interrupted_by_the_next_audit(tmp_path: Path,
                                                                 home: Path) -> None:
    """Nothing runs after SIGKILL; the run's lock (store/liveness.py) is dropped by the kernel,
    so the next audit on this machine marks the dead run ``interrupted``."""
    from netwarden.store.models_runs import RunRow

    out = tmp_path / "run"
    proc = _audit_until_its_first_finding(tmp_path, out)
    proc.kill()
    proc.wait(60)
    store = open_store()
    with store.session() as session:
        assert [r.status for r in session.query(RunRow).all()] == ["running"]
    (tmp_path / "good2").mkdir()
    (tmp_path / "good2" / "planted.bin").write_bytes(PLANTED)
    good = serve_ftp(tmp_path / "good2", GOOD_HOST)
    try:
        run_audit(scope_of([good.url]), tmp_path / "next", SmallIndex(PLANTED),
                  ledger=Ledger.open(store), store=store)
    finally:
        good.stop()
    with store.session() as session:
        statuses = {r.out_dir: r.status for r in session.query(RunRow).all()}
    assert statuses == {str(out.resolve()): "interrupted",
                        str((tmp_path / "next").resolve()): "finished"}
    assert not (tmp_path / "next" / ".run.lock").exists()
