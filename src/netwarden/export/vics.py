"""VICS 2.0 JSON of the matched CSAM items: digests and categories only.

Why only this: VICS is how child-protection hash sets travel between hotlines, law enforcement
and Griffeye; what a partner needs from an audit is "these items, by these digests, are
circulating". Each distinct item (by its strongest digest) of a CSAM-track finding becomes one
``Media``: ``MediaID``, ``Category``, ``MD5``/``SHA1``/``SHA256`` of the bytes received and
``AlternativeHashes`` for the perceptual hash (``PDQ``), plus ``MediaSize``. No names, no
locations, no subscriber: a VICS file is meant to be imported into other hash sets.

The category is the VICS category the reference came with when the bank was a VICS import
(its title says ``VICS category N``), else 1 (child abuse material). The file re-imports with
``netwarden bank import --format vics``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from netwarden.algorithms import registry
from netwarden.export.hashes import hashes, known_digests
from netwarden.export.model import ExportSource, matches_of, track_of
from netwarden.export.options import ExportOptions

CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media"
_VICS_TITLE = re.compile(r"^VICS category ([123])\b")


def _key_order() -> list[str]:
    """The digests VICS carries (a media field or an alternative hash), strongest first in the
    algorithm registry's order: sha256, sha1, md5, pdq."""
    return [a.name for a in registry.by_strength() if a.exchange is not None
            and (a.exchange.vics_field or a.exchange.vics_alternative)]


def _category(finding: dict[str, Any]) -> int:
    for m in matches_of(finding):
        found = _VICS_TITLE.match(m.title or "")
        if found:
            return int(found.group(1))
    return 1


def media(source: ExportSource) -> list[dict[str, Any]]:
    """The VICS media list: one per distinct CSAM item."""
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    key_order = _key_order()
    for f in source.findings:
        if track_of(f) != "csam":
            continue
        digests = known_digests(f.get("digests"))
        key = next(((k, digests[k].lower()) for k in key_order if k in digests), None)
        if key is None:
            continue
        if key in seen:
            continue
        item: dict[str, Any] = {"MediaID": len(out) + 1, "Category": _category(f)}
        alternatives = []
        for h in hashes():
            value = digests.get(h.name)
            if value is None:
                continue
            if h.vics_field:
                item[h.vics_field] = value.upper()
            elif h.vics_alternative:
                alternatives.append({"HashName": h.vics_alternative, "HashValue": value})
        if alternatives:
            item["AlternativeHashes"] = alternatives
        if isinstance(f.get("size"), int):
            item["MediaSize"] = f["size"]
        seen[key] = item
        out.append(item)
    return out


def write(source: ExportSource, options: ExportOptions) -> bytes:
    """The VICS 2.0 OData document as UTF-8 JSON."""
    del options  # nothing to choose: VICS carries no names, markings or pseudonyms
    return json.dumps({"@odata.context": CONTEXT, "value": media(source)},
                      indent=2).encode()
