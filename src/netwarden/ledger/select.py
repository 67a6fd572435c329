"""Which leaves make up a finding, a run's findings, or an operator's findings.

A finding is a ``match`` leaf, the ``observation`` leaf it names, every leaf that names the
match (verification, attribution, assessment, notice...), and the ``run``/``run_end`` leaves of
its run, so the bundle also shows who ran the check, under which authorization and clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from netwarden.errors import InputError
from netwarden.ledger.storage import Ledger

MAX_FINDINGS_LINES = 1_000_000
RUN_TYPES = ("run", "run_end")


def _entry(data: bytes) -> dict[str, Any]:
    value = json.loads(data)
    if not isinstance(value, dict):
        raise InputError("ledger", "a leaf is not a JSON object")
    return value


def finding_indices(ledger: Ledger, match_id: str) -> set[int]:
    """Leaf indexes of the finding whose match record has id ``match_id``.

    A finding id (version 2 of findings.jsonl: the id of the observation of one copy) is
    accepted too and selects every match of that copy.
    """
    matches = [(e.index, e.leaf_hash, e.data)
               for e in ledger.entries("match", record_id=match_id)]
    if not matches:
        for found in ledger.entries("observation", record_id=match_id):
            run = found.record().get("run_id", "")
            ids = [m.record()["id"] for m in ledger.entries("match", run_id=run)
                   if m.record().get("observation_id") == match_id]
            if ids:
                return set().union(*(finding_indices(ledger, i) for i in ids))
        raise InputError("--finding", f"no match record with id {match_id!r} in the ledger")
    chosen: set[int] = set()
    runs: set[str] = set()
    for index, _, data in matches:
        chosen.add(index)
        entry = _entry(data)
        runs.add(entry.get("run_id", ""))
        obs = entry.get("observation_id")
        if obs:
            chosen.update(e.index for e in ledger.entries("observation", record_id=obs))
    chosen.update(e.index for e in ledger.entries(match_id=match_id))
    chosen.update(e.index for e in ledger.entries(RUN_TYPES, run_id=sorted(runs)))
    return chosen


def run_dir_indices(ledger: Ledger, run_dir: Path) -> set[int]:
    """All findings listed in ``run_dir/findings.jsonl``."""
    path = run_dir / "findings.jsonl"
    if not path.is_file():
        raise InputError(str(path), "no findings.jsonl in the run directory")
    chosen: set[int] = set()
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if number > MAX_FINDINGS_LINES:
                raise InputError(str(path), f"more than {MAX_FINDINGS_LINES} lines")
            if not line.strip():
                continue
            try:
                finding = json.loads(line)
                match_ids = [finding["match_id"]]
                # a version-2 finding is one copy with every match of it: each stays provable
                match_ids += [m["match_id"] for m in finding.get("matches") or []]
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise InputError(str(path), f"not a finding with a match_id: {exc}",
                                 where=f"line {number}") from exc
            for match_id in dict.fromkeys(str(m) for m in match_ids):
                chosen |= finding_indices(ledger, match_id)
    if not chosen:
        raise InputError(str(path), "lists no findings")
    return chosen


def _operator_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value.get("name")
    return None


def operator_indices(ledger: Ledger, operator: str) -> set[int]:
    """All findings of every run whose ``run`` record names ``operator``."""
    runs = {e["run_id"] for leaf in ledger.entries("run")
            if _operator_name((e := leaf.record()).get("operator")) == operator}
    if not runs:
        raise InputError("--operator", f"no run for operator {operator!r} in the ledger")
    chosen: set[int] = set()
    for leaf in ledger.entries("match", run_id=sorted(runs)):
        chosen |= finding_indices(ledger, leaf.record()["id"])
    if not chosen:
        raise InputError("--operator", f"runs for operator {operator!r} have no findings")
    return chosen
