"""``netwarden audit`` and ``netwarden demo``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import typer

from netwarden.cli import EXIT_INCOMPLETE, app
from netwarden.cli._checks import (
    check_banks,
    prepare_out_dir,
    report_failed_services,
    scope_banks,
)
from netwarden.cli._ui import audit_progress, console, err_console, summary_tables
from netwarden.errors import InputError
from netwarden.i18n import N_, _
from netwarden.pipeline import RunResult, run_audit
from netwarden.scope import load_scope
from netwarden.store import Store, open_store


def _open_ledger(store: Store, create_key: bool) -> Any:
    from netwarden.ledger import Ledger
    from netwarden.ledger.keys import KeyMissingError, init_key

    try:
        return Ledger.open(store)
    except KeyMissingError:
        if not create_key:
            raise InputError("signing key", N_("no ledger signing key: run `netwarden key "
                                               "init` first (checkpoints must be signed)")
                             ) from None
        init_key()
        return Ledger.open(store)


def _attributor(scope: Any) -> Any:
    """Index the provider logs the scope names (cached under the installation's home)."""
    from netwarden.attribute import Attributor
    from netwarden.store.base import default_home

    return Attributor.from_scope(scope, default_home() / "cache" / "attribution")


def _print_result(result: RunResult, as_json: bool) -> int:
    """Print the summary; returns how many services could not be checked (on stderr)."""
    if as_json:
        typer.echo(json.dumps(result.summary, indent=2, ensure_ascii=False))
    else:
        for table in summary_tables(result.summary):
            console.print(table)
        console.print(_("Run directory: [bold]{dir}[/] (findings.jsonl, summary.json, "
                        "report.html, run.log)").format(dir=result.out_dir))
    return report_failed_services(result.services,
                                  lambda line: err_console.print(line, style="red",
                                                                 markup=False,
                                                                 highlight=False))


@app.command()
def audit(
    scope: Path = typer.Option(..., "--scope", help="The scope file (scope.toml)."),
    out: Path = typer.Option(..., "--out", help="Run directory to write."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: the "
                                  "installation's SQLite file, or $NETWARDEN_DB)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress."),
    force: bool = typer.Option(False, "--force", help="Replace the run already in --out "
                               "(its files are removed; its ledger entries stay)."),
    allow_wide: bool = typer.Option(False, "--allow-wide", help="Accept scope prefixes wider "
                                    "than /8 (IPv4) or /32 (IPv6)."),
) -> None:
    """Audit the services of a scope file and write the run directory.

    Exit 0 when every service was checked, 3 when at least one could not be (each is named
    on stderr), 2 for bad input (the scope file, --out, bank names).
    """
    loaded = load_scope(scope, allow_wide=allow_wide)
    loaded.require_window()
    store = open_store(db)
    try:
        from netwarden.banks import BankStore

        check_banks(scope_banks(loaded), BankStore(store))
        prepare_out_dir(out, force)
        ledger = _open_ledger(store, create_key=False)
        attributor = _attributor(loaded)
        try:
            with audit_progress(len(loaded.services), progress and not as_json) as hook:
                result = run_audit(loaded, out, BankStore(store), ledger=ledger, store=store,
                                   progress=hook, attributor=attributor)
        finally:
            attributor.close()
        failed = _print_result(result, as_json)
    finally:
        store.close()
    if failed:
        raise typer.Exit(EXIT_INCOMPLETE)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-run"), "--out", help="Run directory to write."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: the "
                                  "installation's SQLite file, or $NETWARDEN_DB)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    force: bool = typer.Option(False, "--force", help="Replace the run already in --out."),
) -> None:
    """Start a loopback operator network, import a generated bank, audit it, report.

    Everything is synthetic and on 127.77.0.0/16; the servers stop when the demo ends.
    """
    from netwarden.banks import BankStore
    from netwarden.testbed import DemoNetwork

    prepare_out_dir(out, force)
    store = open_store(db)
    try:
        bank_store = BankStore(store)
        ledger = _open_ledger(store, create_key=True)
        with tempfile.TemporaryDirectory(prefix="netwarden-demo-") as work, \
                DemoNetwork(Path(work)) as net:
            names = []
            for name, category, fmt, path in net.banks:
                report = bank_store.import_file(name, category, fmt, path)
                names.append(name)
                if not as_json:
                    console.print(_("bank [bold]{name}[/] ({category}, {fmt}): {added} added, "
                                    "{duplicates} already there").format(
                        name=name, category=category, fmt=fmt, added=report.added,
                        duplicates=report.duplicates))
            scope = load_scope(net.scope_path)
            attributor = _attributor(scope)
            try:
                with audit_progress(len(scope.services), not as_json) as hook:
                    result = run_audit(scope, out, bank_store, ledger=ledger, store=store,
                                       banks=names, progress=hook, attributor=attributor)
            finally:
                attributor.close()
            found = {(f.host, f.location, f.reference) for f in result.findings
                     if f.evidence_level.value == "served"}
            expected = set(net.expected)
        failed = _print_result(result, as_json)
        if not as_json:
            console.print(_("Planted copies found: [bold]{found}[/] of {expected}; unexpected "
                            "findings: {unexpected}").format(
                found=len(found & expected), expected=len(expected),
                unexpected=len(found - expected)))
            console.print(_("Open [bold]{path}[/] in a browser.").format(
                path=out / "report.html"))
        if found != expected:
            raise typer.Exit(1)
        if failed:
            raise typer.Exit(EXIT_INCOMPLETE)
    finally:
        store.close()
