"""``netwarden serve`` (the analysts' web application) and ``netwarden user ...`` (add, list,
role, disable, enable, reset-password, unlock)."""

from __future__ import annotations

import getpass
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from netwarden.cli import app
from netwarden.errors import InputError
from netwarden.i18n import N_, _

if TYPE_CHECKING:
    from netwarden.web.oidc import OIDCSettings

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
    public_url: str | None = typer.Option(
        None, "--public-url", help="The URL users reach the app at (e.g. https://nw.example.org);"
        " single sign-on sends them back to it + /login/oidc/callback."),
    oidc_issuer: str | None = typer.Option(
        None, "--oidc-issuer", help="Enable single sign-on (OpenID Connect) at this provider "
        "(its issuer URL; https, or http on loopback)."),
    oidc_client_id: str | None = typer.Option(None, "--oidc-client-id",
                                              help="netwarden's client id at the provider."),
    oidc_client_secret_file: Path | None = typer.Option(
        None, "--oidc-client-secret-file", help="File whose first line is the client secret."),
    oidc_role_claim: str = typer.Option("netwarden_role", "--oidc-role-claim",
                                        help="Claim that carries the netwarden role."),
    oidc_role_map: list[str] = typer.Option(
        [], "--oidc-role-map", help="VALUE=ROLE: a value of the role claim and the netwarden "
        "role it gives (repeat; replaces the default, which maps each role name to itself)."),
    oidc_username_claim: str = typer.Option("preferred_username", "--oidc-username-claim",
                                            help="Claim that carries the user name."),
    oidc_scopes: str = typer.Option("openid profile", "--oidc-scopes",
                                    help="Scopes to request (must make the provider release "
                                    "the role claim)."),
    oidc_label: str = typer.Option("Single sign-on", "--oidc-label",
                                   help="Shown on the login button: 'Log in with LABEL'."),
    trusted_proxy: list[str] = typer.Option(
        [], "--trusted-proxy", help="Address or network of the reverse proxy in front "
        "(repeat): only requests from it have their X-Forwarded-For honoured as the client "
        "address (login throttling, events)."),
) -> None:
    """Start the web application (dashboard, findings, review workflow, REST API, metrics)."""
    from datetime import timedelta

    import uvicorn

    from netwarden.web.app import create_app, parse_trusted_proxies
    from netwarden.web.auth import AuthSettings

    token = None
    if metrics_token_file is not None:
        try:
            token = metrics_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(str(metrics_token_file), _("cannot read: {reason}").format(
                reason=exc.strerror)) from exc
        if len(token) < 16:
            raise InputError(str(metrics_token_file),
                             N_("the token must be at least 16 characters"))
    settings = AuthSettings(idle=timedelta(minutes=session_minutes),
                            secure_cookies=secure_cookies,
                            trusted_proxies=parse_trusted_proxies(trusted_proxy))
    oidc = oidc_settings(public_url=public_url, issuer=oidc_issuer, client_id=oidc_client_id,
                         secret_file=oidc_client_secret_file, role_claim=oidc_role_claim,
                         role_map=oidc_role_map, username_claim=oidc_username_claim,
                         scopes=oidc_scopes, label=oidc_label)
    web = create_app(db, settings=settings, metrics_token=token, oidc=oidc)
    _start_webhook_sender(web.state.ctx.store)
    typer.echo(_("netwarden web application on {url} (Ctrl-C stops)").format(
        url=f"http://{host}:{port}/"))
    if oidc is not None:
        typer.echo(_("single sign-on at {issuer} as client {client}, callback {callback}")
                   .format(issuer=oidc.issuer, client=oidc.client_id,
                           callback=oidc.redirect_url))
    uvicorn.run(web, host=host, port=port, log_level="info", proxy_headers=False,
                server_header=False, limit_concurrency=200, timeout_keep_alive=5)


def _start_webhook_sender(store: object, every: float = 10.0) -> None:
    """Deliver webhooks in the background while the app serves (daemon thread; a failing pass
    is logged and the next one tries again)."""
    import logging
    import threading
    import time

    from netwarden.ledger.keys import default_key_dir
    from netwarden.web.webhooks import deliver_due

    log = logging.getLogger("netwarden.web.webhooks")

    def loop() -> None:
        while True:
            try:
                deliver_due(store, default_key_dir())  # type: ignore[arg-type]
            except Exception:
                log.exception("webhook delivery pass failed")
            time.sleep(every)

    threading.Thread(target=loop, name="webhooks", daemon=True).start()


def oidc_settings(*, public_url: str | None, issuer: str | None, client_id: str | None,
                  secret_file: Path | None, role_claim: str = "netwarden_role",
                  role_map: list[str] | None = None,
                  username_claim: str = "preferred_username", scopes: str = "openid profile",
                  label: str = "Single sign-on") -> OIDCSettings | None:
    """The single sign-on settings of ``netwarden serve``'s options; None without
    ``--oidc-issuer``. Every problem is an :class:`InputError` naming the option."""
    from netwarden.web.oidc import CALLBACK_PATH, OIDCSettings, check_url, parse_role_map

    if issuer is None:
        given = [name for name, value in (("--oidc-client-id", client_id),
                                          ("--oidc-client-secret-file", secret_file),
                                          ("--oidc-role-map", role_map)) if value]
        if given:
            raise InputError(given[0], N_("needs --oidc-issuer"))
        return None
    check_url("--oidc-issuer", issuer)
    if not client_id:
        raise InputError("--oidc-client-id", N_("is required with --oidc-issuer"))
    if secret_file is None:
        raise InputError("--oidc-client-secret-file", N_("is required with --oidc-issuer"))
    if not public_url:
        raise InputError("--public-url", _("is required with --oidc-issuer (the provider "
                                           "sends users back to it + {path})").format(
                                               path=CALLBACK_PATH))
    check_url("--public-url", public_url)
    try:
        lines = secret_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(str(secret_file), _("cannot read the OIDC client secret: {reason}")
                         .format(reason=exc.strerror)) from exc
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise InputError(str(secret_file),
                         N_("the first line (the OIDC client secret) is empty"))
    mapping = parse_role_map(role_map) if role_map else None
    settings = OIDCSettings(issuer=issuer, client_id=client_id, client_secret=secret,
                            redirect_url=public_url.rstrip("/") + CALLBACK_PATH,
                            role_claim=role_claim, username_claim=username_claim,
                            scopes=tuple(scopes.split()), label=label)
    # Without --oidc-role-map the settings keep their default map (each role to itself).
    return settings if mapping is None else replace(settings, role_map=mapping)


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(str(password_file), _("cannot read: {reason}").format(
                reason=exc.strerror)) from exc
        lines = text.splitlines()
        if not lines:
            raise InputError(str(password_file), N_("is empty"))
        return lines[0]
    first = getpass.getpass(_("Password: "))
    if first != getpass.getpass(_("Repeat: ")):
        raise InputError("password", N_("the two entries differ"))
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
    typer.echo(_("user {name} added with role {role}").format(name=name, role=role))


@user_app.command("list")
def user_list(
    db: str | None = typer.Option(None, "--db", help="Database URL."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List users, their roles, and whether each is disabled or locked by failed logins."""
    from netwarden.store import open_store
    from netwarden.web.auth import AuthSettings, is_locked, list_users

    store = open_store(db)
    try:
        settings = AuthSettings()
        users = [(*u, is_locked(store, settings, u[0])) for u in list_users(store)]
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([{"name": n, "role": r, "created_at": c.isoformat(),
                                "disabled": d, "locked": locked} for n, r, c, d, locked in users]))
        return
    for n, r, c, d, locked in users:
        flag = ("\t" + _("disabled") if d else "") + ("\t" + _("locked") if locked else "")
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
    typer.echo(_("user {name} disabled").format(name=name))


@user_app.command("enable")
def user_enable(
    name: str = typer.Argument(..., help="User name."),
    db: str | None = typer.Option(None, "--db", help="Database URL."),
) -> None:
    """Enable a disabled user again."""
    from netwarden.store import open_store
    from netwarden.web.auth import set_disabled

    store = open_store(db)
    try:
        set_disabled(store, name, disabled=False)
    finally:
        store.close()
    typer.echo(_("user {name} enabled").format(name=name))


@user_app.command("role")
def user_role(
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Argument(..., help="analyst, supervisor or auditor."),
    db: str | None = typer.Option(None, "--db", help="Database URL."),
) -> None:
    """Give a user another role (from their next request on)."""
    from netwarden.store import open_store
    from netwarden.web.auth import set_role

    store = open_store(db)
    try:
        old = set_role(store, name, role)
    finally:
        store.close()
    typer.echo(_("user {name}: role {old} -> {new}").format(name=name, old=old, new=role))


@user_app.command("reset-password")
def user_reset_password(
    name: str = typer.Argument(..., help="User name."),
    password_file: Path | None = typer.Option(None, "--password-file", help="Read the new "
                                              "password from the first line of this file "
                                              "instead of prompting."),
    db: str | None = typer.Option(None, "--db", help="Database URL."),
) -> None:
    """Set a new password; the user's sessions end and the account's lock is cleared."""
    from netwarden.store import open_store
    from netwarden.web.auth import check_name, reset_password

    check_name(name)
    password = _read_password(password_file)
    store = open_store(db)
    try:
        reset_password(store, name, password)
    finally:
        store.close()
    typer.echo(_("user {name}: password reset, sessions ended").format(name=name))


@user_app.command("unlock")
def user_unlock(
    name: str = typer.Argument(..., help="User name."),
    db: str | None = typer.Option(None, "--db", help="Database URL."),
) -> None:
    """Clear an account locked by failed logins (its earlier failures stop counting)."""
    from netwarden.store import open_store
    from netwarden.web.auth import unlock

    store = open_store(db)
    try:
        unlock(store, name)
    finally:
        store.close()
    typer.echo(_("user {name} unlocked").format(name=name))
