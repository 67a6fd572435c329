"""Liability assessment: law as data (DESIGN.md §2.6, issue 6 §2).

``rules/<jurisdiction>.toml`` hold declarative rules, each with its citation and the facts it
needs; :mod:`facts` derives those facts from the evidence of a run (role, knowledge from
delivered notices, response seen at re-check); :mod:`engine` evaluates them; :mod:`assess`
writes the results into the run directory. Losing an exemption is ``not_exempt``, never
``liable``; injunction exposure and the criminal track are reported separately from damages.
See docs/liability.md.
"""

from netwarden.liability.engine import (
    OUTCOMES,
    JurisdictionResult,
    Rule,
    RuleSet,
    available_jurisdictions,
    evaluate,
    load_rules,
)

__all__ = ["OUTCOMES", "JurisdictionResult", "Rule", "RuleSet", "available_jurisdictions",
           "evaluate", "load_rules"]
