"""Accounts: five wrong passwords lock that account only (other users at the same address log
in), an address is throttled separately and later, ``--trusted-proxy`` decides whose
X-Forwarded-For counts, and ``netwarden user role|disable|enable|reset-password|unlock``.

The browser test drives Debian's Chromium (Playwright) against the app under uvicorn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from typer.testing import CliRunner

from netwarden.web import auth
from netwarden.web.app import parse_trusted_proxies
from netwarden.web.models import EventRow

from .conftest import PASSWORDS, Site, launch_chromium, login


def _cli(*args: str, input: str | None = None) -> tuple[int, str]:
    from netwarden.cli import _load_commands, app

    _load_commands(list(args))
    r = CliRunner().invoke(app, list(args), catch_exceptions=False, input=input)
    return r.exit_code, r.output


def _attempt(client: TestClient, name: str, password: str,
             headers: dict[str, str] | None = None) -> Response:
    if client.cookies.get("nw_login_csrf") is None:
        client.get("/login", headers=headers)
    return client.post("/login", headers=headers,
                       data={"username": name, "password": password,
                             "csrf_token": client.cookies.get("nw_login_csrf")})


def test_five_wrong_passwords_lock_that_account_only(site: Site) -> None:
    office = site.client()  # one client address for everyone
    statuses = [_attempt(office, "alice", "not-alices-password").status_code
                for _ in range(5)]
    assert statuses == [401] * 5
    r = _attempt(office, "alice", PASSWORDS["alice"])
    assert r.status_code == 429 and "for this account" in r.text
    for name in ("bob", "dave"):  # same address, other accounts
        client = site.client()
        login(client, name)
    code, out = _cli("user", "list", "--db", site.db_url, "--json")
    locked = {u["name"]: u["locked"] for u in json.loads(out)}
    assert code == 0 and locked == {"alice": True, "bob": False, "carol": False,
                                    "dave": False}
    code, out = _cli("user", "unlock", "alice", "--db", site.db_url)
    assert code == 0, out
    login(site.client(), "alice")
    with site.store.session() as s:
        events = [(e.kind, e.user_name) for e in s.scalars(select(EventRow))]
    assert ("unlocked", "alice") in events and ("rate_limited", "alice") in events


def test_an_address_is_throttled_after_more_failures(site: Site) -> None:
    client = site.client()
    limit = auth.AuthSettings().max_address_failures
    names = [f"nobody{i}" for i in range(limit)]
    assert all(_attempt(client, n, "wrong-password-x").status_code == 401 for n in names)
    r = _attempt(client, "bob", PASSWORDS["bob"])
    assert r.status_code == 429 and "from your address" in r.text
    other = TestClient(site.app, follow_redirects=False, client=("192.0.2.7", 40000))
    assert _attempt(other, "bob", PASSWORDS["bob"]).status_code == 303


def _client_of_events(site: Site) -> list[str | None]:
    with site.store.session() as s:
        return [e.client for e in s.scalars(select(EventRow).where(
            EventRow.kind == "login_failed").order_by(EventRow.id))]


def test_x_forwarded_for_only_from_the_trusted_proxy(site: Site) -> None:
    ctx = site.app.state.ctx
    ctx.settings = auth.AuthSettings(trusted_proxies=parse_trusted_proxies(["10.0.0.1"]))
    proxy = TestClient(site.app, follow_redirects=False, client=("10.0.0.1", 40000))
    stranger = TestClient(site.app, follow_redirects=False, client=("198.51.100.9", 40000))
    xff = {"X-Forwarded-For": "203.0.113.50, 10.0.0.1"}
    _attempt(proxy, "nobody1", "wrong-password-x", xff)
    _attempt(stranger, "nobody2", "wrong-password-x", {"X-Forwarded-For": "203.0.113.99"})
    _attempt(proxy, "nobody3", "wrong-password-x", {"X-Forwarded-For": "not-an-ip"})
    _attempt(proxy, "nobody4", "wrong-password-x")
    assert _client_of_events(site) == ["203.0.113.50", "198.51.100.9", "10.0.0.1", "10.0.0.1"]
    # behind the proxy, one person's typos lock their account, not the office
    for _ in range(5):
        _attempt(proxy, "alice", "not-alices-password", xff)
    assert _attempt(proxy, "alice", PASSWORDS["alice"], xff).status_code == 429
    bob = TestClient(site.app, follow_redirects=False, client=("10.0.0.1", 40001))
    assert _attempt(bob, "bob", PASSWORDS["bob"], {"X-Forwarded-For": "203.0.113.50"}
                    ).status_code == 303
    with pytest.raises(Exception, match="not an IP"):
        parse_trusted_proxies(["proxy.example"])


def test_user_commands(site: Site, tmp_path: Path) -> None:
    db = site.db_url
    client = site.client()
    login(client, "alice")
    assert _cli("user", "role", "alice", "supervisor", "--db", db)[0] == 0
    assert client.get("/api/v1/me").json()["role"] == "supervisor"  # at the next request
    assert client.get("/api/v1/users").status_code == 200
    assert _cli("user", "disable", "alice", "--db", db)[0] == 0
    assert client.get("/api/v1/me").status_code == 401
    assert _attempt(site.client(), "alice", PASSWORDS["alice"]).status_code == 401
    assert _cli("user", "enable", "alice", "--db", db)[0] == 0
    login(site.client(), "alice")
    pw = tmp_path / "pw"
    pw.write_text("a-brand-new-password\n", encoding="utf-8")
    keep = site.client()
    login(keep, "alice")
    code, out = _cli("user", "reset-password", "alice", "--password-file", str(pw), "--db", db)
    assert code == 0, out
    assert keep.get("/api/v1/me").status_code == 401  # sessions ended
    assert _attempt(site.client(), "alice", PASSWORDS["alice"]).status_code == 401
    login(site.client(), "alice", "a-brand-new-password")
    with pytest.raises(Exception, match="not one of"):
        _cli("user", "role", "alice", "admin", "--db", db)
    with pytest.raises(Exception, match="does not exist"):
        _cli("user", "unlock", "mallory", "--db", db)
    with site.store.session() as s:
        kinds = [e.kind for e in s.scalars(select(EventRow).where(EventRow.user_name == "alice"))]
    for kind in ("user_role", "user_disabled", "user_enabled", "password_reset"):
        assert kind in kinds


@pytest.mark.slow
def test_lockout_in_the_browser_spares_other_users(served: str) -> None:
    with launch_chromium() as browser:
        office = browser.new_context()
        page = office.new_page()
        for _ in range(5):
            page.goto(f"{served}/login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "not-alices-password")
            page.click("button[type=submit]")
            assert "Wrong user name or password" in page.content()
        page.goto(f"{served}/login")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", PASSWORDS["alice"])
        page.click("button[type=submit]")
        assert "Too many failed logins for this account" in page.content()
        assert page.url.endswith("/login")
        # a colleague at the same address (same browser even) logs in
        colleague = browser.new_context()
        page2 = colleague.new_page()
        page2.goto(f"{served}/login")
        page2.fill("input[name=username]", "bob")
        page2.fill("input[name=password]", PASSWORDS["bob"])
        page2.click("button[type=submit]")
        page2.wait_for_url(f"{served}/")
        assert "bob" in page2.content()
        office.close()
        colleague.close()
