"""Bad input through the real ``netwarden`` command: exit 2, one line naming the input, the key
and the problem, and never a traceback (issue 14). Each case here used to end in a traceback or
in a silent exit 0. No server is started: every case is refused before anything is contacted.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from netwarden.ledger.bundle import write_zip

STAMP = "%Y-%m-%dT%H:%M:%SZ"


def cli(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NETWARDEN_HOME": str(home)}
    env.pop("NETWARDEN_DB", None)
    return subprocess.run([sys.executable, "-m", "netwarden", *args], env=env, text=True,
                          capture_output=True, timeout=120, cwd=cwd)


def refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli") / "home"
    assert cli(home, "key", "init").returncode == 0
    bank = home.parent / "films.txt"
    bank.write_text("d41d8cd98f00b204e9800998ecf8427e\n", encoding="utf-8")
    done = cli(home, "bank", "import", str(bank), "--name", "films", "--category", "films",
               "--format", "plain")
    assert done.returncode == 0, done.stderr
    return home


def scope_file(tmp_path: Path, banks: str = '["films"]', prefixes: str = '["127.77.15.0/24"]'
               ) -> Path:
    now = datetime.now(UTC)
    path = tmp_path / "scope.toml"
    path.write_text(f"""
[check]
id = "T-CLI"
authorization = "test order"
not_before = {(now - timedelta(hours=1)).strftime(STAMP)}
not_after = {(now + timedelta(hours=1)).strftime(STAMP)}
jurisdiction = "ru"
[operator]
name = "CLI Telecom"
prefixes = {prefixes}
[[services]]
url = "ftp://127.77.15.1:2/"
[banks]
use = {banks}
""", encoding="utf-8")
    return path


def test_a_bank_name_that_is_not_in_the_store(home: Path, tmp_path: Path) -> None:
    path = scope_file(tmp_path, banks='["film"]')
    done = cli(home, "audit", "--scope", str(path), "--out", str(tmp_path / "run"))
    refused(done, f"{path}: banks.use[0]: no bank named 'film'", "(banks: films)")
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_wide_prefixes_need_allow_wide(home: Path, tmp_path: Path) -> None:
    path = scope_file(tmp_path, prefixes='["0.0.0.0/0"]')
    done = cli(home, "audit", "--scope", str(path), "--out", str(tmp_path / "run"))
    refused(done, "operator.prefixes[0]: 0.0.0.0/0 is wider than /8", "--allow-wide")


@pytest.mark.parametrize("scope", ["/dev/zero", "/nonexistent/scope.toml", "/tmp"])
def test_scope_paths_that_are_not_scope_files(home: Path, tmp_path: Path, scope: str) -> None:
    done = cli(home, "audit", "--scope", scope, "--out", str(tmp_path / "run"))
    refused(done, f"error: {scope}: ")


@pytest.mark.parametrize("out", ["/proc/x", "/dev/null"])
def test_out_that_cannot_be_a_run_directory(home: Path, tmp_path: Path, out: str) -> None:
    done = cli(home, "audit", "--scope", str(scope_file(tmp_path)), "--out", out)
    refused(done, f"error: {out}: --out: ")


def test_an_empty_bank_file(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    done = cli(home, "bank", "import", str(empty), "--name", "e", "--category", "films",
               "--format", "plain")
    refused(done, "no usable entry (the file holds no entry)")


def test_ledger_verify_on_a_database_missing_a_table(home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "broken.sqlite"
    copy.write_bytes((home / "netwarden.sqlite").read_bytes())
    with sqlite3.connect(copy) as db:
        db.execute("DROP TABLE ledger_tail")
    done = cli(home, "ledger", "verify", "--db", f"sqlite:///{copy}")
    refused(done, "error: database: no such table: ledger_tail")
    refused(cli(home, "ledger", "verify", "--db", "not a url"), "--db: not a database URL")


def _nested_message(depth: int) -> bytes:
    head = ["From: a@example.org\nTo: abuse@example.net\nSubject: notice\nMIME-Version: 1.0\n"]
    for i in range(depth):
        head.append(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n')
    head.append("Content-Type: text/plain\n\nhello\n")
    head += [f"--b{i}--\n" for i in reversed(range(depth))]
    return "".join(head).encode()


def test_notice_nested_2000_deep_is_refused_and_recorded(home: Path, tmp_path: Path) -> None:
    eml = tmp_path / "deep.eml"
    eml.write_bytes(_nested_message(2000))
    refused(cli(home, "notice", "ingest", str(eml)), f"{eml}: more than 64 multipart")
    listed = cli(home, "notice", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rejected = [r for r in json.loads(listed.stdout) if r.get("state") == "rejected"]
    assert len(rejected) == 1, listed.stdout
    shown = cli(home, "notice", "show", rejected[0]["id"])
    assert "more than 64 multipart" in shown.stdout, shown.stdout
    refused(cli(home, "notice", "ingest", "/dev/zero"), "/dev/zero: is not a regular file")


def test_bundle_manifest_nested_100k_deep(home: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "deep.zip"
    deep = b"[" * 100_000 + b"]" * 100_000
    bundle.write_bytes(write_zip([("README.md", b"x"), ("manifest.json", deep)]))
    done = cli(home, "bundle", "verify", str(bundle))
    assert done.returncode == 1  # a bundle that fails verification: exit 1, not a crash
    assert "bundle REJECTED: manifest: is nested too deeply" in done.stderr
    assert "Traceback" not in done.stderr
