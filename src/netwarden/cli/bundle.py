"""``netwarden bundle export|verify``: evidence a third party checks offline."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from netwarden.cli import app
from netwarden.errors import InputError
from netwarden.i18n import N_, _, pgettext
from netwarden.ledger import Ledger
from netwarden.ledger.bundle import BundleError, export_bundle, verify_bundle
from netwarden.ledger.keys import parse_vkey
from netwarden.ledger.select import finding_indices, operator_indices, run_dir_indices
from netwarden.store import open_store

bundle_app = typer.Typer(help="Evidence bundles (zip) for offline verification.",
                         no_args_is_help=True)
app.add_typer(bundle_app, name="bundle")

OUT = typer.Option(..., "--out", help="The zip file to write.")
RUN = typer.Option(None, "--run", help="All findings of a run directory (its findings.jsonl).")
KEY_DIR = typer.Option(None, "--key-dir", help="Key directory (default: $NETWARDEN_HOME/keys).")
FILE = typer.Argument(..., help="The bundle zip.")


@bundle_app.command("export")
def export_command(
    out: Path = OUT,
    reason: str = typer.Option(..., "--reason", help="Why it is exported (custody record)."),
    finding: str | None = typer.Option(None, "--finding", help="Match id of one finding."),
    operator: str | None = typer.Option(None, "--operator", help="All findings of this "
                                        "operator's runs."),
    run: Path | None = RUN,
    by: str | None = typer.Option(None, "--by", help="Who exports (default: the OS user)."),
    db: str | None = typer.Option(None, "--db", help="Database URL."),
    key_dir: Path | None = KEY_DIR,
) -> None:
    """Export findings with proofs; the export itself is appended as a custody leaf."""
    chosen = [x for x in (finding, operator, run) if x is not None]
    if len(chosen) != 1:
        raise InputError("bundle export",
                         N_("give exactly one of --finding, --operator, --run"))
    if not reason.strip():
        raise InputError("--reason", N_("must say why the bundle is exported"))
    store = open_store(db)
    try:
        ledger = Ledger.open(store, key_dir)
        if finding is not None:
            indices, what = finding_indices(ledger, finding), f"finding {finding}"
        elif operator is not None:
            indices, what = operator_indices(ledger, operator), f"operator {operator}"
        else:
            assert run is not None
            indices, what = run_dir_indices(ledger, run), f"run directory {run.name}"
        result = export_bundle(ledger, indices, out, reason=reason,
                               by=by or getpass.getuser(), what=what)
    finally:
        store.close()
    typer.echo(_("wrote {path} ({entries} entries, checkpoint size {size}, custody leaf "
                 "{index})").format(path=result.path, entries=result.entries,
                                    size=result.checkpoint_size, index=result.custody_index))
    typer.echo(f"sha256 {result.sha256}")


@bundle_app.command("verify")
def verify_command(
    file: Path = FILE,
    key: str | None = typer.Option(None, "--key", help="Expected verifier key "
                                   "(name+id+base64); default: trust keys.txt in the bundle."),
    witness: list[str] = typer.Option([], "--witness", help="Expected witness cosignature "
                                      "key (type 0x04); default: witnesses.txt in the bundle; "
                                      "repeatable."),
    quorum: int = typer.Option(0, "--quorum", help="Reject unless this many witnesses "
                               "cosigned the checkpoint."),
    tiles: str | None = typer.Option(None, "--tiles", help="Also check the bundle against the "
                                     "operator's published tile tree (directory or URL): "
                                     "proofs computed from tiles."),
) -> None:
    """Check a bundle offline: signatures, proofs, links, custody, container. Exit 1 if bad."""
    from netwarden.ledger.bundle import check_against_tiles
    from netwarden.ledger.cosign import parse_cosigner_vkey

    if not file.is_file():
        raise InputError(str(file), N_("no such file"))
    pinned = parse_vkey(key, "--key") if key else None
    witnesses = [parse_cosigner_vkey(w, "--witness") for w in witness] if witness else None
    try:
        report = verify_bundle(file, pinned, witnesses, quorum)
        if tiles is not None:
            report.checks += check_against_tiles(file, tiles, pinned)
    except BundleError as exc:
        typer.secho(_("bundle REJECTED: {problem}").format(problem=exc), fg=typer.colors.RED,
                    err=True)
        raise typer.Exit(1) from None
    ok, note = pgettext("verification", "ok"), _("note:")
    for check in report.checks:
        typer.echo(f"{ok}  {check}")
    for ts in report.timestamps:
        typer.echo(f"{ok}  " + _("RFC 3161 time {time}").format(time=ts))
    for line in report.cosignatures:
        typer.echo(f"{ok}  {line}" if line.startswith("cosigned") else f"{note} {line}")
    if pinned is None:
        typer.echo(f"{note} " + _("compare the key with the one the operator published: "
                                  "{key}").format(key=report.key))
    typer.secho(_("bundle VERIFIED"), fg=typer.colors.GREEN)
