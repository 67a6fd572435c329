"""Facts for the liability rules, derived from the evidence of a run and its notices.

Why a separate module: the rules must only see facts, and every fact must say what it rests on
(``basis``) so an assessment can be checked against the ledger. Facts the evidence does not
establish stay ``None`` (unknown) — the engine then reports the assessment as provisional and
says which fact would change it — rather than being guessed.

Role (jurisdiction-independent, from the finding and its observation's details):

* ``active_participant`` — operator infrastructure itself serves bank content inside a
  peer-to-peer network (a BitTorrent peer or a DC user on an operator host), or an account
  with operator rights on an operator-run hub shares it (staff account);
* ``operator_sharing_service`` — a subscriber's copy was found through a hub or tracker the
  operator runs (its host is in ``operator.infrastructure``);
* ``hosting`` — the item is on an operator-run store (FTP/HTTP/SMB on an infrastructure host);
  who put it there is unknown unless declared, so ``staff_uploaded_or_curated`` stays unknown;
* ``mere_conduit`` — a subscriber's host served it: the operator only carried the transfer.

Knowledge and response depend on the jurisdiction (which notice formats count there) and come
from :class:`NoticeFacts`: a notice gives knowledge only when the SMTP server accepted it and
the notice was complete for its format; the response is the re-check result after the deadline.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from netwarden.errors import InputError
from netwarden.liability.engine import FACT_TYPES, RuleSet

# facts an operator (or the auditor, with a basis) may declare; everything else is derived
DECLARABLE = ("repeat_infringer_policy", "designated_agent_registered",
              "financial_benefit_direct_and_control", "staff_uploaded_or_curated",
              "operator_indexes_categorises_moderates_catalogue",
              "operator_promotes_infringing_use", "initiated_transmission", "selected_receiver",
              "selected_or_modified_content")


@dataclass(frozen=True)
class Fact:
    """A fact's value (None: not established) and what it rests on."""

    value: Any
    basis: str

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "basis": self.basis}


@dataclass(frozen=True)
class Recheck:
    """One re-check of a noticed finding: ``removed``, ``still_available`` or ``inconclusive``."""

    finding_id: str
    result: str
    checked_at: datetime
    leaf: dict[str, Any] | None = None


@dataclass(frozen=True)
class NoticeFacts:
    """What the assessment needs to know about one outgoing notice."""

    notice_id: str
    format: str
    finding_ids: tuple[str, ...]
    delivered_at: datetime | None  # the SMTP server accepted the message (never assumed)
    complete: bool  # carries every element its format requires
    deadline_at: datetime | None
    rechecks: tuple[Recheck, ...] = ()
    leaf: dict[str, Any] | None = None


@dataclass
class DeclaredFacts:
    """Facts declared with a basis: for the whole operator and per finding."""

    operator: dict[str, Fact] = field(default_factory=dict)
    findings: dict[str, dict[str, Fact]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> DeclaredFacts:
        """Read a facts file (TOML): ``[operator]`` and ``[findings.<id>]`` tables, each
        with the facts and a ``basis`` string saying where the fact comes from."""
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(source, "no such facts file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(source, f"is not valid TOML: {exc}") from None
        return cls.parse(data, source)

    @classmethod
    def parse(cls, data: Mapping[str, Any], source: str = "<facts>") -> DeclaredFacts:
        out = cls()
        for key in data:
            if key not in ("operator", "findings"):
                raise InputError(source, "unknown table (known: operator, findings)", key)
        out.operator = _declared(data.get("operator", {}), source, "operator")
        findings = data.get("findings", {})
        if not isinstance(findings, dict):
            raise InputError(source, "must be a table of [findings.<id>] tables", "findings")
        for fid, table in findings.items():
            out.findings[fid] = _declared(table, source, f"findings.{fid}")
        return out


def _declared(table: Any, source: str, where: str) -> dict[str, Fact]:
    if not isinstance(table, dict):
        raise InputError(source, "must be a table", where)
    basis = table.get("basis")
    values = {k: v for k, v in table.items() if k != "basis"}
    if values and (not isinstance(basis, str) or not basis.strip()):
        raise InputError(source, "declared facts need a 'basis' saying where they come from",
                         where)
    out: dict[str, Fact] = {}
    for name, value in values.items():
        if name not in DECLARABLE:
            raise InputError(source, f"{name!r} cannot be declared (declarable: "
                             f"{', '.join(DECLARABLE)})", f"{where}.{name}")
        kind = FACT_TYPES[name]
        ok = isinstance(value, bool) if kind is bool else value in kind  # type: ignore[operator]
        if not ok:
            raise InputError(source, f"{value!r} is not a value of {name}", f"{where}.{name}")
        out[name] = Fact(value, f"declared: {basis}")
    return out


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host


def _is_infra(host: str | None, infrastructure: Iterable[str]) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return any(address == ipaddress.ip_address(a) for a in infrastructure)


def content_kind(category: str) -> str:
    """``csam`` for CSAM (and stand-in) banks, ``copyright`` for everything else."""
    return "csam" if "csam" in category.lower() else "copyright"


def evidence_facts(finding: Mapping[str, Any], details: Mapping[str, Any] | None,
                   infrastructure: Iterable[str] = (),
                   hub_facts: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Fact]:
    """Jurisdiction-independent facts of one finding (role and the conduct facts)."""
    details = details or {}
    hub_facts = hub_facts or {}
    infra = list(infrastructure)
    on_infra = bool(finding.get("operator_infrastructure"))
    endpoint = finding.get("endpoint", "?")
    facts: dict[str, Fact] = {
        "content": Fact(content_kind(str(finding.get("category", ""))),
                        f"bank category {finding.get('category')!r}"),
        "operator_infrastructure": Fact(on_infra, f"{endpoint} is "
                                        + ("" if on_infra else "not ")
                                        + "in the scope's operator.infrastructure"),
    }
    hub_url = details.get("hub")
    tracker_url = details.get("tracker")
    hub_operated = bool(hub_url) and (_is_infra(_host(hub_url), infra) or bool(
        hub_facts.get(hub_url, {}).get("hub_infrastructure")))
    tracker_operated = bool(details.get("operator_tracker")) or (
        bool(tracker_url) and _is_infra(_host(tracker_url), infra))
    staff_account = bool(hub_url) and hub_operated and bool(details.get("operator"))
    promotes: Fact | None = None
    if hub_operated:
        links = hub_facts.get(hub_url, {}).get("bank_links_in_topic_or_messages") or []
        promotes = Fact(bool(links) or None,
                        f"the hub's topic or operator/bot messages link {len(links)} bank "
                        "item(s)" if links else "no bank link seen in the hub's topic or "
                        "operator messages (promotion elsewhere is not excluded)")

    if on_infra and (hub_url or details.get("found_in") or tracker_url):
        role, why = "active_participant", (
            f"operator infrastructure {endpoint} itself served bank content to the network")
        facts["staff_uploaded_or_curated"] = Fact(True, why)
    elif staff_account:
        role, why = "active_participant", (
            f"user {details.get('nick')!r} with operator rights on the operator's hub "
            f"{hub_url} shared bank content (a staff account)")
        facts["staff_uploaded_or_curated"] = Fact(True, why)
    elif hub_operated or tracker_operated:
        via = hub_url if hub_operated else tracker_url
        role, why = "operator_sharing_service", (
            f"a subscriber's copy was found through {via}, a hub/tracker on the operator's "
            "own infrastructure")
        facts["staff_uploaded_or_curated"] = Fact(False, "the serving host is a subscriber's")
    elif on_infra:
        role, why = "hosting", (
            f"the item is stored on {endpoint}, an operator-run store (operator.infrastructure)")
        facts["staff_uploaded_or_curated"] = Fact(
            None, "who placed the files on the operator's store is not shown by the evidence")
    else:
        role, why = "mere_conduit", (
            f"{endpoint} is a subscriber's host; the operator's network only carried the "
            "transfer")
        facts["staff_uploaded_or_curated"] = Fact(False, "the serving host is a subscriber's")
    facts["role"] = Fact(role, why)
    facts["operator_promotes_infringing_use"] = promotes or Fact(
        False if role == "mere_conduit" else None,
        "no operator service is involved" if role == "mere_conduit"
        else "not shown by the evidence")
    facts["operator_indexes_categorises_moderates_catalogue"] = Fact(
        False if role == "mere_conduit" else None,
        "no operator service is involved" if role == "mere_conduit"
        else "not shown by the evidence")
    if role == "mere_conduit":
        facts["initiated_transmission"] = Fact(
            False, "the auditor requested the item from the subscriber's host; the operator "
            "did not initiate the transfer")
        facts["selected_receiver"] = Fact(False, "the auditor, not the operator, chose to "
                                          "connect")
        verified = (finding.get("verification") or {})
        ok = isinstance(verified, dict) and verified.get("result") == "verified"
        facts["selected_or_modified_content"] = Fact(
            False if ok else None,
            "the bytes received match the reference digest: unmodified in transit" if ok
            else "the received bytes were not verified against the reference")
    else:
        for name in ("initiated_transmission", "selected_receiver",
                     "selected_or_modified_content"):
            facts[name] = Fact(None, "not applicable: the operator is not only a conduit here")
    for name in ("repeat_infringer_policy", "designated_agent_registered",
                 "financial_benefit_direct_and_control"):
        facts[name] = Fact(None, "not declared (facts file) and not observable on the network")
    return facts


def knowledge_facts(finding_id: str, notices: Iterable[NoticeFacts], rules: RuleSet,
                    now: datetime) -> dict[str, Fact]:
    """``actual_knowledge`` and ``response`` for one finding under one jurisdiction."""
    relevant = [n for n in notices if finding_id in n.finding_ids]
    counting = [n for n in relevant if n.format in rules.knowledge_formats]
    delivered = sorted((n for n in counting if n.delivered_at is not None and n.complete),
                       key=lambda n: n.delivered_at)  # type: ignore[arg-type, return-value]
    if not delivered:
        if not relevant:
            why = "no notice about this finding"
        elif not counting:
            why = (f"notices were in format(s) {sorted({n.format for n in relevant})}, which "
                   f"do not give knowledge under {rules.jurisdiction} "
                   f"({rules.knowledge_citation})")
        else:
            why = "no complete notice was accepted by the recipient's mail server"
        return {"actual_knowledge": Fact(False, why),
                "response": Fact("no_notice", why)}
    first = delivered[0]
    knowledge = Fact(True, f"notice {first.notice_id} ({first.format}) accepted by the "
                     f"recipient's mail server at {first.delivered_at.isoformat()}"  # type: ignore[union-attr]
                     f" — {rules.knowledge_citation}")
    deadline = first.deadline_at
    checks = sorted((r for n in delivered for r in n.rechecks if r.finding_id == finding_id),
                    key=lambda r: r.checked_at)
    after = [r for r in checks if deadline is None or r.checked_at >= deadline]
    conclusive = [r for r in after if r.result in ("removed", "still_available")]
    if conclusive:
        last = conclusive[-1]
        response = Fact(last.result, f"re-check at {last.checked_at.isoformat()} (after the "
                        f"deadline {deadline.isoformat() if deadline else '-'}): "
                        + ("no longer served" if last.result == "removed" else "still served"))
    elif any(r.result == "removed" for r in checks):
        r = next(r for r in reversed(checks) if r.result == "removed")
        response = Fact("removed", f"gone at the re-check at {r.checked_at.isoformat()}, "
                        "before the deadline")
    elif deadline is not None and now < deadline:
        response = Fact("pending", f"the deadline {deadline.isoformat()} has not passed")
    else:
        response = Fact(None, "the deadline has passed but no conclusive re-check was made")
    return {"actual_knowledge": knowledge, "response": response}
