"""``netwarden hash [--json] FILE...``: the digests netwarden matches on, per file.

The same engines the collectors use (:mod:`netwarden.digest` for the exact digests,
:mod:`netwarden.digest.perceptual` for PDQ and vPDQ), so an analyst can check a reference file
or a seized copy against a bank or a finding by hand. Files are hashed on one thread per CPU;
output keeps the order of the arguments. A file that cannot be read is named on stderr and the
others are still hashed; the exit code is then 2.

Images and videos (by extension or magic bytes) are also decoded in memory, as a collector
does: images get ``pdq``, ``pdq_quality`` and ``image``; videos ``vpdq`` (SHA-256 of the signal,
as in an observation) and ``vpdq_summary``; ``--signal`` adds the dihedral variants and the full
vPDQ signal (what a bank file holds). Media that cannot be decoded keep their exact digests and
say why under ``perceptual`` — an outcome, not an error (exit code unchanged).
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
from netwarden.digest import DigestResult, computed_algorithms, hash_files
from netwarden.digest.perceptual import perceptual_of_file
from netwarden.errors import InputError
from netwarden.i18n import _


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
    progress = Progress(TextColumn("[bold]" + _("hashing")), BarColumn(), DownloadColumn(),
                        TransferSpeedColumn(), console=err, transient=True)
    with progress:
        task = progress.add_task("hash", total=_total_size(files))
        return list(hash_files(files, progress=lambda n: progress.advance(task, n)))


def perceptual_fields(path: Path, result: DigestResult, *, signal: bool = False
                      ) -> dict[str, object]:
    """The perceptual fields of one hashed file's JSON line (empty for non-media files)."""
    outcome = perceptual_of_file(path, size=result.size, sha256=result.sha256)
    fields: dict[str, object] = {}
    details = outcome.details
    if "pdq" in outcome.digests:
        fields.update(pdq=outcome.digests["pdq"], pdq_quality=details["pdq_quality"],
                      image=details["image"])
        if signal:
            fields["pdq_dihedral"] = details["pdq_dihedral"]
    if "vpdq" in outcome.digests:
        video = dict(details["vpdq"])
        features = video.pop("features")
        video.pop("thinned", None)
        fields.update(vpdq=outcome.digests["vpdq"], vpdq_summary=video)
        if signal:
            fields["vpdq_signal"] = outcome.vpdq_signal
            fields["vpdq_unique_features"] = features
    if "perceptual" in details:
        fields["perceptual"] = details["perceptual"]
    return fields


def _summary_text(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


@app.command("hash")
def hash_command(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", help="Files to hash.",
                                                show_default=False)],
    json_output: Annotated[bool, typer.Option(
        "--json", help="One JSON object per file and line (path, size, md5, sha1, sha256, "
                       "ed2k, tth; pdq, pdq_quality, image for images; vpdq, vpdq_summary "
                       "for videos; perceptual when media could not be decoded).")] = False,
    perceptual: Annotated[bool, typer.Option(
        "--perceptual/--no-perceptual",
        help="Also decode images and videos in memory for PDQ / vPDQ.")] = True,
    signal: Annotated[bool, typer.Option(
        "--signal", help="Also print the 8 dihedral PDQ variants and the full vPDQ signal "
                         "(hex,quality,seconds per sampled frame), as banks hold them.")
    ] = False,
) -> None:
    """Print MD5, SHA-1, SHA-256, ED2K and TTH of each FILE (one streaming pass per file),
    and PDQ (images) or a vPDQ summary (videos).

    Hex digests are lowercase; TTH is base32 in upper case, as DC clients print it. PDQ hex is
    threatexchange's; quality below 50 is never matched.
    """
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    results = _results(files, show_progress=err.is_terminal and not json_output, err=err)
    failed = False
    for path, result in results:
        if isinstance(result, InputError):
            failed = True
            location = f"{result.source}: {result.where}" if result.where else result.source
            err.print(Text.assemble((_("error:"), "red"), " ",
                                    _printable(f"{location}: {_(result.problem)}")))
            continue
        extra = perceptual_fields(path, result, signal=signal) if perceptual else {}
        if json_output:
            record = {"path": _printable(os.fspath(path)), **result.as_dict(), **extra}
            typer.echo(json.dumps(record))
            continue
        size = _("{size} bytes").format(size=f"{result.size:,}")
        table = Table(title=Text(f"{_printable(os.fspath(path))}  ({size})"),
                      title_justify="left", show_header=False, box=box.SIMPLE)
        table.add_column("digest", style="bold")
        table.add_column("value", overflow="fold")
        digests = result.as_dict()
        for name in computed_algorithms():
            table.add_row(name, str(digests[name]))
        for name, value in extra.items():
            if isinstance(value, list):
                value = "\n".join(str(v) for v in value)
            table.add_row(name, _summary_text(value))
        out.print(table)
    if failed:
        raise typer.Exit(code=2)
