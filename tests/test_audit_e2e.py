"""End to end: the demo network on loopback, real servers, a real bank, the whole pipeline.

The audit must report exactly the planted exact and renamed copies as ``served`` (decoys and
benign files not), write a complete run directory, and leave a ledger that verifies.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netwarden.attribute import Attributor
from netwarden.banks import BankStore
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.pipeline import run_audit
from netwarden.scope import load_scope
from netwarden.store import open_store
from netwarden.testbed import DemoNetwork

pytestmark = pytest.mark.slow


def test_audit_of_demo_network_finds_exactly_the_planted_copies(tmp_path: Path, home: Path
                                                                 ) -> None:
    store = open_store()
    init_key()
    ledger = Ledger.open(store)
    banks = BankStore(store)
    out = tmp_path / "run"
    with DemoNetwork(tmp_path / "net") as net:
        for name, category, fmt, path in net.banks:
            banks.import_file(name, category, fmt, path)
        scope = load_scope(net.scope_path)
        attributor = Attributor.from_scope(scope, tmp_path / "cache")
        result = run_audit(scope, out, banks, ledger=ledger, store=store,
                           banks=[b[0] for b in net.banks], attributor=attributor)
        attributor.close()
        expected = set(net.expected)
    served = {(f.host, f.location, m["reference"]) for f in result.findings
              if f.evidence_level.value == "served" for m in f.matches}
    assert served == expected
    # one finding per copy: no observed item is reported twice
    assert len({f.observation_id for f in result.findings}) == len(result.findings)
    assert expected, "the testbed must plant something"
    assert any(f.operator_infrastructure for f in result.findings)

    lines = (out / "findings.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(result.findings)
    first = json.loads(lines[0])
    for key in ("id", "operator", "category", "reference", "match_method", "match_distance",
                "location", "observed_at", "evidence_level", "verification", "attribution",
                "assessment", "ledger"):
        assert key in first
    # the liability stage ran at the end of the audit: every finding has a role and outcomes
    roles = {f.host: f.assessment["role"] for f in result.findings}
    assert roles["127.77.0.10"] == "hosting"  # the operator's own FTP store
    assert roles["127.77.1.1"] == "mere_conduit"  # a subscriber's share
    assert all(set(f.assessment["outcomes"]) >= {"ru", "eu", "us"} for f in result.findings)
    assert (out / "assessment.json").is_file()
    assert "Who is responsible" in (out / "report.html").read_text(encoding="utf-8")
    by_host = {f.host: f.attribution for f in result.findings}
    # 127.77.0.10 is the operator's; .1 has a RADIUS session; .2 is a CGNAT address whose
    # port maps (RFC 7422) to an inside address with a DHCP lease; .3 has no log at all
    assert by_host["127.77.0.10"]["status"] == "operator_host"
    assert by_host["127.77.1.1"]["status"] == "subscriber"
    assert by_host["127.77.1.1"]["log_kind"] == "radius"
    assert by_host["127.77.1.1"]["pseudonym"].startswith("ps1_")
    assert by_host["127.77.1.2"]["status"] == "subscriber"
    assert by_host["127.77.1.2"]["log_kind"] == "dhcpd"
    assert by_host["127.77.1.2"]["nat"]
    assert by_host["127.77.1.1"]["pseudonym"] != by_host["127.77.1.2"]["pseudonym"]
    assert by_host["127.77.1.3"]["status"] == "none"
    assert by_host["127.77.1.3"]["reason_code"] == "no_session"
    text = (out / "findings.jsonl").read_text(encoding="utf-8")
    assert "demo-subscriber" not in text and "02:00:5e:00:01:02" not in text
    assert isinstance(first["ledger"]["match"]["index"], int)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["distribution"] == len(expected)
    assert summary["checkpoint"]
    report = (out / "report.html").read_text(encoding="utf-8")
    assert scope.check_id in report and "Verified distribution" in report
    assert (out / "run.log").stat().st_size > 0

    verdict = ledger.verify()
    assert verdict.ok, verdict.problems
    store.close()


def test_demo_command(tmp_path: Path, home: Path) -> None:
    out = tmp_path / "demo-run"
    proc = subprocess.run([sys.executable, "-m", "netwarden", "demo", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Planted copies found" in proc.stdout
    assert "Findings per category" in proc.stdout
    for name in ("findings.jsonl", "summary.json", "report.html", "run.log"):
        assert (out / name).is_file()
    verify = subprocess.run([sys.executable, "-m", "netwarden", "ledger", "verify"],
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
