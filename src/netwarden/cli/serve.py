"""``netwarden serve`` (the analysts' web application) and ``netwarden user add|list|disable``."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer

from netwarden.cli import app
from netwarden.errors import InputError

user_app = typer.Typer(help="Users of the web application and their roles.",
                       no_args_is_help=True)
app.add_typer(user_app, name="user")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. Put a TLS "
                             "reverse proxy in front for anything but loopback."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="TCP port."),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: the "
                                  "installation's SQLite file or $NETWARDEN_DB)."),
    secure_cookies: bool = typer.Option(False, "--secure-cookies", help="Mark cookies Secure "
                                        "(set when users reach the app over HTTPS)."),
    session_minutes: int = typer.Option(30, "--session-minutes", min=1, max=24 * 60,
                                        help="Idle minutes after which a session ends."),
    metrics_token_file: Path | None = typer.Option(
        None, "--metrics-token-file", help="File with a bearer token /metrics then requires."),
) -> None:
    """Start the web application (dashboard, findings, review workflow, REST API, metrics)."""
    from datetime import timedelta

    import uvicorn

    from netwarden.web.app import create_app
    from netwarden.web.auth import AuthSettings

    token = None
    if metrics_token_file is not None:
        try:
            token = metrics_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(str(metrics_token_file), f"cannot read: {exc.strerror}") from exc
        if len(token) < 16:
            raise InputError(str(metrics_token_file), "the token must be at least 16 characters")
    settings = AuthSettings(idle=timedelta(minutes=session_minutes),
                            secure_cookies=secure_cookies)
    web = create_app(db, settings=settings, metrics_token=token)
    typer.echo(f"netwarden web application on http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(web, host=host, port=port, log_level="info", proxy_headers=False,
                server_header=False, limit_concurrency=200, timeout_keep_alive=5)


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(str(password_file), f"cannot read: {exc.strerror}") from exc
        lines = text.splitlines()
        if not lines:
            raise InputError(str(password_file), "is empty")
        return lines[0]
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat: "):
        raise InputError("password", "the two entries differ")
    return first


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="User name (letters, digits, . _ @ -)."),
    role: str = typer.Option(..., "--role", help="analyst, supervisor or auditor."),
    password_file: Path | None = typer.Option(None, "--password-file", help="Read the "
                                              "password from the first line of this file "
                                              "instead of prompting."),
    db: str | None = typer.Option(None, "--db", help="Database URL."),
) -> None:
    """Add a user with a role; the password is stored as an argon2id hash."""
    from netwarden.store import open_store
    from netwarden.web.auth import add_user, check_name, check_role

    check_name(name)
    check_role(role)
    password = _read_password(password_file)
    store = open_store(db)
    try:
        add_user(store, name, role, password)
    finally:
        store.close()
    typer.echo(f"user {name} added with role {role}")


@user_app.command("list")
def user_list(
    db: str | None = typer.Option(None, "--db", help="Database URL."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List users and their roles."""
    from netwarden.store import open_store
    from netwarden.web.auth import list_users

    store = open_store(db)
    try:
        users = list_users(store)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([{"name": n, "role": r, "created_at": c.isoformat(),
                                "disabled": d} for n, r, c, d in users]))
        return
    for n, r, c, d in users:
        flag = "\tdisabled" if d else ""
        typer.echo(f"{n}\t{r}\t{c.isoformat()}{flag}")


@user_app.command("disable")
def user_disable(
    name: str = typer.Argument(..., help="User name."),
    db: str | None = typer.Option(None, "--db", help="Database URL."),
) -> None:
    """Disable a user; their sessions end at once."""
    from netwarden.store import open_store
    from netwarden.web.auth import set_disabled

    store = open_store(db)
    try:
        set_disabled(store, name)
    finally:
        store.close()
    typer.echo(f"user {name} disabled")
