"""``netwarden export``: findings as STIX 2.1, MISP, CSV or VICS 2.0 for other tools.

Thin: picks the findings (a run directory or a campaign), calls :mod:`netwarden.export`,
writes the file and appends the ``export`` ledger leaf. Exit codes: 0 written, 2 usage or
input error (no run directory, unknown campaign or format, unwritable file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from netwarden.cli import app
from netwarden.errors import InputError
from netwarden.i18n import N_, _


@app.command("export")
def export_command(
    run_dir: Path | None = typer.Argument(None, help="Run directory (with findings.jsonl)."),
    campaign: str | None = typer.Option(None, "--campaign",
                                        help="Export every finished run of this campaign."),
    fmt: str = typer.Option(..., "--format", help="stix, misp, csv or vics."),
    out: Path = typer.Option(..., "--out", help="File to write."),
    tlp: str | None = typer.Option(None, "--tlp", help="TLP marking: clear, white, green, "
                                   "amber or red (default red with CSAM findings, else amber)."),
    organisation: str = typer.Option("netwarden auditor", "--organisation",
                                     help="The auditing body named as author."),
    pseudonyms: bool = typer.Option(True, "--pseudonyms/--no-pseudonyms",
                                    help="Include subscriber pseudonyms (never more)."),
    bom: bool = typer.Option(False, "--bom", help="CSV: start with a UTF-8 byte-order mark "
                             "(for spreadsheet programs)."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: the "
                                  "installation's SQLite file or $NETWARDEN_DB)."),
    key_dir: Path | None = typer.Option(None, "--key-dir",
                                        help="Key directory (default: $NETWARDEN_HOME/keys)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Export findings for STIX/TAXII platforms, MISP, spreadsheets or VICS hash sets.

    Every export is a ledger leaf (format, findings, TLP, the file's SHA-256, who)."""
    from netwarden.export import (
        FORMATS,
        ExportOptions,
        export_bytes,
        from_campaign,
        from_run_dir,
        record_export,
    )
    from netwarden.ledger import Ledger
    from netwarden.store import open_store

    if fmt not in FORMATS:
        raise InputError("--format", _("{value!r} is not one of {known}").format(
            value=fmt, known=", ".join(FORMATS)))
    if (run_dir is None) == (campaign is None):
        raise InputError("RUN_DIR", N_("give a run directory or --campaign NAME (one of them)"))
    options = ExportOptions(organisation=organisation, tlp=tlp, pseudonyms=pseudonyms,
                            bom=bom)
    store = open_store(db)
    try:
        source = from_run_dir(run_dir) if run_dir is not None else from_campaign(
            store, campaign or "")
        data, used = export_bytes(source, fmt, options)
        _write_atomically(out, data)
        ledger = Ledger.open(store, key_dir, require_key=False)
        index, leaf = record_export(ledger, source, fmt, used, data,
                                    by=os.environ.get("USER") or "cli", role="cli")
    finally:
        store.close()
    result = {"format": fmt, "out": str(out), "findings": len(source.findings),
              "bytes": len(data), "tlp": used.tlp, "ledger_index": index, "leaf_hash": leaf}
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(_("{count} findings of {label} written to {out} ({format}, TLP:{tlp}); "
                     "export recorded as ledger leaf {index}").format(
            count=len(source.findings), label=source.label, out=out, format=fmt,
            tlp=(used.tlp or "amber").upper(), index=index))


def _write_atomically(out: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory, so a reader never sees half."""
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(str(out), _("cannot write: {reason}").format(
            reason=exc.strerror or exc)) from None
