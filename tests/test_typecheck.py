"""The type checker is part of the suite, so CI runs it: ``mypy`` with the ``[tool.mypy]``
configuration of pyproject.toml (as ``make lint`` runs it) must report no errors.

Strict modules (records, codec, digest, ledger.merkle, seams, rundir, identify, verify,
pipeline, attribute, liability) are checked with the flags of ``mypy --strict``; every other
module is checked with the default flags, and none has its errors ignored.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _mypy(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m mypy`` in ``cwd`` (mypy is in the test extra: a missing one fails here)."""
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, check=False)


def test_mypy_is_clean() -> None:
    result = _mypy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_strict_modules_are_strict(tmp_path: Path) -> None:
    """The per-module strict flags reach the strict modules and stop there: an untyped function
    fails in ``netwarden.codec`` and passes in an unlisted module."""
    untyped = "def probe(x):\n    return x\n"
    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for package, fails in (("codec", True), ("testbed", False)):
        tree = tmp_path / package / "src" / "netwarden"
        (tree / package).mkdir(parents=True)
        (tree / "__init__.py").write_text("")
        (tree / package / "__init__.py").write_text("")
        (tree / package / "probe.py").write_text(untyped)
        (tmp_path / package / "pyproject.toml").write_text(config)
        result = _mypy(f"--cache-dir={tmp_path / 'cache'}", cwd=tmp_path / package)
        assert (result.returncode != 0) is fails, result.stdout + result.stderr
        assert ("no-untyped-def" in result.stdout) is fails, result.stdout


def test_no_module_has_its_errors_ignored() -> None:
    """A clean report means every module: no override may switch a module's errors off
    (issue 18 removed the last such list)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert not config.get("ignore_errors", False)
    ignored = [o["module"] for o in config.get("overrides", []) if o.get("ignore_errors")]
    assert ignored == []
