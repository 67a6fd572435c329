"""STIX 2.1 bundle of findings, built with the OASIS ``stix2`` library.

What each finding becomes (and why these objects):

* ``file`` (its digests; custom digests as ``x_`` hash names, see export/hashes.py), ``url``
  (the location), ``ipv4-addr``/``ipv6-addr`` and ``network-traffic`` (the endpoint): the
  cyber observables, with deterministic ids so the same item on two hosts is one ``file``;
* ``observed-data`` with the observation time, referencing those observables; its ``labels``
  carry the evidence level and category (labels, not custom properties: every STIX consumer
  keeps them, and the validator accepts them without a property extension);
* an ``indicator`` per bank reference (a STIX pattern on the matched digest) and a
  ``sighting`` of it per match, sighted at the operator (an ``identity``), linked to the
  observed data, with the evidence level and ledger leaf in its description;
* a ``note`` per finding with the liability assessment, and one ``grouping`` of everything.

Every object is created by the auditing body's ``identity`` and marked with the TLP marking
definition chosen for the export. Never any content: digests, names, addresses and times only;
a subscriber appears as the keyed pseudonym at most.
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from typing import Any

import stix2

from netwarden.export.hashes import by_name, known_digests
from netwarden.export.model import (
    ExportSource,
    MatchView,
    attribution_status,
    leaf_of,
    matches_of,
    pseudonym_of,
    track_of,
)
from netwarden.export.options import ExportOptions

TLP = {"white": stix2.TLP_WHITE, "clear": stix2.TLP_WHITE, "green": stix2.TLP_GREEN,
       "amber": stix2.TLP_AMBER, "red": stix2.TLP_RED}
_NS = uuid.UUID("3f6c1b0e-8c1d-4d52-9f0a-6b7c9e2d1a44")  # netwarden's uuid5 namespace


def _sid(kind: str, *parts: str) -> str:
    """A deterministic STIX id: the same finding exported twice gets the same ids, so a
    platform that imports a later export updates its objects instead of doubling them.
    STIX 2.1 recommends UUIDv4 for domain objects: the id is a v4-form UUID whose random bits
    are SHA-256 of the parts (cyber observables keep the library's spec-defined UUIDv5)."""
    digest = hashlib.sha256("|".join((str(_NS), kind, *parts)).encode()).digest()
    return f"{kind}--{uuid.UUID(bytes=digest[:16], version=4)}"


def _time(value: Any) -> str:
    return str(value) if value else "1970-01-01T00:00:00Z"


def _pattern(match: MatchView, digests: dict[str, str]) -> str:
    """A STIX pattern on the digest that matched (for perceptual matches: the observed PDQ,
    which lies within the match distance of the reference)."""
    names = by_name()
    name = names.get(match.algorithm)
    value = digests.get(match.algorithm)
    if name is None or value is None:
        name, value = names["sha256"], digests.get("sha256", "")
    return f"[file:hashes.'{name.stix}' = '{value}']"


def _address(host: str, marks: list[str]) -> Any:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return stix2.DomainName(value=host, object_marking_refs=marks)
    kind = stix2.IPv6Address if ip.version == 6 else stix2.IPv4Address
    return kind(value=host, object_marking_refs=marks)


def _assessment_text(finding: dict[str, Any]) -> str:
    a = finding.get("assessment")
    if not isinstance(a, dict):
        return f"assessment: {a or 'pending'}"
    lines = [f"role: {a.get('role')} ({a.get('role_basis')})",
             f"primary jurisdiction: {a.get('primary')}"]
    for jurisdiction, outcomes in sorted((a.get("outcomes") or {}).items()):
        lines.append(f"{jurisdiction}: {', '.join(map(str, outcomes or []))}")
    for jurisdiction, result in sorted((a.get("results") or {}).items()):
        for rule in (result or {}).get("rules_fired", []) or []:
            lines.append(f"{jurisdiction} rule {rule.get('id')} ({rule.get('citation')}): "
                         f"{rule.get('outcome')}")
    return "\n".join(lines)


def build_bundle(source: ExportSource, options: ExportOptions) -> stix2.Bundle:
    """The STIX 2.1 bundle of ``source``'s findings."""
    marking = TLP[options.tlp or "amber"]
    marks = [marking.id]
    auditor = stix2.Identity(id=_sid("identity", "auditor", options.organisation),
                             name=options.organisation, identity_class="organization",
                             description="The auditing body that made these findings "
                             "(netwarden).", object_marking_refs=marks)
    common = {"created_by_ref": auditor.id, "object_marking_refs": marks}
    objects: dict[str, Any] = {marking.id: marking, auditor.id: auditor}
    grouped: list[str] = []

    def add(obj: Any) -> Any:
        objects.setdefault(obj.id, obj)
        return objects[obj.id]

    for f in source.findings:
        fid = str(f["id"])
        digests = known_digests(f.get("digests"))
        observables: list[str] = []
        names = by_name()
        hashes = {names[k].stix: v for k, v in digests.items()}
        file_props: dict[str, Any] = {}
        if hashes:
            file_props["hashes"] = hashes
        if isinstance(f.get("name"), str) and f["name"]:
            file_props["name"] = f["name"]
        if isinstance(f.get("size"), int):
            file_props["size"] = f["size"]
        if file_props:
            observables.append(add(stix2.File(**file_props, **_sco(marks), allow_custom=True)).id)
        if isinstance(f.get("location"), str) and f["location"]:
            observables.append(add(stix2.URL(value=f["location"], **_sco(marks))).id)
        host = f.get("host")
        if isinstance(host, str) and host:
            address = add(_address(host, marks))
            observables.append(address.id)
            protocol = str(f.get("protocol") or "")
            traffic: dict[str, Any] = {"dst_ref": address.id,
                                       "protocols": _protocols(protocol)}
            if isinstance(f.get("port"), int):
                traffic["dst_port"] = f["port"]
            observables.append(add(stix2.NetworkTraffic(**traffic, **_sco(marks))).id)
        level = str(f.get("evidence_level") or "")
        track = track_of(f)
        matches = matches_of(f)
        observed_at = _time(f.get("observed_at"))
        labels = [f"evidence-level:{level}", f"track:{track}",
                  *dict.fromkeys(f"category:{m.category}" for m in matches)]
        observed = add(stix2.ObservedData(
            id=_sid("observed-data", fid), first_observed=observed_at,
            last_observed=observed_at, number_observed=1, object_refs=observables,
            labels=labels, **common))
        operator_name = str(f.get("operator") or "unknown operator")
        operator = add(stix2.Identity(id=_sid("identity", "operator", operator_name),
                                      name=operator_name, identity_class="organization",
                                      description="The network operator audited.", **common))
        grouped += [observed.id, operator.id]
        sightings = []
        for m in matches:
            indicator = add(stix2.Indicator(
                id=_sid("indicator", m.bank, m.reference),
                name=f"{m.bank}:{m.reference}",
                description=f"Reference {m.reference} of bank {m.bank} (category "
                            f"{m.category}).",
                pattern=_pattern(m, digests), pattern_type="stix",
                valid_from=observed_at, indicator_types=["malicious-activity"],
                labels=[f"category:{m.category}"], **common))
            leaf = (f"ledger leaf {m.leaf_index} ({m.leaf_hash})" if m.leaf_hash
                    else "ledger leaf pending")
            found_verification = f.get("verification")
            verification: dict[str, Any] = (found_verification
                                            if isinstance(found_verification, dict) else {})
            sighting = add(stix2.Sighting(
                id=_sid("sighting", fid, m.match_id, m.reference),
                sighting_of_ref=indicator.id, observed_data_refs=[observed.id],
                where_sighted_refs=[operator.id], first_seen=observed_at,
                last_seen=observed_at, count=1,
                description=(f"Finding {fid}: {m.method} match ({m.algorithm}, distance "
                             f"{m.distance}) at evidence level {level}; verification "
                             f"{verification.get('result', 'n/a')}; match {leaf}."),
                external_references=[{"source_name": "netwarden-ledger",
                                      "external_id": m.leaf_hash or fid,
                                      "description": leaf}],
                **common))
            grouped += [indicator.id, sighting.id]
            sightings.append(sighting.id)
        attribution = attribution_status(f)
        pseudonym = pseudonym_of(f) if options.pseudonyms else None
        obs_index, obs_hash = leaf_of(f, "observation")
        content = "\n".join([
            _assessment_text(f),
            f"attribution: {attribution}" + (f" (pseudonym {pseudonym})" if pseudonym else ""),
            f"observation ledger leaf: {obs_index} {obs_hash or ''}".rstrip()])
        note = add(stix2.Note(id=_sid("note", fid), abstract=f"Assessment of finding {fid}",
                              content=content, object_refs=[observed.id, *sightings],
                              **common))
        grouped.append(note.id)
    grouping = stix2.Grouping(
        id=_sid("grouping", source.label, *sorted(str(f["id"]) for f in source.findings)),
        name=f"netwarden findings: {source.label}", context="suspicious-activity",
        description=f"{len(source.findings)} findings of {source.label}.",
        object_refs=list(dict.fromkeys(grouped)) or [auditor.id], **common)
    objects[grouping.id] = grouping
    # allow_custom: the x_ hash names of file objects (custom content the spec allows)
    return stix2.Bundle(objects=list(objects.values()), allow_custom=True)


def _protocols(protocol: str) -> list[str]:
    """STIX ``protocols``: the transport, then the application protocol (lower case, as the
    IANA service names the specification asks for)."""
    app = protocol.lower()
    transport = "udp" if app in ("udp", "dht", "utp") else "tcp"
    return [transport] if app in ("", transport) else [transport, app]


def _sco(marks: list[str]) -> dict[str, Any]:
    return {"object_marking_refs": marks}


def write(source: ExportSource, options: ExportOptions) -> bytes:
    """The bundle as JSON bytes (UTF-8)."""
    return build_bundle(source, options).serialize(pretty=True, ensure_ascii=False).encode()
