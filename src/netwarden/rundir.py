"""The run directory: its files, written once at the end of a run, and read back by one function.

An audit hands its results from stage to stage in memory (``pipeline.RunResult``); the run
directory is its output, for people and for other tools:

- ``findings.jsonl`` — one finding per line (docs/findings.md). The pipeline streams each
  finding into it as soon as its ledger chain is durable, so an interrupted run keeps what it
  reported; at the end the file is replaced (atomically) by the final, assessed findings.
- ``summary.json`` — counts and run facts (``pipeline.summarize``).
- ``assessment.json`` — the liability assessment per operator (``liability.assess``).
- ``report.html`` — the report; ``run.log`` — the run's log.

The ``findings`` table of the installation database holds the same findings and is what the web
application, campaigns and notices read. Commands that take a run directory as their input
(``netwarden assess RUN_DIR``, ``report rerun``) read it through :func:`read_run_dir`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netwarden.errors import InputError
from netwarden.i18n import N_
from netwarden.records import Finding

FINDINGS = "findings.jsonl"
SUMMARY = "summary.json"
ASSESSMENT = "assessment.json"
REPORT = "report.html"
LOG = "run.log"

# What a run writes into its directory (with the temporary names of its atomic replacements);
# `audit --force` removes exactly these before a new run.
RUN_FILES = (FINDINGS, FINDINGS + ".tmp", SUMMARY, SUMMARY + ".tmp", REPORT, REPORT + ".tmp",
             "report.pdf", LOG, ASSESSMENT, ASSESSMENT + ".tmp")


@dataclass
class StoredRun:
    """A run directory as read back: its findings and the documents beside them."""

    path: Path
    findings: list[Finding]
    summary: dict[str, Any] = field(default_factory=dict)  # {} when there is no summary.json
    assessment: dict[str, Any] | None = None  # assessment.json, when the run was assessed

    @property
    def run_id(self) -> str | None:
        """The run's id: the summary's, else the first finding's (None for neither)."""
        value = self.summary.get("run_id")
        if isinstance(value, str) and value:
            return value
        return self.findings[0].run_id if self.findings else None

    @property
    def jurisdiction(self) -> str | None:
        value = self.summary.get("jurisdiction")
        return value if isinstance(value, str) and value else None


def read_findings(run_dir: Path) -> list[Finding]:
    """The findings of a run directory; bad lines are an InputError naming the line."""
    path = Path(run_dir) / FINDINGS
    if not path.is_file():
        raise InputError(str(run_dir), "is not a run directory: no findings.jsonl")
    findings = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                findings.append(Finding.model_validate_json(line))
            except ValidationError as exc:
                raise InputError(str(path), f"not a finding: {exc.errors()[0]['msg']}",
                                 f"line {number}") from None
    return findings


def _read_json(path: Path, required: bool) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        if required:
            raise InputError(str(path.parent), N_("is not a finished run directory: no "
                                                  "readable summary.json")) from None
        if not path.exists():
            return None
        raise InputError(str(path), f"is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(str(path), "is not a JSON object")
    return data


def read_run_dir(run_dir: Path, *, finished: bool = False) -> StoredRun:
    """Everything a run directory holds that a command can take as its input.

    ``findings.jsonl`` must be there, and ``summary.json`` too for a ``finished`` run.
    """
    run_dir = Path(run_dir)
    summary = _read_json(run_dir / SUMMARY, finished) or {}
    return StoredRun(run_dir, read_findings(run_dir), summary,
                     _read_json(run_dir / ASSESSMENT, False))


def _replace(path: Path, write: Any) -> None:
    """Write ``path`` through a temporary file, made durable, then renamed over it."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_findings(run_dir: Path, findings: Iterable[Finding]) -> None:
    """Replace ``findings.jsonl`` (atomically) with ``findings``."""
    def write(fh: Any) -> None:
        for finding in findings:
            fh.write(finding.model_dump_json() + "\n")

    _replace(Path(run_dir) / FINDINGS, write)


def write_json(run_dir: Path, name: str, doc: dict[str, Any]) -> None:
    """Replace the JSON document ``name`` of the run directory (atomically)."""
    _replace(Path(run_dir) / name,
             lambda fh: fh.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n"))


def write_text(run_dir: Path, name: str, text: str) -> None:
    """Replace the text file ``name`` of the run directory (atomically)."""
    _replace(Path(run_dir) / name, lambda fh: fh.write(text))
