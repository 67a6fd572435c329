"""Declarative rule evaluation: law as data, one TOML file per jurisdiction.

Why a small rule language instead of code: a lawyer must be able to read, check and change a
rule without reading Python, and every outcome must name the rule (with its citation) that
produced it. A rule file (``rules/<jurisdiction>.toml``) lists rules in order; each has an
``id``, a ``citation`` (article, paragraph), the ``source_tag`` of the research note it rests
on (``T``: the legal text was read; ``S``: a secondary source), the ``needs`` (facts it reads),
a condition ``when`` and an ``outcome``.

Two gates come before any rule, because a conclusion must rest on the right law and on proof:

* **content** — every rule says which legal track it is law for (``content = ["copyright"]``,
  the default, or ``["csam"]``); a finding is evaluated only against the rules of its own
  track, so a CSAM finding never passes through a copyright safe harbour;
* **evidence** — rules are evaluated only on ``served`` evidence (bytes received and
  verified). A lead (``listed``, ``contacted``) gets the outcome ``lead``, no exposure, and
  the evidence still needed: a lead never concludes ``not_exempt`` or ``liable``.

Then the tracks are evaluated independently, because the law keeps them apart:

* ``civil`` — damages/compensation. Read top to bottom, the first rule whose condition holds
  gives the outcome: ``exempt``, ``not_exempt`` (no safe harbour: general law decides, which is
  *not* a finding of liability) or ``liable`` (a positive liability rule is met).
* ``injunction`` — every rule that holds adds ``injunction_exposure``: exemptions from damages
  never switch off injunctions or blocking orders.
* ``duty`` — every rule that holds adds the duty it imposes (``removal_duty``,
  ``blocking_duty``, ``report_duty``, ``preservation_duty``): what the operator must do now.
* ``admin`` — every rule that holds adds ``admin_exposure`` (a regulatory fine).
* ``criminal`` — every rule that holds adds ``criminal_evidence_needed`` with the evidence a
  prosecutor would still need (a natural person, intent). It is never a verdict.

A content track without any civil rule (RU and US have no civil intermediary rule for CSAM in
the research note) gets the outcome ``no_civil_rule``: its duties and criminal track decide.
Statements the research note marks [M] may be listed under ``[[unverified]]`` (citation and
note): they are shown with the result as law still to be checked, and never evaluated.

Facts are three-valued: a fact the evidence does not establish is ``None``. A condition that
depends on an unknown fact is *undetermined*: the rule neither fires nor is skipped silently;
the result lists it with the missing facts and marks the outcome ``provisional``. For every fact
the rules read, the engine also tries the other values and reports those that would change
the outcome ("what would change it").

Condition grammar (TOML inline tables)::

    { fact = "role", in = ["hosting", "index"] }   # membership
    { fact = "actual_knowledge", is = true }        # equality (booleans, strings)
    { all = [ ... ] }   { any = [ ... ] }   { not = { ... } }
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from netwarden.errors import InputError

RULES_DIR = Path(__file__).with_name("rules")

CIVIL_OUTCOMES = ("exempt", "not_exempt", "liable")
# Civil outcomes that conclude against the operator: only ever on served (verified) evidence.
CONCLUSIONS = ("not_exempt", "liable")
LEAD = "lead"  # the civil "outcome" of a lead: no conclusion, evidence still needed
NO_CIVIL_RULE = "no_civil_rule"  # the content's track has no civil intermediary rule here
DUTY_OUTCOMES = ("removal_duty", "blocking_duty", "report_duty", "preservation_duty")
OUTCOMES = (*CIVIL_OUTCOMES, LEAD, NO_CIVIL_RULE, "injunction_exposure", *DUTY_OUTCOMES,
            "admin_exposure", "criminal_evidence_needed")
TRACKS = ("civil", "injunction", "duty", "admin", "criminal")
CONTENTS = ("copyright", "csam")
SOURCE_TAGS = ("T", "S")  # [M] statements of the research note are never encoded
ROLES = ("mere_conduit", "hosting", "index", "operator_sharing_service", "active_participant")
EVIDENCE_LEVELS = ("listed", "contacted", "served")
LEAD_EVIDENCE = ("bytes of the item received from the endpoint and verified against the "
                 "reference (evidence level 'served'): a listing or a handshake is a lead, "
                 "not distribution")

# The fact vocabulary: name -> allowed values (a tuple) or bool. Rules may read only these.
FACT_TYPES: dict[str, tuple[str, ...] | type] = {
    "role": ROLES,
    "content": CONTENTS,
    "evidence_level": EVIDENCE_LEVELS,
    "operator_infrastructure": bool,
    "initiated_transmission": bool,
    "selected_receiver": bool,
    "selected_or_modified_content": bool,
    "staff_uploaded_or_curated": bool,
    "operator_indexes_categorises_moderates_catalogue": bool,
    "operator_promotes_infringing_use": bool,
    "actual_knowledge": bool,
    "response": ("no_notice", "pending", "removed", "still_available"),
    "repeat_infringer_policy": ("none", "adopted", "adopted_and_reasonably_implemented"),
    "designated_agent_registered": bool,
    "financial_benefit_direct_and_control": bool,
    "csam_reported": bool,
}


def fact_accepts(name: str, value: Any) -> bool:
    """Whether ``value`` is a value of fact ``name`` (one of its words, or a boolean)."""
    kind = FACT_TYPES[name]
    return value in kind if isinstance(kind, tuple) else isinstance(value, kind)

Facts = Mapping[str, Any]  # name -> value (None: not established by the evidence)


@dataclass(frozen=True)
class Rule:
    """One rule of a jurisdiction's table."""

    id: str
    track: str
    citation: str
    source_tag: str
    source: str
    needs: tuple[str, ...]
    when: dict[str, Any]
    outcome: str | None
    explain: str
    evidence_needed: tuple[str, ...] = ()
    content: tuple[str, ...] = ("copyright",)  # the legal tracks (content kinds) it is law for

    def brief(self) -> dict[str, Any]:
        """What a result says about a rule that fired."""
        out: dict[str, Any] = {"id": self.id, "track": self.track, "citation": self.citation,
                               "source_tag": self.source_tag, "explain": self.explain,
                               "content": list(self.content)}
        if self.outcome:
            out["outcome"] = self.outcome
        return out


@dataclass(frozen=True)
class Deadline:
    """How long a notified provider has to act (a policy value where the law says 'in time')."""

    value: float
    unit: str  # "hours" or "working_days"
    basis: str

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "basis": self.basis}


@dataclass(frozen=True)
class RuleSet:
    """A jurisdiction's rules, deadlines and which notice formats can give knowledge."""

    jurisdiction: str
    name: str
    source: str
    rules: tuple[Rule, ...]
    deadlines: dict[str, Deadline]
    knowledge_formats: tuple[str, ...]
    knowledge_citation: str
    # per content kind (``csam``): which notice formats give knowledge there, and why
    knowledge_by_content: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    # statements the research note marks [M] (unchecked): named, cited, never evaluated
    unverified: tuple[dict[str, str], ...] = ()

    def track(self, name: str, content: str | None = None) -> list[Rule]:
        """The rules of one track; with ``content``, only those that are law for it."""
        return [r for r in self.rules if r.track == name
                and (content is None or content in r.content)]

    def knowledge_for(self, content: str | None) -> tuple[tuple[str, ...], str]:
        """(notice formats that give knowledge, citation) for a content kind."""
        if content and content in self.knowledge_by_content:
            return self.knowledge_by_content[content]
        return self.knowledge_formats, self.knowledge_citation

    def deadline_for(self, content: str) -> Deadline:
        return self.deadlines.get(content) or self.deadlines["default"]


# -- loading -------------------------------------------------------------------------------------

def _referenced(cond: Any, source: str, where: str) -> set[str]:
    """Facts a condition reads; raises InputError on anything outside the grammar."""
    if not isinstance(cond, dict) or not cond:
        raise InputError(source, "a condition must be a non-empty table", where)
    if "all" in cond or "any" in cond:
        key = "all" if "all" in cond else "any"
        items = cond[key]
        if len(cond) != 1 or not isinstance(items, list) or not items:
            raise InputError(source, f"'{key}' must be the only key and a non-empty list", where)
        return set().union(*(_referenced(c, source, f"{where}.{key}[{i}]")
                             for i, c in enumerate(items)))
    if "not" in cond:
        if len(cond) != 1:
            raise InputError(source, "'not' must be the only key", where)
        return _referenced(cond["not"], source, f"{where}.not")
    name = cond.get("fact")
    if name not in FACT_TYPES:
        raise InputError(source, f"unknown fact {name!r} (known: {', '.join(FACT_TYPES)})",
                         where)
    ops = set(cond) - {"fact"}
    if ops not in ({"is"}, {"in"}):
        raise InputError(source, "a fact test needs exactly one of 'is' or 'in'", where)
    values = cond["in"] if "in" in cond else [cond["is"]]
    if not isinstance(values, list) or not values:
        raise InputError(source, "'in' must be a non-empty list", where)
    for value in values:
        if not fact_accepts(name, value):
            raise InputError(source, f"{value!r} is not a value of fact {name!r}", where)
    return {name}


def _str(table: dict[str, Any], key: str, source: str, where: str, required: bool = True
         ) -> str:
    value = table.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise InputError(source, f"'{key}' must be a non-empty string", where)
    return value


def parse_rules(data: dict[str, Any], source: str) -> RuleSet:
    """Validate a parsed rules file; every problem names the file and the rule."""
    jurisdiction = _str(data, "jurisdiction", source, "jurisdiction").lower()
    name = _str(data, "name", source, "name")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise InputError(source, "must list rules as [[rules]] tables", "rules")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        where = f"rules[{i}]"
        if not isinstance(raw, dict):
            raise InputError(source, "must be a table", where)
        rid = _str(raw, "id", source, where)
        where = f"rules[{i}] ({rid})"
        if rid in seen:
            raise InputError(source, "duplicate rule id", where)
        seen.add(rid)
        track = _str(raw, "track", source, where)
        if track not in TRACKS:
            raise InputError(source, f"track must be one of {', '.join(TRACKS)}", where)
        tag = _str(raw, "source_tag", source, where)
        if tag not in SOURCE_TAGS:
            raise InputError(source, "source_tag must be 'T' (legal text read) or 'S' "
                             "(secondary source); [M] statements are not encoded", where)
        outcome = raw.get("outcome")
        if track == "civil" and outcome not in CIVIL_OUTCOMES:
            raise InputError(source, f"a civil rule's outcome must be one of "
                             f"{', '.join(CIVIL_OUTCOMES)}", where)
        if track == "injunction":
            outcome = "injunction_exposure"
        if track == "criminal":
            outcome = "criminal_evidence_needed"
        if track == "admin":
            outcome = "admin_exposure"
        if track == "duty" and outcome not in DUTY_OUTCOMES:
            raise InputError(source, f"a duty rule's outcome must be one of "
                             f"{', '.join(DUTY_OUTCOMES)}", where)
        content = raw.get("content", ["copyright"])
        if (not isinstance(content, list) or not content
                or not all(c in CONTENTS for c in content)):
            raise InputError(source, f"'content' must list the content kinds the rule is law "
                             f"for ({', '.join(CONTENTS)})", where)
        needs = raw.get("needs")
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            raise InputError(source, "'needs' must list the facts the rule reads", where)
        read = _referenced(raw.get("when"), source, f"{where}.when")
        if set(needs) != read:
            raise InputError(source, f"'needs' {sorted(needs)} differs from the facts the "
                             f"condition reads {sorted(read)}", where)
        evidence = raw.get("evidence_needed", [])
        if track == "criminal" and (not isinstance(evidence, list) or not evidence):
            raise InputError(source, "a criminal-track rule must list evidence_needed", where)
        rules.append(Rule(id=rid, track=track, citation=_str(raw, "citation", source, where),
                          source_tag=tag, source=_str(raw, "source", source, where),
                          needs=tuple(needs), when=raw["when"], outcome=outcome,
                          explain=_str(raw, "explain", source, where),
                          evidence_needed=tuple(str(e) for e in evidence),
                          content=tuple(content)))
    deadlines: dict[str, Deadline] = {}
    for key, raw in (data.get("deadlines") or {}).items():
        where = f"deadlines.{key}"
        if not isinstance(raw, dict):
            raise InputError(source, "must be a table", where)
        value, unit = raw.get("value"), raw.get("unit")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InputError(source, "value must be a non-negative number", where)
        if unit not in ("hours", "working_days"):
            raise InputError(source, "unit must be 'hours' or 'working_days'", where)
        deadlines[key] = Deadline(float(value), unit, _str(raw, "basis", source, where))
    if "default" not in deadlines:
        raise InputError(source, "needs a [deadlines.default] table", "deadlines")
    knowledge = data.get("knowledge") or {}
    formats = knowledge.get("notice_formats", [])
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        raise InputError(source, "must be a list of notice format names",
                         "knowledge.notice_formats")
    by_content: dict[str, tuple[tuple[str, ...], str]] = {}
    for kind in CONTENTS:
        table = knowledge.get(kind)
        if table is None:
            continue
        where = f"knowledge.{kind}"
        kformats = table.get("notice_formats") if isinstance(table, dict) else None
        if not isinstance(kformats, list) or not all(isinstance(f, str) for f in kformats):
            raise InputError(source, "must be a table with a list notice_formats", where)
        by_content[kind] = (tuple(kformats), _str(table, "citation", source, where))
    unverified = []
    for i, raw in enumerate(data.get("unverified") or []):
        where = f"unverified[{i}]"
        if not isinstance(raw, dict):
            raise InputError(source, "must be a table", where)
        unverified.append({"citation": _str(raw, "citation", source, where),
                           "content": ",".join(raw.get("content", ["copyright"])),
                           "note": _str(raw, "note", source, where)})
    return RuleSet(jurisdiction=jurisdiction, name=name, source=source, rules=tuple(rules),
                   deadlines=deadlines, knowledge_formats=tuple(formats),
                   knowledge_citation=_str(knowledge, "citation", source, "knowledge"),
                   knowledge_by_content=by_content, unverified=tuple(unverified))


def available_jurisdictions(rules_dir: Path = RULES_DIR) -> list[str]:
    """Jurisdictions that have a rules file (adding one is adding a file)."""
    return sorted(p.stem for p in Path(rules_dir).glob("*.toml"))


@cache
def _load(path: str) -> RuleSet:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "no such rules file") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"is not valid TOML: {exc}") from None
    return parse_rules(data, path)


def load_rules(jurisdiction: str, rules_dir: Path = RULES_DIR) -> RuleSet:
    """The rule set of ``jurisdiction`` (``ru``, ``eu``, ``us``...)."""
    path = Path(rules_dir) / f"{jurisdiction.lower()}.toml"
    if not path.is_file():
        raise InputError(str(path), f"no rules for jurisdiction {jurisdiction!r} (rules "
                         f"exist for: {', '.join(available_jurisdictions(rules_dir))})")
    return _load(str(path))


# -- evaluation ----------------------------------------------------------------------------------

def holds(cond: dict[str, Any], facts: Facts) -> bool | None:
    """Three-valued truth of a condition: True, False, or None (depends on an unknown fact)."""
    if "all" in cond:
        values = [holds(c, facts) for c in cond["all"]]
        return False if False in values else (None if None in values else True)
    if "any" in cond:
        values = [holds(c, facts) for c in cond["any"]]
        return True if True in values else (None if None in values else False)
    if "not" in cond:
        value = holds(cond["not"], facts)
        return None if value is None else not value
    value = facts.get(cond["fact"])
    if value is None:
        return None
    return value in cond["in"] if "in" in cond else value == cond["is"]


@dataclass
class JurisdictionResult:
    """The assessment under one jurisdiction."""

    jurisdiction: str
    outcome: str  # civil track: exempt / not_exempt / liable; lead; no_civil_rule
    exposures: list[str]
    fired: list[dict[str, Any]]
    undetermined: list[dict[str, Any]]
    provisional: bool
    criminal_evidence_needed: list[str] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    content: str | None = None
    evidence_needed: list[str] = field(default_factory=list)
    unverified: list[dict[str, str]] = field(default_factory=list)

    @property
    def outcomes(self) -> list[str]:
        """The civil outcome followed by the separate exposures."""
        return [self.outcome, *self.exposures]

    def as_dict(self) -> dict[str, Any]:
        return {"jurisdiction": self.jurisdiction, "track": self.content,
                "outcome": self.outcome,
                "exposures": self.exposures, "outcomes": self.outcomes,
                "provisional": self.provisional, "rules_fired": self.fired,
                "undetermined": self.undetermined,
                "criminal_evidence_needed": self.criminal_evidence_needed,
                "evidence_needed": self.evidence_needed,
                "unverified_law": self.unverified,
                "would_change": self.changes}


def _core(rules: RuleSet, facts: Facts) -> tuple[str, list[str], list[Rule], list[dict[str, Any]]]:
    content = facts.get("content")
    if facts.get("evidence_level") != "served":
        # A lead (listed, contacted, or a level nobody established) is a reason to look, not
        # evidence of distribution: no rule of any track is evaluated on it, so no lead can
        # raise a role's consequences or conclude "not exempt"/"liable" (docs/liability.md).
        return LEAD, [], [], []
    fired: list[Rule] = []
    undetermined: list[dict[str, Any]] = []
    outcome = ""
    civil = rules.track("civil", content)
    for rule in civil:
        value = holds(rule.when, facts)
        if value is None:
            undetermined.append({"id": rule.id, "citation": rule.citation,
                                 "outcome_if_true": rule.outcome,
                                 "missing": [n for n in rule.needs if facts.get(n) is None]})
        elif value:
            fired.append(rule)
            outcome = rule.outcome or outcome
            break
    if not civil:
        # This content's track has no civil intermediary rule in this jurisdiction (e.g. the
        # copyright safe harbours say nothing about CSAM): duties and criminal track only.
        outcome = NO_CIVIL_RULE
    elif not outcome:
        # A safe harbour is a defence: when the evidence establishes no rule's conditions,
        # no exemption is established. That is "not exempt" (general law decides), never
        # "liable"; the result is marked provisional.
        outcome = "not_exempt"
    exposures: list[str] = []
    for track in ("injunction", "duty", "admin", "criminal"):
        for rule in rules.track(track, content):
            if holds(rule.when, facts):
                fired.append(rule)
                if rule.outcome and rule.outcome not in exposures:
                    exposures.append(rule.outcome)
    return outcome, exposures, fired, undetermined


def _alternatives(name: str, value: Any) -> list[Any]:
    kind = FACT_TYPES[name]
    options: tuple[Any, ...] = kind if isinstance(kind, tuple) else (True, False)
    return [v for v in options if v != value or value is None]


def evaluate(rules: RuleSet, facts: Facts) -> JurisdictionResult:
    """Evaluate ``rules`` on ``facts``; see the module docstring.

    Only the rules that are law for the facts' ``content`` are read (a CSAM finding never
    reaches a copyright rule), and only on ``served`` evidence: a lead gets the outcome
    ``lead`` and the evidence still needed, whatever the rules say.
    """
    unknown = set(facts) - set(FACT_TYPES)
    if unknown:
        raise InputError("facts", f"unknown facts {sorted(unknown)}")
    facts = {name: facts.get(name) for name in FACT_TYPES}
    content = facts["content"]
    outcome, exposures, fired, undetermined = _core(rules, facts)
    lead = outcome == LEAD
    # an undetermined rule listed before the one that fired could have pre-empted it
    provisional = lead or bool(undetermined) or (
        outcome != NO_CIVIL_RULE and not any(r.track == "civil" for r in fired))
    criminal: list[str] = []
    for rule in fired:
        for item in rule.evidence_needed:
            if item not in criminal:
                criminal.append(item)
    changes: list[dict[str, Any]] = []
    read = dict.fromkeys(["evidence_level",
                          *(n for r in rules.rules if content in r.content for n in r.needs)])
    for name in read:
        for alt in _alternatives(name, facts[name]):
            other, other_exp, other_fired, _u = _core(rules, {**facts, name: alt})
            if other != outcome or other_exp != exposures:
                changes.append({"fact": name, "now": facts[name], "if": alt,
                                "outcome": other, "exposures": other_exp,
                                "rule": other_fired[0].id if other_fired else None})
    return JurisdictionResult(rules.jurisdiction, outcome, exposures,
                              [r.brief() for r in fired], undetermined, provisional, criminal,
                              changes, content, [LEAD_EVIDENCE] if lead else [],
                              [u for u in rules.unverified
                               if content in u["content"].split(",")])
