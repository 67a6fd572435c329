"""Facts for the liability rules, derived from the evidence of a run and its notices.

Why a separate module: the rules must only see facts, and every fact must say what it rests on
(``basis``) so an assessment can be checked against the ledger. Facts the evidence does not
establish stay ``None`` (unknown) — the engine then reports the assessment as provisional and
says which fact would change it — rather than being guessed.

Role (jurisdiction-independent) comes from verified evidence only. A finding whose evidence
level is not ``served`` is a lead: its role is ``None`` (not established) and the engine draws
no conclusion from it. On served evidence:

* ``active_participant`` — an account with operator rights on an operator-run hub served the
  item (a staff account), or the operator's staff are *declared* (facts file, with a basis) to
  have uploaded or curated it;
* ``operator_sharing_service`` — a subscriber's host served the item in a swarm or hub that
  the operator's own tracker or hub coordinates (the tracker weighs only next to such a served
  finding in the same swarm);
* ``hosting`` — the item is on an operator host: an operator-run store (FTP/HTTP/SMB), or an
  operator host serving it as a peer. Who put it there is unknown unless declared, so
  ``staff_uploaded_or_curated`` stays unknown and the assessment says which evidence would
  prove participation (was an employee involved?);
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
from netwarden.liability.engine import RuleSet, fact_accepts
from netwarden.records import content_track

# facts an operator (or the auditor, with a basis) may declare; everything else is derived
DECLARABLE = ("repeat_infringer_policy", "designated_agent_registered",
              "financial_benefit_direct_and_control", "staff_uploaded_or_curated",
              "operator_indexes_categorises_moderates_catalogue",
              "operator_promotes_infringing_use", "initiated_transmission", "selected_receiver",
              "selected_or_modified_content", "csam_reported")


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
        if not fact_accepts(name, value):
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


def content_kind(category: str, bank: str | None = None) -> str:
    """``csam`` for CSAM (and stand-in) categories or banks, ``copyright`` for the rest."""
    return content_track(category, bank)


def finding_track(finding: Mapping[str, Any]) -> str:
    """The legal track of a finding: its ``track`` field, or (version-1 lines) derived from
    every match's category and bank — one CSAM match puts the whole copy on the CSAM track."""
    track = finding.get("track")
    if track in ("csam", "copyright"):
        return str(track)
    pairs = [(str(m.get("category", "")), str(m.get("bank", "")))
             for m in finding.get("matches") or []]
    pairs.append((str(finding.get("category", "")), str(finding.get("bank", ""))))
    return "csam" if any(content_track(c, b) == "csam" for c, b in pairs) else "copyright"


def participation_evidence(role: str | None, facts: Mapping[str, Fact], endpoint: str
                           ) -> list[str]:
    """What would still have to be shown to prove the operator *took part* (not only carried,
    stored or indexed): the seed's question, was an employee involved?"""
    if role == "active_participant":
        return []
    staff = facts.get("staff_uploaded_or_curated")
    if role == "hosting" and (staff is None or staff.value is None):
        return [f"who placed or started sharing the item on the operator's host {endpoint}: "
                "an employee (the operator then takes part itself) or a third party (the "
                "operator hosts); e.g. the account that owns the files or the client process, "
                "administration logs, and the staff's instructions"]
    if role == "operator_sharing_service":
        return ["whether an employee uploaded, selected, seeded or promoted the item on the "
                "operator's hub or tracker (accounts with operator rights, moderation logs), "
                "or knowingly kept it running as a means of this distribution"]
    return []


def evidence_facts(finding: Mapping[str, Any], details: Mapping[str, Any] | None,
                   infrastructure: Iterable[str] = (),
                   hub_facts: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Fact]:
    """Jurisdiction-independent facts of one finding (role and the conduct facts)."""
    details = details or {}
    hub_facts = hub_facts or {}
    infra = list(infrastructure)
    on_infra = bool(finding.get("operator_infrastructure"))
    endpoint = finding.get("endpoint", "?")
    level = str(finding.get("evidence_level") or "") or None
    served = level == "served"
    track = finding_track(finding)
    facts: dict[str, Fact] = {
        "content": Fact(track, f"legal track {track!r} of the finding (bank category "
                        f"{finding.get('category')!r}, bank {finding.get('bank')!r}"
                        + (f", {len(finding.get('matches') or [])} match(es)"
                           if finding.get("matches") else "") + ")"),
        "evidence_level": Fact(level, "bytes received from the endpoint and verified against "
                               "the reference" if served else
                               f"a lead at level {level!r}: no verified bytes"),
        "operator_infrastructure": Fact(on_infra, f"{endpoint} is "
                                        + ("" if on_infra else "not ")
                                        + "in the scope's operator.infrastructure"),
    }
    hub_url = str(details["hub"]) if details.get("hub") else None
    tracker_url = str(details["tracker"]) if details.get("tracker") else None
    hub = hub_facts.get(hub_url, {}) if hub_url else {}
    hub_operated = bool(hub_url) and (_is_infra(_host(hub_url), infra) or bool(
        hub.get("hub_infrastructure")))
    tracker_operated = bool(details.get("operator_tracker")) or (
        bool(tracker_url) and _is_infra(_host(tracker_url), infra))
    staff_account = bool(hub_url) and hub_operated and bool(details.get("operator"))
    promotes: Fact | None = None
    if hub_operated:
        links = hub.get("bank_links_in_topic_or_messages") or []
        promotes = Fact(bool(links) or None,
                        f"the hub's topic or operator/bot messages link {len(links)} bank "
                        "item(s)" if links else "no bank link seen in the hub's topic or "
                        "operator messages (promotion elsewhere is not excluded)")

    p2p = bool(hub_url or details.get("found_in") or tracker_url)
    if not served:
        # Roles come from verified evidence only: a lead names no role (docs/liability.md).
        role, why = None, (f"a lead (evidence level {level!r}) establishes no role: it may "
                           "point at a service, but only bytes received from the endpoint "
                           "and verified prove what the operator did")
        facts["staff_uploaded_or_curated"] = Fact(None, "not shown by a lead")
    elif staff_account:
        role, why = "active_participant", (
            f"user {details.get('nick')!r} with operator rights on the operator's hub "
            f"{hub_url} served verified bank content (a staff account)")
        facts["staff_uploaded_or_curated"] = Fact(True, why)
    elif on_infra and p2p:
        role, why = "hosting", (
            f"the operator's own host {endpoint} served verified bank content in a "
            "peer-to-peer network: the item is stored on operator infrastructure; whether an "
            "employee put it there or started sharing it is not shown by the evidence")
        facts["staff_uploaded_or_curated"] = Fact(
            None, "who started sharing on the operator's host is not shown by the evidence")
    elif hub_operated or tracker_operated:
        via = hub_url if hub_operated else tracker_url
        role, why = "operator_sharing_service", (
            f"the operator's own hub/tracker {via} coordinates this swarm/hub, in which the "
            f"subscriber host {endpoint} served verified bank content")
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
    if role is None:
        for name in ("initiated_transmission", "selected_receiver",
                     "selected_or_modified_content", "csam_reported"):
            facts[name] = Fact(None, "not shown by a lead")
    elif role == "mere_conduit":
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
                     "selected_or_modified_content", "csam_reported"):
            facts[name] = Fact(None, "not applicable: the operator is not only a conduit here")
    for name in ("repeat_infringer_policy", "designated_agent_registered",
                 "financial_benefit_direct_and_control", "csam_reported"):
        facts[name] = Fact(None, "not declared (facts file) and not observable on the network")
    return facts


def knowledge_facts(finding_id: str, notices: Iterable[NoticeFacts], rules: RuleSet,
                    now: datetime, content: str | None = None) -> dict[str, Fact]:
    """``actual_knowledge`` and ``response`` for one finding under one jurisdiction.

    Which notice formats give knowledge depends on the content's legal track too (a
    copyright notice says nothing the CSAM rules can rely on, and the reverse)."""
    formats, citation = rules.knowledge_for(content)
    relevant = [n for n in notices if finding_id in n.finding_ids]
    counting = [n for n in relevant if n.format in formats]
    accepted = sorted(((n.delivered_at, n) for n in counting
                       if n.delivered_at is not None and n.complete), key=lambda pair: pair[0])
    delivered = [n for _at, n in accepted]
    if not delivered:
        if not relevant:
            why = "no notice about this finding"
        elif not counting:
            why = (f"notices were in format(s) {sorted({n.format for n in relevant})}, which "
                   f"do not give knowledge under {rules.jurisdiction} "
                   f"({citation})")
        else:
            why = "no complete notice was accepted by the recipient's mail server"
        return {"actual_knowledge": Fact(False, why),
                "response": Fact("no_notice", why)}
    first_at, first = accepted[0]
    knowledge = Fact(True, f"notice {first.notice_id} ({first.format}) accepted by the "
                     f"recipient's mail server at {first_at.isoformat()} — {citation}")
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
