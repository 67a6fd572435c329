"""``netwarden webhook add|list|remove|deliveries|deliver``: signed event POSTs to receivers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from netwarden.cli import app
from netwarden.i18n import _, pgettext

webhook_app = typer.Typer(help="Webhooks: HMAC-signed POSTs on new CSAM findings and review "
                          "decisions.", no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")

DB = typer.Option(None, "--db", help="Database URL (default: the installation's).")
KEY_DIR = typer.Option(None, "--key-dir", help="Key directory (default: $NETWARDEN_HOME/keys).")


def _key_dir(key_dir: Path | None) -> Path:
    from netwarden.ledger.keys import default_key_dir

    return key_dir or default_key_dir()


@webhook_app.command("add")
def webhook_add(
    url: str = typer.Argument(..., help="Receiver URL (https; http only on loopback)."),
    events: str = typer.Option("finding.csam,review.decision", "--events",
                               help="Comma-separated: finding.csam, review.decision."),
    db: str | None = DB,
    key_dir: Path | None = KEY_DIR,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Add a receiver and print its HMAC key ONCE (it is derived, never stored)."""
    from netwarden.store import open_store
    from netwarden.web.webhooks import add_webhook

    store = open_store(db)
    try:
        key, hook = add_webhook(store, _key_dir(key_dir), url,
                                [e.strip() for e in events.split(",") if e.strip()])
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"id": hook.id, "url": hook.url, "events": list(hook.events),
                               "key": key}))
        return
    typer.echo(key)
    typer.echo(_("webhook {id} -> {url} ({events}); the key above is shown only now").format(
        id=hook.id, url=hook.url, events=", ".join(hook.events)), err=True)


@webhook_app.command("list")
def webhook_list(db: str | None = DB,
                 as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List webhooks (never their keys)."""
    from netwarden.store import open_store
    from netwarden.web.webhooks import list_webhooks

    store = open_store(db)
    try:
        hooks = list_webhooks(store)
    finally:
        store.close()
    rows: list[dict[str, Any]] = [
            {"id": h.id, "url": h.url, "events": list(h.events), "disabled": h.disabled,
             "created_at": h.created_at.isoformat()} for h in hooks]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        typer.echo(f"{r['id']}\t{r['url']}\t{','.join(r['events'])}"
                   + ("\t" + pgettext("webhook", "removed") if r["disabled"] else ""))


@webhook_app.command("remove")
def webhook_remove(hook_id: str = typer.Argument(..., help="Webhook id."),
                   db: str | None = DB) -> None:
    """Stop sending to a webhook (its delivery log stays)."""
    from netwarden.store import open_store
    from netwarden.web.webhooks import remove_webhook

    store = open_store(db)
    try:
        remove_webhook(store, hook_id)
    finally:
        store.close()
    typer.echo(_("webhook {id} removed").format(id=hook_id))


@webhook_app.command("deliveries")
def webhook_deliveries(hook_id: str | None = typer.Option(None, "--webhook"),
                       limit: int = typer.Option(50, "--limit", min=1, max=1000),
                       db: str | None = DB,
                       as_json: bool = typer.Option(False, "--json", help="Print JSON.")
                       ) -> None:
    """The delivery log: event, status, attempts, last HTTP status or error."""
    from netwarden.store import open_store
    from netwarden.web.webhooks import deliveries

    store = open_store(db)
    try:
        rows = [{"id": d.id, "webhook": d.webhook_id, "event": d.event, "key": d.event_key,
                 "status": d.status, "attempts": d.attempts, "last_status": d.last_status,
                 "last_error": d.last_error, "created_at": d.created_at.isoformat(),
                 "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None}
                for d in deliveries(store, hook_id, limit)]
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        typer.echo(f"{r['created_at']}\t{r['webhook']}\t{r['event']}\t{r['key']}\t{r['status']}"
                   "\t" + _("attempts {n}").format(n=r["attempts"])
                   + f"\t{r['last_status'] or r['last_error'] or ''}")


@webhook_app.command("deliver")
def webhook_deliver(db: str | None = DB, key_dir: Path | None = KEY_DIR) -> None:
    """Run one delivery pass now (``netwarden serve`` runs one every 10 seconds)."""
    from netwarden.store import open_store
    from netwarden.web.webhooks import deliver_due

    store = open_store(db)
    try:
        counts = deliver_due(store, _key_dir(key_dir))
    finally:
        store.close()
    typer.echo(json.dumps(counts))
