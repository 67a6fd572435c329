"""Exports of findings for the tools analysts already run: STIX 2.1, MISP, CSV, VICS 2.0.

``netwarden export``, the web application's export page and ``GET /api/v1/exports`` all call
:func:`export_bytes` on an :class:`~netwarden.export.model.ExportSource` (a run directory, a
campaign, or runs in the ``findings`` table) and :func:`record_export` to append an ``export``
leaf to the ledger (what was exported, by whom, the file's SHA-256): an export hands evidence
and pseudonyms to someone else, and that is a fact the ledger must be able to prove.

Never any content: digests, names, locations, times, categories and pseudonyms only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from netwarden.errors import InputError
from netwarden.export.model import ExportSource, from_campaign, from_run_dir, from_runs, track_of
from netwarden.export.options import ExportOptions, resolve
from netwarden.records import Export

__all__ = ["EXTENSIONS", "FORMATS", "MEDIA_TYPES", "ExportOptions", "ExportSource", "export_bytes",
           "from_campaign", "from_run_dir", "from_runs", "record_export"]

FORMATS = ("stix", "misp", "csv", "vics")
MEDIA_TYPES = {"stix": "application/stix+json;version=2.1", "misp": "application/json",
               "csv": "text/csv; charset=utf-8", "vics": "application/json"}
EXTENSIONS = {"stix": "stix.json", "misp": "misp.json", "csv": "csv", "vics": "vics.json"}


def _writer(fmt: str) -> Callable[[ExportSource, ExportOptions], bytes]:
    if fmt == "stix":
        from netwarden.export.stix import write
    elif fmt == "misp":
        from netwarden.export.misp import write
    elif fmt == "csv":
        from netwarden.export.table import write
    elif fmt == "vics":
        from netwarden.export.vics import write
    else:
        raise InputError("--format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    return write


def export_bytes(source: ExportSource, fmt: str, options: ExportOptions | None = None
                 ) -> tuple[bytes, ExportOptions]:
    """The export of ``source`` in ``fmt`` and the options it was made with (TLP resolved)."""
    write = _writer(fmt)
    scope_tlp = source.summary.get("tlp") if source.summary else None
    resolved = resolve(options or ExportOptions(),
                       any(track_of(f) == "csam" for f in source.findings),
                       scope_tlp if isinstance(scope_tlp, str) else None)
    return write(source, resolved), resolved


def record_export(ledger: Any, source: ExportSource, fmt: str, options: ExportOptions,
                  data: bytes, by: str, role: str | None = None) -> tuple[int, str]:
    """Append the ``export`` leaf (ids of the findings exported, format, TLP, whether
    pseudonyms were included, the file's SHA-256, who); returns (index, leaf hash)."""
    record = Export(format=fmt, source=source.label, run_ids=list(source.run_ids),
                    finding_ids=[str(f["id"]) for f in source.findings],
                    count=len(source.findings), tlp=options.tlp,
                    pseudonyms=options.pseudonyms, sha256=hashlib.sha256(data).hexdigest(),
                    bytes=len(data), by=by, role=role, at=datetime.now(UTC).isoformat())
    ref = ledger.append(record)
    return ref.index, ref.hex
