"""API tokens: a script lists findings and records a review with a token and no cookie; a
revoked or expired token gets 401; scope narrows the role; only a hash is stored; the
OpenAPI document declares the scheme; creation, use, refusal and revocation are events."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from netwarden.errors import InputError
from netwarden.web import tokens
from netwarden.web.models import EventRow, TokenRow

from .conftest import BOTH_BACKENDS, Seed, Site, login

pytestmark = BOTH_BACKENDS

SCRIPT = r'''
import json, os, sys, urllib.request, urllib.error
base, token = sys.argv[1], os.environ["NW_TOKEN"]
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
status, page = call("GET", "/api/v1/findings?limit=500")
out = {"list": status}
if status == 200:
    out["total"] = page["total"]
    fid = page["items"][0]["id"]
    out["review"], review = call("POST", f"/api/v1/findings/{fid}/review",
                                 {"decision": "confirmed", "reason": "scripted check"})
    out["review_body"] = review
print(json.dumps(out))
'''


def _cli(*args: str) -> tuple[int, str]:
    from netwarden.cli import _load_commands, app

    _load_commands(list(args))
    r = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return r.exit_code, r.output


def _create(db: str, user: str, scope: str, expires: str = "30d") -> tuple[str, str]:
    code, out = _cli("token", "create", "--user", user, "--scope", scope, "--expires", expires,
                     "--db", db, "--json")
    assert code == 0, out
    data = json.loads(out.strip().splitlines()[-1])
    return data["token"], data["id"]


def _script(base: str, token: str) -> dict:
    run = subprocess.run([sys.executable, "-c", SCRIPT, base], capture_output=True, text=True,
                         timeout=60, env={"NW_TOKEN": token, "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.slow
def test_a_script_reviews_with_a_token_and_revoked_or_expired_get_401(
        served: str, seed: Seed, db_url: str) -> None:
    token, token_id = _create(db_url, "alice", "review")
    out = _script(served, token)
    assert out["list"] == 200 and out["total"] == len(seed.findings)
    assert out["review"] == 201, out
    assert out["review_body"]["user"] == "alice" and out["review_body"]["leaf_index"] > 0
    code, text = _cli("token", "revoke", token_id, "--db", db_url)
    assert code == 0, text
    assert _script(served, token) == {"list": 401}
    expired, expired_id = _create(db_url, "alice", "review")
    from netwarden.store import open_store

    store = open_store(db_url)
    with store.session() as s:
        s.execute(update(TokenRow).where(TokenRow.id == expired_id).values(
            expires_at=tokens.now() - timedelta(seconds=1)))
    assert _script(served, expired) == {"list": 401}
    with store.session() as s:
        details = [e.detail for e in s.scalars(select(EventRow).where(
            EventRow.kind == "token_failed"))]
    store.close()
    assert f"token {token_id}: revoked" in details
    assert f"token {expired_id}: expired" in details


def test_scope_role_csrf_and_pages(site: Site) -> None:
    fid = site.seed.findings[0]["id"]
    body = {"decision": "confirmed", "reason": "digest equals the reference"}
    read, _ = _create(site.db_url, "alice", "read")
    review, _ = _create(site.db_url, "alice", "review")
    auditor, _ = _create(site.db_url, "dave", "read")
    bob_review, _ = _create(site.db_url, "bob", "review")
    c = site.client()
    h = {"Authorization": f"Bearer {read}"}
    assert c.get("/api/v1/findings", headers=h).status_code == 200
    assert c.post(f"/api/v1/findings/{fid}/review", json=body, headers=h).status_code == 403
    h = {"Authorization": f"Bearer {review}"}
    assert c.post(f"/api/v1/findings/{fid}/review", json=body, headers=h).status_code == 201
    me = c.get("/api/v1/me", headers=h).json()
    assert me["name"] == "alice" and me["csrf_token"] == ""
    # the supervisor's review-scoped token signs off, but never reaches users/events
    h = {"Authorization": f"Bearer {bob_review}"}
    r = c.post(f"/api/v1/findings/{fid}/signoff", json={"decision": "approved", "reason": "ok"},
               headers=h)
    assert r.status_code == 201, r.text
    assert c.get("/api/v1/users", headers=h).status_code == 403
    assert c.get("/api/v1/findings", headers={"Authorization": f"Bearer {auditor}"}
                 ).status_code == 200
    # pages are for people: a bearer token is no login there
    assert c.get("/findings", headers=h).status_code == 303
    # a wrong token is 401 even next to a valid session cookie
    login(c, "alice")
    r = c.get("/api/v1/findings", headers={"Authorization": "Bearer nwt_0000000000000000_x"})
    assert r.status_code == 401 and "Bearer" in r.headers["www-authenticate"]
    assert c.get("/api/v1/findings").status_code == 200
    # disabling the user stops the token
    from netwarden.web.auth import set_disabled

    set_disabled(site.store, "alice")
    assert site.client().get("/api/v1/findings", headers={"Authorization": f"Bearer {read}"}
                             ).status_code == 401


def test_only_a_hash_is_stored_and_events_are_logged(site: Site) -> None:
    token, token_id = _create(site.db_url, "alice", "read")
    with site.store.session() as s:
        row = s.get(TokenRow, token_id)
        assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps([str(v) for v in vars(row).values()])
    c = site.client()
    for _ in range(3):
        assert c.get("/api/v1/runs", headers={"Authorization": f"Bearer {token}"}
                     ).status_code == 200
    with site.store.session() as s:
        kinds = [(e.kind, e.user_name) for e in s.scalars(select(EventRow).where(
            EventRow.kind.like("token_%")))]
        assert all(token not in (e.detail or "") for e in s.scalars(select(EventRow)))
    assert kinds.count(("token_created", "alice")) == 1
    assert kinds.count(("token_used", "alice")) == 1  # at most one per 5 minutes
    code, out = _cli("token", "list", "--db", site.db_url, "--json")
    listed = json.loads(out)
    assert code == 0 and listed[0]["id"] == token_id and listed[0]["state"] == "active"
    assert token not in out


def test_openapi_declares_the_token_scheme(site: Site) -> None:
    token, _ = _create(site.db_url, "dave", "read")
    doc = site.client().get("/api/v1/openapi.json",
                            headers={"Authorization": f"Bearer {token}"}).json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiToken"] == {**schemes["apiToken"], "type": "http", "scheme": "bearer"}
    assert schemes["sessionCookie"]["in"] == "cookie"
    assert {"apiToken": []} in doc["security"]


def test_create_refuses_bad_input(site: Site) -> None:
    from netwarden.store import open_store

    for args, what in ((["--user", "nobody", "--scope", "read", "--expires", "1d"], "exist"),
                       (["--user", "dave", "--scope", "review", "--expires", "1d"], "review"),
                       (["--user", "alice", "--scope", "admin", "--expires", "1d"], "admin"),
                       (["--user", "alice", "--scope", "read", "--expires", "400d"], "year"),
                       (["--user", "alice", "--scope", "read", "--expires", "2001-01-01"],
                        "future")):
        with pytest.raises(InputError, match=what):
            _cli("token", "create", *args, "--db", site.db_url)
    store = open_store(site.db_url)
    with store.session() as s:
        assert s.scalar(select(TokenRow)) is None
    store.close()
    assert tokens.parse_expiry("2h") > tokens.now()
