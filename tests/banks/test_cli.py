"""``netwarden bank import|list|show`` through the real typer app and the console entry."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import netwarden.cli.bank  # noqa: F401  (registers the commands)
from netwarden.cli import app

runner = CliRunner()


def sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def test_import_list_show(tmp_path: Path, db_url: str) -> None:
    bank = tmp_path / "bank.txt"
    bank.write_text(f"# films\n{sha(1)}\n{sha(2)}\nnot-a-hash\n{sha(1)}\n")
    args = ["bank", "import", "--db", db_url, "--name", "films", "--category", "films",
            "--format", "plain", str(bank)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 added, 1 duplicate, 1 bad" in result.output
    assert f"{bank}:4:" in result.output
    result = runner.invoke(app, [*args, "--json"])
    report = json.loads(result.output)
    assert (report["added"], report["duplicates"], report["bad"]) == (0, 3, 1)
    assert report["problems"][0]["line"] == 4
    listed = json.loads(runner.invoke(app, ["bank", "list", "--db", db_url, "--json"]).output)
    assert [(b["name"], b["category"], b["digests"]) for b in listed] == [("films", "films", 2)]
    assert "films" in runner.invoke(app, ["bank", "list", "--db", db_url]).output
    shown = runner.invoke(app, ["bank", "show", "films", "--db", db_url])
    assert shown.exit_code == 0 and "sha256: 2" in shown.output
    assert len(json.loads(runner.invoke(app, ["bank", "show", "films", "--db", db_url,
                                              "--json"]).output)["imports"]) == 2


def test_exit_code_2_for_unusable_input(tmp_path: Path, db_url: str) -> None:
    base = ["bank", "import", "--db", db_url, "--name", "films", "--category", "films"]
    missing = runner.invoke(app, [*base, "--format", "plain", str(tmp_path / "none.txt")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    junk = tmp_path / "junk.txt"
    junk.write_text("a\nb\n")
    all_bad = runner.invoke(app, [*base, "--format", "plain", str(junk)])
    assert all_bad.exit_code == 2 and "no usable entry" in all_bad.output
    fmt = runner.invoke(app, [*base, "--format", "nope", str(junk)])
    assert fmt.exit_code == 2 and "unknown bank format" in fmt.output
    cat = runner.invoke(app, ["bank", "import", "--db", db_url, "--name", "films",
                              "--category", "Bad Category", "--format", "plain", str(junk)])
    assert cat.exit_code == 2 and "not a valid category" in cat.output
    show = runner.invoke(app, ["bank", "show", "nothing", "--db", db_url])
    assert show.exit_code == 2 and "no such bank" in show.output


def test_console_entry_point(tmp_path: Path, db_url: str) -> None:
    bank = tmp_path / "bank.txt"
    bank.write_text(f"{sha(1)}\n")
    done = subprocess.run(
        [sys.executable, "-m", "netwarden", "bank", "import", "--db", db_url, "--name", "f",
         "--category", "films", "--format", "plain", str(bank)],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "1 added" in done.stdout
