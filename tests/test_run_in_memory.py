"""The run is handed on in memory (issue 18): an audit assesses its findings without reading its
run directory back, writes the directory once at the end, and records the findings in the
``findings`` table, which notices then read (with the jurisdiction of the ``runs`` table).

A real FTP server on loopback serves the planted file; a real ledger and database.
"""

from __future__ import annotations

import builtins
import json
import pathlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import netwarden.pipeline as pipeline
from fakes import OneReference
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.notices.formats.base import Party
from netwarden.notices.models import NoticeRow
from netwarden.notices.outgoing import send_notices
from netwarden.rundir import read_run_dir
from netwarden.scope import parse_scope
from netwarden.store import Store, open_store
from netwarden.store.models_findings import FindingRow
from netwarden.testbed.servers import RunningServer, serve_ftp

pytestmark = pytest.mark.slow

HOST = "127.77.35.1"
PLANTED = b"synthetic planted file for the in-memory run " * 100
RUN_FILES_READ_BACK = ("findings.jsonl", "summary.json", "assessment.json")


def _planted_share(tmp_path: Path) -> tuple[Store, Ledger, RunningServer]:
    """The installation (database, key, ledger) and a real FTP server with the planted file."""
    store = open_store()
    init_key()
    (tmp_path / "share").mkdir()
    (tmp_path / "share" / "planted.bin").write_bytes(PLANTED)
    return store, Ledger.open(store), serve_ftp(tmp_path / "share", HOST)


def _no_reads_of(out: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse (and list) every read of the run directory's findings, summary or assessment."""
    reads: list[str] = []
    path_open, plain_open = pathlib.Path.open, builtins.open

    def watched(file: Any, mode: str) -> None:
        try:
            path = Path(file).resolve()
        except TypeError:
            return
        if path.parent == out.resolve() and path.name in RUN_FILES_READ_BACK and "r" in mode \
                and "+" not in mode:
            reads.append(path.name)
            raise AssertionError(f"the run read {path.name} back from its directory")

    def guarded_path_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        watched(self, mode)
        return path_open(self, mode, *args, **kwargs)

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        watched(file, mode)
        return plain_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", guarded_path_open)
    monkeypatch.setattr(builtins, "open", guarded_open)
    return reads


def test_the_run_is_assessed_in_memory_and_its_directory_written_once(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, ledger, server = _planted_share(tmp_path)
    out = tmp_path / "run"
    now = datetime.now(UTC)
    written: list[list[str]] = []
    write_run_dir = pipeline.write_run_dir

    def write_once(result: pipeline.RunResult) -> None:
        # what the directory holds when it is written: only the streamed findings and the log
        written.append(sorted(p.name for p in out.iterdir()))
        assert result.assessment is not None
        assert all(isinstance(f.assessment, dict) for f in result.findings)
        write_run_dir(result)

    monkeypatch.setattr(pipeline, "write_run_dir", write_once)
    try:
        scope = parse_scope({
            "check": {"id": "MEM-1", "authorization": "test",
                      "not_before": now - timedelta(hours=1),
                      "not_after": now + timedelta(hours=1), "jurisdiction": "ru"},
            "operator": {"name": "Test Telecom", "prefixes": ["127.77.35.0/24"],
                         "infrastructure": [HOST]},
            "services": [{"url": server.url}]}, "test-scope")
        with pytest.MonkeyPatch.context() as guard:
            reads = _no_reads_of(out, guard)
            result = pipeline.run_audit(scope, out, OneReference(PLANTED), ledger=ledger,
                                        store=store)
            assert reads == []
            with pytest.raises(AssertionError):  # the guard sees a read back
                read_run_dir(out)
            assert reads == ["summary.json"]
    finally:
        server.stop()
    # written once, at the end, while the run still holds its lock (store/liveness.py)
    assert written == [[".run.lock", "findings.jsonl", "run.log"]]
    (finding,) = result.findings
    assert finding.evidence_level.value == "served"
    assert isinstance(finding.assessment, dict) and finding.assessment["role"] == "hosting"
    assert finding.assessment["primary"] == "ru"
    assert result.assessment is not None and result.assessment.assessed == result.findings
    # the directory says what the run had in memory
    lines = [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines()]
    assert lines == [json.loads(finding.model_dump_json())]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["assessment"]["primary_jurisdiction"] == "ru"
    assert summary["checkpoint"] == result.checkpoint and result.checkpoint
    assessment = json.loads((out / "assessment.json").read_text())
    assert assessment["findings"][0]["id"] == finding.id and assessment["rules_sha256"]
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    # the assessment leaves precede the run's end in the ledger
    kinds = [json.loads(ledger.entry(i))["record_type"] for i in range(ledger.size)]
    assert kinds[-3:] == ["assessment", "operator_assessment", "run_end"]
    # the findings table holds the assessed finding: the system of record
    with store.session() as session:
        (row,) = session.scalars(select(FindingRow).where(FindingRow.run_id == result.run_id))
        assert json.loads(row.data)["assessment"]["role"] == "hosting"

    # Notices read the database: the findings table and the runs table's jurisdiction. The
    # run directory's summary (and findings) are not consulted.
    (out / "summary.json").write_text(json.dumps({"jurisdiction": "us"}))
    (out / "findings.jsonl").unlink()
    (notice,) = send_notices(store, out, fmt="dsa",
                             notifier=Party(entity="Rights Ltd", email="r@example.test",
                                            signature="/s/ R"),
                             recipient=Party(entity="Test Telecom", email="abuse@example.test"),
                             smtp=None, ledger=ledger)
    assert notice.finding_ids == (finding.id,) and notice.state == "draft"
    with store.session() as session:
        row_notice = session.get(NoticeRow, notice.id)
        assert row_notice is not None
        assert row_notice.jurisdiction == "ru"  # the scope's (runs table), not the format's eu
    store.close()


def test_netwarden_assess_of_a_run_directory_keeps_the_findings_table_current(
        tmp_path: Path, home: Path) -> None:
    """``netwarden assess RUN_DIR`` reads the directory (its input) and writes the new
    assessment into it and into the findings table."""
    from typer.testing import CliRunner

    import netwarden.cli.notice  # noqa: F401  (registers the commands)
    from netwarden.cli import app

    store, ledger, server = _planted_share(tmp_path)
    out = tmp_path / "run"
    now = datetime.now(UTC)
    try:
        scope = parse_scope({
            "check": {"id": "MEM-2", "authorization": "test",
                      "not_before": now - timedelta(hours=1),
                      "not_after": now + timedelta(hours=1), "jurisdiction": "ru"},
            "operator": {"name": "Test Telecom", "prefixes": ["127.77.35.0/24"]},
            "services": [{"url": server.url}]}, "test-scope")
        result = pipeline.run_audit(scope, out, OneReference(PLANTED), ledger=ledger, store=store)
    finally:
        server.stop()
        store.close()
    (finding,) = result.findings
    facts = tmp_path / "facts.toml"
    facts.write_text('[operator]\nrepeat_infringer_policy = "adopted_and_reasonably_'
                     'implemented"\nbasis = "policy published at example.test/abuse"\n')
    done = CliRunner().invoke(app, ["assess", str(out), "--facts", str(facts), "--json"])
    assert done.exit_code == 0, done.output
    (line,) = [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines()]
    declared = line["assessment"]["facts"]["repeat_infringer_policy"]
    assert declared["basis"].startswith("declared")
    store = open_store()
    try:
        with store.session() as session:
            row = session.get(FindingRow, finding.id)
            assert row is not None
            assert json.loads(row.data)["assessment"] == line["assessment"]
    finally:
        store.close()
