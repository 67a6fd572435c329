"""The rule engine and the shipped rule files: central points of the research note."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwarden.errors import InputError
from netwarden.liability import available_jurisdictions, evaluate, load_rules
from netwarden.liability.engine import parse_rules

CONDUIT = {"role": "mere_conduit", "content": "copyright", "staff_uploaded_or_curated": False,
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
