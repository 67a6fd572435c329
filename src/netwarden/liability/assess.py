"""The liability assessment of every finding and operator of a run.

Why per finding *and* per operator: a court looks at a specific item (was this provider a
conduit for it? was it told? did it act?), a regulator at the provider as a whole. Each finding
gets its facts (with what they rest on), the outcome under every jurisdiction that has a rules
file (the scope's own first), the rules that fired and the facts that would change the outcome.
Every assessment is a ledger leaf referencing the finding's verification leaf, so the
assessment itself is evidence of what was concluded, when, from what.

:func:`assess` works in memory: the pipeline hands it the run's findings and gets them back
with their ``assessment`` filled, plus the per-operator results and their plain-language text
(:class:`AssessmentReport`); the pipeline writes the run directory once, at the end.
:func:`assess_run` is ``netwarden assess RUN_DIR`` for an existing run directory: it reads the
directory (:func:`netwarden.rundir.read_run_dir`), assesses, and rewrites ``findings.jsonl``
(atomically) and ``assessment.json``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netwarden.liability.engine import (
    LEAD_EVIDENCE,
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
    participation_evidence,
)
from netwarden.records import Assessment, Finding, OperatorAssessment, Record, new_id
from netwarden.rundir import ASSESSMENT, read_run_dir, write_findings, write_json
from netwarden.seams import LeafAppender, LedgerSink

SEVERITY = {"lead": -2, "no_civil_rule": -1, "exempt": 0, "not_exempt": 1, "liable": 2}
ROLE_WORDS = {
    "mere_conduit": "carried transfers between subscribers (conduit)",
    "hosting": "stored the item on its own host (hosting; who placed it is not shown)",
    "index": "indexed the item (index)",
    "operator_sharing_service": "ran the hub/tracker through which the item was shared",
    "active_participant": "took part itself: its staff served or placed the item",
}
OUTCOME_WORDS = {
    "exempt": "EXEMPT (the safe harbour applies: no damages)",
    "not_exempt": "NOT EXEMPT (no safe harbour; general law decides — not a finding of "
                  "liability)",
    "liable": "LIABLE (a positive liability rule is met)",
    "no_civil_rule": "no civil intermediary rule for this content: the duties and the "
                     "criminal track below apply",
    "lead": "LEAD ONLY (no verified copy: no conclusion)",
}
DUTY_WORDS = {
    "removal_duty": "remove or disable the material",
    "blocking_duty": "block access to it",
    "report_duty": "report it",
    "preservation_duty": "preserve the report's contents",
}


@dataclass
class AssessmentReport:
    """What an assessment concluded: per finding, per operator, in plain language.

    ``assessed`` are the run's findings with their ``assessment`` filled (what the run
    directory and the ``findings`` table then hold); ``findings`` the per-finding working
    items (id, role, facts, results, leaf).
    """

    run_id: str
    run_dir: Path | None
    jurisdictions: list[str]
    primary: str | None
    findings: list[dict[str, Any]]  # per finding: id, role, facts, results
    operators: list[dict[str, Any]]
    texts: dict[str, str] = field(default_factory=dict)  # operator -> plain language
    assessed: list[Finding] = field(default_factory=list)
    assessed_at: str | None = None
    rules_sha256: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "jurisdictions": self.jurisdictions,
                "primary_jurisdiction": self.primary, "operators": self.operators,
                "findings": [{"id": f["id"], "role": f["role"],
                              "outcomes": {j: r["outcomes"] for j, r in f["results"].items()},
                              "leaf": f.get("leaf")} for f in self.findings]}

    def document(self) -> dict[str, Any]:
        """``assessment.json``."""
        return {**self.as_dict(), "assessed_at": self.assessed_at,
                "rules_sha256": self.rules_sha256}


def _rules_digest(rules: RuleSet) -> str:
    return hashlib.sha256(Path(rules.source).read_bytes()).hexdigest()


def _ledger_entry(ledger: LedgerSink | None, ref: Any) -> dict[str, Any] | None:
    if ledger is None or not isinstance(ref, dict) or "index" not in ref:
        return None
    try:
        entry = json.loads(ledger.entry(int(ref["index"])))
    except Exception:  # a missing or unreadable leaf only means fewer facts
        return None
    return entry if isinstance(entry, dict) else None


def _hub_facts(ledger: LedgerSink | None, run_id: str) -> dict[str, dict[str, Any]]:
    """Hub facts (``dc-hub-info`` observations) of the run, by hub URL."""
    if ledger is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    try:
        rows = ledger.entries("observation", run_id=run_id)
    except Exception:
        return {}
    for row in rows:
        entry = row.record()
        details = entry.get("details") or {}
        if entry.get("method") == "dc-hub-info" and details.get("hub"):
            out[details["hub"]] = details
    return out


def _leaf(ledger: LeafAppender | None, record: Record) -> dict[str, Any] | None:
    if ledger is None:
        return None
    ref = ledger.append(record)
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
    served_in_swarm: dict[str, list[str]] = {}
    for finding in findings:
        btih = finding.digests.get("btih")
        if btih and finding.evidence_level.value == "served":
            served_in_swarm.setdefault(btih, []).append(finding.id)
    out = []
    for finding in findings:
        data = finding.model_dump(mode="json")
        served = finding.evidence_level.value == "served"
        obs_details = (details or {}).get(finding.id) or {}
        facts = evidence_facts(data, obs_details, infrastructure, hub_facts)
        facts.update(declared.operator)
        facts.update(declared.findings.get(finding.id, {}))
        if served and "staff_uploaded_or_curated" in declared.findings.get(finding.id, {}) \
                and declared.findings[finding.id]["staff_uploaded_or_curated"].value:
            facts["role"] = Fact("active_participant",
                                 declared.findings[finding.id]["staff_uploaded_or_curated"].basis)
        content = facts["content"].value
        results: dict[str, dict[str, Any]] = {}
        per_j_facts: dict[str, dict[str, Any]] = {}
        for rules in rule_sets:
            jfacts = {**facts, **knowledge_facts(finding.id, notices, rules, now, content)}
            result: JurisdictionResult = evaluate(rules, _values(jfacts))
            results[rules.jurisdiction] = result.as_dict()
            per_j_facts[rules.jurisdiction] = {k: jfacts[k].as_dict()
                                               for k in ("actual_knowledge", "response")}
        role = facts["role"].value
        needed = (participation_evidence(role, facts, finding.endpoint) if served
                  else [LEAD_EVIDENCE])
        out.append({"id": finding.id, "operator": finding.operator, "track": content,
                    "role": role, "role_basis": facts["role"].basis,
                    "lead": not served, "evidence_needed": needed,
                    "lead_facts": [] if served else _lead_facts(
                        finding, obs_details, served_in_swarm),
                    "facts": {k: v.as_dict() for k, v in facts.items()},
                    "knowledge": per_j_facts, "results": results,
                    "evidence_level": finding.evidence_level.value,
                    "host": finding.host, "location": finding.location,
                    "category": finding.category})
    return out


def _lead_facts(finding: Finding, details: dict[str, Any],
                served_in_swarm: dict[str, list[str]]) -> list[str]:
    """What a lead adds (facts, never a role): who listed what, and verified copies beside it.

    The operator's tracker coordinating a swarm is weighed only next to a ``served`` finding
    in the same swarm (there it makes the role ``operator_sharing_service``); on a lead it is
    stated as a fact and nothing more.
    """
    out: list[str] = []
    tracker = details.get("tracker")
    if tracker and finding.endpoint.startswith(("http", "udp")):
        whose = "the operator's own tracker" if details.get("operator_tracker") else "tracker"
        out.append(f"{whose} {tracker} coordinates this swarm: it listed "
                   f"{details.get('third_parties', '?')} peer(s) other than the auditor")
    elif details.get("found_in"):
        out.append(f"the endpoint was found in {details['found_in']}")
    if details.get("hub"):
        out.append(f"listed on the hub {details['hub']}")
    same = [i for i in served_in_swarm.get(finding.digests.get("btih", ""), [])
            if i != finding.id]
    if same:
        out.append(f"verified copies were served in the same swarm: finding(s) "
                   f"{', '.join(same[:10])} (their assessment weighs the tracker)")
    return out


def _per_jurisdiction(items: list[dict[str, Any]], j: str) -> dict[str, Any]:
    results = [i["results"][j] for i in items]
    worst = max((r["outcome"] for r in results), key=lambda o: SEVERITY.get(o, 1))
    deciding = [r for r in results if r["outcome"] == worst]
    exposures = list(dict.fromkeys(e for r in results for e in r["exposures"]))
    fired = list(dict.fromkeys(f"{f['id']} — {f['citation']}" for r in results
                               for f in r["rules_fired"]
                               if f["track"] != "civil" or r["outcome"] == worst))
    changes = list(dict.fromkeys(
        f"{c['fact']} = {json.dumps(c['if'])} → {c['outcome']}" for r in deciding
        for c in r["would_change"] if c["fact"] not in ("role", "evidence_level")))
    return {"outcome": worst, "exposures": exposures,
            "provisional": any(r["provisional"] for r in deciding),
            "findings_by_outcome": dict(Counter(r["outcome"] for r in results)),
            "rules_fired": fired,
            "criminal_evidence_needed": list(dict.fromkeys(
                e for r in results for e in r["criminal_evidence_needed"])),
            "unverified_law": list(dict.fromkeys(
                f"{u['citation']} — {u['note']}" for r in results
                for u in r.get("unverified_law", []))),
            "would_change": changes}


def _operator_summary(operator: str, items: list[dict[str, Any]], jurisdictions: list[str]
                      ) -> dict[str, Any]:
    """One operator's result: conclusions from served findings only, per legal track.

    ``jurisdictions`` is the copyright track (conduit / hosting / participant), ``csam`` the
    CSAM track (duties, criminal evidence); leads are counted and never decide an outcome.
    """
    served = [i for i in items if not i["lead"]]
    tracks: dict[str, dict[str, Any]] = {}
    for track in ("csam", "copyright"):
        group = [i for i in served if i["track"] == track]
        if group:
            tracks[track] = {j: _per_jurisdiction(group, j) for j in jurisdictions}
    return {"operator": operator, "findings": len(items), "served": len(served),
            "leads": len(items) - len(served),
            "csam_findings": sum(1 for i in items if i["track"] == "csam"),
            "csam_served": sum(1 for i in served if i["track"] == "csam"),
            "roles": dict(Counter(i["role"] for i in served)),
            "jurisdictions": tracks.get("copyright", {}), "csam": tracks.get("csam", {}),
            "evidence_needed": list(dict.fromkeys(e for i in served
                                                  for e in i["evidence_needed"]))}


def _track_lines(per_j: dict[str, Any], primary: str | None) -> list[str]:
    lines = []
    for j in sorted(per_j, key=lambda j: (j != primary, j)):
        r = per_j[j]
        head = f"Under {j.upper()}{' (the scope’s jurisdiction)' if j == primary else ''}: "
        head += OUTCOME_WORDS.get(r["outcome"], r["outcome"])
        if r["provisional"]:
            head += " — provisional: some facts the rules need are not established"
        lines.append(head + ".")
        duties = [DUTY_WORDS[e] for e in r["exposures"] if e in DUTY_WORDS]
        if duties:
            lines.append("  Duties: " + "; ".join(duties) + ".")
        counts = ", ".join(f"{n} {o}" for o, n in sorted(r["findings_by_outcome"].items()))
        lines.append(f"  Findings: {counts}.")
        for rule in r["rules_fired"][:8]:
            lines.append(f"  Rule: {rule}.")
        if "injunction_exposure" in r["exposures"]:
            lines.append("  Separately from damages, the operator can be ordered to remove or "
                         "block (injunction exposure).")
        if "admin_exposure" in r["exposures"]:
            lines.append("  Administrative fine exposure (see the rule above).")
        if r["criminal_evidence_needed"]:
            lines.append("  Criminal track: no verdict. A prosecutor would still need: "
                         + "; ".join(r["criminal_evidence_needed"]) + ".")
        for item in r.get("unverified_law", [])[:4]:
            lines.append(f"  Not encoded (unverified in the research note): {item}.")
        if r["would_change"]:
            lines.append("  What would change this: " + "; ".join(r["would_change"][:6]) + ".")
    return lines


def plain_text(summary: dict[str, Any], primary: str | None) -> str:
    """The per-operator assessment in plain language (for the HTML report).

    CSAM comes first and on its own: it is judged by its own law (duties to remove, block,
    report; the criminal track), never by the copyright safe harbours.
    """
    lines = [f"{summary['operator']}: {summary['findings']} finding(s) (one per copy), "
             f"{summary['served']} of them verified distribution, "
             f"{summary.get('leads', 0)} lead(s)."]
    if summary.get("csam_findings"):
        lines.append(f"CSAM TRACK: {summary['csam_findings']} finding(s), "
                     f"{summary['csam_served']} verified. Judged by CSAM law only.")
        lines += _track_lines(summary.get("csam") or {}, primary)
    if summary["jurisdictions"]:
        lines.append("COPYRIGHT TRACK:")
        for role, count in sorted(summary["roles"].items(), key=lambda kv: -kv[1]):
            lines.append(f"- In {count} verified finding(s) the operator "
                         f"{ROLE_WORDS.get(role, role)}.")
        lines += _track_lines(summary["jurisdictions"], primary)
    for item in summary.get("evidence_needed", [])[:4]:
        lines.append(f"To prove participation, still needed: {item}.")
    if summary.get("leads"):
        lines.append(f"Leads: {summary['leads']} finding(s) below 'served' (listed or "
                     "contacted). No role and no outcome is drawn from them; each needs "
                     + LEAD_EVIDENCE + ".")
    return "\n".join(lines)


def assess(findings: Sequence[Finding], notices: Iterable[NoticeFacts] | None = None, *,
           run_id: str | None = None, ledger: LedgerSink | None = None,
           declared: DeclaredFacts | None = None, infrastructure: Iterable[str] | None = None,
           jurisdictions: Sequence[str] | None = None, primary: str | None = None,
           now: datetime | None = None, rules_dir: Path = RULES_DIR,
           run_dir: Path | None = None) -> AssessmentReport:
    """Assess ``findings`` (one run's) in memory; the report holds them assessed.

    ``notices`` are the run's outgoing notices (see
    :func:`netwarden.notices.tracking.notice_facts`); ``ledger`` receives one ``assessment``
    leaf per finding and one ``operator_assessment`` leaf per operator, and supplies the
    observations' details; ``infrastructure`` defaults to the hosts of the run's
    infrastructure findings; ``primary`` is the run's (the scope's) jurisdiction; ``run_id``
    defaults to the findings'. Nothing is read from or written to a run directory.
    """
    run_id = run_id or (findings[0].run_id if findings else new_id())
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
        record = Assessment(
            run_id=run_id, finding_id=finding.id, match_id=finding.match_id,
            verification_leaf=ver.get("leaf_hash") if isinstance(ver, dict) else None,
            assessed_at=assessed_at, role=item["role"], track=item["track"],
            lead=item["lead"], facts={k: v["value"] for k, v in item["facts"].items()},
            knowledge={j: {k: v["value"] for k, v in kv.items()}
                       for j, kv in item["knowledge"].items()},
            outcomes={j: r["outcomes"] for j, r in item["results"].items()},
            provisional={j: r["provisional"] for j, r in item["results"].items()},
            rules_fired={j: [f["id"] for f in r["rules_fired"]]
                         for j, r in item["results"].items()},
            rules_sha256=digests)
        item["leaf"] = _leaf(ledger, record)
        item["assessment_id"] = record.id
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(item["operator"], []).append(item)
    operators, texts = [], {}
    for operator, group in groups.items():
        op = _operator_summary(operator, group, names)
        op["leaf"] = _leaf(ledger, OperatorAssessment(
            run_id=run_id, operator=operator, assessed_at=assessed_at,
            finding_assessments=[i["leaf"]["leaf_hash"] for i in group if i["leaf"]],
            outcomes={j: [r["outcome"], *r["exposures"]]
                      for j, r in op["jurisdictions"].items()},
            csam_outcomes={j: [r["outcome"], *r["exposures"]] for j, r in op["csam"].items()},
            leads=op["leads"], rules_sha256=digests))
        op["text"] = texts[operator] = plain_text(op, primary)
        operators.append(op)
    by_item = {i["id"]: i for i in items}
    assessed = [_assessed(f, by_item[f.id], primary, assessed_at) for f in findings]
    return AssessmentReport(run_id, run_dir, names, primary, items, operators, texts,
                            assessed=assessed, assessed_at=assessed_at, rules_sha256=digests)


def _assessed(finding: Finding, item: dict[str, Any], primary: str | None,
              assessed_at: str) -> Finding:
    """A copy of ``finding`` with its ``assessment`` field filled."""
    return finding.model_copy(update={"assessment": {
        "assessed_at": assessed_at, "track": item["track"], "role": item["role"],
        "role_basis": item["role_basis"], "primary": primary,
        "lead": item["lead"], "evidence_needed": item["evidence_needed"],
        "lead_facts": item["lead_facts"],
        "outcomes": {j: r["outcomes"] for j, r in item["results"].items()},
        "results": item["results"], "facts": item["facts"],
        "knowledge": item["knowledge"], "leaf": item["leaf"]}})


def assess_run(run_dir: Path, notices: Iterable[NoticeFacts] | None = None, *,
               ledger: LedgerSink | None = None, declared: DeclaredFacts | None = None,
               infrastructure: Iterable[str] | None = None,
               jurisdictions: Sequence[str] | None = None, primary: str | None = None,
               now: datetime | None = None, rules_dir: Path = RULES_DIR) -> AssessmentReport:
    """``netwarden assess RUN_DIR``: assess an existing run directory and write the results
    into it (``findings.jsonl`` with the ``assessment`` field filled, ``assessment.json``).

    The directory is read by :func:`netwarden.rundir.read_run_dir`; ``primary`` defaults to
    the run's jurisdiction (its ``summary.json``). See :func:`assess` for the rest.
    """
    stored = read_run_dir(run_dir)
    report = assess(stored.findings, notices, run_id=stored.run_id, ledger=ledger,
                    declared=declared, infrastructure=infrastructure,
                    jurisdictions=jurisdictions, primary=primary or stored.jurisdiction,
                    now=now, rules_dir=rules_dir, run_dir=stored.path)
    write_findings(stored.path, report.assessed)
    write_json(stored.path, ASSESSMENT, report.document())
    return report
