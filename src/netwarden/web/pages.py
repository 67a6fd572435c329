"""HTML pages for analysts: login, dashboard, operator, findings, finding, audit trail, notices.

Pages render on the server (Jinja2, autoescaped); the only script is ``static/proof.js``, which
re-checks a finding's inclusion proofs in the browser. Every POST carries the session's CSRF
token in a hidden field and answers with a 303 redirect (post/redirect/get).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from netwarden.i18n import N_
from netwarden.records import content_track
from netwarden.web import auth, language
from netwarden.web.api import load_finding, pseudonym_of, record_view
from netwarden.web.app import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    client_of,
    ctx,
    require,
    start_session,
)
from netwarden.web.campaigns import campaign_detail
from netwarden.web.campaigns import campaigns as load_campaigns
from netwarden.web.data import notices as load_notices

router = APIRouter(include_in_schema=False)
PAGE = 100


def render(request: Request, name: str, info: auth.SessionInfo | None, status: int = 200,
           **values: Any) -> Response:
    words = language.activate(request, info)
    return ctx(request).templates.TemplateResponse(
        request, name, {"user": info, **words, **values}, status_code=status)


@router.get("/login")
def login_form(request: Request, error: str | None = None) -> Response:
    # Keep a token the browser already holds: a second GET /login (another tab, the favicon
    # redirect) must not invalidate a form that is already on screen.
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (24 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()):
        token = secrets.token_urlsafe(24)
    rp = ctx(request).oidc
    response = render(request, "login.html", None, login_csrf=token, error=error,
                      sso_label=rp.settings.label if rp is not None else None)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=ctx(request).settings.secure_cookies, max_age=600, path="/login")
    return response


@router.post("/login")
def login(request: Request, username: str = Form("", max_length=200),
          password: str = Form("", max_length=2000),
          csrf_token: str = Form("", max_length=200)) -> Response:
    c = ctx(request)
    if not auth.csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf_token):
        auth.record_event(c.store, "csrf_failed", user=username[:64], client=client_of(request),
                          method="POST", path="/login")
        return _login_again(request, N_("The login form expired; please try again."), 403)
    try:
        user = auth.authenticate(c.store, c.settings, username, password, client_of(request))
    except auth.RateLimitedError as exc:
        if exc.what == "address":
            return _login_again(request, N_("Too many failed logins from your address; wait "
                                            "and try again later."), 429)
        return _login_again(request, N_("Too many failed logins for this account; wait, or "
                                        "ask a supervisor to unlock it."), 429)
    if user is None:
        return _login_again(request, N_("Wrong user name or password."), 401)
    response = RedirectResponse("/", status_code=303)
    start_session(request, response, user)
    return response


def _login_again(request: Request, error: str, status: int) -> Response:
    response = login_form(request, error)
    response.status_code = status
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("", max_length=200)) -> Response:
    info = require(request, "view")
    check_csrf(request, info, csrf_token)
    c = ctx(request)
    auth.end_session(c.store, request.cookies.get(SESSION_COOKIE))
    auth.record_event(c.store, "logout", user=info.user.name, client=client_of(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def dashboard(request: Request) -> Response:
    info = require(request, "view")
    c = ctx(request)
    runs = c.source.runs()
    operators = c.source.operators()
    states = c.evidence.states()
    unreviewed, to_review = c.source.unreviewed(limit=20)
    awaiting = sum(1 for s in states.values() if s.endswith("awaiting sign-off"))
    by_level = c.source.counts("evidence_level")
    # CSAM is headlined on its own legal track (never folded into copyright counts)
    csam = sum(n for cat, n in c.source.counts("category").items()
               if content_track(str(cat)) == "csam")
    totals = {"runs": len(runs), "operators": len(operators), "findings": sum(by_level.values()),
              "served": by_level.get("served", 0), "unreviewed": unreviewed,
              "awaiting_signoff": awaiting, "csam": csam}
    return render(request, "dashboard.html", info, runs=runs[:50], operators=operators,
                  totals=totals, to_review=to_review, states=states)


@router.get("/operators/{name:path}")
def operator(request: Request, name: str) -> Response:
    info = require(request, "view")
    c = ctx(request)
    found = c.source.operator(name)
    if found is None:
        raise HTTPException(404, f"no operator {name!r}")
    total, items = c.source.findings(operator=name, limit=1000)
    runs = [r for r in c.source.runs() if r.operator == name]
    return render(request, "operator.html", info, op=found, findings=items, total=total,
                  runs=runs, states=c.evidence.states(),
                  notices=load_notices(c.store, operator=name, limit=100))


@router.get("/campaigns")
def campaigns(request: Request) -> Response:
    info = require(request, "view")
    return render(request, "campaigns.html", info,
                  campaigns=load_campaigns(ctx(request).store))


@router.get("/campaigns/{name:path}")
def campaign(request: Request, name: str) -> Response:
    info = require(request, "view")
    found = campaign_detail(ctx(request).store, name)
    if found is None:
        raise HTTPException(404, f"no campaign {name!r}")
    summary, jobs, attempts = found
    return render(request, "campaign.html", info, c=summary, jobs=jobs, attempts=attempts)


@router.get("/findings")
def findings(request: Request, level: str | None = Query(None, max_length=20),
             operator: str | None = Query(None, max_length=200),
             run_id: str | None = Query(None, max_length=80),
             page: int = Query(0, ge=0, le=100_000)) -> Response:
    info = require(request, "view")
    c = ctx(request)
    total, items = c.source.findings(level=level or None, operator=operator or None,
                                     run_id=run_id or None, limit=PAGE, offset=page * PAGE)
    return render(request, "findings.html", info, findings=items, total=total, page=page,
                  pages=(total + PAGE - 1) // PAGE, level=level, operator=operator,
                  run_id=run_id, states=c.evidence.states())


@router.get("/findings/{finding_id}")
def finding(request: Request, finding_id: str,
            purpose: str | None = Query(None, max_length=500)) -> Response:
    info = require(request, "view")
    c = ctx(request)
    f = load_finding(request, finding_id)
    view_leaf = record_view(request, info, f, f"GET /findings/{finding_id}", purpose)
    state = c.evidence.state(f["id"])
    return render(request, "finding.html", info, f=f, state=state, view_leaf=view_leaf,
                  pseudonym=pseudonym_of(f), chain=c.evidence.chain(f),
                  notices=load_notices(c.store, finding_id=f["id"], limit=50),
                  proof_url=f"/api/v1/findings/{quote(f['id'], safe='')}/proof",
                  can_review=info.user.can("review"), can_signoff=info.user.can("signoff"))


@router.post("/findings/{finding_id}/review")
def review(request: Request, finding_id: str, decision: str = Form("", max_length=16),
           reason: str = Form("", max_length=4000),
           csrf_token: str = Form("", max_length=200)) -> Response:
    info = require(request, "review")
    check_csrf(request, info, csrf_token)
    f = load_finding(request, finding_id)
    ctx(request).evidence.review(info.user, f, decision, reason)
    return RedirectResponse(f"/findings/{quote(f['id'], safe='')}", status_code=303)


@router.post("/findings/{finding_id}/signoff")
def signoff(request: Request, finding_id: str, decision: str = Form("", max_length=16),
            reason: str = Form("", max_length=4000),
            csrf_token: str = Form("", max_length=200)) -> Response:
    info = require(request, "signoff")
    check_csrf(request, info, csrf_token)
    f = load_finding(request, finding_id)
    ctx(request).evidence.signoff(info.user, f, decision, reason)
    return RedirectResponse(f"/findings/{quote(f['id'], safe='')}", status_code=303)


@router.get("/audit")
def audit(request: Request, finding_id: str | None = Query(None, max_length=80)) -> Response:
    info = require(request, "view")
    c = ctx(request)
    events = auth.events(c.store, limit=200) if info.user.can("users") else []
    return render(request, "audit.html", info, trail=c.evidence.trail(300, finding_id or None),
                  events=events, finding_id=finding_id)


@router.get("/notices")
def notices(request: Request) -> Response:
    info = require(request, "view")
    return render(request, "notices.html", info, notices=load_notices(ctx(request).store))


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    c = ctx(request)
    if c.metrics_token is not None:
        given = request.headers.get("authorization", "")
        if not auth.csrf_ok(f"Bearer {c.metrics_token}", given):
            return Response("metrics need the bearer token\n", status_code=401,
                            media_type="text/plain")
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(c.metrics.render(), media_type=CONTENT_TYPE_LATEST)
