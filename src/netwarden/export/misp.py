"""MISP event of findings, built with PyMISP (``MISPEvent``), loadable by ``MISPEvent.load_file``.

One ``file`` object per finding with its digests. Digests MISP has no attribute type for
(PDQ, TTH, ED2K, BTIH: the file template has no relation for them either) are ``text``
attributes ``<digest>:<value>`` (names from export/hashes.py). An ``ip-port`` and a ``url``
object say where it was offered, referenced from the file object (``observed-at``,
``downloaded-from``). Tags: the TLP level on the event; ``netwarden:category``,
``netwarden:evidence-level`` and ``netwarden:track`` on the file object's attributes (MISP
objects themselves carry no tags). The ledger leaf of each of the finding's matches is a
``text`` attribute ``ledger-leaf:<hash>`` with the leaf index in its comment, so an analyst
in MISP can ask the auditor for the inclusion proof.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from pymisp import MISPEvent, MISPObject

from netwarden.export.hashes import by_name, known_digests
from netwarden.export.model import (
    ExportSource,
    attribution_status,
    matches_of,
    pseudonym_of,
    track_of,
)
from netwarden.export.options import ExportOptions

_NS = uuid.UUID("8a1d2f7e-5b0c-4e6a-a3b9-0c4d7e1f2a55")


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "|".join(parts)))


def _tag(key: str, value: str) -> str:
    return f'netwarden:{key}="{value}"'


def build_event(source: ExportSource, options: ExportOptions) -> MISPEvent:
    """The MISP event of ``source``'s findings."""
    event = MISPEvent()
    event.uuid = _uuid("event", source.label, *sorted(str(f["id"]) for f in source.findings))
    event.info = f"netwarden findings: {source.label} ({options.organisation})"
    event.distribution = 0  # this organisation only; the analyst widens it in MISP
    event.threat_level_id = 1 if any(track_of(f) == "csam" for f in source.findings) else 2
    event.analysis = 2
    dates = sorted(str(f.get("observed_at"))[:10] for f in source.findings
                   if f.get("observed_at"))
    event.date = date.fromisoformat(dates[0]) if dates else date.today()
    event.add_tag(f"tlp:{options.tlp}")
    for f in source.findings:
        fid = str(f["id"])
        matches = matches_of(f)
        track = track_of(f)
        level = str(f.get("evidence_level") or "")
        tags = [_tag("evidence-level", level), _tag("track", track),
                *dict.fromkeys(_tag("category", m.category) for m in matches)]
        first_seen = f.get("observed_at") or None
        file_obj = MISPObject("file", standalone=False)
        file_obj.uuid = _uuid("file", fid)
        file_obj.comment = f"netwarden finding {fid}"
        if first_seen:
            file_obj.first_seen = first_seen
        names = by_name()
        for name, value in known_digests(f.get("digests")).items():
            h = names[name]
            if h.misp_type == "text":  # the file template has no relation for this digest
                file_obj.add_attribute("text", value=f"{name}:{value}", Tag=tags,
                                       to_ids=False, comment=f"{name} digest")
            else:
                file_obj.add_attribute(h.misp_type, value=value, Tag=tags)
        if isinstance(f.get("name"), str) and f["name"]:
            file_obj.add_attribute("filename", value=f["name"], Tag=tags, to_ids=False)
        if isinstance(f.get("size"), int):
            file_obj.add_attribute("size-in-bytes", value=f["size"], to_ids=False)
        for m in matches:
            file_obj.add_attribute(
                "text", value=f"ledger-leaf:{m.leaf_hash or 'pending'}", to_ids=False,
                comment=f"match {m.match_id}: {m.method} {m.algorithm} distance {m.distance} "
                        f"against {m.bank}:{m.reference} ({m.category}); ledger index "
                        f"{m.leaf_index}")
        status = attribution_status(f)
        pseudonym = pseudonym_of(f) if options.pseudonyms else None
        file_obj.add_attribute("text", to_ids=False,
                               value=f"evidence level {level}; attribution {status}"
                                     + (f" (pseudonym {pseudonym})" if pseudonym else ""))
        event.add_object(file_obj)
        host, port = f.get("host"), f.get("port")
        if isinstance(host, str) and host:
            ip_port = MISPObject("ip-port", standalone=False)
            ip_port.uuid = _uuid("ip-port", fid)
            ip_port.add_attribute("ip-dst", value=host, Tag=tags)
            if isinstance(port, int):
                ip_port.add_attribute("dst-port", value=port, to_ids=False)
            if f.get("protocol"):
                ip_port.add_attribute("protocol", value=str(f["protocol"]), to_ids=False)
            event.add_object(ip_port)
            file_obj.add_reference(ip_port.uuid, "observed-at")
        location = f.get("location")
        if isinstance(location, str) and location:
            url_obj = MISPObject("url", standalone=False)
            url_obj.uuid = _uuid("url", fid)
            url_obj.add_attribute("url", value=location, Tag=tags)
            parts = urlsplit(location)
            if parts.scheme:
                url_obj.add_attribute("scheme", value=parts.scheme, to_ids=False)
            event.add_object(url_obj)
            file_obj.add_reference(url_obj.uuid, "downloaded-from")
    return event


def write(source: ExportSource, options: ExportOptions) -> bytes:
    """The event as MISP JSON (``{"Event": ...}``), UTF-8."""
    return build_event(source, options).to_json(indent=2).encode()


def describe(event: Any) -> dict[str, int]:
    """Counts of a loaded event's objects by name (for tests and the CLI's summary)."""
    counts: dict[str, int] = {}
    for obj in event.objects:
        counts[obj.name] = counts.get(obj.name, 0) + 1
    return counts
