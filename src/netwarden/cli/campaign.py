"""``netwarden campaign run|status`` and ``netwarden report`` (campaign and operator reports)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from netwarden.cli import app
from netwarden.cli._ui import console, err_console
from netwarden.errors import InputError
from netwarden.i18n import N_, _
from netwarden.store import open_store

campaign_app = typer.Typer(help="Audit many operators: run a campaign, see where it stands.",
                           no_args_is_help=True)
app.add_typer(campaign_app, name="campaign")


class _Bars:
    """Overall and per-operator progress bars, fed from the job rows the workers update."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                                 TimeElapsedColumn(), console=err_console)
        self.tasks: dict[int, Any] = {}
        self.overall: Any = None

    def __enter__(self) -> _Bars:
        if self.enabled:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.__exit__(None, None, None)

    def update(self, jobs: list[dict[str, Any]]) -> None:
        if not self.enabled:
            return
        live = [j for j in jobs if j["status"] != "dropped"]
        done = sum(1 for j in live if j["status"] == "finished")
        if self.overall is None:
            self.overall = self.progress.add_task("[bold]campaign", total=len(live), status="")
        self.progress.update(self.overall, completed=done, status=(
            f"{sum(j['findings'] for j in live)} findings · "
            f"{sum(1 for j in live if j['status'] == 'running')} running"))
        for job in live:
            if job["status"] == "pending" and job["id"] not in self.tasks:
                continue
            if job["id"] not in self.tasks:
                self.tasks[job["id"]] = self.progress.add_task(
                    f"  {job['operator'][:32]}", total=max(job["services"], 1), status="")
            self.progress.update(self.tasks[job["id"]], completed=job["services_done"], status=(
                f"{job['status']} · {job['observations']} items · {job['findings']} findings"
                + (f" · attempt {job['attempts']}" if job["attempts"] > 1 else "")))


@campaign_app.command("run")
def campaign_run(
    campaign_file: Path = typer.Argument(..., help="The campaign file (campaign.toml)."),
    executor: str = typer.Option("local", "--executor", help="local (worker processes on "
                                 "this machine) or ray (tasks on a Ray cluster)."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster address "
                                       "(HOST:PORT; default $RAY_ADDRESS or a local cluster)."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: the "
                                  "installation's SQLite file, or $NETWARDEN_DB)."),
    workers: int | None = typer.Option(None, "--workers", min=1, max=256,
                                       help="Parallel audits (default: the campaign file's)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress."),
) -> None:
    """Run a campaign, or resume it where it stopped (finished operators are not re-audited)."""
    import dataclasses

    from netwarden.campaign import load_campaign, make_executor, run_campaign
    from netwarden.cli.audit import _open_ledger

    campaign = load_campaign(campaign_file)
    if workers is not None:
        campaign = dataclasses.replace(campaign, workers=workers)
    store = open_store(db)
    try:
        from netwarden.banks import BankStore
        from netwarden.cli._checks import check_banks, scope_banks

        # every bank named by the campaign or a scope exists (or is imported by [[banks]])
        named = [(b, str(campaign.source), f"campaign.banks[{i}]")
                 for i, b in enumerate(campaign.banks)]
        if not campaign.banks:
            named += [n for entry in campaign.operators for n in scope_banks(entry.scope)]
        check_banks(named, BankStore(store), also=[b.name for b in campaign.bank_files])
        ledger = _open_ledger(store, create_key=False)
        runner = make_executor(executor, store.url if db is None else db, address)
        try:
            with _Bars(progress and not as_json) as bars:
                result = run_campaign(campaign, store, ledger, runner, on_update=bars.update)
        finally:
            runner.close()
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"campaign": result.name, "complete": result.complete,
                               "missed_deadline": result.missed_deadline,
                               "recovered": result.recovered, "events": result.events,
                               "jobs": result.jobs}, indent=2, ensure_ascii=False))
    else:
        console.print(_jobs_table(result.name, result.jobs))
        for event in result.events:
            console.print(f"[yellow]{event}[/]")
        if result.missed_deadline:
            console.print("[red]deadline passed: operators left unaudited[/]")
    if not result.complete:
        raise typer.Exit(1)


def _jobs_table(name: str, jobs: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Campaign {name}", title_justify="left")
    for column in ("operator", "status", "attempts", "observations", "findings", "served",
                   "run"):
        table.add_column(column, justify="right" if column in (
            "attempts", "observations", "findings", "served") else "left")
    for j in jobs:
        table.add_row(j["operator"], j["status"], str(j["attempts"]), str(j["observations"]),
                      str(j["findings"]), str(j["served"]), j["run_id"] or "—")
    return table


@campaign_app.command("status")
def campaign_status(
    name: str = typer.Argument(..., help="Campaign name (its [campaign] name)."),
    db: str | None = typer.Option(None, "--db", help="Database URL."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Where a campaign stands: each operator's state, attempts (interrupted ones too)."""
    from netwarden.campaign import state

    store = open_store(db)
    try:
        row = state.campaign_row(store, name)
        if row is None:
            raise InputError("campaign", f"no campaign named {name!r} in {store.url}")
        jobs, attempts = state.jobs(store, name), state.attempts(store, name)
    finally:
        store.close()
    if as_json:
        typer.echo(state.dumps({"campaign": row, "jobs": jobs, "attempts": attempts}))
        return
    console.print(f"[bold]{name}[/]: {row['status']}; deadline {row['deadline'] or 'none'}; "
                  f"{sum(j['status'] == 'finished' for j in jobs)}/{len(jobs)} operators done")
    console.print(_jobs_table(name, jobs))
    bad = [a for a in attempts if a["status"] in ("interrupted", "failed")]
    if bad:
        table = Table(title="Interrupted or failed attempts (their leaves stay in the ledger)",
                      title_justify="left")
        for column in ("operator", "attempt", "status", "run", "leaf", "reason"):
            table.add_column(column)
        for a in bad:
            table.add_row(a["operator"], str(a["attempt"]), a["status"], a["run_id"] or "—",
                          str(a["interrupted_leaf"]) if a["interrupted_leaf"] is not None
                          else "—", (a["error"] or "")[:80])
        console.print(table)


@app.command("report")
def report(
    campaign: str | None = typer.Option(None, "--campaign", help="Report on this campaign."),
    operator: str | None = typer.Option(None, "--operator", help="Report on this operator "
                                        "(within --campaign if given, else its finished runs)."),
    out: Path | None = typer.Option(None, "--out", help="Directory to write report.html "
                                    "(and .pdf); with --run, the run directory itself."),
    pdf: bool = typer.Option(False, "--pdf", help="Also write report.pdf (WeasyPrint)."),
    run: Path | None = typer.Option(None, "--run", help="A run directory: with --scope, "
                                    "write its report.html again (in the current language, "
                                    "with its review and sign-off); with --pdf, report.pdf."),
    scope: Path | None = typer.Option(None, "--scope", help="With --run: the scope file the "
                                      "run acted under (checked against its SHA-256)."),
    db: str | None = typer.Option(None, "--db", help="Database URL."),
) -> None:
    """Write a campaign or operator report with charts (HTML, optionally PDF), or a run's
    report again (--run DIR --scope FILE) and print it to A4 PDF (--pdf)."""
    from netwarden.report.campaign import build_report, write_report

    if run is not None:
        if scope is not None:
            _run_again(run, scope, out, db)
        elif not pdf:
            raise InputError("report", N_("with --run, give --scope FILE (to write the "
                                          "report again) or --pdf (to print it)"))
        if pdf:
            # the page just written (under --out when given), else the run's own
            _run_pdf(out if scope is not None and out is not None else run, out)
        return
    if not campaign and not operator:
        raise InputError("report", N_("give --campaign NAME or --operator NAME (or both), "
                                      "or --run DIR"))
    if out is None:
        raise InputError("report", N_("give --out DIR"))
    store = open_store(db)
    try:
        data = build_report(store, campaign=campaign, operator=operator)
    finally:
        store.close()
    paths = write_report(data, out, pdf=pdf)
    for path in paths:
        console.print(_("wrote [bold]{path}[/]").format(path=path))


def _run_again(run: Path, scope_path: Path, out: Path | None, db: str | None) -> None:
    """``report.html`` of a finished run, rendered again with its review state."""
    from netwarden.report.html import render_report
    from netwarden.report.rerun import load_run, reviews_of
    from netwarden.scope import load_scope

    scope = load_scope(scope_path)
    store = open_store(db)
    try:
        result = load_run(run, scope, store)
        reviews = reviews_of(store, [f.id for f in result.findings])
    finally:
        store.close()
    target = (out or run) / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(result, reviews=reviews), encoding="utf-8")
    console.print(_("wrote [bold]{path}[/]").format(path=target))


def _run_pdf(run: Path, out: Path | None) -> None:
    """``report.pdf`` of a run directory, printed from its ``report.html`` (its language and
    A4 print stylesheet come with the page)."""
    from netwarden.report.html import write_pdf

    page = run / "report.html"
    if not page.is_file():
        raise InputError(str(run), N_("is not a run directory: no report.html"))
    target = (out or run) / "report.pdf"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_pdf(page.read_text(encoding="utf-8"), target, base_url=str(run))
    console.print(_("wrote [bold]{path}[/]").format(path=target))
