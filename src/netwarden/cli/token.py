"""``netwarden token create|list|revoke``: API tokens for scripts calling the REST API."""

from __future__ import annotations

import json

import typer

from netwarden.cli import app
from netwarden.i18n import _

token_app = typer.Typer(help="API tokens for scripts (Authorization: Bearer on /api/v1).",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")

DB = typer.Option(None, "--db", help="Database URL (default: the installation's).")


@token_app.command("create")
def token_create(
    user: str = typer.Option(..., "--user", help="The user the token acts as."),
    scope: str = typer.Option(..., "--scope", help="read (view only) or review (view, review "
                              "and sign off as the user's role allows)."),
    expires: str = typer.Option(..., "--expires", help="30d, 12h, 4w, or a date such as "
                                "2027-01-31 (UTC); at most a year."),
    note: str | None = typer.Option(None, "--note", help="What the token is for (listed)."),
    db: str | None = DB,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Make a token and print it ONCE: only its SHA-256 is kept."""
    from netwarden.store import open_store
    from netwarden.web.tokens import check_scope, create_token, parse_expiry

    check_scope(scope)
    expires_at = parse_expiry(expires)
    store = open_store(db)
    try:
        token, info = create_token(store, user, scope, expires_at, note)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"token": token, "id": info.id, "user": info.user,
                               "scope": info.scope, "expires_at": info.expires_at.isoformat()}))
        return
    typer.echo(token)
    typer.echo(_("token {id} for {user}, scope {scope}, expires {expires}; it is shown only "
                 "now.").format(id=info.id, user=info.user, scope=info.scope,
                                expires=info.expires_at.isoformat()), err=True)


@token_app.command("list")
def token_list(
    user: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    db: str | None = DB,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List tokens (never their secrets): id, user, scope, state, expiry, last use."""
    from netwarden.store import open_store
    from netwarden.web.tokens import list_tokens

    store = open_store(db)
    try:
        tokens = list_tokens(store, user)
    finally:
        store.close()

    def iso(value: object) -> str | None:
        return value.isoformat() if value is not None else None  # type: ignore[attr-defined]

    rows = [{"id": t.id, "user": t.user, "scope": t.scope, "state": t.state, "note": t.note,
             "created_at": iso(t.created_at), "expires_at": iso(t.expires_at),
             "revoked_at": iso(t.revoked_at), "last_used_at": iso(t.last_used_at)}
            for t in tokens]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        expires = _("expires {time}").format(time=r["expires_at"])
        used = _("last used {time}").format(time=r["last_used_at"] or _("never"))
        typer.echo(f"{r['id']}\t{r['user']}\t{r['scope']}\t{r['state']}\t{expires}\t{used}"
                   + (f"\t{r['note']}" if r["note"] else ""))


@token_app.command("revoke")
def token_revoke(
    token_id: str = typer.Argument(..., help="The token's id (from token list)."),
    db: str | None = DB,
) -> None:
    """Revoke a token: refused (401) from the next request on."""
    from netwarden.store import open_store
    from netwarden.web.tokens import revoke_token

    store = open_store(db)
    try:
        info = revoke_token(store, token_id)
    finally:
        store.close()
    typer.echo(_("token {id} of {user} revoked").format(id=info.id, user=info.user))
