"""``netwarden reveal``: the account behind a subscriber pseudonym, on a recorded legal basis.

The reveal itself is a ledger leaf (who, when with time zone, on what basis, which pseudonym)
written *before* the account is shown. The leaf does not contain the account: the ledger is
exported in bundles, and the pseudonym already commits to the account under the key. It does
name *which identifier* was revealed (``identifier``: ``user`` for a RADIUS User-Name,
``remote_id`` for a DHCP relay remote-id, ``mac``, ...; a subscriber joined across logs may
carry the account in several) and the logs that carry it.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer

from netwarden.cli import app
from netwarden.scope import load_scope
from netwarden.store import open_store


@app.command()
def reveal(
    pseudonym: str = typer.Argument(..., help="The pseudonym (ps1_...) from a finding."),
    basis: str = typer.Option(..., "--basis", help="The legal basis, e.g. \"court order "
                              "12/2026 of the district court\"."),
    scope: Path = typer.Option(..., "--scope", help="The scope whose logs and pseudonym key "
                               "made the pseudonym."),
    by: str | None = typer.Option(None, "--by", help="Who reveals (default: the OS user)."),
    db: str | None = typer.Option(None, "--db", help="Database URL."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Show the subscriber account behind PSEUDONYM and record the reveal in the ledger."""
    import json

    from netwarden.attribute import Attributor
    from netwarden.ledger import Ledger
    from netwarden.store.base import default_home

    loaded = load_scope(scope)
    attributor = Attributor.from_scope(loaded, default_home() / "cache" / "attribution")
    store = open_store(db)
    try:
        found = attributor.reveal(pseudonym, basis)  # refuses an empty basis
        ledger = Ledger.open(store)
        ref = ledger.append(found.record(by or getpass.getuser(), loaded.check_id))
    finally:
        attributor.close()
        store.close()
    if as_json:
        typer.echo(json.dumps({"pseudonym": found.pseudonym, "account": found.account,
                               "identifier": list(found.identifier),
                               "sources": list(found.sources),
                               "basis": basis, "ledger_index": ref.index,
                               "leaf_hash": ref.leaf_hash.hex()}, ensure_ascii=False))
        return
    typer.echo(f"{found.pseudonym} = {found.account} "
               f"({', '.join(found.identifier) or 'account'} in {', '.join(found.sources)})")
    typer.echo(f"recorded as ledger leaf {ref.index} ({ref.leaf_hash.hex()}): basis {basis!r}")
