"""End to end through the ``netwarden`` command: credentials never reach the evidence, an audit
with a service that could not be checked does not exit 0, a used ``--out`` is refused, and a
bundle with a rewritten README fails verification (issue 14).

Real FTP servers on loopback (pyftpdlib, with user accounts), the real CLI in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from netwarden.ledger.bundle import write_zip
from netwarden.testbed.servers import serve_ftp

pytestmark = pytest.mark.slow

PW_URL = "Url-Secret-4711"  # in the service URL's userinfo
PW_FILE = "File-Secret-0815"  # in a password_file
PLANTED = b"synthetic film bytes for the secrets test\n" * 64
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NETWARDEN_HOME": str(home)}
    env.pop("NETWARDEN_DB", None)
    return subprocess.run([sys.executable, "-m", "netwarden", *args], env=env, text=True,
                          capture_output=True, timeout=300)


def holders(paths: list[Path], secret: str) -> list[str]:
    """Files (and zip members) under ``paths`` whose bytes contain ``secret``."""
    needle = secret.encode()
    found = []
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            data = path.read_bytes()
            if needle in data:
                found.append(str(path))
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    found += [f"{path}!{n}" for n in zf.namelist() if needle in zf.read(n)]
    return found


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, object]:
    home = tmp_path / "home"
    assert cli(home, "key", "init").returncode == 0
    bank = tmp_path / "films.txt"
    bank.write_text(hashlib.sha256(PLANTED).hexdigest() + "\n", encoding="utf-8")
    done = cli(home, "bank", "import", str(bank), "--name", "films", "--category", "films",
               "--format", "plain")
    assert done.returncode == 0, done.stderr
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "film.mkv").write_bytes(PLANTED)
    servers = [serve_ftp(tmp_path / "a", "127.77.14.1", users={"auditor": PW_URL},
                         anonymous=False),
               serve_ftp(tmp_path / "b", "127.77.14.2", users={"second": PW_FILE},
                         anonymous=False)]
    (tmp_path / "ftp-b.pw").write_text(PW_FILE + "\n", encoding="utf-8")
    now = datetime.now(UTC)
    scope = tmp_path / "scope.toml"
    scope.write_text(f"""
[check]
id = "T-SECRETS"
authorization = "test order"
not_before = {(now - timedelta(hours=1)).strftime(STAMP)}
not_after = {(now + timedelta(hours=2)).strftime(STAMP)}
jurisdiction = "ru"
[operator]
name = "Secret Telecom"
prefixes = ["127.77.14.0/24"]
[[services]]
url = "ftp://auditor:{PW_URL}@127.77.14.1:{servers[0].port}/"
[[services]]
url = "ftp://127.77.14.2:{servers[1].port}/"
username = "second"
password_file = "ftp-b.pw"
[[services]]
url = "ftp://127.77.14.3:2/"
[banks]
use = ["films"]
""", encoding="utf-8")
    yield {"home": home, "scope": scope, "tmp": tmp_path}
    for server in servers:
        server.stop()


def test_credentials_stay_out_of_every_output_and_exits_are_honest(setup: dict) -> None:
    home, scope, tmp = setup["home"], setup["scope"], setup["tmp"]
    assert holders([scope], PW_URL) == [str(scope)]  # the search works: it finds the source
    out = tmp / "run"
    outputs = []

    done = cli(home, "audit", "--scope", str(scope), "--out", str(out), "--no-progress")
    outputs.append(done.stdout + done.stderr)
    # two services checked, one could not be: exit 3, that service named, the rest kept
    assert done.returncode == 3, done.stderr
    assert "service not checked: ftp://127.77.14.3:2/" in done.stderr
    assert "1 of 3 services could not be checked" in done.stderr
    assert "Traceback" not in done.stderr
    findings = [json.loads(line) for line in (out / "findings.jsonl").read_text().splitlines()]
    served = {(f["location"], f["evidence_level"]) for f in findings}
    assert {loc.split("/")[2].rsplit(":", 1)[0] for loc, level in served
            if level == "served"} == {"127.77.14.1", "127.77.14.2"}
    summary = json.loads((out / "summary.json").read_text())
    assert [s["status"] for s in summary["service_status"]] == ["checked", "checked", "failed"]

    # the same --out again: refused, nothing written
    log_before = (out / "run.log").read_bytes()
    again = cli(home, "audit", "--scope", str(scope), "--out", str(out), "--no-progress")
    assert again.returncode == 2
    assert "--out: already holds a run" in again.stderr and "--force" in again.stderr
    assert (out / "run.log").read_bytes() == log_before
    # --force replaces the run: one run in the folder, not two
    forced = cli(home, "audit", "--scope", str(scope), "--out", str(out), "--no-progress",
                 "--force")
    outputs.append(forced.stdout + forced.stderr)
    assert forced.returncode == 3
    run_ids = {line.split("run ", 1)[1].split(":", 1)[0]
               for line in (out / "run.log").read_text().splitlines()
               if " netwarden.pipeline run " in line and ": check " in line}
    assert len(run_ids) == 1, run_ids

    bundle = tmp / "evidence.zip"
    exported = cli(home, "bundle", "export", "--run", str(out), "--reason", "test",
                   "--out", str(bundle))
    outputs.append(exported.stdout + exported.stderr)
    assert exported.returncode == 0, exported.stderr
    verified = cli(home, "bundle", "verify", str(bundle))
    assert verified.returncode == 0, verified.stderr
    assert "README.md is the one exported" in verified.stdout

    # no credential anywhere: run directory, database (ledger, findings, runs), bundle, screen
    for secret in (PW_URL, PW_FILE):
        assert holders([out, home, bundle], secret) == []
        assert not any(secret in text for text in outputs)

    # a bundle whose README was rewritten (and re-zipped canonically) is refused
    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["README.md"] = members["README.md"].replace(b"netwarden", b"netwardem", 1)
    forged = tmp / "forged.zip"
    forged.write_bytes(write_zip(sorted(members.items())))
    rejected = cli(home, "bundle", "verify", str(forged))
    assert rejected.returncode == 1
    assert "bundle REJECTED: readme: README.md differs" in rejected.stderr


def test_an_audit_whose_every_service_failed_does_not_exit_0(setup: dict) -> None:
    home, tmp = setup["home"], setup["tmp"]
    scope = tmp / "dead.toml"
    text = setup["scope"].read_text(encoding="utf-8")
    head, _, _ = text.partition("[[services]]")
    scope.write_text(head + '[[services]]\nurl = "ftp://127.77.14.3:2/"\n'
                     '[[services]]\nurl = "http://127.77.14.4:3/"\n[banks]\nuse = ["films"]\n',
                     encoding="utf-8")
    done = cli(home, "audit", "--scope", str(scope), "--out", str(tmp / "dead"), "--json")
    assert done.returncode == 3
    assert json.loads(done.stdout)["failed_services"] == 2
    assert done.stderr.count("service not checked: ") == 2
    assert "2 of 2 services could not be checked" in done.stderr
