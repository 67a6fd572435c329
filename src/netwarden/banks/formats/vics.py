"""``vics``: Project VIC VICS JSON (OData), the hash-sharing format of child-protection hash sets.

The file is an OData object whose ``value`` is a list of media; each media item carries
``MD5``, ``SHA1`` (also ``SHA256``, ``PDQ``) and ``Category``, an id (``MediaID``) and
optionally ``MediaFiles`` with more digests per file. Keys are matched case-insensitively.
VICS categories: 1 child abuse material, 2 child exploitive (age difficult), 3 CGI/animation
are imported; 0 (non-pertinent) and 4 (comparison images) are not, and any other value is an
unknown category: each such media is reported by index and skipped. Unknown fields are
ignored and listed once, in the import's notes. The file is read whole (bounded by
MAX_VICS_BYTES): VICS exports are JSON documents, not line streams.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from netwarden.banks.formats._signals import SignalError, entry_for
from netwarden.banks.formats.base import BankEntry, BankFormat, LineProblem, open_regular_file
from netwarden.errors import InputError

MAX_VICS_BYTES = 512 * 1024 * 1024
IMPORTED = {1: "child abuse material", 2: "child exploitive (age difficult)",
            3: "CGI/animation"}
NOT_IMPORTED = {0: "non-pertinent", 4: "comparison image"}
DIGEST_KEYS = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "pdq": "pdq"}
KNOWN_KEYS = {"mediaid", "category", "mediafiles", "filename", "name", "odata.id",
              "odata.metadata", *DIGEST_KEYS}


class VicsFormat(BankFormat):
    name = "vics"
    description = "Project VIC VICS JSON: OData 'value' list of media (MD5/SHA1/PDQ/Category)"

    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        source = str(path)
        with open_regular_file(path) as handle:
            data = handle.read(MAX_VICS_BYTES + 1)
        if len(data) > MAX_VICS_BYTES:
            raise InputError(source, f"larger than {MAX_VICS_BYTES} bytes")
        try:
            document = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(source, f"not VICS JSON: {exc}") from None
        media = document.get("value") if isinstance(document, dict) else None
        if not isinstance(media, list):
            raise InputError(source, "no OData 'value' list of media")
        unknown: dict[str, int] = {}
        for n, item in enumerate(media):
            where = f"value[{n}]"
            if not isinstance(item, dict):
                yield LineProblem(source, "media is not a JSON object", where=where)
                continue
            fields = {str(k).lower(): v for k, v in item.items()}
            for key in fields:
                if key not in KNOWN_KEYS:
                    unknown.setdefault(key, n)
            category = fields.get("category")
            if not isinstance(category, int) or isinstance(category, bool):
                yield LineProblem(source, f"category {category!r} is not a VICS category "
                                          "number; media skipped", where=where)
                continue
            if category in NOT_IMPORTED:
                yield LineProblem(source, f"category {category} ({NOT_IMPORTED[category]}): "
                                          "not imported", where="note")
                continue
            if category not in IMPORTED:
                yield LineProblem(source, f"unknown VICS category {category}; media skipped",
                                  where=where)
                continue
            yield from self._media(source, where, fields, category)
        for key, first in unknown.items():
            yield LineProblem(source, f"unknown field {key!r} ignored (first in value[{first}])",
                              where="note")

    @staticmethod
    def _media(source: str, where: str, fields: dict[str, Any], category: int
               ) -> Iterator[BankEntry | LineProblem]:
        media_id = fields.get("mediaid")
        ref = f"vics:{media_id}" if media_id is not None else None
        title = f"VICS category {category} ({IMPORTED[category]})"
        found = 0
        sources = [fields] + [{str(k).lower(): v for k, v in f.items()}
                              for f in fields.get("mediafiles") or [] if isinstance(f, dict)]
        for part in sources:
            for key, signal in DIGEST_KEYS.items():
                value = part.get(key)
                if not value:
                    continue
                try:
                    entry = entry_for(signal, str(value), reference_id=ref, title=title)
                except SignalError as exc:
                    yield exc.at(source, None, where=f"{where}.{key}")
                    continue
                found += 1
                yield entry
        if not found:
            yield LineProblem(source, "media has no MD5, SHA1, SHA256 or PDQ", where=where)
