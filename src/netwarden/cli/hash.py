"""``netwarden hash [--json] FILE...``: the digests netwarden matches on, per file.

The same engine the collectors use (:mod:`netwarden.digest`), so an analyst can check a
reference file or a seized copy against a bank or a finding by hand. Files are hashed on one
thread per CPU; output keeps the order of the arguments. A file that cannot be read is named on
stderr and the others are still hashed; the exit code is then 2.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from netwarden.cli import app
from netwarden.digest import ALGORITHMS, DigestResult, hash_files
from netwarden.errors import InputError


def _printable(text: str) -> str:
    """A file name as text any terminal and JSON parser takes: undecodable bytes as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _total_size(files: list[Path]) -> int:
    total = 0
    for path in files:
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


def _results(files: list[Path], show_progress: bool,
             err: Console) -> list[tuple[Path, DigestResult | InputError]]:
    if not show_progress:
        return list(hash_files(files))
    progress = Progress(TextColumn("[bold]hashing"), BarColumn(), DownloadColumn(),
                        TransferSpeedColumn(), console=err, transient=True)
    with progress:
        task = progress.add_task("hash", total=_total_size(files))
        return list(hash_files(files, progress=lambda n: progress.advance(task, n)))


@app.command("hash")
def hash_command(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help="Files to hash.",
                                                show_default=False)],
    json_output: Annotated[bool, typer.Option(
        "--json", help="One JSON object per file and line (path, size, md5, sha1, sha256, "
                       "ed2k, tth).")] = False,
) -> None:
    """Print MD5, SHA-1, SHA-256, ED2K and TTH of each FILE (one streaming pass per file).

    Hex digests are lowercase; TTH is base32 in upper case, as DC clients print it.
    """
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    results = _results(files, show_progress=err.is_terminal and not json_output, err=err)
    failed = False
    for path, result in results:
        if isinstance(result, InputError):
            failed = True
            err.print(Text.assemble(("error:", "red"), " ", _printable(str(result))))
            continue
        if json_output:
            record = {"path": _printable(os.fspath(path)), **result.as_dict()}
            typer.echo(json.dumps(record))
            continue
        table = Table(title=Text(f"{_printable(os.fspath(path))}  ({result.size:,} bytes)"),
                      title_justify="left", show_header=False, box=box.SIMPLE)
        table.add_column("digest", style="bold")
        table.add_column("value", overflow="fold")
        digests = result.as_dict()
        for name in ALGORITHMS:
            table.add_row(name, str(digests[name]))
        out.print(table)
    if failed:
        raise typer.Exit(code=2)
