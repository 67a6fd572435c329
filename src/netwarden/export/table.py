"""CSV of findings: one row per finding, the columns documented in docs/exports.md.

Why these columns: a spreadsheet user filters by operator, host, category and evidence level
and needs the digests and the ledger leaf to ask for a proof; nested objects (verification,
attribution, assessment) are flattened to the fields people sort on. A finding with several
matches (schema 2) lists them ``;``-separated in the match columns, in the same order.
RFC 4180: comma, CRLF, quoted where needed; optional UTF-8 byte-order mark (``--bom``) so that
spreadsheet programs read UTF-8 names correctly. Cells that a spreadsheet would run as a
formula (starting with ``= + - @``, tab or CR) get a leading apostrophe (OWASP CSV injection):
names and URLs come from hostile servers.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from netwarden.export.hashes import hashes, known_digests
from netwarden.export.model import (
    ExportSource,
    attribution_status,
    leaf_of,
    matches_of,
    pseudonym_of,
    track_of,
)
from netwarden.export.options import ExportOptions

_BEFORE_DIGESTS: tuple[str, ...] = (
    "id", "run_id", "check_id", "operator", "track", "category", "bank", "reference", "title",
    "match_method", "match_algorithm", "match_distance", "evidence_level",
    "verification_result", "location", "protocol", "host", "port", "name", "size",
)
_AFTER_DIGESTS: tuple[str, ...] = (
    "observed_at", "attribution_status", "pseudonym",
    "operator_infrastructure", "assessment_role", "assessment_primary",
    "assessment_primary_outcomes", "match_leaf_index", "match_leaf_hash",
    "observation_leaf_index",
)


def columns() -> tuple[str, ...]:
    """The CSV's columns: one per exported digest (the algorithm registry's listing order,
    md5, sha1, sha256, pdq, tth, ed2k, btih, btmh, then registered ones) between the fixed
    ones."""
    return (*_BEFORE_DIGESTS, *(h.csv_column for h in hashes()), *_AFTER_DIGESTS)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(_FORMULA) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def row(finding: dict[str, Any], options: ExportOptions) -> dict[str, str]:
    """One finding as the CSV row (column -> text)."""
    matches = matches_of(finding)

    def joined(values: list[Any]) -> str:
        return ";".join("" if v is None else str(v) for v in values)

    verification = finding.get("verification")
    assessment = finding.get("assessment")
    assessment = assessment if isinstance(assessment, dict) else {}
    primary = assessment.get("primary")
    outcomes = (assessment.get("outcomes") or {}).get(primary) if primary else None
    obs_index, _ = leaf_of(finding, "observation")
    values: dict[str, Any] = {
        "id": finding.get("id"), "run_id": finding.get("run_id"),
        "check_id": finding.get("check_id"), "operator": finding.get("operator"),
        "track": track_of(finding),
        "category": joined([m.category for m in matches]),
        "bank": joined([m.bank for m in matches]),
        "reference": joined([m.reference for m in matches]),
        "title": joined([m.title for m in matches]),
        "match_method": joined([m.method for m in matches]),
        "match_algorithm": joined([m.algorithm for m in matches]),
        "match_distance": joined([m.distance for m in matches]),
        "evidence_level": finding.get("evidence_level"),
        "verification_result": verification.get("result")
        if isinstance(verification, dict) else verification,
        "location": finding.get("location"), "protocol": finding.get("protocol"),
        "host": finding.get("host"), "port": finding.get("port"),
        "name": finding.get("name"), "size": finding.get("size"),
        "observed_at": finding.get("observed_at"),
        "attribution_status": attribution_status(finding),
        "pseudonym": pseudonym_of(finding) if options.pseudonyms else None,
        "operator_infrastructure": finding.get("operator_infrastructure"),
        "assessment_role": assessment.get("role"), "assessment_primary": primary,
        "assessment_primary_outcomes": joined(list(outcomes)) if isinstance(
            outcomes, list) else None,
        "match_leaf_index": joined([m.leaf_index for m in matches]),
        "match_leaf_hash": joined([m.leaf_hash for m in matches]),
        "observation_leaf_index": obs_index,
    }
    digests = known_digests(finding.get("digests"))
    for h in hashes():
        values[h.csv_column] = digests.get(h.name)
    return {c: _cell(values.get(c)) for c in columns()}


def write(source: ExportSource, options: ExportOptions) -> bytes:
    """The CSV (header + one row per finding) as bytes, with a BOM when asked."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns(), lineterminator="\r\n")
    writer.writeheader()
    for f in source.findings:
        writer.writerow(row(f, options))
    data = buffer.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if options.bom else data
