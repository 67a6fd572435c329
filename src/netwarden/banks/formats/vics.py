"""``vics``: Project VIC VICS JSON (OData), the hash-sharing format of child-protection hash sets.

The file is an OData object whose ``value`` is a list of media (``...$metadata#Media``) or a
list of cases (``...$metadata#Cases``), each case with its ``Media`` list; a list whose items
carry ``Media`` is read as cases whatever the context says. Each media item carries ``MD5``,
``SHA1`` (also ``SHA256``, ``PDQ``) and ``Category``, an id (``MediaID``), optionally
``MediaFiles`` with more digests per file, and ``AlternativeHashes``, a list of
``{HashName, HashValue}``, of which ``PDQ`` is imported (others, such as PhotoDNA, are
counted in one note). Keys are matched case-insensitively; field names come from the one
digest name table (netwarden/export/hashes.py).
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
from netwarden.export.hashes import vics_alternatives, vics_fields

MAX_VICS_BYTES = 512 * 1024 * 1024
IMPORTED = {1: "child abuse material", 2: "child exploitive (age difficult)",
            3: "CGI/animation"}
NOT_IMPORTED = {0: "non-pertinent", 4: "comparison image"}
OTHER_KEYS = frozenset({"mediaid", "category", "mediafiles", "filename", "name", "odata.id",
                        "odata.metadata", "alternativehashes", "mediasize"})


def digest_keys() -> dict[str, str]:
    """VICS field (lower case) → netwarden digest, from the algorithm registry; a bare "PDQ"
    field is read too (older exports)."""
    return {**vics_fields(), "pdq": "pdq"}


class VicsFormat(BankFormat):
    name = "vics"
    description = ("Project VIC VICS JSON: OData 'value' list of media or of cases with Media "
                   "(MD5/SHA1/SHA256/Category, PDQ in AlternativeHashes)")

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
        value = document.get("value") if isinstance(document, dict) else None
        if not isinstance(value, list):
            raise InputError(source, "no OData 'value' list of media or cases")
        unknown: dict[str, str] = {}  # field -> where first seen
        keys = digest_keys()
        skipped_alternatives: dict[str, int] = {}
        for where, item in _media_items(source, document, value):
            if isinstance(item, LineProblem):
                yield item
                continue
            if not isinstance(item, dict):
                yield LineProblem(source, "media is not a JSON object", where=where)
                continue
            fields = {str(k).lower(): v for k, v in item.items()}
            for key in fields:
                if key not in OTHER_KEYS and key not in keys:
                    unknown.setdefault(key, where)
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
            yield from self._media(source, where, fields, category, skipped_alternatives)
        for key, first in unknown.items():
            yield LineProblem(source, f"unknown field {key!r} ignored (first in {first})",
                              where="note")
        for name, count in sorted(skipped_alternatives.items()):
            yield LineProblem(source, f"{count} alternative hash(es) {name!r} not imported "
                              "(netwarden matches PDQ only)", where="note")

    @staticmethod
    def _media(source: str, where: str, fields: dict[str, Any], category: int,
               skipped_alternatives: dict[str, int]) -> Iterator[BankEntry | LineProblem]:
        media_id = fields.get("mediaid")
        ref = f"vics:{media_id}" if media_id is not None else None
        title = f"VICS category {category} ({IMPORTED[category]})"
        found = 0
        sources = [fields] + [{str(k).lower(): v for k, v in f.items()}
                              for f in fields.get("mediafiles") or [] if isinstance(f, dict)]
        for part in sources:
            for key, signal in digest_keys().items():
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
        alternatives = fields.get("alternativehashes")
        alternatives_by_name = vics_alternatives()
        for i, alt in enumerate(alternatives if isinstance(alternatives, list) else []):
            alt_fields = {str(k).lower(): v for k, v in alt.items()} if isinstance(
                alt, dict) else {}
            name = str(alt_fields.get("hashname") or "")
            value = alt_fields.get("hashvalue")
            alt_signal = alternatives_by_name.get(name.lower())
            if alt_signal is None or not isinstance(value, str) or not value:
                if alt_signal is None:
                    skipped_alternatives[name] = skipped_alternatives.get(name, 0) + 1
                else:
                    yield LineProblem(source, f"alternative hash {name!r} has no HashValue",
                                      where=f"{where}.AlternativeHashes[{i}]")
                continue
            try:
                entry = entry_for(alt_signal, value, reference_id=ref, title=title)
            except SignalError as exc:
                yield exc.at(source, None, where=f"{where}.AlternativeHashes[{i}]")
                continue
            found += 1
            yield entry
        if not found:
            yield LineProblem(source, "media has no MD5, SHA1, SHA256 or PDQ", where=where)


def _media_items(source: str, document: dict[str, Any], value: list[Any]
                 ) -> Iterator[tuple[str, Any]]:
    """(where, media item) of a ``#Media`` or a ``#Cases`` document, in file order.

    Why both: Griffeye and the Project VIC tools export either the media list itself or the
    cases, each with its ``Media``; a case without a ``Media`` list is reported and skipped.
    """
    context = str(document.get("@odata.context") or document.get("odata.metadata") or "")
    cases = context.endswith("#Cases") or any(
        isinstance(v, dict) and any(str(k).lower() == "media" for k in v) for v in value)
    if not cases:
        for n, item in enumerate(value):
            yield f"value[{n}]", item
        return
    for c, case in enumerate(value):
        fields = {str(k).lower(): v for k, v in case.items()} if isinstance(case, dict) else {}
        media = fields.get("media")
        if not isinstance(media, list):
            yield f"value[{c}]", LineProblem(source, "case has no 'Media' list; skipped",
                                             where=f"value[{c}]")
            continue
        for n, item in enumerate(media):
            yield f"value[{c}].Media[{n}]", item
