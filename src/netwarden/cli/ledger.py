"""``netwarden ledger verify|checkpoint|show``: check and inspect the evidence ledger."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from netwarden.cli import app
from netwarden.errors import InputError
from netwarden.ledger import Ledger
from netwarden.ledger.keys import parse_vkey
from netwarden.store import open_store

ledger_app = typer.Typer(help="The append-only evidence ledger.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")

DB = typer.Option(None, "--db", help="Database URL (default: $NETWARDEN_DB or the "
                  "installation's SQLite file).")
PIN = typer.Option([], "--key", help="Only trust checkpoints signed by this verifier key "
                   "(name+id+base64); repeatable.")
KEY_DIR = typer.Option(None, "--key-dir", help="Key directory (default: $NETWARDEN_HOME/keys).")


@ledger_app.command("verify")
def verify_command(
    db: str | None = DB,
    key: list[str] = PIN,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable report."),
) -> None:
    """Recompute the tree from storage and check every checkpoint. Exit 1 on any problem."""
    pinned = [parse_vkey(k, "--key") for k in key]
    store = open_store(db)
    try:
        report = Ledger.open(store, require_key=False).verify(pinned)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        mb = report.bytes_hashed / 1e6
        typer.echo(f"leaves: {report.size}  root: {report.root.hex()}")
        typer.echo(f"checkpoints: {report.checkpoints}  signed leaves: {report.signed_size}  "
                   f"unsigned tail: {report.unsigned_tail}")
        typer.echo(f"hashed {mb:.1f} MB in {report.seconds:.2f} s")
        for note in report.notes:
            typer.echo(f"note: {note}")
        for problem in report.problems:
            typer.secho(f"PROBLEM: {problem}", fg=typer.colors.RED, err=True)
        if report.ok:
            typer.secho("ledger OK", fg=typer.colors.GREEN)
        else:
            typer.secho(f"ledger BROKEN: first bad index {report.first_bad_index}",
                        fg=typer.colors.RED, err=True)
    if not report.ok:
        raise typer.Exit(1)


@ledger_app.command("checkpoint")
def checkpoint_command(db: str | None = DB, key_dir: Path | None = KEY_DIR,
                       tsa: str | None = typer.Option(None, "--tsa", help="RFC 3161 TSA URL "
                                                      "(default: $NETWARDEN_TSA_URL).")) -> None:
    """Sign (and optionally timestamp) a checkpoint of the current tree; print it."""
    store = open_store(db)
    try:
        cp = Ledger.open(store, key_dir, tsa).checkpoint()
    finally:
        store.close()
    typer.echo(cp.note, nl=False)


@ledger_app.command("show")
def show_command(
    db: str | None = DB,
    index: int | None = typer.Option(None, "--index", help="Print this leaf's entry and proof."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Summary of the ledger, or one leaf with its inclusion proof."""
    store = open_store(db)
    try:
        ledger = Ledger.open(store, require_key=False)
        size = ledger.size
        latest = ledger.latest_checkpoint()
        if index is None:
            out = {"size": size, "root": ledger.root().hex(),
                   "checkpoints": len(ledger.checkpoints()),
                   "latest_checkpoint": latest.note if latest else None}
        else:
            if not 0 <= index < size:
                raise InputError("--index", f"must be in 0..{size - 1}")
            proof_size = latest.size if latest and index < latest.size else size
            entry = ledger.entry(index)
            out = {"index": index, "entry": json.loads(entry),
                   "leaf_hash": ledger.leaves(_idx(index))[0][1].hex(),
                   "proof_tree_size": proof_size,
                   "inclusion_proof": [h.hex() for h in ledger.inclusion_proof(index,
                                                                               proof_size)]}
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            typer.echo(f"{k}: {json.dumps(v) if isinstance(v, dict | list) else v}")


def _idx(index: int):  # type: ignore[no-untyped-def]
    from netwarden.ledger.models import LeafRow

    return LeafRow.__table__.c.idx == index
