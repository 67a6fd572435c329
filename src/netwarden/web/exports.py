"""Exports from the web application: the ``/exports`` page and ``GET /api/v1/exports``.

The same exporters as ``netwarden export`` (netwarden/export) over the ``findings`` table: one
run, or every finished run of a campaign. Each download is an ``export`` ledger leaf naming
the user and role before the file is sent, as a pseudonym view is: an export hands evidence
(and pseudonyms, unless left out) to another system. Any role may export what it may view;
an API token with scope ``read`` may too.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from netwarden.export import (
    EXTENSIONS,
    MEDIA_TYPES,
    ExportOptions,
    export_bytes,
    from_campaign,
    from_runs,
    record_export,
)
from netwarden.records import Record
from netwarden.web.app import ctx, require

api_router = APIRouter(prefix="/api/v1", tags=["v1"])
page_router = APIRouter(include_in_schema=False)


class _LockedLedger:
    """The web app's ledger, appended to under its lock (reviews append concurrently)."""

    def __init__(self, evidence: Any) -> None:
        self.evidence = evidence

    def append(self, record: Record) -> Any:
        with self.evidence._lock:
            return self.evidence.ledger.append(record)


@api_router.get("/exports", responses={200: {"description": "The export file"},
                                       401: {"description": "Not logged in"},
                                       404: {"description": "No such run or campaign"},
                                       422: {"description": "Invalid input"}})
def export_file(request: Request,
                format: Literal["stix", "misp", "csv", "vics"] = Query(
                    ..., description="stix, misp, csv or vics"),
                run_id: str | None = Query(None, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$"),
                campaign: str | None = Query(None, max_length=200),
                tlp: Literal["clear", "white", "green", "amber", "red"] | None = None,
                pseudonyms: bool = Query(True, description="include subscriber pseudonyms"),
                bom: bool = Query(False, description="CSV: UTF-8 byte-order mark")
                ) -> Response:
    """Findings of one run (``run_id``) or one campaign as STIX 2.1, MISP, CSV or VICS 2.0;
    recorded as an ``export`` ledger leaf first."""
    info = require(request, "view")
    c = ctx(request)
    if (run_id is None) == (campaign is None):
        raise HTTPException(422, "give run_id or campaign (one of them)")
    if run_id is not None:
        if c.source.run(run_id) is None:
            raise HTTPException(404, f"no run {run_id!r}")
        source = from_runs(c.store, [run_id])
    else:
        from netwarden.errors import InputError

        try:
            source = from_campaign(c.store, campaign or "")
        except InputError:
            raise HTTPException(404, f"no campaign {campaign!r}") from None
    data, used = export_bytes(source, format, ExportOptions(tlp=tlp, pseudonyms=pseudonyms,
                                                            bom=bom))
    index, _ = record_export(_LockedLedger(c.evidence), source, format, used, data,
                             by=info.user.name, role=info.user.role)
    name = f"netwarden-{run_id or 'campaign'}.{EXTENSIONS[format]}"
    return Response(data, media_type=MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Netwarden-Ledger-Index": str(index)})


@page_router.get("/exports")
def exports_page(request: Request) -> Response:
    """The export form: runs and campaigns to pick from, formats, TLP, pseudonyms, BOM."""
    info = require(request, "view")
    c = ctx(request)
    from netwarden.web.campaigns import campaigns as load_campaigns
    from netwarden.web.language import activate

    return c.templates.TemplateResponse(request, "exports.html", {
        **activate(request, info), "user": info, "runs": c.source.runs(),
        "campaigns": load_campaigns(c.store)})
