"""``netwarden key init|show``: the Ed25519 key that signs ledger checkpoints."""

from __future__ import annotations

from pathlib import Path

import typer

from netwarden.cli import app
from netwarden.ledger.keys import init_key, load_key

key_app = typer.Typer(help="The ledger's checkpoint-signing key.", no_args_is_help=True)
app.add_typer(key_app, name="key")

KEY_DIR = typer.Option(None, "--key-dir", help="Key directory (default: $NETWARDEN_HOME/keys).")


@key_app.command("init")
def init_command(
    name: str | None = typer.Option(None, "--name", help="Key name, also the checkpoints' origin "
                                    "line (default: netwarden-ledger-<random>)."),
    rotate: bool = typer.Option(False, "--rotate", help="Replace an existing key; the old one "
                                "is kept as *.retired and stays valid for old checkpoints."),
    key_dir: Path | None = KEY_DIR,
) -> None:
    """Create the signing key and print its public verifier key (publish it)."""
    key = init_key(key_dir, name, rotate=rotate)
    typer.echo(key.public.vkey)


@key_app.command("show")
def show_command(key_dir: Path | None = KEY_DIR) -> None:
    """Print the public verifier key: name+keyid+base64(0x01||Ed25519 key)."""
    typer.echo(load_key(key_dir).public.vkey)
