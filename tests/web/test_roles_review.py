"""Roles (403 + logged), CSRF on every state-changing request, and the review workflow as
ledger leaves (who, when with time zone, what, why), provable against a signed checkpoint."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from netwarden.ledger import Ledger, verify_inclusion
from netwarden.ledger.merkle import leaf_hash
from netwarden.web.models import EventRow

from .conftest import BOTH_BACKENDS, Site, login

pytestmark = BOTH_BACKENDS


def _forbidden_events(site: Site) -> list[tuple[str | None, str | None, str | None]]:
    with site.store.session() as s:
        return [(e.user_name, e.method, e.path) for e in s.execute(
            select(EventRow).where(EventRow.kind == "forbidden")).scalars()]


def test_each_role_gets_403_where_it_lacks_the_permission_and_it_is_logged(site: Site) -> None:
    fid = site.seed.findings[0]["id"]
    body = {"decision": "confirmed", "reason": "digest equals the reference"}
    writes = [("POST", f"/api/v1/findings/{fid}/review", {"review"}),
              ("POST", f"/api/v1/findings/{fid}/signoff", {"signoff"}),
              ("GET", "/api/v1/users", {"users"}),
              ("GET", "/api/v1/events", {"users"})]
    forms = [(f"/findings/{fid}/review", "review"), (f"/findings/{fid}/signoff", "signoff")]
    perms = {"alice": {"review"}, "bob": {"review", "signoff", "users"}, "dave": set()}
    for name, has in perms.items():
        client = site.client()
        csrf = login(client, name)
        for path in ("/api/v1/runs", "/api/v1/findings", "/api/v1/operators",
                     "/api/v1/audit-trail", "/api/v1/notices", "/", "/findings", "/audit",
                     "/notices", f"/findings/{fid}"):
            assert client.get(path).status_code == 200, (name, path)
        for method, path, need in writes:
            r = client.request(method, path, json=body if method == "POST" else None,
                               headers={"X-CSRF-Token": csrf})
            if need <= has:
                assert r.status_code in (200, 201, 409, 422), (name, path, r.text)
            else:
                assert r.status_code == 403, (name, path, r.status_code)
                assert (name, method, path) in _forbidden_events(site)
        for path, need in forms:
            r = client.post(path, data={"decision": "confirmed", "reason": "x",
                                        "csrf_token": csrf})
            if need not in has:
                assert r.status_code == 403, (name, path)
                assert (name, "POST", path) in _forbidden_events(site)


def test_state_changing_requests_need_the_csrf_token(site: Site) -> None:
    fid = site.seed.findings[0]["id"]
    client = site.client()
    csrf = login(client, "alice")
    body = {"decision": "confirmed", "reason": "ok"}
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": csrf[:-1]}):
        r = client.post(f"/api/v1/findings/{fid}/review", json=body, headers=headers)
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = client.post(f"/findings/{fid}/review", data={"decision": "confirmed", "reason": "ok"})
    assert r.status_code == 403
    r = client.post("/logout", data={})
    assert r.status_code == 403
    assert client.get("/api/v1/me").status_code == 200  # still logged in
    with site.store.session() as s:
        n = len(list(s.execute(select(EventRow).where(EventRow.kind == "csrf_failed"))
                     .scalars()))
    assert n == 5
    assert site.client().get("/api/v1/audit-trail").status_code == 401
    # nothing was recorded by the refused requests
    assert client.get("/api/v1/audit-trail").json() == []


def test_review_and_signoff_are_ledger_leaves_and_provable(site: Site) -> None:
    f = site.seed.subscriber_finding()
    fid = f["id"]
    analyst = site.client()
    a_csrf = login(analyst, "alice")
    r = analyst.post(f"/api/v1/findings/{fid}/review",
                     json={"decision": "confirmed", "reason": "sha256 equals FILM reference"},
                     headers={"X-CSRF-Token": a_csrf})
    assert r.status_code == 201, r.text
    review = r.json()
    # a supervisor signs off; the reviewer may not sign off their own review
    sup = site.client()
    s_csrf = login(sup, "bob")
    own = sup.post(f"/api/v1/findings/{fid}/review", json={"decision": "rejected",
                   "reason": "wrong category"}, headers={"X-CSRF-Token": s_csrf})
    assert own.status_code == 201
    r = sup.post(f"/api/v1/findings/{fid}/signoff", json={"decision": "approved",
                 "reason": "ok"}, headers={"X-CSRF-Token": s_csrf})
    assert r.status_code == 409 and "four eyes" in r.json()["detail"]
    other = site.client()
    c_csrf = login(other, "carol")
    r = other.post(f"/api/v1/findings/{fid}/signoff", json={"decision": "approved",
                   "reason": "checked the chain"}, headers={"X-CSRF-Token": c_csrf})
    assert r.status_code == 201, r.text
    signoff = r.json()
    r = other.post(f"/api/v1/findings/{fid}/signoff", json={"decision": "approved",
                   "reason": "again"}, headers={"X-CSRF-Token": c_csrf})
    assert r.status_code == 409

    ledger = Ledger.open(site.store, require_key=False)
    entry = json.loads(ledger.entry(review["leaf_index"]))
    assert entry["record_type"] == "review" and entry["by"] == "alice"
    assert entry["role"] == "analyst" and entry["decision"] == "confirmed"
    assert entry["reason"] == "sha256 equals FILM reference"
    assert entry["finding_id"] == fid and entry["finding_leaf"] == f["ledger"]["match"][
        "leaf_hash"]
    assert datetime.fromisoformat(entry["at"]).tzinfo is not None
    s_entry = json.loads(ledger.entry(signoff["leaf_index"]))
    assert s_entry["record_type"] == "signoff" and s_entry["by"] == "carol"
    assert s_entry["review_decision"] == "rejected"  # signs off the latest review (bob's)

    detail = analyst.get(f"/api/v1/findings/{fid}").json()
    assert detail["review"] == "rejected, signed off"
    assert [h["kind"] for h in detail["history"]] == ["review", "review", "signoff"]
    proof = analyst.get(f"/api/v1/findings/{fid}/proof").json()
    roles = [leaf["role"] for leaf in proof["leaves"]]
    assert roles == ["observation", "match", "verification", "attribution", "review", "review",
                     "signoff"]
    cp = proof["checkpoint"]
    import base64

    root = base64.b64decode(cp["root"])
    for leaf in proof["leaves"]:
        assert leaf["server_verified"], leaf
        data = base64.b64decode(leaf["entry"])
        assert leaf_hash(data).hex() == leaf["leaf_hash"] == leaf["claimed_leaf_hash"]
        assert verify_inclusion(leaf_hash(data), leaf["index"], cp["size"],
                                [bytes.fromhex(p) for p in leaf["proof"]], root)
    assert ledger.verify().ok


@pytest.mark.parametrize(("body", "status"), [
    ({"decision": "maybe", "reason": "x"}, 422),
    ({"decision": "confirmed", "reason": ""}, 422),
    ({"decision": "confirmed", "reason": "   "}, 422),
    ({"decision": "confirmed", "reason": "a\x00b"}, 422),
    ({"decision": "confirmed"}, 422),
    ({"decision": "confirmed", "reason": "x" * 2001}, 422),
])
def test_bad_review_input_is_refused(site: Site, body: dict, status: int) -> None:
    fid = site.seed.findings[0]["id"]
    client = site.client()
    csrf = login(client, "alice")
    r = client.post(f"/api/v1/findings/{fid}/review", json=body,
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == status, r.text
    assert client.get("/api/v1/audit-trail").json() == []


def test_pseudonym_views_are_recorded_and_lists_do_not_show_pseudonyms(site: Site) -> None:
    f = site.seed.subscriber_finding()
    pseudonym = f["attribution"]["pseudonym"]
    client = site.client()
    login(client, "dave")
    for path in ("/", "/findings", "/api/v1/findings", f"/operators/{f['operator']}",
                 "/api/v1/operators"):
        r = client.get(path)
        assert r.status_code == 200 and pseudonym not in r.text, path
    assert client.get("/api/v1/audit-trail").json() == []
    page = client.get(f"/findings/{f['id']}", params={"purpose": "case 17/2026"})
    assert pseudonym in page.text and "recorded as ledger leaf" in page.text
    api = client.get(f"/api/v1/findings/{f['id']}")
    assert api.json()["finding"]["attribution"]["pseudonym"] == pseudonym
    trail = client.get("/api/v1/audit-trail").json()
    assert [t["record_type"] for t in trail] == ["pseudonym_view", "pseudonym_view"]
    assert trail[1]["why"] == "case 17/2026" and trail[0]["why"] == "review of the finding"
    assert all(t["by"] == "dave" and t["role"] == "auditor" and t["pseudonym"] == pseudonym
               for t in trail)
    assert trail[0]["leaf_index"] == api.json()["pseudonym_view_leaf"]
    # a finding on the operator's own host has no pseudonym: nothing to record
    own = next(x for x in site.seed.findings if x["attribution"]["status"] == "operator_host")
    assert client.get(f"/api/v1/findings/{own['id']}").json()["pseudonym_view_leaf"] is None
    assert len(client.get("/api/v1/audit-trail").json()) == 2
