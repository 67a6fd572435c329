"""The rule engine and the shipped rule files: central points of the research note."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netwarden.errors import InputError
from netwarden.liability import available_jurisdictions, evaluate, load_rules
from netwarden.liability.engine import CONCLUSIONS, FACT_TYPES, parse_rules

CONDUIT = {"role": "mere_conduit", "content": "copyright", "evidence_level": "served",
           "staff_uploaded_or_curated": False,
           "initiated_transmission": False, "selected_receiver": False,
           "selected_or_modified_content": False, "actual_knowledge": False,
           "operator_promotes_infringing_use": False, "response": "no_notice"}


def test_every_jurisdiction_file_loads_and_cites_every_rule() -> None:
    assert {"ru", "eu", "us"} <= set(available_jurisdictions())
    for j in available_jurisdictions():
        rules = load_rules(j)
        for rule in rules.rules:
            assert rule.citation.strip() and rule.source_tag in ("T", "S")
            assert rule.outcome in ("exempt", "not_exempt", "liable", "injunction_exposure",
                                    "removal_duty", "blocking_duty", "report_duty",
                                    "preservation_duty", "admin_exposure",
                                    "criminal_evidence_needed")


@pytest.mark.parametrize("j", ["ru", "eu", "us"])
def test_injunction_exposure_is_separate_from_an_exemption(j: str) -> None:
    facts = {**CONDUIT, "repeat_infringer_policy": "adopted_and_reasonably_implemented"}
    result = evaluate(load_rules(j), facts)
    assert result.outcome == "exempt"
    assert "injunction_exposure" in result.exposures


def test_losing_an_exemption_is_not_liability() -> None:
    # RU conduit told by a valid notice: p.2(3) fails → not_exempt, never liable
    r = evaluate(load_rules("ru"), {**CONDUIT, "actual_knowledge": True})
    assert r.outcome == "not_exempt"
    assert r.fired[0]["id"] == "ru.gk1253_1.p2_3.knowledge"
    # EU: knowledge is irrelevant to the mere conduit
    assert evaluate(load_rules("eu"), {**CONDUIT, "actual_knowledge": True}).outcome == "exempt"
    # hosting that kept the item after notice: not_exempt in every jurisdiction
    kept = {**CONDUIT, "role": "hosting", "actual_knowledge": True,
            "response": "still_available", "repeat_infringer_policy":
            "adopted_and_reasonably_implemented", "designated_agent_registered": True,
            "financial_benefit_direct_and_control": False}
    for j in ("ru", "eu", "us"):
        assert evaluate(load_rules(j), kept).outcome == "not_exempt"


def test_criminal_track_lists_evidence_never_a_verdict() -> None:
    staff = {**CONDUIT, "role": "active_participant", "staff_uploaded_or_curated": True}
    r = evaluate(load_rules("ru"), staff)
    assert r.outcome == "liable"  # positive rule: not an intermediary, strict business liability
    assert "criminal_evidence_needed" in r.exposures
    assert any("natural person" in e for e in r.criminal_evidence_needed)
    assert any("100 000 RUB" in e for e in r.criminal_evidence_needed)
    csam = evaluate(load_rules("ru"), {**staff, "content": "csam"})
    assert any("purpose of distribution" in e for e in csam.criminal_evidence_needed)
    assert any("employee" in e for e in csam.criminal_evidence_needed)
    # a conduit is never on the criminal track
    assert "criminal_evidence_needed" not in evaluate(load_rules("ru"), CONDUIT).exposures


def test_unknown_fact_makes_outcome_provisional_and_names_what_would_change_it() -> None:
    us = evaluate(load_rules("us"), CONDUIT)  # repeat-infringer policy unknown
    assert us.provisional and us.outcome == "not_exempt"
    assert us.undetermined[0]["missing"] == ["repeat_infringer_policy"]
    assert any(c["fact"] == "repeat_infringer_policy" and c["outcome"] == "exempt"
               for c in us.changes)
    store = evaluate(load_rules("ru"), {**CONDUIT, "role": "hosting",
                                        "staff_uploaded_or_curated": None})
    assert store.outcome == "exempt" and store.provisional
    assert any(c["fact"] == "staff_uploaded_or_curated" and c["outcome"] == "liable"
               for c in store.changes)


def test_sharing_service_promoting_piracy() -> None:
    facts = {**CONDUIT, "role": "operator_sharing_service",
             "operator_promotes_infringing_use": True}
    assert evaluate(load_rules("eu"), facts).outcome == "liable"  # Ziggo [S]
    assert evaluate(load_rules("us"), facts).outcome == "liable"  # Fung [S]
    assert evaluate(load_rules("ru"), facts).outcome == "not_exempt"


def _one_rule(**over) -> dict:
    rule = {"id": "x", "track": "civil", "citation": "art. 1", "source_tag": "T",
            "source": "note", "needs": ["role"], "when": {"fact": "role", "in": ["hosting"]},
            "outcome": "exempt", "explain": "why"}
    rule.update(over)
    return {"jurisdiction": "xx", "name": "X", "rules": [rule],
            "knowledge": {"notice_formats": [], "citation": "c"},
            "deadlines": {"default": {"value": 1, "unit": "hours", "basis": "b"}}}


@pytest.mark.parametrize("bad,message", [
    ({"source_tag": "M"}, "not encoded"),
    ({"needs": ["content"]}, "differs"),
    ({"when": {"fact": "nope", "is": True}}, "unknown fact"),
    ({"when": {"fact": "role", "in": ["landlord"]}}, "not a value"),
    ({"outcome": "guilty"}, "outcome"),
    ({"citation": ""}, "citation"),
])
def test_bad_rule_files_are_named_errors(bad: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_rules(_one_rule(**bad), "xx.toml")


def test_adding_a_jurisdiction_is_adding_a_file(tmp_path: Path) -> None:
    (tmp_path / "xx.toml").write_text('''
jurisdiction = "xx"
name = "Example"
[knowledge]
notice_formats = ["dsa"]
citation = "Example Act s. 2"
[deadlines.default]
value = 2
unit = "hours"
basis = "Example Act s. 3"
[[rules]]
id = "xx.conduit"
track = "civil"
citation = "Example Act s. 1(1)"
source_tag = "T"
source = "test"
needs = ["role"]
when = { fact = "role", in = ["mere_conduit"] }
outcome = "exempt"
explain = "conduits are exempt"
''', encoding="utf-8")
    assert available_jurisdictions(tmp_path) == ["xx"]
    rules = load_rules("xx", tmp_path)
    assert evaluate(rules, CONDUIT).outcome == "exempt"
    assert evaluate(rules, {**CONDUIT, "role": "hosting"}).outcome == "not_exempt"
    with pytest.raises(InputError, match="no rules for jurisdiction"):
        load_rules("zz", tmp_path)


# -- leads never conclude; CSAM never meets copyright law (issue 12) ----------------------------

COPYRIGHT_LAW = re.compile(r"1253\.1|ГК РФ|ст\. 1250|ст\. 1270|ст\. 1301|УК РФ ст\. 146|"
                           r"17 U\.S\.C|§\s*512|Ziggo|Fung|Cox|BMG|Grokster|copyright",
                           re.IGNORECASE)


def _satisfying(cond: dict) -> list[dict]:
    """Fact assignments (partial) that make ``cond`` true (enough of them to reach each rule)."""
    if "all" in cond:
        out = [{}]
        for c in cond["all"]:
            out = [{**a, **b} for a in out for b in _satisfying(c)
                   if all(a.get(k, v) == v for k, v in b.items())]
        return out
    if "any" in cond:
        return [s for c in cond["any"] for s in _satisfying(c)]
    if "not" in cond:
        inner = cond["not"]
        kind = FACT_TYPES[inner["fact"]]
        options = [True, False] if kind is bool else list(kind)
        bad = inner["in"] if "in" in inner else [inner["is"]]
        return [{inner["fact"]: v} for v in options if v not in bad]
    values = cond["in"] if "in" in cond else [cond["is"]]
    return [{cond["fact"]: v} for v in values]


def _reaching(rule, rules) -> list[dict]:  # type: ignore[no-untyped-def]
    """Complete fact sets under which ``rule`` fires on served evidence (found by search)."""
    out = []
    for partial in _satisfying(rule.when):
        base = {**CONDUIT, "content": rule.content[0], "evidence_level": "served",
                "repeat_infringer_policy": "adopted_and_reasonably_implemented",
                "designated_agent_registered": True,
                "financial_benefit_direct_and_control": False, "csam_reported": True,
                **partial}
        if any(f["id"] == rule.id for f in evaluate(rules, base).fired):
            out.append(base)
    return out


@pytest.mark.parametrize("j", ["ru", "eu", "us"])
def test_no_rule_fires_a_liability_outcome_on_a_lead_alone(j: str) -> None:
    """Every rule that can conclude (not_exempt, liable, any exposure) is first driven to fire
    on served evidence; the very same facts at level listed or contacted conclude nothing."""
    rules = load_rules(j)
    reached = 0
    for rule in rules.rules:
        for facts in _reaching(rule, rules):
            reached += 1
            for level in ("listed", "contacted", None):
                r = evaluate(rules, {**facts, "evidence_level": level})
                assert r.outcome == "lead" and r.exposures == [] and r.fired == [], (rule.id,
                                                                                     level)
                assert r.outcome not in CONCLUSIONS and r.provisional
                assert r.evidence_needed and "served" in r.evidence_needed[0]
                assert any(c["fact"] == "evidence_level" and c["if"] == "served"
                           for c in r.changes)
    assert reached >= len(rules.rules)  # every rule was really reached


def test_a_rule_written_to_convict_leads_still_cannot() -> None:
    data = {"jurisdiction": "xx", "name": "X",
            "knowledge": {"notice_formats": [], "citation": "c"},
            "deadlines": {"default": {"value": 1, "unit": "hours", "basis": "b"}},
            "rules": [{"id": "xx.tracker", "track": "civil", "citation": "art. 1",
                       "source_tag": "T", "source": "s", "needs": ["evidence_level"],
                       "when": {"fact": "evidence_level", "in": ["listed", "contacted"]},
                       "outcome": "liable", "explain": "leads convict"}]}
    rules = parse_rules(data, "xx.toml")
    for level in ("listed", "contacted"):
        assert evaluate(rules, {**CONDUIT, "evidence_level": level}).outcome == "lead"


@pytest.mark.parametrize("j", ["ru", "eu", "us"])
def test_csam_track_never_cites_copyright_law_and_every_rule_cites(j: str) -> None:
    rules = load_rules(j)
    csam_rules = rules.track("civil", "csam") + [r for t in ("injunction", "duty", "admin",
                                                               "criminal")
                                                 for r in rules.track(t, "csam")]
    assert csam_rules, "each jurisdiction has a CSAM track"
    assert any(r.track in ("duty", "criminal") for r in csam_rules)
    for rule in csam_rules:
        assert rule.citation.strip() and rule.source_tag in ("T", "S")
        assert not COPYRIGHT_LAW.search(rule.citation), rule.id
    for role in ("mere_conduit", "hosting", "operator_sharing_service", "active_participant"):
        for knowledge in (True, False):
            r = evaluate(rules, {**CONDUIT, "content": "csam", "role": role,
                                 "actual_knowledge": knowledge,
                                 "staff_uploaded_or_curated": role == "active_participant"})
            assert r.fired or r.outcome == "no_civil_rule"
            for fired in r.fired:
                assert "csam" in fired["content"] and not COPYRIGHT_LAW.search(
                    fired["citation"]), (role, fired["id"])
            assert r.content == "csam"


def test_csam_duties_per_jurisdiction() -> None:
    hosting = {**CONDUIT, "content": "csam", "role": "hosting", "staff_uploaded_or_curated": None}
    ru = evaluate(load_rules("ru"), hosting)
    assert ru.outcome == "no_civil_rule" and not ru.provisional
    assert {"removal_duty", "blocking_duty", "criminal_evidence_needed"} <= set(ru.exposures)
    assert any("242.1" in f["citation"] for f in ru.fired)
    assert any("15.1" in f["citation"] for f in ru.fired)
    conduit = evaluate(load_rules("ru"), {**CONDUIT, "content": "csam"})
    assert conduit.exposures == ["blocking_duty"]  # every operator blocks; no criminal track
    us = evaluate(load_rules("us"), {**hosting, "actual_knowledge": True})
    assert us.outcome == "no_civil_rule"
    assert {"report_duty", "preservation_duty"} <= set(us.exposures)
    assert any(c["fact"] == "csam_reported" and c["exposures"][-1] == "admin_exposure"
               for c in us.changes)
    assert any("2258B" in u["citation"] for u in us.unverified)  # named, never evaluated
    eu = evaluate(load_rules("eu"), {**hosting, "actual_knowledge": True,
                                     "response": "still_available"})
    assert eu.outcome == "not_exempt" and "removal_duty" in eu.exposures
    assert any("art. 18" in u["citation"] for u in eu.unverified)
    assert any("2011/93" in u["citation"] for u in eu.unverified)
