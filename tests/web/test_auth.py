"""Login, sessions, expiry, rate limiting, and that nothing is served without a session."""

from __future__ import annotations

from datetime import timedelta

from httpx import Response
from sqlalchemy import select, update

from netwarden.web import auth
from netwarden.web.models import EventRow, SessionRow, UserRow

from .conftest import Site, login

OPEN = {"/login", "/healthz", "/metrics"}


def _concrete(path: str) -> str:
    return (path.replace("{finding_id}", "x").replace("{run_id}", "x")
            .replace("{name}", "x").replace("{name:path}", "x"))


def test_every_route_needs_a_session(site: Site) -> None:
    client = site.client()
    checked = 0
    from netwarden.web import api, pages

    # FastAPI keeps included routers lazily: walk them as well as the app's own routes
    for route in [*api.router.routes, *pages.router.routes, *site.app.routes]:
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", None) or set()
        if not methods or path in OPEN or path.startswith("/static") \
                or path.startswith("/docs"):
            continue
        for method in methods - {"HEAD"}:
            r = client.request(method, _concrete(path))
            checked += 1
            if path.startswith("/api/"):
                assert r.status_code == 401, (method, path, r.status_code)
            else:
                assert r.status_code == 303 and r.headers["location"] == "/login", (method, path)
    assert checked >= 15


def test_login_logout_and_password_storage(site: Site) -> None:
    client = site.client()
    csrf = login(client, "alice")
    assert client.get("/").status_code == 200
    with site.store.session() as s:
        stored = s.get(UserRow, "alice").password_hash
        tokens = list(s.execute(select(SessionRow.token_sha256)).scalars())
    assert stored.startswith("$argon2id$") and "alice-analyst-pw" not in stored
    cookie = client.cookies.get("nw_session")
    assert cookie and cookie not in tokens  # only a hash of the token is stored
    r = client.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303
    other = site.client()
    other.cookies.set("nw_session", cookie)
    assert other.get("/api/v1/me").status_code == 401  # the old cookie is dead


def test_wrong_password_and_burst_is_rate_limited(site: Site) -> None:
    client = site.client()
    client.get("/login")

    def attempt(password: str) -> Response:
        # each answer renders a fresh login form with a new double-submit token
        return client.post("/login", data={"username": "bob", "password": password,
                                           "csrf_token": client.cookies.get("nw_login_csrf")})

    statuses = [attempt("wrong-password!").status_code for _ in range(7)]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    # even the right password is refused while the limit holds
    r = attempt("bob-supervisor-pw")
    assert r.status_code == 429
    assert "Too many failed logins" in r.text
    with site.store.session() as s:
        kinds = list(s.execute(select(EventRow.kind).where(EventRow.user_name == "bob"))
                     .scalars())
    assert kinds.count("login_failed") == 5 and kinds.count("rate_limited") == 3
    # once the failures are older than the window, the user may log in again
    with site.store.session() as s:
        s.execute(update(EventRow).values(at=auth.now() - timedelta(hours=1)))
    login(client, "bob")


def test_unknown_user_and_login_without_form_token(site: Site) -> None:
    client = site.client()
    client.get("/login")
    r = client.post("/login", data={"username": "mallory", "password": "whatever-pass",
                                    "csrf_token": client.cookies.get("nw_login_csrf")})
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    fresh = site.client()
    r = fresh.post("/login", data={"username": "alice", "password": "alice-analyst-pw"})
    assert r.status_code == 403
    assert fresh.get("/api/v1/me").status_code == 401


def test_session_expires_when_idle_and_at_lifetime(site: Site) -> None:
    client = site.client()
    login(client, "alice")
    with site.store.session() as s:
        s.execute(update(SessionRow).values(expires_at=auth.now() - timedelta(seconds=1)))
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/").headers["location"] == "/login"
    # a request keeps the session alive only up to its lifetime after login
    login(client, "alice")
    with site.store.session() as s:
        s.execute(update(SessionRow).values(created_at=auth.now() - timedelta(hours=13)))
    assert client.get("/api/v1/me").status_code == 200  # this request is the last one
    assert client.get("/api/v1/me").status_code == 401


def test_disabled_user_loses_sessions(site: Site) -> None:
    client = site.client()
    login(client, "dave")
    auth.set_disabled(site.store, "dave")
    assert client.get("/api/v1/me").status_code == 401
    client.get("/login")
    r = client.post("/login", data={"username": "dave", "password": "dave-auditor-pw",
                                    "csrf_token": client.cookies.get("nw_login_csrf")})
    assert r.status_code == 401


def test_user_input_is_checked(site: Site) -> None:
    import pytest

    from netwarden.errors import InputError

    for name, role, pw in (("bad name", "analyst", "long-enough-pw"),
                           ("erin", "admin", "long-enough-pw"),
                           ("erin", "analyst", "short"),
                           ("alice", "analyst", "long-enough-pw")):
        with pytest.raises(InputError):
            auth.add_user(site.store, name, role, pw)
