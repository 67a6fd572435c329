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
from netwarden.i18n import _
from netwarden.store import default_db_url, open_store

bank_app = typer.Typer(help="Reference banks: import bank files, list and show banks.",
                       no_args_is_help=True)
app.add_typer(bank_app, name="bank")

SHOWN_PROBLEMS = 50
DbOption = Annotated[str | None, typer.Option(
    "--db", help="Database URL (default: $NETWARDEN_DB or ~/.netwarden/netwarden.sqlite).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _fail(exc: InputError) -> typer.Exit:
    # the problem in the chosen language where the catalog has it; names stay as given
    location = f"{exc.source}: {exc.where}" if exc.where else exc.source
    typer.secho(f"{_('error:')} {location}: {_(exc.problem)}", err=True, fg=typer.colors.RED)
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
            task = progress.add_task(_("importing {file}").format(file=file), total=None)
            report = banks.import_file(
                name, category, fmt, file, signal=signal, negative=negative,
                pdq_threshold=threshold, dihedral=dihedral,
                progress=lambda n: progress.update(task, description=_(
                    "importing {file}: {records} records").format(file=file,
                                                                   records=f"{n:,}")))
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
        what = (_("{bad} bad").format(bad=report.bad) if report.bad
                else _("the file holds no entry"))
        typer.secho(f"{_('error:')} {file}: " + _("no usable entry ({what})").format(what=what),
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(2)


def _print_report(report: ImportReport) -> None:
    typer.echo(_("bank {bank} ({category}) ← {source} [{format}]: {added} added, "
                 "{duplicates} duplicate, {bad} bad").format(
        bank=report.bank, category=report.category, source=report.source, format=report.format,
        added=report.added, duplicates=report.duplicates, bad=report.bad))
    for problem in report.problems[:SHOWN_PROBLEMS]:
        typer.echo("  " + _("bad: {problem}").format(problem=problem))
    if report.bad > SHOWN_PROBLEMS:
        typer.echo("  " + _("... and {more} more bad records (--json lists up to {listed})")
                   .format(more=report.bad - SHOWN_PROBLEMS, listed=len(report.problems)))


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
    table = Table(_("bank"), _("category"), _("references"), _("digests"), _("algorithms"))
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
    typer.echo(_("bank {name}\n  category: {category}\n  created: {created}\n"
                 "  references: {references}\n  digests: {digests}").format(
        name=info.name, category=info.category, created=info.created_at.isoformat(),
        references=f"{info.references:,}", digests=f"{info.digests:,}"))
    for alg, count in info.algorithms.items():
        typer.echo(f"    {alg}: {count:,}")
    table = Table(_("imported at"), _("format"), _("source"), "sha256", _("added"),
                  _("duplicate"), _("bad"))
    for i in info.imports:
        table.add_row(i.imported_at.isoformat(timespec="seconds"), i.format, i.source,
                      (i.source_sha256 or "-")[:16], str(i.added), str(i.duplicates), str(i.bad))
    Console().print(table)
