"""A run's report made again after the review (issue 16): ``netwarden report --run DIR
--scope FILE`` pairs the run directory with the scope it acted under (checked by SHA-256),
reads what could not be checked and what was refused from the ledger, and shows each review
and sign-off with name, role and time, in the chosen language; ``--pdf`` prints it on A4."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netwarden.errors import InputError
from netwarden.report.html import render_report
from netwarden.report.rerun import load_run, reviews_of
from netwarden.scope import load_scope

from .conftest import Site, login

ROOT = Path(__file__).resolve().parents[2]


def _scope_path(site: Site) -> Path:
    return site.seed.db.parent / "net" / "scope.toml"  # the demo network's, kept on disk


def test_report_again_shows_the_review(site: Site, tmp_path: Path) -> None:
    f = site.seed.subscriber_finding()
    alice, bob = site.client(), site.client()
    token = login(alice, "alice")
    r = alice.post(f"/api/v1/findings/{f['id']}/review", headers={"X-CSRF-Token": token},
                   json={"decision": "confirmed", "reason": "digest equals the reference"})
    assert r.status_code == 201, r.text
    token = login(bob, "bob")
    r = bob.post(f"/api/v1/findings/{f['id']}/signoff", headers={"X-CSRF-Token": token},
                 json={"decision": "approved", "reason": "chain checked"})
    assert r.status_code == 201, r.text

    result = load_run(site.seed.run_dir, load_scope(_scope_path(site)), site.store)
    assert {x.id for x in result.findings} == {x["id"] for x in site.seed.findings}
    assert result.summary["run_id"] == f["run_id"]
    reviews = reviews_of(site.store, [x.id for x in result.findings])
    assert [s["kind"] for s in reviews[f["id"]]] == ["review", "signoff"]
    html = render_report(result, lang="ru", reviews=reviews)
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert re.search(r"подтверждено — alice \(аналитик\), \d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d "
                     r"\(UTC\+3; \d\d:\d\d:\d\d UTC\)", text), "review missing"
    assert "утверждено — bob (руководитель)" in text
    assert "ещё нет" in text  # the other findings
    assert "На момент составления протокола" not in text


def test_report_again_refuses_another_scope(site: Site, tmp_path: Path) -> None:
    other = tmp_path / "scope.toml"
    text = _scope_path(site).read_text(encoding="utf-8")
    other.write_text(text.replace('id = "', 'id = "X', 1), encoding="utf-8")
    assert text != other.read_text(encoding="utf-8")
    with pytest.raises(InputError, match="not the scope this run acted under"):
        load_run(site.seed.run_dir, load_scope(other), site.store)


def test_cli_writes_the_russian_record_and_its_pdf(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "again"
    env = {k: v for k, v in os.environ.items() if k != "NETWARDEN_LANG"}
    env.update({"NETWARDEN_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT / "src")})
    done = subprocess.run(
        [sys.executable, "-m", "netwarden", "--lang", "ru", "report", "--run",
         str(site.seed.run_dir), "--scope", str(_scope_path(site)), "--db", site.db_url,
         "--out", str(out), "--pdf"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="ru">' in html and "Протокол проверки" in html
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    assert not (site.seed.run_dir / "report.pdf").exists()  # the run directory is untouched
