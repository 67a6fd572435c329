"""``netwarden ledger verify|checkpoint|show|publish|witness``: check, inspect, publish and
witness the evidence ledger."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from netwarden.cli import app
from netwarden.errors import InputError
from netwarden.i18n import N_, _, pgettext
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


WITNESS_KEY = typer.Option([], "--witness", help="A witness's cosignature key "
                           "(name+id+base64, type 0x04) whose cosignatures are checked and "
                           "reported; repeatable.")
WITNESS_AT = typer.Option([], "--witness", help="'URL VKEY' of a witness to gather a "
                          "cosignature from (default: $NETWARDEN_WITNESSES); repeatable.")


def _endpoints(values: list[str]):  # type: ignore[no-untyped-def]
    from netwarden.ledger.witness import parse_endpoints

    return parse_endpoints(",".join(values), "--witness") if values else None


@ledger_app.command("verify")
def verify_command(
    db: str | None = DB,
    key: list[str] = PIN,
    tiles: str | None = typer.Option(None, "--tiles", help="Verify a published tile tree "
                                     "(directory or http(s) URL prefix) instead of the "
                                     "database; needs --key."),
    witness: list[str] = WITNESS_KEY,
    quorum: int = typer.Option(0, "--quorum", help="With --tiles: fail unless this many "
                               "--witness keys cosigned the checkpoint."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable report."),
) -> None:
    """Recompute the tree from storage (or from published tiles) and check every checkpoint.
    Exit 1 on any problem."""
    pinned = [parse_vkey(k, "--key") for k in key]
    if tiles is not None:
        _verify_tiles(tiles, pinned, witness, quorum, as_json)
        return
    store = open_store(db)
    try:
        report = Ledger.open(store, require_key=False).verify(pinned)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        mb = report.bytes_hashed / 1e6
        typer.echo(_("leaves: {size}  root: {root}").format(size=report.size,
                                                            root=report.root.hex()))
        typer.echo(_("checkpoints: {checkpoints}  signed leaves: {signed}  unsigned tail: "
                     "{tail}").format(checkpoints=report.checkpoints, signed=report.signed_size,
                                      tail=report.unsigned_tail))
        typer.echo(_("hashed {mb} MB in {seconds} s").format(mb=f"{mb:.1f}",
                                                             seconds=f"{report.seconds:.2f}"))
        for note in report.notes:
            typer.echo(f"{_('note:')} {note}")
        for problem in report.problems:
            typer.secho(_("PROBLEM: {problem}").format(problem=problem), fg=typer.colors.RED,
                        err=True)
        if report.ok:
            typer.secho(_("ledger OK"), fg=typer.colors.GREEN)
        else:
            typer.secho(_("ledger BROKEN: first bad index {index}").format(
                index=report.first_bad_index), fg=typer.colors.RED, err=True)
    if not report.ok:
        raise typer.Exit(1)


def _verify_tiles(location: str, pinned: list, witness: list[str], quorum: int,  # type: ignore[type-arg]
                  as_json: bool) -> None:
    from netwarden.ledger.cosign import parse_cosigner_vkey
    from netwarden.ledger.tiles import TileError, TileSource, verify_tiles

    if not pinned:
        raise InputError("--key", N_("verifying tiles needs the log's verifier key (--key)"))
    witnesses = [parse_cosigner_vkey(w, "--witness") for w in witness]
    try:
        with TileSource(location) as source:
            report = verify_tiles(source, pinned, witnesses, quorum)
    except TileError as exc:
        if as_json:
            typer.echo(json.dumps({"ok": False, "problem": str(exc)}, indent=2))
        typer.secho(_("tiles BROKEN: {problem}").format(problem=exc), fg=typer.colors.RED,
                    err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    ok, note = pgettext("verification", "ok"), _("note:")
    for check in report.checks:
        typer.echo(f"{ok}  {check}")
    for line in report.cosignatures.lines() if report.cosignatures else []:
        typer.echo(f"{ok}  {line}" if line.startswith("cosigned") else f"{note} {line}")
    typer.echo(_("hashed {mb} MB in {seconds} s").format(mb=f"{report.bytes_hashed / 1e6:.1f}",
                                                         seconds=f"{report.seconds:.2f}"))
    typer.secho(_("tiles OK: {origin} size {size} root {root}").format(
        origin=report.origin, size=report.size, root=report.root.hex()), fg=typer.colors.GREEN)


@ledger_app.command("checkpoint")
def checkpoint_command(db: str | None = DB, key_dir: Path | None = KEY_DIR,
                       tsa: str | None = typer.Option(None, "--tsa", help="RFC 3161 TSA URL "
                                                      "(default: $NETWARDEN_TSA_URL)."),
                       witness: list[str] = WITNESS_AT) -> None:
    """Sign, have cosigned by the witnesses, optionally timestamp a checkpoint; print it."""
    store = open_store(db)
    try:
        ledger = Ledger.open(store, key_dir, tsa, witnesses=_endpoints(witness))
        cp = ledger.checkpoint()
    finally:
        store.close()
    typer.echo(cp.note, nl=False)
    for problem in ledger.witness_problems:
        typer.secho(_("WITNESS: {problem}").format(problem=problem), fg=typer.colors.RED,
                    err=True)
    if ledger.witness_problems:
        raise typer.Exit(1)


@ledger_app.command("publish")
def publish_command(
    out: Path = typer.Argument(..., help="Directory to write (or sync) the tile tree into; "
                               "serve it read-only with any web server."),
    db: str | None = DB,
    key_dir: Path | None = KEY_DIR,
    sign: bool = typer.Option(True, "--sign/--no-sign", help="Sign a fresh checkpoint when "
                              "the tree grew since the last one (needs the key)."),
    witness: list[str] = WITNESS_AT,
) -> None:
    """Publish the tree as C2SP tlog-tiles: checkpoint, tile/<L>/<N>, tile/entries/<N>."""
    from netwarden.ledger.tiles import TileError, publish

    store = open_store(db)
    try:
        ledger = Ledger.open(store, key_dir, require_key=sign, witnesses=_endpoints(witness))
        latest = ledger.latest_checkpoint()
        if sign and (latest is None or latest.size < ledger.size):
            latest = ledger.checkpoint()
            for problem in ledger.witness_problems:
                typer.secho(_("WITNESS: {problem}").format(problem=problem),
                            fg=typer.colors.RED, err=True)
        if latest is None:
            raise InputError("ledger publish", N_("no checkpoint to publish (drop --no-sign)"))
        try:
            result = publish(ledger, out, latest.note)
        except TileError as exc:
            typer.secho(_("publish REFUSED: {problem}").format(problem=exc),
                        fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(_("published size {size} (was {previous}) to {out}: {tiles} tiles, {bundles} "
                 "entry bundles, {mb} MB in {seconds} s").format(
        size=result.size, previous=result.previous_size, out=out, tiles=result.tiles_written,
        bundles=result.bundles_written, mb=f"{result.bytes_written / 1e6:.1f}",
        seconds=f"{result.seconds:.2f}"))


@ledger_app.command("witness")
def witness_command(
    log: list[str] = typer.Option(..., "--log", help="Verifier key of a log to witness "
                                  "(name+id+base64; the name is its origin); repeatable."),
    state: Path = typer.Option(..., "--state", help="Directory for the witness key, the "
                               "latest cosigned checkpoints and refused.jsonl."),
    listen: str = typer.Option("127.0.0.1:7380", "--listen", help="host:port to serve on."),
    name: str | None = typer.Option(None, "--name", help="Witness name when creating its key "
                                    "(default: netwarden-witness-<random>)."),
) -> None:
    """Serve as a C2SP tlog-witness for other installations' logs (POST /add-checkpoint)."""
    import os

    from netwarden.ledger.cosign import (
        WITNESS_KEY_FILE,
        init_witness_key,
        load_witness_key,
    )
    from netwarden.ledger.witness import Witness, serve

    logs = [parse_vkey(k, "--log") for k in log]
    host, _sep, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise InputError("--listen", _("{listen!r} is not host:port").format(listen=listen))
    if (state / WITNESS_KEY_FILE).exists():
        signer = load_witness_key(state)
    else:
        signer = init_witness_key(state, name or f"netwarden-witness-{os.urandom(4).hex()}")
    server = serve(Witness(signer, logs, state), host.strip("[]"), int(port))
    typer.echo(_("witness {vkey}").format(vkey=signer.public.vkey), err=False)
    typer.echo(_("listening on {url} for {logs}").format(
        url=f"http://{listen}/add-checkpoint", logs=", ".join(k.name for k in logs)), err=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


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
                raise InputError("--index", _("must be in 0..{last}").format(last=size - 1))
            proof_size = latest.size if latest and index < latest.size else size
            leaf = ledger.leaf(index)
            out = {"index": index, "entry": json.loads(leaf.data),
                   "leaf_hash": leaf.leaf_hash.hex(),
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
