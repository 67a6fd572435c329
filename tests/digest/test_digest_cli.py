"""``netwarden hash``: output equals rhash; bad files are named, exit 2, the others still hashed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from digest_helpers import rhash_digests
from typer.testing import CliRunner

import netwarden.cli.hash  # noqa: F401  (registers the command on the app)
from netwarden.cli import app


def test_json_equals_rhash(known_files: dict[int, Path],
                           rhash_answers: dict[int, dict[str, str | int]]) -> None:
    sizes = [0, 1, 1025, 9_728_000]
    result = CliRunner().invoke(app, ["hash", "--json", *(str(known_files[s]) for s in sizes)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(known_files[s]) for s in sizes]
    for size, line in zip(sizes, lines, strict=True):
        want = dict(rhash_answers[size])
        want["tth"] = str(want["tth"]).upper()
        assert {k: line[k] for k in want} == want


def test_missing_file_is_named_exit_2_others_hashed(tmp_path: Path) -> None:
    good = tmp_path / "good.bin"
    good.write_bytes(b"synthetic bytes")
    missing = tmp_path / "missing.bin"
    result = CliRunner().invoke(app, ["hash", "--json", str(missing), str(good), str(tmp_path)])
    assert result.exit_code == 2
    assert f"{missing}: no such file" in result.stderr
    assert f"{tmp_path}: is a directory" in result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(good)]
    assert lines[0]["sha256"] == rhash_digests([good])[0]["sha256"]


def test_table_output_shows_every_digest(tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(b"\x00" * 4097)
    want = rhash_digests([path])[0]
    result = CliRunner().invoke(app, ["hash", str(path)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    for name in ("md5", "sha1", "sha256", "ed2k"):
        assert f"{name}" in result.stdout and str(want[name]) in result.stdout
    assert str(want["tth"]).upper() in result.stdout


def test_console_script(known_files: dict[int, Path],
                        rhash_answers: dict[int, dict[str, str | int]]) -> None:
    """The installed entry point, in a real subprocess."""
    proc = subprocess.run([sys.executable, "-m", "netwarden", "hash", "--json",
                           str(known_files[1023])], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stdout)
    assert line["ed2k"] == rhash_answers[1023]["ed2k"]
    assert line["tth"] == str(rhash_answers[1023]["tth"]).upper()
