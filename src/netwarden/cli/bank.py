"""``netwarden bank import|list|show``: manage reference banks.

Exit codes: 0 when the import added or re-confirmed entries (bad lines are listed, not fatal);
2 when the file itself is unusable or holds no usable entry, or an option is invalid.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from netwarden.banks import BankInfo, BankStore, ImportReport
from netwarden.banks.formats import available_formats
from netwarden.cli import app
from netwarden.errors import InputError
from netwarden.store import default_db_url, open_store

bank_app = typer.Typer(help="Reference banks: import bank files, list and show banks.",
                       no_args_is_help=True)
app.add_typer(bank_app, name="bank")

SHOWN_PROBLEMS = 50
DbOption = Annotated[str | None, typer.Option(
    "--db", help="Database URL (default: $NETWARDEN_DB or ~/.netwarden/netwarden.sqlite).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _fail(exc: InputError) -> typer.Exit:
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
    return typer.Exit(2)


def _open(db: str | None) -> BankStore:
    return BankStore(open_store(db or default_db_url()))


@bank_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="Bank file (or, for torrent, a directory).")],
    name: Annotated[str, typer.Option("--name", help="Bank name (created if new).")],
    category: Annotated[str, typer.Option("--category", help="Category slug, e.g. films.")],
    fmt: Annotated[str, typer.Option(
        "--format", help=f"Bank file format: {', '.join(available_formats())}.")],
    signal: Annotated[str | None, typer.Option(
        "--signal", help="Type of bare hashes in hma/hma-csv files (pdq, vpdq, md5...).")] = None,
    negative: Annotated[bool | None, typer.Option(
        "--negative/--positive", help="Allow-list bank: its hits suppress perceptual matches "
                                      "(default: on for categories allow-list/known-good "
                                      "and the nsrl format).")] = None,
    threshold: Annotated[int | None, typer.Option(
        "--threshold", help="PDQ Hamming distance for this bank (default 31).")] = None,
    dihedral: Annotated[bool | None, typer.Option(
        "--dihedral/--no-dihedral", help="Also match rotated/flipped images (PDQ).")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import FILE into bank NAME; bad lines are reported and the good ones kept."""
    err = Console(stderr=True)
    try:
        banks = _open(db)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=err, transient=True,
                      disable=as_json or not sys.stderr.isatty()) as progress:
            task = progress.add_task(f"importing {file}", total=None)
            report = banks.import_file(
                name, category, fmt, file, signal=signal, negative=negative,
                pdq_threshold=threshold, dihedral=dihedral,
                progress=lambda n: progress.update(task, description=f"importing {file}: "
                                                                     f"{n:,} records"))
    except InputError as exc:
        raise _fail(exc) from None
    # An empty file is as unusable as one of bad lines: importing it leaves no bank to audit
    # against (docs/banks.md promises exit 2 for both).
    unusable = report.entries == 0
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        _print_report(report)
    if unusable:
        what = f"{report.bad} bad" if report.bad else "the file holds no entry"
        typer.secho(f"error: {file}: no usable entry ({what})", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(2)


def _print_report(report: ImportReport) -> None:
    typer.echo(f"bank {report.bank} ({report.category}) ← {report.source} [{report.format}]: "
               f"{report.added} added, {report.duplicates} duplicate, {report.bad} bad")
    for problem in report.problems[:SHOWN_PROBLEMS]:
        typer.echo(f"  bad: {problem}")
    if report.bad > SHOWN_PROBLEMS:
        typer.echo(f"  ... and {report.bad - SHOWN_PROBLEMS} more bad records (--json lists "
                   f"up to {len(report.problems)})")


@bank_app.command("list")
def list_command(
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the banks with their categories and sizes."""
    try:
        banks = _open(db).list_banks()
    except InputError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps([b.as_json() for b in banks], indent=2))
        return
    table = Table("bank", "category", "references", "digests", "algorithms")
    for b in banks:
        table.add_row(b.name, b.category, f"{b.references:,}", f"{b.digests:,}",
                      ", ".join(f"{k} {v:,}" for k, v in b.algorithms.items()))
    Console().print(table)


@bank_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Bank name.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one bank: counts per algorithm and every import (file, SHA-256, counts)."""
    try:
        info: BankInfo = _open(db).show(name)
    except InputError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(info.as_json(), indent=2))
        return
    typer.echo(f"bank {info.name}\n  category: {info.category}\n"
               f"  created: {info.created_at.isoformat()}\n"
               f"  references: {info.references:,}\n  digests: {info.digests:,}")
    for alg, count in info.algorithms.items():
        typer.echo(f"    {alg}: {count:,}")
    table = Table("imported at", "format", "source", "sha256", "added", "duplicate", "bad")
    for i in info.imports:
        table.add_row(i.imported_at.isoformat(timespec="seconds"), i.format, i.source,
                      (i.source_sha256 or "-")[:16], str(i.added), str(i.duplicates), str(i.bad))
    Console().print(table)
