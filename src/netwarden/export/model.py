"""The exporters' view of a finding: its matches, its track, its endpoint — both line shapes.

Why a view: ``findings.jsonl`` lines come in two shapes. Today's (no ``schema_version``) carry
one match at the top level (``category``, ``bank``, ``reference``, ``match_method`` ...);
schema 2 ("one finding per copy") adds a ``matches`` list and a ``track``, keeping the top-level
fields as the primary match. Every exporter reads findings through :func:`matches_of` and
:func:`track_of`, so each works on both shapes and none re-implements the fallback.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netwarden.errors import InputError

MAX_LINE = 1 << 20  # one findings.jsonl line (the web app's bound as well)
MAX_FILE = 1 << 30


@dataclass(frozen=True)
class MatchView:
    """One match of a finding against a bank reference."""

    match_id: str
    bank: str
    category: str
    reference: str
    title: str | None
    method: str
    algorithm: str
    distance: int
    leaf_index: int | None
    leaf_hash: str | None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _leaf(ledger: Any) -> tuple[int | None, str | None]:
    if isinstance(ledger, dict):
        index, leaf_hash = ledger.get("index"), ledger.get("leaf_hash")
        return (index if isinstance(index, int) else None,
                leaf_hash if isinstance(leaf_hash, str) else None)
    return None, None


def matches_of(finding: dict[str, Any]) -> list[MatchView]:
    """The finding's matches: its ``matches`` list when present (schema 2), else the one match
    its top-level fields describe (schema 1)."""
    listed = finding.get("matches")
    out: list[MatchView] = []
    if isinstance(listed, list) and listed:
        for m in listed:
            if not isinstance(m, dict):
                continue
            index, leaf_hash = _leaf(m.get("ledger"))
            distance = m.get("distance")
            out.append(MatchView(
                match_id=str(m.get("match_id") or finding.get("id")),
                bank=str(m.get("bank") or ""), category=str(m.get("category") or ""),
                reference=str(m.get("reference") or ""), title=_str(m.get("title")),
                method=str(m.get("method") or ""), algorithm=str(m.get("algorithm") or ""),
                distance=distance if isinstance(distance, int) else 0,
                leaf_index=index, leaf_hash=leaf_hash))
        if out:
            return out
    ledger = finding.get("ledger")
    index, leaf_hash = _leaf(ledger.get("match") if isinstance(ledger, dict) else None)
    distance = finding.get("match_distance")
    return [MatchView(
        match_id=str(finding.get("match_id") or finding.get("id")),
        bank=str(finding.get("bank") or ""), category=str(finding.get("category") or ""),
        reference=str(finding.get("reference") or ""), title=_str(finding.get("title")),
        method=str(finding.get("match_method") or ""),
        algorithm=str(finding.get("match_algorithm") or ""),
        distance=distance if isinstance(distance, int) else 0,
        leaf_index=index, leaf_hash=leaf_hash)]


def is_csam_category(category: str) -> bool:
    """The rule the liability facts use (liability/facts.py): a category naming csam."""
    return "csam" in category.lower()


def track_of(finding: dict[str, Any]) -> str:
    """``csam`` or ``copyright``: the finding's ``track`` (schema 2), else derived from its
    matches' categories (any CSAM category makes it ``csam``)."""
    track = finding.get("track")
    if track in ("csam", "copyright"):
        return track
    return ("csam" if any(is_csam_category(m.category) for m in matches_of(finding))
            else "copyright")


def pseudonym_of(finding: dict[str, Any]) -> str | None:
    """The subscriber pseudonym of an attributed finding (never anything more)."""
    att = finding.get("attribution")
    p = att.get("pseudonym") if isinstance(att, dict) else None
    return p if isinstance(p, str) and p else None


def attribution_status(finding: dict[str, Any]) -> str:
    """``subscriber``, ``operator_host``, ``none`` or ``pending``: what lists may show."""
    att = finding.get("attribution")
    if isinstance(att, dict):
        return str(att.get("status") or "")
    return str(att or "")


def leaf_of(finding: dict[str, Any], record: str) -> tuple[int | None, str | None]:
    """(index, leaf hash) of one of the finding's ledger records (observation, match, ...)."""
    ledger = finding.get("ledger")
    return _leaf(ledger.get(record) if isinstance(ledger, dict) else None)


@dataclass
class ExportSource:
    """Findings to export and what is known about where they come from."""

    findings: list[dict[str, Any]]
    label: str  # "run <id>" or "campaign <name>"
    run_ids: list[str]
    summary: dict[str, Any] | None = None


def read_findings_file(path: Path) -> list[dict[str, Any]]:
    """Findings of a ``findings.jsonl``, with bounded reads; a line that is not a JSON object is
    an :class:`InputError` naming the line (an export must not silently drop evidence)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    if size > MAX_FILE:
        raise InputError(str(path), f"larger than {MAX_FILE} bytes")
    out: list[dict[str, Any]] = []
    with path.open("rb") as handle:
        number = 0
        while raw := handle.readline(MAX_LINE + 1):
            number += 1
            if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                raise InputError(str(path), f"line {number} longer than {MAX_LINE} bytes")
            if not raw.strip():
                continue
            try:
                item = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InputError(str(path), f"line {number} is not JSON: {exc}") from None
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise InputError(str(path), f"line {number} is not a finding object")
            out.append(item)
    return out


def from_run_dir(run_dir: Path) -> ExportSource:
    """The findings of a run directory (``findings.jsonl``, ``summary.json`` when present)."""
    if not run_dir.is_dir():
        raise InputError(str(run_dir), "is not a run directory")
    findings = read_findings_file(run_dir / "findings.jsonl")
    summary = None
    summary_path = run_dir / "summary.json"
    if summary_path.is_file() and summary_path.stat().st_size < MAX_LINE:
        try:
            loaded = json.loads(summary_path.read_text(encoding="utf-8"))
            summary = loaded if isinstance(loaded, dict) else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            summary = None
    run_ids = list(dict.fromkeys(str(f.get("run_id")) for f in findings if f.get("run_id")))
    if not run_ids and summary and isinstance(summary.get("run_id"), str):
        run_ids = [summary["run_id"]]
    label = f"run {run_ids[0]}" if len(run_ids) == 1 else f"run directory {run_dir.name}"
    return ExportSource(findings, label, run_ids, summary)


def from_campaign(store: Any, name: str) -> ExportSource:
    """The findings of every finished run of campaign ``name`` (from the ``findings`` table)."""
    from sqlalchemy import select

    from netwarden.campaign.models import CampaignJobRow, CampaignRow
    from netwarden.store.models_findings import findings_of_runs

    with store.session() as session:
        if session.get(CampaignRow, name) is None:
            raise InputError("--campaign", f"no campaign {name!r}")
        run_ids = [r for r in session.scalars(select(CampaignJobRow.run_id).where(
            CampaignJobRow.campaign == name, CampaignJobRow.run_id.is_not(None)))]
    return ExportSource(findings_of_runs(store, run_ids), f"campaign {name}", run_ids)


def from_runs(store: Any, run_ids: Iterable[str]) -> ExportSource:
    """The findings of runs in the ``findings`` table (the web application's source)."""
    from netwarden.store.models_findings import findings_of_runs

    ids = list(run_ids)
    label = f"run {ids[0]}" if len(ids) == 1 else f"{len(ids)} runs"
    return ExportSource(findings_of_runs(store, ids), label, ids)
