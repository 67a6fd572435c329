"""Hostile input against the web application: oversized bodies (413), hostile ids and paths,
markup in audited data (escaped, never executed), a damaged findings file; metrics; CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.errors import InputError
from netwarden.web.app import CSP

from .conftest import Site, login


def test_oversized_requests_are_refused_with_413(site: Site) -> None:
    fid = site.seed.findings[0]["id"]
    client = site.client()
    csrf = login(client, "alice")
    big = {"decision": "confirmed", "reason": "x" * 100_000}
    r = client.post(f"/api/v1/findings/{fid}/review", json=big,
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 413
    # a body that does not declare its length is counted as it streams

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 4096

    r = client.post(f"/api/v1/findings/{fid}/review", content=chunks(),
                    headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert r.status_code == 413
    # before login too: the limit comes first, nothing is read whole
    r = site.client().post("/login", content=b"u" * 200_000,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert client.get("/api/v1/audit-trail").json() == []


@pytest.mark.parametrize("fid", ["../../etc/passwd", "%2e%2e%2f", "x" * 5000, "' OR 1=1 --",
                                 "<script>alert(1)</script>", "\u202eabc", "%00"])
def test_hostile_ids_get_404_or_422_never_500(site: Site, fid: str) -> None:
    client = site.client()
    login(client, "dave")
    for path in (f"/api/v1/findings/{fid}", f"/api/v1/findings/{fid}/proof",
                 f"/findings/{fid}", f"/api/v1/runs/{fid}", f"/operators/{fid}"):
        r = client.get(path)
        assert r.status_code in (307, 404, 405, 422), (path, r.status_code)
        assert "<script>alert" not in r.text


def test_markup_in_audited_data_is_escaped_and_bad_lines_are_skipped(site: Site) -> None:
    run_dir = site.seed.run_dir
    # the seed's run directory is shared: add the hostile lines to a copy named by a new run
    from netwarden.store.models_runs import RunRow
    from netwarden.web.auth import now

    copy = Path(site.db_url.removeprefix("sqlite:///")).parent / "hostile-run"
    copy.mkdir()
    lines = (run_dir / "findings.jsonl").read_text(encoding="utf-8").splitlines()[:1]
    evil = json.loads(lines[0])
    evil.update(id="evil1", name="<script>alert('x')</script>.mkv",
                title="<img src=x onerror=alert(1)>", ledger="pending")
    (copy / "findings.jsonl").write_text("\n".join([
        json.dumps(evil), "{not json", "[1,2]", '{"id": 5}', "x" * 10, ""]) + "\n")
    with site.store.session() as s:
        s.add(RunRow(id="hostilerun", check_id="C", operator="<b>Evil ISP</b>",
                     jurisdiction="ru", scope_sha256="0" * 64, out_dir=str(copy),
                     started_at=now(), status="finished"))
    client = site.client()
    login(client, "alice")
    for path in ("/", "/findings", "/findings/evil1", "/operators/<b>Evil ISP</b>"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "<script>alert" not in r.text and "<img src=x" not in r.text
        assert "<b>Evil ISP</b>" not in r.text
        assert r.headers["content-security-policy"] == CSP
    page = client.get("/findings/evil1").text
    assert "&lt;script&gt;" in page
    metrics = client.get("/metrics").text
    assert "netwarden_findings_unreadable_lines 4.0" in metrics


def test_metrics_are_aggregate_and_can_require_a_token(site: Site) -> None:
    from netwarden.web.app import create_app

    client = site.client()
    r = client.get("/metrics")
    assert r.status_code == 200
    text = r.text
    n = len(site.seed.findings)
    assert f'netwarden_findings{{evidence_level="served"}} {float(n)}' in text
    assert 'netwarden_runs{status="finished"} 1.0' in text
    assert f'netwarden_queue_depth{{queue="review"}} {float(n)}' in text
    assert "netwarden_collector_findings{protocol=" in text
    assert "netwarden_http_requests_total" in text
    for f in site.seed.findings:  # no ids, locations or pseudonyms
        assert f["id"] not in text and f["host"] not in text
        assert (f["attribution"].get("pseudonym") or "@@") not in text
    guarded = create_app(store=site.store, key_dir=site.seed.key_dir,
                         metrics_token="s3cret-token-0123456789")
    from fastapi.testclient import TestClient

    c = TestClient(guarded)
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/metrics", headers={
        "Authorization": "Bearer s3cret-token-0123456789"}).status_code == 200


def test_user_cli(tmp_path: Path) -> None:
    import netwarden.cli.serve  # noqa: F401  registers the commands
    from netwarden.cli import app

    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    pw = tmp_path / "pw"
    pw.write_text("a-good-long-password\n")
    runner = CliRunner()
    r = runner.invoke(app, ["user", "add", "erin", "--role", "supervisor", "--password-file",
                            str(pw), "--db", url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["user", "list", "--json", "--db", url])
    assert json.loads(r.output)[0]["name"] == "erin"
    assert json.loads(r.output)[0]["role"] == "supervisor"
    r = runner.invoke(app, ["user", "add", "erin", "--role", "analyst", "--password-file",
                            str(pw), "--db", url])
    assert isinstance(r.exception, InputError) and "already exists" in str(r.exception)
    r = runner.invoke(app, ["user", "add", "fred", "--role", "root", "--password-file",
                            str(pw), "--db", url])
    assert isinstance(r.exception, InputError) and "role" in str(r.exception)
    r = runner.invoke(app, ["user", "add", "fred", "--role", "analyst", "--password-file",
                            str(tmp_path / "missing"), "--db", url])
    assert isinstance(r.exception, InputError)
