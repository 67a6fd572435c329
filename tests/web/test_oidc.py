"""Single sign-on (OpenID Connect) against a real OpenID provider: panva's ``oidc-provider`` for
Node.js (OpenID Certified), pinned in ``tests/web/oidc_provider/package.json``.

The provider (``oidc_provider/provider.mjs``) runs on 127.0.0.1 with one confidential client and
a small account table; netwarden runs on 127.0.0.2, another *site* for the browser, so the
cross-site redirects (and what SameSite cookies do on them) are as in production. Logins go
through the provider's own login and consent pages, driven by Chromium (Playwright) for the
main paths and by an httpx client (cookies, redirects, forms) for the refusals.

Tests without the provider (role mapping, settings, the ``serve`` options, the ID-token checks
against tokens signed here and served by a local discovery/JWKS endpoint) are not marked slow.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from sqlalchemy import select
from typer.testing import CliRunner

from netwarden.errors import InputError
from netwarden.store import Store, open_store
from netwarden.web import auth
from netwarden.web.models import EventRow, SessionRow, UserRow
from netwarden.web.oidc import (
    Identity,
    LoginRefusedError,
    OIDCSettings,
    ProviderError,
    RelyingParty,
    parse_role_map,
    role_from_claims,
    sso_user,
    username_from_claims,
)
from realserver import free_port, missing, serve

from .conftest import Seed, Site, copy_db, launch_chromium, login, serve_app
from .test_browser import _shot

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
APP_HOST = "127.0.0.2"  # another site than the provider's 127.0.0.1
CLIENT_ID = "netwarden"
SCOPES = ("openid", "profile", "netwarden")


# -- the real provider and the app ---------------------------------------------------------
@pytest.fixture(scope="session")
def provider_ready() -> Path:
    """``oidc_provider/node_modules`` installed (``npm ci``, once) from the lock file."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing("single sign-on tests need Node.js and npm (apt-get install -y nodejs npm)")
    pinned = json.loads((PROVIDER_DIR / "package.json").read_text())["dependencies"][
        "oidc-provider"]
    installed = PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != pinned:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix",
                               str(PROVIDER_DIR)], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"npm ci in {PROVIDER_DIR} failed: {done.stderr[-2000:]}")
    assert json.loads(installed.read_text())["version"] == pinned
    return PROVIDER_DIR


@dataclass
class SSO:
    base: str  # the app, http://127.0.0.2:PORT
    issuer: str  # the provider, http://127.0.0.1:PORT
    settings: OIDCSettings
    store: Store
    provider_log: Path
    spare_base: str  # a second registered callback base (for the `netwarden serve` test)
    secret: str




@pytest.fixture(scope="module")
def sso(provider_ready: Path, seed: Seed, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[SSO]:
    """The provider and the app (its own copy of the seed database) for this module. Each
    test logs in with its own accounts, so the tests do not depend on each other."""
    from netwarden.web.app import create_app

    base = tmp_path_factory.mktemp("oidc")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((APP_HOST, 0))
    app_base = f"http://{APP_HOST}:{sock.getsockname()[1]}"
    spare_base = f"http://{APP_HOST}:{free_port(APP_HOST)}"
    port = free_port("127.0.0.1")
    issuer = f"http://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(24)
    log = base / "provider.log"
    env = {**os.environ, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": secret,
           "OIDC_LOG": str(log), "OIDC_REDIRECT_URI":
           f"{app_base}/login/oidc/callback {spare_base}/login/oidc/callback"}
    settings = OIDCSettings(issuer=issuer, client_id=CLIENT_ID, client_secret=secret,
                            redirect_url=f"{app_base}/login/oidc/callback", scopes=SCOPES,
                            label="Example IdP")
    store = open_store(copy_db(seed, base / "nw.sqlite"))
    with serve(["node", str(provider_ready / "provider.mjs"), str(port)], "127.0.0.1", port,
               log, env=env, timeout=60):
        app = create_app(store=store, key_dir=seed.key_dir, oidc=settings)
        try:
            with serve_app(app, sock):
                yield SSO(app_base, issuer, settings, store, log, spare_base, secret)
        finally:
            store.close()


def _follow(client: httpx.Client, r: httpx.Response, stop: str | None = None
            ) -> httpx.Response | str:
    """Follow redirects like a browser; with ``stop``, return the first URL starting with it
    instead of requesting it."""
    for _ in range(20):
        if not r.is_redirect:
            return r
        url = urljoin(str(r.url), r.headers["location"])
        if stop and url.startswith(stop):
            return url
        r = client.get(url)
    raise AssertionError("too many redirects")


def _submit(client: httpx.Client, page: httpx.Response, data: dict[str, str]) -> httpx.Response:
    """Post the provider page's form (login or consent)."""
    assert page.status_code == 200, page.text[:500]
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    assert action, page.text[:500]
    return client.post(urljoin(str(page.url), action.group(1)), data=data)


def idp_login(base: str, account: str, *, client: httpx.Client | None = None,
              stop_at_callback: bool = False) -> tuple[httpx.Client, httpx.Response | str]:
    """Log ``account`` in at the provider, starting from the app at ``base``: the final answer
    of the app's callback, or (``stop_at_callback``) the callback URL the provider sent."""
    client = client or httpx.Client(timeout=20, follow_redirects=False)
    r = client.get(f"{base}/login/oidc")
    assert r.status_code == 303, r.text
    page = _follow(client, r)
    assert isinstance(page, httpx.Response) and 'name="login"' in page.text, page
    consent = _follow(client, _submit(client, page, {"prompt": "login", "login": account,
                                                     "password": "anything at all"}))
    assert isinstance(consent, httpx.Response) and 'value="consent"' in consent.text, consent
    done = _follow(client, _submit(client, consent, {"prompt": "consent"}),
                   stop=f"{base}/login/oidc/callback" if stop_at_callback else None)
    return client, done


def _me(client: httpx.Client, base: str) -> dict[str, Any] | None:
    r = client.get(f"{base}/api/v1/me")
    return r.json() if r.status_code == 200 else None


def _events(store: Store, user: str | None = None) -> list[EventRow]:
    query = select(EventRow).order_by(EventRow.id)
    if user is not None:
        query = query.where(EventRow.user_name == user)
    with store.session() as s:
        return list(s.execute(query).scalars())


def _user(store: Store, name: str) -> UserRow | None:
    with store.session() as s:
        row = s.get(UserRow, name)
        if row is not None:
            s.expunge(row)
        return row


# -- browser --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium():  # type: ignore[no-untyped-def]
    with launch_chromium() as b:
        yield b


def _loopback_only(context: Any) -> list[str]:
    """Abort every request that would leave loopback (the provider's dev pages import a web
    font); returns the list of what was blocked."""
    blocked: list[str] = []

    def route(r: Any) -> None:
        host = urlsplit(r.request.url).hostname or ""
        if host.startswith("127.") or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return blocked


@pytest.mark.slow
def test_single_sign_on_in_the_browser(sso: SSO, chromium, seed: Seed,  # type: ignore
                                       tmp_path: Path) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    _loopback_only(context)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{sso.base}/findings")
    expect(page).to_have_url(f"{sso.base}/login")
    button = page.locator("#sso")
    expect(button).to_have_text("Log in with Example IdP")
    expect(page.locator("input[name=password]")).to_be_visible()  # the password form stays
    _shot(page, tmp_path, "08-login-with-sso")

    button.click()
    page.wait_for_url(f"{sso.issuer}/interaction/**")
    page.fill("input[name=login]", "erin")
    page.fill("input[name=password]", "whatever she types")
    page.click("button[type=submit]")
    expect(page.locator("form input[name=prompt]")).to_have_value("consent")
    page.click("button[type=submit]")
    page.wait_for_url(f"{sso.base}/")
    expect(page.locator("h1")).to_have_text("Campaign dashboard")
    expect(page.locator("header .who")).to_contain_text("erin")
    expect(page.locator("header .role")).to_have_text("analyst")

    f = seed.subscriber_finding()
    page.goto(f"{sso.base}/findings/{f['id']}")
    expect(page.locator("#pseudonym")).to_have_text(f["attribution"]["pseudonym"])
    expect(page.locator("#view-recorded")).to_contain_text("recorded as ledger leaf")
    assert any(c["name"] == "nw_session" and c["sameSite"] == "Strict"
               for c in context.cookies(sso.base))
    assert not any(c["name"] == "nw_oidc" for c in context.cookies(sso.base))
    assert not errors, errors
    context.close()

    row = _user(sso.store, "erin")
    assert row is not None and row.role == "analyst" and not row.disabled
    assert row.password_hash.startswith(auth.SSO_HASH_PREFIX)
    login = [e for e in _events(sso.store, "erin") if e.kind == "login"]
    assert len(login) == 1
    assert login[0].detail == f"method=oidc issuer={sso.issuer} subject=erin role=analyst new user"


@pytest.mark.slow
def test_no_role_is_refused_in_the_browser(sso: SSO, chromium,  # type: ignore
                                           tmp_path: Path) -> None:
    from playwright.sync_api import expect

    context = chromium.new_context()
    _loopback_only(context)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{sso.base}/login")
    page.click("#sso")
    page.wait_for_url(f"{sso.issuer}/interaction/**")
    page.fill("input[name=login]", "gina")
    page.fill("input[name=password]", "x")
    page.click("button[type=submit]")
    page.click("button[type=submit]")  # consent
    page.wait_for_url(re.compile(re.escape(f"{sso.base}/login/oidc/callback?") + ".*"))
    expect(page.locator("h1")).to_have_text("403")
    expect(page.locator("p.error")).to_contain_text("no netwarden role")
    _shot(page, tmp_path, "09-sso-refused-no-role")
    assert not any(c["name"] == "nw_session" for c in context.cookies(sso.base))
    page.goto(f"{sso.base}/")
    expect(page).to_have_url(f"{sso.base}/login")
    context.close()
    assert _user(sso.store, "gina") is None
    failed = [e for e in _events(sso.store, "gina") if e.kind == "login_failed"]
    assert len(failed) == 1 and "no netwarden role" in (failed[0].detail or "")
    assert "subject=gina" in (failed[0].detail or "")


# -- the refusals and rules, through the real provider ---------------------------------------
@pytest.mark.slow
def test_supervisor_role_and_role_follows_the_provider(sso: SSO) -> None:
    client, r = idp_login(sso.base, "frank")
    assert isinstance(r, httpx.Response) and r.status_code == 200, r
    assert 'http-equiv="refresh"' in r.text  # continue with a same-site navigation
    me = _me(client, sso.base)
    assert me is not None and me["name"] == "frank" and me["role"] == "supervisor"
    assert client.get(f"{sso.base}/api/v1/users").status_code == 200  # supervisor only
    # someone changed the row; the next login restores what the provider says
    with sso.store.session() as s:
        s.get(UserRow, "frank").role = "auditor"
    client2, r = idp_login(sso.base, "frank")
    assert _me(client2, sso.base)["role"] == "supervisor"  # type: ignore[index]
    last = [e for e in _events(sso.store, "frank") if e.kind == "login"][-1]
    assert last.detail and last.detail.endswith("role=supervisor role auditor -> supervisor")


@pytest.mark.slow
@pytest.mark.parametrize(("account", "says", "reason"), [
    ("henry", "no netwarden role", "no netwarden role (claim netwarden_role 'janitor')"),
    ("kim", "several netwarden roles (analyst, supervisor)", "several netwarden roles"),
    ("alice", "logs in with a password", "name belongs to a password user"),
    ("bad-name", "is not a valid netwarden user name", "unusable user name"),
])
def test_refused_logins(sso: SSO, account: str, says: str, reason: str) -> None:
    client, r = idp_login(sso.base, account)
    assert isinstance(r, httpx.Response) and r.status_code == 403, r
    assert says in r.text
    assert "nw_session" not in client.cookies and _me(client, sso.base) is None
    if account == "alice":  # the password user is left as it was
        row = _user(sso.store, "alice")
        assert row is not None and row.password_hash.startswith("$argon2id$")
    else:
        assert _user(sso.store, account) is None
    failed = [e for e in _events(sso.store) if e.kind == "login_failed"
              and f"subject={account}" in (e.detail or "")]
    assert len(failed) == 1 and reason in (failed[0].detail or ""), failed
    assert (failed[0].detail or "").startswith("method=oidc ")


@pytest.mark.slow
def test_unmapped_values_are_ignored(sso: SSO) -> None:
    client, _ = idp_login(sso.base, "ivan")  # ["staff", "auditor"]
    assert _me(client, sso.base)["role"] == "auditor"  # type: ignore[index]
    assert client.get(f"{sso.base}/api/v1/users").status_code == 403


@pytest.mark.slow
def test_wrong_state_and_foreign_callbacks_are_refused(sso: SSO) -> None:
    client, url = idp_login(sso.base, "erin", stop_at_callback=True)
    assert isinstance(url, str)
    query = parse_qs(urlsplit(url).query)
    assert set(query) >= {"code", "state", "iss"} and query["iss"] == [sso.issuer]
    # the callback opened in another browser (login CSRF): no pending login there
    other = httpx.Client(timeout=20)
    r = other.get(url)
    assert r.status_code == 400 and "not started in this browser" in r.text
    assert _me(other, sso.base) is None
    # the right browser, a wrong state
    forged = url.replace(f"state={query['state'][0]}", "state=" + "A" * 32)
    r = client.get(forged)
    assert r.status_code == 400 and "state mismatch" in r.text
    assert "nw_session" not in client.cookies and _me(client, sso.base) is None
    # the pending login is spent: the genuine answer no longer works either
    r = client.get(url)
    assert r.status_code == 400
    assert _me(client, sso.base) is None
    details = [e.detail or "" for e in _events(sso.store) if e.kind == "login_failed"]
    assert any("state mismatch" in d for d in details)


@pytest.mark.slow
def test_a_replayed_code_is_refused(sso: SSO) -> None:
    """The same callback twice (same browser, flow cookie put back): the provider refuses
    the second redemption of the code."""
    client, url = idp_login(sso.base, "olga", stop_at_callback=True)
    assert isinstance(url, str)
    flow = client.cookies.get("nw_oidc")
    assert client.get(url).status_code == 200 and _me(client, sso.base)["name"] == "olga"  # type: ignore[index]
    again = httpx.Client(timeout=20)
    again.cookies.set("nw_oidc", flow, domain=APP_HOST, path="/login/oidc")  # type: ignore[arg-type]
    r = again.get(url)
    assert r.status_code == 403 and "invalid_grant" in r.text
    assert _me(again, sso.base) is None


@pytest.mark.slow
def test_a_reassigned_user_name_is_refused(sso: SSO) -> None:
    client, _ = idp_login(sso.base, "olga")
    assert _me(client, sso.base)["name"] == "olga"  # type: ignore[index]
    # another subject at the provider now calls itself olga
    client2, r = idp_login(sso.base, "olga-2")
    assert isinstance(r, httpx.Response) and r.status_code == 403
    assert "belongs to another account" in r.text
    assert _me(client2, sso.base) is None


@pytest.mark.slow
def test_a_disabled_user_stays_refused(sso: SSO) -> None:
    client, _ = idp_login(sso.base, "lena")
    assert _me(client, sso.base)["role"] == "analyst"  # type: ignore[index]
    auth.set_disabled(sso.store, "lena")
    assert _me(client, sso.base) is None  # her session ended
    client2, r = idp_login(sso.base, "lena")
    assert isinstance(r, httpx.Response) and r.status_code == 403 and "is disabled" in r.text
    assert _me(client2, sso.base) is None
    with sso.store.session() as s:
        assert not list(s.execute(select(SessionRow).where(SessionRow.user_name == "lena"))
                        .scalars())
    assert _events(sso.store, "lena")[-1].detail == (
        f"method=oidc user disabled issuer={sso.issuer} subject=lena")


def test_sso_is_off_by_default(site: Site) -> None:
    client = site.client()
    assert "/login/oidc" not in client.get("/login").text
    assert client.get("/login/oidc").status_code == 404
    assert client.get("/login/oidc/callback?code=x&state=y").status_code == 404


def test_sso_user_rows(site: Site) -> None:
    """The rules of the user row behind a single-sign-on login (no provider needed)."""
    store = site.store
    erin = Identity("https://idp.example.org", "sub-erin", {})
    user, change = sso_user(store, erin, "erin", "analyst")
    assert (user.name, user.role, change) == ("erin", "analyst", "new user")
    user, change = sso_user(store, erin, "erin", "supervisor")
    assert (user.role, change) == ("supervisor", "role analyst -> supervisor")
    assert _user(store, "erin").role == "supervisor"  # type: ignore[union-attr]
    with pytest.raises(LoginRefusedError, match="belongs to another account"):
        sso_user(store, Identity("https://idp.example.org", "sub-other", {}), "erin", "analyst")
    with pytest.raises(LoginRefusedError, match="belongs to another account"):  # other issuer
        sso_user(store, Identity("https://other.example.org", "sub-erin", {}), "erin", "analyst")
    with pytest.raises(LoginRefusedError, match="logs in with a password"):
        sso_user(store, erin, "alice", "analyst")
    auth.set_disabled(store, "erin")
    with pytest.raises(LoginRefusedError, match="is disabled"):
        sso_user(store, erin, "erin", "supervisor")


def test_sso_users_have_no_password(site: Site) -> None:
    """A user made by single sign-on cannot log in with any password, not even the text
    behind the dummy hash that unknown names are checked against."""
    sso_user(site.store, Identity("https://idp.example.org", "sub-erin", {}), "erin", "analyst")
    client = site.client()
    for password in ("anything at all", "not a password of anyone", "", "erin"):
        client.get("/login")
        r = client.post("/login", data={"username": "erin", "password": password,
                                         "csrf_token": client.cookies.get("nw_login_csrf")})
        assert r.status_code == 401, (password, r.status_code)
        assert "nw_session" not in client.cookies
    details = [e.detail for e in _events(site.store, "erin") if e.kind == "login_failed"]
    assert details == ["single sign-on user has no password"] * 4
    login(client, "bob")  # password users are unaffected


@pytest.mark.slow
def test_open_paths_with_sso_configured(sso: SSO) -> None:
    """The two single sign-on paths need no session; everything else still does."""
    from netwarden.web import oidc

    anonymous = httpx.Client(timeout=20, base_url=sso.base)
    r = anonymous.get("/login/oidc")
    assert r.status_code == 303 and r.headers["location"].startswith(f"{sso.issuer}/auth?")
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["code_challenge_method"] == ["S256"] and len(q["code_challenge"][0]) == 43
    assert q["response_type"] == ["code"] and q["client_id"] == [CLIENT_ID]
    assert q["redirect_uri"] == [sso.settings.redirect_url] and q["scope"] == [" ".join(SCOPES)]
    assert len(q["state"][0]) >= 32 and len(q["nonce"][0]) >= 32
    cookie = r.headers["set-cookie"]
    assert "nw_oidc=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/login/oidc" in cookie
    assert anonymous.get("/login/oidc/callback?code=x&state=y").status_code == 400
    for route in oidc.router.routes:
        assert getattr(route, "path", "") in {"/login/oidc", "/login/oidc/callback"}
    for path in ("/", "/findings", "/audit"):
        r = anonymous.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    assert anonymous.get("/api/v1/me").status_code == 401


@pytest.mark.slow
def test_serve_command_with_sso(sso: SSO, seed: Seed, tmp_path: Path) -> None:
    """``netwarden serve`` with the OIDC options, a role map that replaces the default, and a
    full login through the real provider."""
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(sso.secret + "\n")
    url = copy_db(seed, tmp_path / "cli.sqlite")
    port = int(sso.spare_base.rsplit(":", 1)[1])
    netwarden = Path(sys.executable).with_name("netwarden")
    argv = [str(netwarden), "serve", "--host", APP_HOST, "--port", str(port), "--db", url,
            "--public-url", sso.spare_base + "/", "--oidc-issuer", sso.issuer,
            "--oidc-client-id", CLIENT_ID, "--oidc-client-secret-file", str(secret_file),
            "--oidc-scopes", " ".join(SCOPES), "--oidc-role-map", "staff=analyst",
            "--oidc-label", "Corp ID"]
    env = {**os.environ, "NETWARDEN_HOME": str(tmp_path / "home")}
    with serve(argv, APP_HOST, port, tmp_path / "serve.log", env=env, timeout=60):
        assert "Log in with Corp ID" in httpx.get(f"{sso.spare_base}/login").text
        client, r = idp_login(sso.spare_base, "ivan")  # ["staff", "auditor"]
        assert isinstance(r, httpx.Response) and r.status_code == 200
        assert _me(client, sso.spare_base)["role"] == "analyst"  # type: ignore[index]
        # "analyst" itself is no longer mapped: the map replaced the default
        client, r = idp_login(sso.spare_base, "erin")
        assert isinstance(r, httpx.Response) and r.status_code == 403
        assert "no netwarden role" in r.text


# -- without the provider --------------------------------------------------------------------
def _settings(**kw: Any) -> OIDCSettings:
    values: dict[str, Any] = {"issuer": "https://idp.example.org", "client_id": "nw",
                              "client_secret": "s", "redirect_url":
                              "https://nw.example.org/login/oidc/callback"}
    values.update(kw)
    return OIDCSettings(**values)


def test_role_mapping_rules() -> None:
    s = _settings()
    assert role_from_claims({"netwarden_role": "auditor"}, s) == "auditor"
    assert role_from_claims({"netwarden_role": ["x", "analyst", "analyst"]}, s) == "analyst"
    for claims in ({}, {"netwarden_role": "root"}, {"netwarden_role": []},
                   {"netwarden_role": 3}, {"netwarden_role": {"a": "analyst"}},
                   {"netwarden_role": [["analyst"]]}):
        with pytest.raises(LoginRefusedError, match="no netwarden role"):
            role_from_claims(claims, s)
    with pytest.raises(LoginRefusedError, match="several netwarden roles"):
        role_from_claims({"netwarden_role": ["auditor", "supervisor"]}, s)
    groups = _settings(role_claim="groups", role_map=parse_role_map(
        ["nw-analysts=analyst", "nw-leads=supervisor"]))
    assert role_from_claims({"groups": ["all-staff", "nw-leads"]}, groups) == "supervisor"
    with pytest.raises(LoginRefusedError):  # the default identity map is replaced
        role_from_claims({"groups": ["analyst"]}, groups)


def test_user_name_rules() -> None:
    s = _settings()
    assert username_from_claims({"preferred_username": "erin@corp"}, s) == "erin@corp"
    for bad in (None, "", "a b", "../x", "x" * 65, 7, "-lead"):
        with pytest.raises(LoginRefusedError, match="not a valid netwarden user name"):
            username_from_claims({"preferred_username": bad}, s)


def test_settings_and_serve_options_are_checked(tmp_path: Path) -> None:
    from netwarden.cli.serve import oidc_settings

    with pytest.raises(InputError, match="must be an http"):
        _settings(issuer="ftp://idp.example.org")
    with pytest.raises(InputError, match="must use https"):
        _settings(issuer="http://idp.example.org")
    with pytest.raises(InputError, match="'boss' is not one of"):
        _settings(role_map={"x": "boss"})
    with pytest.raises(InputError, match="must include openid"):
        _settings(scopes=("profile",))
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    good = {"public_url": "https://nw.example.org", "issuer": "https://idp.example.org",
            "client_id": "nw", "secret_file": secret}
    made = oidc_settings(**good, role_map=["g1=auditor"])
    assert made is not None and made.redirect_url == "https://nw.example.org/login/oidc/callback"
    assert made.client_secret == "s3cret" and dict(made.role_map) == {"g1": "auditor"}
    assert oidc_settings(public_url=None, issuer=None, client_id=None, secret_file=None) is None
    cases = [
        ({"secret_file": tmp_path / "missing"}, "cannot read the OIDC client secret"),
        ({"issuer": "ftp://idp.example.org"}, "--oidc-issuer: 'ftp://idp.example.org' must"),
        ({"issuer": "idp.example.org"}, "must be an http"),
        ({"public_url": None}, "--public-url: is required"),
        ({"public_url": "https://nw.example.org/?x=1"}, "must not have a query"),
        ({"client_id": ""}, "--oidc-client-id: is required"),
        ({"issuer": None}, "--oidc-client-id: needs --oidc-issuer"),
    ]
    for change, message in cases:
        with pytest.raises(InputError, match=re.escape(message)):
            oidc_settings(**{**good, **change})
    for entries, message in ((["g1=boss"], "'boss' is not one of analyst"),
                             (["g1"], "must be VALUE=ROLE"),
                             (["g1=analyst", "g1=auditor"], "mapped to both")):
        with pytest.raises(InputError, match=message):
            oidc_settings(**good, role_map=entries)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(InputError, match="empty"):
        oidc_settings(**{**good, "secret_file": tmp_path / "empty"})

    import netwarden.cli.serve  # noqa: F401  registers the commands
    from netwarden.cli import app

    r = CliRunner().invoke(app, ["serve", "--oidc-issuer", "https://idp.example.org",
                                 "--oidc-client-id", "nw", "--oidc-client-secret-file",
                                 str(secret), "--public-url", "https://nw.example.org",
                                 "--oidc-role-map", "admins=root"])
    assert isinstance(r.exception, InputError) and "'root' is not one of" in str(r.exception)


# -- ID token checks, against tokens signed here -------------------------------------------
class _Discovery(http.server.BaseHTTPRequestHandler):
    """Serves a discovery document and a JWKS (the public half of ``keys``)."""

    docs: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.docs.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body or b'{"error":"not_found"}')

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Issuer:
    url: str
    key: RSAKey
    rp: RelyingParty


@pytest.fixture
def local_issuer() -> Iterator[Issuer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Discovery)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
    handler = type("Handler", (_Discovery,), {"docs": {
        "/.well-known/openid-configuration": json.dumps({
            "issuer": url, "authorization_endpoint": f"{url}/auth",
            "token_endpoint": f"{url}/token", "jwks_uri": f"{url}/jwks",
            "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"]}).encode(),
        "/jwks": json.dumps(KeySet([key]).as_dict(private=False)).encode()}})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rp = RelyingParty(_settings(issuer=url, client_id="nw"))
    yield Issuer(url, key, rp)
    server.shutdown()
    server.server_close()


def _token(issuer: Issuer, key: Any = None, alg: str = "RS256", **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": issuer.url, "sub": "s-1", "aud": "nw", "exp": now + 300, "iat": now,
              "nonce": "n" * 32}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key or issuer.key)


def test_id_token_checks(local_issuer: Issuer) -> None:
    rp, nonce = local_issuer.rp, "n" * 32
    claims = rp.verify_id_token(_token(local_issuer), nonce)
    assert claims["sub"] == "s-1"
    assert rp.verify_id_token(_token(local_issuer, aud=["other", "nw"], azp="nw"), nonce)
    other_key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    exp = int(time.time()) - 3600
    bad = {  # token -> what the refusal must name
        _token(local_issuer, key=other_key): "bad_signature",
        _token(local_issuer, key=OctKey.import_key("s" * 32), alg="HS256"):
            "Algorithm of 'HS256' is not allowed",
        _token(local_issuer, iss="http://127.0.0.1:1"): "Invalid claim: 'iss'",
        _token(local_issuer, aud="someone-else"): "Invalid claim: 'aud'",
        _token(local_issuer, aud=["someone-else"]): "Invalid claim: 'aud'",
        _token(local_issuer, aud=["other", "nw"], azp="other"): "Invalid claim: 'azp'",
        _token(local_issuer, exp=exp): "The token is expired",
        _token(local_issuer, exp=None): "Missing claim: 'exp'",
        _token(local_issuer, nonce="m" * 32): "Invalid claim: 'nonce'",
        _token(local_issuer, nonce=None): "Missing claim: 'nonce'",
        _token(local_issuer, sub=None): "Missing claim: 'sub'",
    }
    for token, problem in bad.items():
        with pytest.raises(LoginRefusedError, match="ID token was rejected") as caught:
            rp.verify_id_token(token, nonce)
        assert caught.value.reason.startswith("ID token rejected: "), caught.value.reason
        assert problem in caught.value.reason, (problem, caught.value.reason)
    with pytest.raises(LoginRefusedError, match="rejected"):  # unsigned
        header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
        rp.verify_id_token(header + "." + _token(local_issuer).split(".")[1] + ".", nonce)


def test_provider_problems_are_named(local_issuer: Issuer, site: Site) -> None:
    from fastapi.testclient import TestClient

    from netwarden.web.app import create_app

    dead = free_port("127.0.0.1")
    app = create_app(store=site.store, key_dir=site.seed.key_dir, oidc=_settings(
        issuer=f"http://127.0.0.1:{dead}", redirect_url=f"http://{APP_HOST}:1/login/oidc/callback"))
    client = TestClient(app, follow_redirects=False)
    assert 'href="/login/oidc">Log in with Single sign-on</a>' in client.get("/login").text
    r = client.get("/login/oidc")
    assert r.status_code == 502
    assert f"OIDC provider http://127.0.0.1:{dead}: discovery failed: " in r.text
    assert login(client, "alice")  # the password login keeps working
    rp = RelyingParty(_settings(issuer=f"http://127.0.0.1:{dead}"))
    with pytest.raises(ProviderError, match=re.escape(
            f"OIDC provider http://127.0.0.1:{dead}: discovery failed: ")):
        rp.metadata()
    lying = RelyingParty(_settings(issuer=local_issuer.url + "/"))  # discovery names another
    with pytest.raises(ProviderError, match="discovery failed: the document names issuer"):
        lying.metadata()
    url, pending = local_issuer.rp.begin()
    assert url.startswith(f"{local_issuer.url}/auth?") and f"state={pending.state}" in url
