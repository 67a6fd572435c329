"""Terminal output shared by the commands: progress bars and summary tables (rich)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from netwarden.i18n import _, word

console = Console()
err_console = Console(stderr=True)


@contextmanager
def audit_progress(services: int, enabled: bool = True) -> Iterator[Any]:
    """A progress display for an audit; yields the pipeline's progress hook."""
    if not enabled:
        yield None
        return
    progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                        TimeElapsedColumn(), console=err_console, transient=False)
    task = progress.add_task("services", total=services, status="")
    state = {"items": 0, "bytes": 0, "findings": 0}

    def hook(kind: str, data: dict[str, Any]) -> None:
        if kind == "service_done":
            progress.advance(task)
            return
        if kind == "observation":
            obs = data["observation"]
            state["items"] += 1
            if obs.bytes_from_endpoint and obs.size:
                state["bytes"] += obs.size
            state["findings"] = data["findings"]
        elif kind == "findings":
            state["findings"] = data["findings"]
        else:
            return
        progress.update(task, status=(f"{state['items']} items · "
                                      f"{state['bytes'] / 2**20:.1f} MiB digested · "
                                      f"{state['findings']} findings"))

    with progress:
        yield hook


def summary_tables(summary: dict[str, Any]) -> list[Table]:
    """Findings per category, per host and per evidence level, as rich tables."""
    levels = ("served", "contacted", "listed")
    tables = []
    for title, key, column in ((_("Findings per category"), "by_category", _("category")),
                               (_("Findings per host"), "by_host", _("host"))):
        table = Table(title=title, title_justify="left")
        table.add_column(column)
        for level in levels:
            table.add_column(word(level), justify="right")
        for name, counts in sorted(summary[key].items()):
            table.add_row(name, *(str(counts.get(level, 0)) for level in levels))
        if not summary[key]:
            table.add_row(_("(none)"), "0", "0", "0")
        tables.append(table)
    overall = Table(title=_("Run"), title_justify="left", show_header=False)
    overall.add_column("what")
    overall.add_column("value", justify="right")
    overall.add_row(_("observations"), str(summary["observations"]))
    for outcome, n in sorted(summary["outcomes"].items()):
        overall.add_row(f"  {_('outcome')} {word(outcome)}", str(n))
    overall.add_row(_("refused (out of scope)"), str(summary["refused"]))
    overall.add_row(_("findings"), str(summary["findings"]))
    overall.add_row(_("verified distribution (served)"), str(summary["distribution"]))
    overall.add_row(_("on the operator's own hosts"), str(summary["infrastructure_findings"]))
    tables.append(overall)
    return tables
