"""``netwarden assess RUN_DIR``: the liability assessment of every finding and operator.

Why per finding *and* per operator: a court looks at a specific item (was this provider a
conduit for it? was it told? did it act?), a regulator at the provider as a whole. Each finding
gets its facts (with what they rest on), the outcome under every jurisdiction that has a rules
file (the scope's own first), the rules that fired and the facts that would change the outcome.
Every assessment is a ledger leaf referencing the finding's verification leaf, so the
assessment itself is evidence of what was concluded, when, from what.

The run directory is updated in place: ``findings.jsonl`` is rewritten (atomically) with the
``assessment`` field filled, and ``assessment.json`` holds the per-operator results. The plain-
language text per operator is returned for the HTML report.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from netwarden.errors import InputError
from netwarden.liability.engine import (
    RULES_DIR,
    JurisdictionResult,
    RuleSet,
    available_jurisdictions,
    evaluate,
    load_rules,
)
from netwarden.liability.facts import (
    DeclaredFacts,
    Fact,
    NoticeFacts,
    evidence_facts,
    knowledge_facts,
)
from netwarden.records import Finding, new_id

SEVERITY = {"exempt": 0, "not_exempt": 1, "liable": 2}
ROLE_WORDS = {
    "mere_conduit": "carried transfers between subscribers (conduit)",
    "hosting": "stored the item on its own store (hosting)",
    "index": "indexed the item (index)",
    "operator_sharing_service": "ran the hub/tracker through which the item was shared",
    "active_participant": "took part itself: its infrastructure or staff served the item",
}
OUTCOME_WORDS = {
    "exempt": "EXEMPT (the safe harbour applies: no damages)",
    "not_exempt": "NOT EXEMPT (no safe harbour; general law decides — not a finding of "
                  "liability)",
    "liable": "LIABLE (a positive liability rule is met)",
}


class LedgerLike(Protocol):
    def append(self, entry: dict[str, Any]) -> Any: ...


@dataclass
class AssessmentReport:
    """What ``assess_run`` concluded and wrote."""

    run_id: str
    run_dir: Path
    jurisdictions: list[str]
    primary: str | None
    findings: list[dict[str, Any]]  # per finding: id, role, facts, results
    operators: list[dict[str, Any]]
    texts: dict[str, str] = field(default_factory=dict)  # operator -> plain language

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "jurisdictions": self.jurisdictions,
                "primary_jurisdiction": self.primary, "operators": self.operators,
                "findings": [{"id": f["id"], "role": f["role"],
                              "outcomes": {j: r["outcomes"] for j, r in f["results"].items()},
                              "leaf": f.get("leaf")} for f in self.findings]}


def read_findings(run_dir: Path) -> list[Finding]:
    """The findings of a run directory; bad lines are an InputError naming the line."""
    path = Path(run_dir) / "findings.jsonl"
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


def _rules_digest(rules: RuleSet) -> str:
    return hashlib.sha256(Path(rules.source).read_bytes()).hexdigest()


def _ledger_entry(ledger: Any, ref: Any) -> dict[str, Any] | None:
    if ledger is None or not isinstance(ref, dict) or "index" not in ref:
        return None
    try:
        return json.loads(ledger.entry(int(ref["index"])))
    except Exception:  # a missing or unreadable leaf only means fewer facts
        return None


def _hub_facts(ledger: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """Hub facts (``dc-hub-info`` observations) of the run, by hub URL."""
    if ledger is None or not hasattr(ledger, "leaves"):
        return {}
    from netwarden.ledger.models import LeafRow

    out: dict[str, dict[str, Any]] = {}
    try:
        rows = ledger.leaves((LeafRow.run_id == run_id) & (LeafRow.record_type == "observation"))
    except Exception:
        return {}
    for _idx, _hash, raw in rows:
        entry = json.loads(raw)
        details = entry.get("details") or {}
        if entry.get("method") == "dc-hub-info" and details.get("hub"):
            out[details["hub"]] = details
    return out


def _leaf(ledger: LedgerLike | None, entry: dict[str, Any]) -> dict[str, Any] | None:
    if ledger is None:
        return None
    ref = ledger.append(entry)
    return {"index": ref.index, "leaf_hash": ref.leaf_hash.hex()}


def _values(facts: dict[str, Fact]) -> dict[str, Any]:
    return {name: fact.value for name, fact in facts.items()}


def assess_findings(findings: Sequence[Finding], rule_sets: Sequence[RuleSet], *,
                    notices: Iterable[NoticeFacts] = (), declared: DeclaredFacts | None = None,
                    infrastructure: Iterable[str] = (), details: dict[str, dict[str, Any]]
                    | None = None, hub_facts: dict[str, dict[str, Any]] | None = None,
                    now: datetime | None = None) -> list[dict[str, Any]]:
    """Facts and results for each finding (no I/O: see :func:`assess_run`)."""
    now = now or datetime.now(UTC)
    notices = list(notices)
    declared = declared or DeclaredFacts()
    infrastructure = list(infrastructure)
    out = []
    for finding in findings:
        data = finding.model_dump(mode="json")
        facts = evidence_facts(data, (details or {}).get(finding.id), infrastructure, hub_facts)
        facts.update(declared.operator)
        facts.update(declared.findings.get(finding.id, {}))
        if "staff_uploaded_or_curated" in declared.findings.get(finding.id, {}) and \
                declared.findings[finding.id]["staff_uploaded_or_curated"].value:
            facts["role"] = Fact("active_participant",
                                 declared.findings[finding.id]["staff_uploaded_or_curated"].basis)
        results: dict[str, dict[str, Any]] = {}
        per_j_facts: dict[str, dict[str, Any]] = {}
        for rules in rule_sets:
            jfacts = {**facts, **knowledge_facts(finding.id, notices, rules, now)}
            result: JurisdictionResult = evaluate(rules, _values(jfacts))
            results[rules.jurisdiction] = result.as_dict()
            per_j_facts[rules.jurisdiction] = {k: jfacts[k].as_dict()
                                               for k in ("actual_knowledge", "response")}
        out.append({"id": finding.id, "operator": finding.operator,
                    "role": facts["role"].value, "role_basis": facts["role"].basis,
                    "facts": {k: v.as_dict() for k, v in facts.items()},
                    "knowledge": per_j_facts, "results": results,
                    "evidence_level": finding.evidence_level.value,
                    "host": finding.host, "location": finding.location,
                    "category": finding.category})
    return out


def _operator_summary(operator: str, items: list[dict[str, Any]], jurisdictions: list[str]
                      ) -> dict[str, Any]:
    roles = Counter(i["role"] for i in items)
    per_j: dict[str, Any] = {}
    for j in jurisdictions:
        results = [i["results"][j] for i in items]
        worst = max((r["outcome"] for r in results), key=lambda o: SEVERITY.get(o, 1))
        deciding = [r for r in results if r["outcome"] == worst]
        exposures = list(dict.fromkeys(e for r in results for e in r["exposures"]))
        fired = list(dict.fromkeys(f"{f['id']} — {f['citation']}" for r in deciding
                                   for f in r["rules_fired"]))
        changes = list(dict.fromkeys(
            f"{c['fact']} = {json.dumps(c['if'])} → {c['outcome']}" for r in deciding
            for c in r["would_change"] if c["fact"] != "role"))
        per_j[j] = {"outcome": worst, "exposures": exposures,
                    "provisional": any(r["provisional"] for r in deciding),
                    "findings_by_outcome": dict(Counter(r["outcome"] for r in results)),
                    "rules_fired": fired,
                    "criminal_evidence_needed": list(dict.fromkeys(
                        e for r in results for e in r["criminal_evidence_needed"])),
                    "would_change": changes}
    return {"operator": operator, "findings": len(items),
            "served": sum(1 for i in items if i["evidence_level"] == "served"),
            "roles": dict(roles), "jurisdictions": per_j}


def plain_text(summary: dict[str, Any], primary: str | None) -> str:
    """The per-operator assessment in plain language (for the HTML report)."""
    lines = [f"{summary['operator']}: {summary['findings']} finding(s), "
             f"{summary['served']} of them verified distribution."]
    for role, count in sorted(summary["roles"].items(), key=lambda kv: -kv[1]):
        lines.append(f"- In {count} finding(s) the operator {ROLE_WORDS.get(role, role)}.")
    order = sorted(summary["jurisdictions"], key=lambda j: (j != primary, j))
    for j in order:
        r = summary["jurisdictions"][j]
        head = f"Under {j.upper()}{' (the scope’s jurisdiction)' if j == primary else ''}: "
        head += OUTCOME_WORDS.get(r["outcome"], r["outcome"])
        if r["provisional"]:
            head += " — provisional: some facts the rules need are not established"
        lines.append(head + ".")
        counts = ", ".join(f"{n} {o}" for o, n in sorted(r["findings_by_outcome"].items()))
        lines.append(f"  Findings: {counts}.")
        for rule in r["rules_fired"][:6]:
            lines.append(f"  Rule: {rule}.")
        if "injunction_exposure" in r["exposures"]:
            lines.append("  Separately from damages, the operator can be ordered to remove or "
                         "block (injunction exposure).")
        if r["criminal_evidence_needed"]:
            lines.append("  Criminal track: no verdict. A prosecutor would still need: "
                         + "; ".join(r["criminal_evidence_needed"]) + ".")
        if r["would_change"]:
            lines.append("  What would change this: " + "; ".join(r["would_change"][:6]) + ".")
    return "\n".join(lines)


def assess_run(run_dir: Path, notices: Iterable[NoticeFacts] | None = None, *,
               ledger: LedgerLike | None = None, declared: DeclaredFacts | None = None,
               infrastructure: Iterable[str] | None = None,
               jurisdictions: Sequence[str] | None = None, primary: str | None = None,
               now: datetime | None = None, rules_dir: Path = RULES_DIR) -> AssessmentReport:
    """Assess every finding of ``run_dir`` and write the results into it.

    ``notices`` are the run's outgoing notices (see
    :func:`netwarden.notices.tracking.notice_facts`); ``ledger`` receives one ``assessment``
    leaf per finding and one ``operator_assessment`` leaf per operator, and supplies the
    observations' details; ``infrastructure`` defaults to the hosts of the run's
    infrastructure findings; ``primary`` defaults to the run's jurisdiction (summary.json).
    """
    run_dir = Path(run_dir)
    findings = read_findings(run_dir)
    summary_path = run_dir / "summary.json"
    summary: dict[str, Any] = {}
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(str(summary_path), f"is not valid JSON: {exc}") from None
    run_id = summary.get("run_id") or (findings[0].run_id if findings else new_id())
    primary = primary or summary.get("jurisdiction")
    names = list(jurisdictions or available_jurisdictions(rules_dir))
    if primary in available_jurisdictions(rules_dir) and primary not in names:
        names.insert(0, primary)
    rule_sets = [load_rules(j, rules_dir) for j in names]
    if infrastructure is None:
        infrastructure = {f.host for f in findings if f.operator_infrastructure}
    details = {}
    for f in findings:
        obs_ref = f.ledger.get("observation") if isinstance(f.ledger, dict) else None
        entry = _ledger_entry(ledger, obs_ref)
        if entry:
            details[f.id] = entry.get("details") or {}
    now = now or datetime.now(UTC)
    items = assess_findings(findings, rule_sets, notices=notices or (), declared=declared,
                            infrastructure=infrastructure, details=details,
                            hub_facts=_hub_facts(ledger, run_id), now=now)
    digests = {r.jurisdiction: _rules_digest(r) for r in rule_sets}
    by_id = {f.id: f for f in findings}
    assessed_at = now.isoformat()
    for item in items:
        finding = by_id[item["id"]]
        ver = finding.ledger.get("verification") if isinstance(finding.ledger, dict) else None
        entry = {"record_type": "assessment", "id": new_id(), "run_id": run_id,
                 "finding_id": finding.id, "match_id": finding.match_id,
                 "verification_leaf": ver.get("leaf_hash") if isinstance(ver, dict) else None,
                 "assessed_at": assessed_at, "role": item["role"],
                 "facts": {k: v["value"] for k, v in item["facts"].items()},
                 "knowledge": {j: {k: v["value"] for k, v in kv.items()}
                               for j, kv in item["knowledge"].items()},
                 "outcomes": {j: r["outcomes"] for j, r in item["results"].items()},
                 "provisional": {j: r["provisional"] for j, r in item["results"].items()},
                 "rules_fired": {j: [f["id"] for f in r["rules_fired"]]
                                 for j, r in item["results"].items()},
                 "rules_sha256": digests}
        item["leaf"] = _leaf(ledger, entry)
        item["assessment_id"] = entry["id"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(item["operator"], []).append(item)
    operators, texts = [], {}
    for operator, group in groups.items():
        op = _operator_summary(operator, group, names)
        op["leaf"] = _leaf(ledger, {"record_type": "operator_assessment", "id": new_id(),
                                    "run_id": run_id, "operator": operator,
                                    "assessed_at": assessed_at,
                                    "finding_assessments": [i["leaf"]["leaf_hash"]
                                                            for i in group if i["leaf"]],
                                    "outcomes": {j: [r["outcome"], *r["exposures"]]
                                                 for j, r in op["jurisdictions"].items()},
                                    "rules_sha256": digests})
        op["text"] = texts[operator] = plain_text(op, primary)
        operators.append(op)
    report = AssessmentReport(run_id, run_dir, names, primary, items, operators, texts)
    _write(run_dir, findings, items, report, assessed_at, digests)
    return report


def _write(run_dir: Path, findings: list[Finding], items: list[dict[str, Any]],
           report: AssessmentReport, assessed_at: str, digests: dict[str, str]) -> None:
    by_id = {i["id"]: i for i in items}
    tmp = run_dir / "findings.jsonl.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        for finding in findings:
            item = by_id[finding.id]
            finding.assessment = {
                "assessed_at": assessed_at, "role": item["role"],
                "role_basis": item["role_basis"], "primary": report.primary,
                "outcomes": {j: r["outcomes"] for j, r in item["results"].items()},
                "results": item["results"], "facts": item["facts"],
                "knowledge": item["knowledge"], "leaf": item["leaf"]}
            fh.write(finding.model_dump_json() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, run_dir / "findings.jsonl")
    doc = {**report.as_dict(), "assessed_at": assessed_at, "rules_sha256": digests}
    tmp = run_dir / "assessment.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, run_dir / "assessment.json")
