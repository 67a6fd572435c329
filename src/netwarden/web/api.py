"""The REST API, versioned under ``/api/v1`` (OpenAPI document at ``/api/v1/openapi.json``).

A breaking change gets ``/api/v2`` beside this one. Authentication is the session cookie from
``/login``; every POST also needs the session's CSRF token in the ``X-CSRF-Token`` header
(``GET /api/v1/me`` returns it). Lists never contain subscriber pseudonyms; the one endpoint that
does (a finding's detail) records the view in the ledger first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from netwarden.i18n import display_name
from netwarden.web import auth
from netwarden.web.app import CSRF_HEADER, check_csrf, ctx, require
from netwarden.web.data import RunInfo
from netwarden.web.evidence import REVIEW_DECISIONS, SIGNOFF_DECISIONS

router = APIRouter(prefix="/api/v1", tags=["v1"])

_ID = r"^[A-Za-z0-9_.:-]{1,80}$"
FindingId = Annotated[str, PathParam(pattern=_ID, description="the finding's id")]
RunId = Annotated[str, PathParam(pattern=_ID, description="the run's id")]
# FastAPI's type for a route's extra OpenAPI responses (status code -> response object).
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"description": "No such item"}}
AUTH: Responses = {401: {"description": "Not logged in"},
                   403: {"description": "Role lacks permission"}}
WRITE: Responses = {**AUTH, 409: {"description": "The review state forbids this"},
                    413: {"description": "Request body too large"},
                    422: {"description": "Invalid input"}}


class Me(BaseModel):
    name: str
    role: str
    csrf_token: str
    expires_at: datetime


class Run(BaseModel):
    id: str
    check_id: str
    operator: str
    jurisdiction: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    observations: int
    findings: int
    served: int


class Operator(BaseModel):
    name: str
    runs: int
    findings: int
    by_level: dict[str, int]
    by_category: dict[str, int]
    infrastructure_findings: int
    last_run: datetime | None


class FindingSummary(BaseModel):
    id: str
    run_id: str | None = None
    operator: str | None = None
    category: str | None = None
    reference: str | None = None
    title: str | None = None
    location: str | None = None
    location_display: str | None = Field(
        None, description="location for people: percent-escapes decoded (UTF-8, else cp1251); "
        "``location`` stays exactly as recorded")
    protocol: str | None = None
    host: str | None = None
    evidence_level: str | None = None
    observed_at: str | None = None
    attribution_status: str | None = None
    review: str


class FindingPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[FindingSummary]


class ReviewIn(BaseModel):
    decision: str = Field(description=f"review: {' | '.join(REVIEW_DECISIONS)}; sign-off: "
                          f"{' | '.join(SIGNOFF_DECISIONS)}", max_length=16)
    reason: str = Field(min_length=1, max_length=2000)


class ReviewOut(BaseModel):
    id: str
    finding_id: str
    kind: Literal["review", "signoff"]
    decision: str
    reason: str
    user: str
    role: str
    at: datetime
    leaf_index: int
    leaf_hash: str


class FindingDetail(BaseModel):
    finding: dict[str, Any]
    review: str
    history: list[ReviewOut]
    location_display: str | None = Field(
        None, description="the finding's location for people (percent-escapes decoded); the "
        "finding itself keeps the exact location")
    pseudonym_view_leaf: int | None = Field(
        None, description="ledger leaf recording this view, when the finding names a pseudonym")


class TrailItem(BaseModel):
    model_config = {"extra": "allow"}
    record_type: str
    leaf_index: int
    leaf_hash: str


class Event(BaseModel):
    id: int
    at: datetime
    kind: str
    user: str | None
    client: str | None
    method: str | None
    path: str | None
    detail: str | None


class UserOut(BaseModel):
    name: str
    role: str
    created_at: datetime
    disabled: bool


def run_out(r: RunInfo) -> Run:
    return Run(id=r.id, check_id=r.check_id, operator=r.operator, jurisdiction=r.jurisdiction,
               started_at=r.started_at, finished_at=r.finished_at, status=r.status,
               observations=r.observations, findings=r.findings, served=r.served)


def summary(f: dict[str, Any], review: str) -> FindingSummary:
    att = f.get("attribution")

    def s(key: str) -> str | None:
        v = f.get(key)
        return v if isinstance(v, str) else None

    return FindingSummary(
        id=f["id"], run_id=s("run_id"), operator=s("operator"), category=s("category"),
        reference=s("reference"), title=s("title"), location=s("location"),
        location_display=display_name(s("location")) if s("location") else None,
        protocol=s("protocol"), host=s("host"), evidence_level=s("evidence_level"),
        observed_at=s("observed_at"),
        attribution_status=att.get("status") if isinstance(att, dict) else None, review=review)


def review_out(r: Any) -> ReviewOut:
    return ReviewOut(id=r.id, finding_id=r.finding_id, kind=r.kind, decision=r.decision,
                     reason=r.reason, user=r.user_name, role=r.role, at=r.at,
                     leaf_index=r.leaf_index, leaf_hash=r.leaf_hash)


def pseudonym_of(finding: dict[str, Any]) -> str | None:
    att = finding.get("attribution")
    p = att.get("pseudonym") if isinstance(att, dict) else None
    return p if isinstance(p, str) and p else None


def load_finding(request: Request, finding_id: str) -> dict[str, Any]:
    finding = ctx(request).source.finding(finding_id)
    if finding is None:
        raise HTTPException(404, f"no finding {finding_id!r}")
    return finding


def record_view(request: Request, info: auth.SessionInfo, finding: dict[str, Any], what: str,
                why: str | None) -> int | None:
    """Ledger leaf for a response that will show the finding's pseudonym (None if none)."""
    pseudonym = pseudonym_of(finding)
    if pseudonym is None:
        return None
    why = (why or "").strip()[:500] or "review of the finding"
    return ctx(request).evidence.pseudonym_view(info.user, finding, pseudonym, what, why)


@router.get("/me", response_model=Me, responses=AUTH)
def me(request: Request) -> Me:
    """Who is logged in, and the CSRF token for POSTs."""
    info = require(request, "view")
    return Me(name=info.user.name, role=info.user.role, csrf_token=info.csrf_token,
              expires_at=info.expires_at)


@router.get("/runs", response_model=list[Run], responses=AUTH)
def runs(request: Request) -> list[Run]:
    """Every audit run, newest first."""
    require(request, "view")
    return [run_out(r) for r in ctx(request).source.runs()]


@router.get("/runs/{run_id}", response_model=Run, responses={**AUTH, **NOT_FOUND})
def run(request: Request, run_id: RunId) -> Run:
    require(request, "view")
    r = ctx(request).source.run(run_id)
    if r is None:
        raise HTTPException(404, f"no run {run_id!r}")
    return run_out(r)


@router.get("/operators", response_model=list[Operator], responses=AUTH)
def operators(request: Request) -> list[Operator]:
    """Per-operator counts over every run."""
    require(request, "view")
    return [Operator(name=o.name, runs=o.runs, findings=o.findings, by_level=dict(o.by_level),
                     by_category=dict(o.by_category), infrastructure_findings=o.infrastructure,
                     last_run=o.last_run) for o in ctx(request).source.operators()]


@router.get("/findings", response_model=FindingPage, responses=AUTH)
def findings(request: Request,
             run_id: str | None = Query(None, max_length=80),
             operator: str | None = Query(None, max_length=200),
             level: Literal["listed", "contacted", "served"] | None = None,
             category: str | None = Query(None, max_length=80),
             limit: int = Query(100, ge=1, le=500),
             offset: int = Query(0, ge=0, le=10_000_000)) -> FindingPage:
    """Findings without pseudonyms (attribution status only), filtered and paged."""
    require(request, "view")
    c = ctx(request)
    total, page = c.source.findings(run_id=run_id, operator=operator, level=level,
                                    category=category, limit=limit, offset=offset)
    states = c.evidence.states()
    return FindingPage(total=total, limit=limit, offset=offset,
                       items=[summary(f, states.get(f["id"], "unreviewed")) for f in page])


@router.get("/findings/{finding_id}", response_model=FindingDetail,
            responses={**AUTH, **NOT_FOUND})
def finding(request: Request, finding_id: FindingId,
            purpose: str | None = Query(None, max_length=500,
                                        description="why you look (recorded with the view)")
            ) -> FindingDetail:
    """The whole finding, pseudonym included: the view is recorded as a ledger leaf first."""
    info = require(request, "view")
    f = load_finding(request, finding_id)
    leaf = record_view(request, info, f, f"GET {request.url.path}", purpose)
    state = ctx(request).evidence.state(f["id"])
    return FindingDetail(finding=f, review=state.label,
                         history=[review_out(r) for r in state.history],
                         location_display=display_name(f.get("location")) or None,
                         pseudonym_view_leaf=leaf)


@router.get("/findings/{finding_id}/proof", responses={**AUTH, **NOT_FOUND})
def proof(request: Request, finding_id: FindingId) -> dict[str, Any]:
    """The finding's ledger leaves (entries base64), RFC 9162 inclusion proofs (hex) against the
    newest signed checkpoint, the verifier key, and the server's own check of each proof."""
    require(request, "view")
    return ctx(request).evidence.proof(load_finding(request, finding_id))


def _write(request: Request, token: str | None, permission: str) -> auth.SessionInfo:
    info = require(request, permission)
    check_csrf(request, info, token)
    return info


@router.post("/findings/{finding_id}/review", response_model=ReviewOut, status_code=201,
             responses={**WRITE, **NOT_FOUND})
def review(request: Request, finding_id: FindingId, body: ReviewIn,
           x_csrf_token: str | None = Header(None, alias=CSRF_HEADER)) -> ReviewOut:
    """Confirm or reject a finding with a reason (analyst, supervisor): a ledger leaf."""
    info = _write(request, x_csrf_token, "review")
    f = load_finding(request, finding_id)
    return review_out(ctx(request).evidence.review(info.user, f, body.decision, body.reason))


@router.post("/findings/{finding_id}/signoff", response_model=ReviewOut, status_code=201,
             responses={**WRITE, **NOT_FOUND})
def signoff(request: Request, finding_id: FindingId, body: ReviewIn,
            x_csrf_token: str | None = Header(None, alias=CSRF_HEADER)) -> ReviewOut:
    """Approve or return the latest review (supervisor, not the reviewer): a ledger leaf."""
    info = _write(request, x_csrf_token, "signoff")
    f = load_finding(request, finding_id)
    return review_out(ctx(request).evidence.signoff(info.user, f, body.decision, body.reason))


@router.get("/audit-trail", response_model=list[TrailItem], responses=AUTH)
def audit_trail(request: Request, limit: int = Query(200, ge=1, le=1000),
                finding_id: str | None = Query(None, max_length=80)) -> list[dict[str, Any]]:
    """Review, sign-off, pseudonym-view and reveal leaves, newest first."""
    require(request, "view")
    return ctx(request).evidence.trail(limit, finding_id)


@router.get("/events", response_model=list[Event], responses=AUTH)
def events(request: Request, limit: int = Query(200, ge=1, le=1000)) -> list[Event]:
    """Security events (logins, failures, refusals), newest first (supervisor)."""
    require(request, "users")
    return [Event(id=e.id, at=e.at, kind=e.kind, user=e.user_name, client=e.client,
                  method=e.method, path=e.path, detail=e.detail)
            for e in auth.events(ctx(request).store, limit=limit)]


@router.get("/users", response_model=list[UserOut], responses=AUTH)
def users(request: Request) -> list[UserOut]:
    """The users and their roles (supervisor)."""
    require(request, "users")
    return [UserOut(name=n, role=r, created_at=c, disabled=d)
            for n, r, c, d in auth.list_users(ctx(request).store)]


@router.get("/ledger/checkpoint", responses={**AUTH, **NOT_FOUND})
def checkpoint(request: Request) -> Response:
    """The newest signed checkpoint (C2SP signed note, text/plain)."""
    require(request, "view")
    cp = ctx(request).evidence.ledger.latest_checkpoint()
    if cp is None:
        raise HTTPException(404, "no checkpoint yet")
    return Response(cp.note, media_type="text/plain; charset=utf-8")


class NoticeEvent(BaseModel):
    at: datetime
    state: str
    finding_id: str | None
    leaf_index: int | None


class Notice(BaseModel):
    id: str
    direction: str
    run_id: str | None
    format: str
    operator: str | None
    recipient: str | None
    subject: str | None
    finding_ids: list[str]
    state: str
    created_at: datetime
    sent_at: datetime | None
    deadline_at: datetime | None
    leaf_index: int | None
    events: list[NoticeEvent]


@router.get("/notices", response_model=list[Notice], responses=AUTH)
def notices(request: Request, operator: str | None = Query(None, max_length=200),
            limit: int = Query(200, ge=1, le=1000)) -> list[Notice]:
    """Notices (outgoing and received) with their state timeline, newest first."""
    require(request, "view")
    from netwarden.web.data import notices as load

    return [Notice(**n) for n in load(ctx(request).store, operator=operator, limit=limit)]


class Campaign(BaseModel):
    name: str
    status: str
    deadline: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    jobs: int
    jobs_by_status: dict[str, int]
    jobs_finished: int
    jobs_planned: int
    services: int
    services_done: int
    findings: int
    served: int
    interrupted_attempts: int


class CampaignJob(BaseModel):
    operator: str
    status: str
    attempts: int
    services: int
    services_done: int
    observations: int
    findings: int
    served: int
    run_id: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None


class CampaignDetail(BaseModel):
    campaign: Campaign
    jobs: list[CampaignJob]


@router.get("/campaigns", response_model=list[Campaign], responses=AUTH)
def campaigns(request: Request) -> list[Campaign]:
    """Every campaign with its progress over its operators, newest first."""
    require(request, "view")
    from netwarden.web.campaigns import campaigns as load

    return [Campaign(**c.as_dict()) for c in load(ctx(request).store)]


@router.get("/campaigns/{name:path}", response_model=CampaignDetail,
            responses={**AUTH, **NOT_FOUND})
def campaign(request: Request,
             name: Annotated[str, PathParam(max_length=200, description="campaign name")]
             ) -> CampaignDetail:
    """One campaign: its progress and one job per operator scope (as ``campaign status``)."""
    require(request, "view")
    from netwarden.web.campaigns import campaign_detail

    found = campaign_detail(ctx(request).store, name)
    if found is None:
        raise HTTPException(404, f"no campaign {name!r}")
    summary, jobs, _ = found
    return CampaignDetail(campaign=Campaign(**summary.as_dict()),
                          jobs=[CampaignJob(**{k: j[k] for k in CampaignJob.model_fields})
                                for j in jobs])
