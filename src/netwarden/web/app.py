"""The FastAPI application: wiring of pages, API, metrics, authentication and request limits.

Every route except ``/login``, ``/static/*``, ``/healthz`` and ``/metrics`` (and, with single
sign-on configured, ``/login/oidc`` and its callback) needs a session (see docs/web.md for why
those are open). Request bodies over ``max_body`` bytes are
refused with 413 before they are read whole; responses carry a strict Content-Security-Policy
(no inline script), so the only script that runs is ``static/proof.js``.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from netwarden import __version__
from netwarden.errors import InputError
from netwarden.i18n import N_, gettext
from netwarden.store import Store, open_store
from netwarden.web import auth
from netwarden.web.data import FindingsSource
from netwarden.web.evidence import ConflictError, EvidenceLedger
from netwarden.web.metrics import Metrics

if TYPE_CHECKING:
    from netwarden.web.oidc import OIDCSettings, RelyingParty

HERE = Path(__file__).parent
SESSION_COOKIE = "nw_session"
LOGIN_CSRF_COOKIE = "nw_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_MAX_BODY = 64 * 1024
# and /static/*. The two single sign-on paths answer 404 unless it is configured.
OPEN_EXACT = frozenset({"/login", "/healthz", "/metrics", "/login/oidc", "/login/oidc/callback",
                        "/language"})

log = logging.getLogger("netwarden.web")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
       "object-src 'none'")


@dataclass
class Context:
    """What every handler needs, hung on ``app.state.ctx``."""

    store: Store
    source: FindingsSource
    evidence: EvidenceLedger
    settings: auth.AuthSettings
    templates: Jinja2Templates
    metrics: Metrics
    metrics_token: str | None
    oidc: RelyingParty | None = None


class LoginRequiredError(Exception):
    """No live session: pages redirect to /login, the API answers 401."""


class ForbiddenError(Exception):
    """The user lacks the permission (or the CSRF token was wrong); answered 403, logged."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


MAX_FORWARDED_HOPS = 20


def client_of(request: Request) -> str:
    """The client's address: the peer's, unless the peer is a trusted reverse proxy
    (``netwarden serve --trusted-proxy``); then the nearest ``X-Forwarded-For`` hop that is
    not itself a trusted proxy. Why only then: anyone can send the header, so honouring it
    from others would let a client pick its own address and dodge the login throttle. A
    malformed hop stops the walk at the proxy (never trusted further)."""
    peer = request.client.host if request.client else "unknown"
    proxies = ctx(request).settings.trusted_proxies
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    client = peer
    for hop in reversed(hops[-MAX_FORWARDED_HOPS:]):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return client
        client = str(address)
        if not _trusted(client, proxies):
            return client
    return client


def _trusted(address: str, proxies: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in proxies)


def parse_trusted_proxies(values: list[str]) -> tuple[Any, ...]:
    """``--trusted-proxy`` values (addresses or CIDR networks) as ip_network objects."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise InputError("--trusted-proxy", f"{value!r} is not an IP address or network"
                             ) from None
    return tuple(out)


def ctx(request: Request) -> Context:
    return request.app.state.ctx


def bearer_token(request: Request) -> str | None:
    """The ``Authorization: Bearer`` token of an API request (None elsewhere: tokens are for
    scripts calling /api/, pages keep the cookie session and its CSRF protection)."""
    if not request.url.path.startswith("/api/"):
        return None
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()[:200]


def session_of(request: Request) -> auth.SessionInfo:
    """The request's live session or API token (cached on the request), or
    :class:`LoginRequiredError`. A request with a bearer token is judged by the token alone: a
    refused token is 401 even if a cookie came along."""
    cached = getattr(request.state, "session", None)
    if cached is not None:
        return cached
    c = ctx(request)
    token = bearer_token(request)
    if token is not None:
        from netwarden.web.tokens import authenticate_token

        found = authenticate_token(c.store, token, client_of(request), request.method,
                                   request.url.path)
        if found is None:
            raise LoginRequiredError()
        token_info = auth.SessionInfo(found.user, "", found.expires_at,
                                      token_id=found.token_id)
        request.state.session = token_info
        return token_info
    info = auth.load_session(c.store, c.settings, request.cookies.get(SESSION_COOKIE))
    if info is None:
        raise LoginRequiredError()
    request.state.session = info
    return info


def start_session(request: Request, response: Response, user: auth.User) -> None:
    """Open a session for ``user`` and set its cookie on ``response``: the one way both login
    methods (password, single sign-on) end."""
    c = ctx(request)
    token, _ = auth.create_session(c.store, c.settings, user)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=c.settings.secure_cookies, path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")


def require(request: Request, permission: str) -> auth.SessionInfo:
    """The session if its user holds ``permission``; else a logged 403."""
    info = session_of(request)
    if not info.user.can(permission):
        by_scope = info.token_id is not None and info.user.role in auth.PERMISSIONS[permission]
        detail = (f"token {info.token_id} scope {info.user.scope} lacks {permission}"
                  if by_scope else f"role {info.user.role} lacks {permission}")
        auth.record_event(ctx(request).store, "forbidden", user=info.user.name,
                          client=client_of(request), method=request.method,
                          path=request.url.path, detail=detail)
        if by_scope:
            raise ForbiddenError(f"token scope {info.user.scope!r} may not {permission}")
        raise ForbiddenError(f"role {info.user.role!r} may not {permission}")
    return info


def check_csrf(request: Request, info: auth.SessionInfo, given: str | None) -> None:
    """Refuse (403, logged) a state-changing request without the session's CSRF token. A
    request authenticated by an API token needs none: browsers never send that header on
    their own, so a forged cross-site request cannot carry it."""
    if info.token_id is not None:
        return
    if not auth.csrf_ok(info.csrf_token, given):
        auth.record_event(ctx(request).store, "csrf_failed", user=info.user.name,
                          client=client_of(request), method=request.method,
                          path=request.url.path)
        raise ForbiddenError(N_("missing or wrong CSRF token"))


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``limit`` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.limit:
                    await _too_large(send, self.limit)
                    return
        seen = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            # Past the limit, answer 413 ourselves and tell the app the client went away;
            # whatever it answers then is dropped (frameworks turn body errors into 400).
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    if not started:
                        await _too_large(send, self.limit)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"detail":"request body larger than {limit} bytes"}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def create_app(store_url: str | None = None, *, store: Store | None = None,
               settings: auth.AuthSettings | None = None, max_body: int = DEFAULT_MAX_BODY,
               metrics_token: str | None = None, key_dir: Path | None = None,
               oidc: OIDCSettings | None = None) -> FastAPI:
    """The application over the installation database at ``store_url`` (default: the
    installation's), or over an already open ``store``. With the ledger key (``key_dir``,
    default the installation's) each review is followed by a signed checkpoint, so it is
    provable at once; without it the app still serves and records, proofs wait for the next
    checkpoint. With ``oidc`` users can also log in by single sign-on at that provider."""
    from netwarden.web import api, exports, language, pages

    store = store or open_store(store_url)
    settings = settings or auth.AuthSettings()
    source = FindingsSource(store)
    evidence = EvidenceLedger(store, key_dir)
    metrics = Metrics(store, source, evidence)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["version"] = __version__
    language.install(templates.env)

    app = FastAPI(title="netwarden", version=__version__,
                  description="Findings, evidence proofs and the review workflow of a "
                  "netwarden installation. Versioned under /api/v1; every endpoint needs a "
                  "session cookie from /login (POSTs also the session's X-CSRF-Token "
                  "header) or an API token (Authorization: Bearer).",
                  docs_url=None, redoc_url=None, openapi_url=None,
                  swagger_ui_oauth2_redirect_url=None)
    relying_party = None
    if oidc is not None:
        from netwarden.web import oidc as sso

        relying_party = sso.RelyingParty(oidc)
    app.state.ctx = Context(store, source, evidence, settings, templates, metrics,
                            metrics_token, relying_party)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api.router)
    app.include_router(exports.api_router)
    app.include_router(pages.router)
    app.include_router(exports.page_router)
    app.include_router(language.router)
    if relying_party is not None:
        app.include_router(sso.router)

    @app.middleware("http")
    async def headers_and_metrics(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        path = request.url.path
        if not (path in OPEN_EXACT or path.startswith("/static/")):
            # Authenticate before anything else looks at the request (body parsing,
            # validation): an anonymous client learns nothing but "log in".
            try:
                await run_in_threadpool(session_of, request)
            except LoginRequiredError:
                response = _login_response(request)
                metrics.observe(request, response.status_code, time.perf_counter() - start)
                return response
        try:
            response = await call_next(request)
        except Exception:
            metrics.observe(request, 500, time.perf_counter() - start)
            raise
        metrics.observe(request, response.status_code, time.perf_counter() - start)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if getattr(request.state, "lang", None):
            response.headers.setdefault("Content-Language", request.state.lang)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(BodyLimit, limit=max_body)

    @app.exception_handler(LoginRequiredError)
    async def _login_required(request: Request, _exc: LoginRequiredError) -> Response:
        return _login_response(request)

    @app.exception_handler(ForbiddenError)
    async def _forbidden(request: Request, exc: ForbiddenError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=403)
        return error_page(request, 403, exc.detail)

    @app.exception_handler(InputError)
    async def _bad_input(request: Request, exc: InputError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=422)
        where = f"{exc.source}: {exc.where}" if exc.where else exc.source
        return error_page(request, 422, exc.problem, where=where)

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=409)
        return error_page(request, 409, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # Never echo the submitted values back (passwords, hostile input): locations only.
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")}
                    for e in exc.errors()[:20]]
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.method != "GET":
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=exc.headers)
        return error_page(request, exc.status_code, str(exc.detail))

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        # Behind login like everything else: the document names every endpoint.
        require(request, "view")
        return JSONResponse(openapi_document(app))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


SECURITY_SCHEMES = {
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                      "description": "The session from POST /login (a browser's); POSTs also "
                      "need the session's CSRF token in the X-CSRF-Token header."},
    "apiToken": {"type": "http", "scheme": "bearer", "bearerFormat": "nwt_<id>_<secret>",
                 "description": "An API token from `netwarden token create --user NAME "
                 "--scope read|review --expires 30d`; scope read may only view, review may "
                 "also review and sign off (as the user's role allows). No CSRF token needed."},
}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document with both ways in declared as security schemes, every operation
    needing one of them."""
    schema = app.openapi()  # built once and cached by FastAPI; the additions are idempotent
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    schema["security"] = [{"sessionCookie": []}, {"apiToken": []}]
    return schema


def _login_response(request: Request) -> Response:
    if request.url.path.startswith("/api/"):
        if bearer_token(request) is not None:
            return JSONResponse({"detail": "invalid, expired or revoked token"},
                                status_code=401,
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"',
                                         "Cache-Control": "no-store"})
        return JSONResponse({"detail": "login required"}, status_code=401,
                            headers={"WWW-Authenticate": "Cookie", "Cache-Control": "no-store"})
    return RedirectResponse("/login", status_code=303)


def error_page(request: Request, status: int, detail: str, *, where: str | None = None
               ) -> Response:
    """The HTML error page (``error.html``) with ``status``: ``detail`` in the page's language
    where the catalog has it, after ``where`` (the input it is about) when given."""
    from netwarden.web import language

    c = ctx(request)
    info = getattr(request.state, "session", None)
    words = language.activate(request, info)
    text = language.STATUS_TEXTS.get(status)
    return c.templates.TemplateResponse(request, "error.html", {
        "status": status, "status_text": gettext(text) if text else None,
        "detail": f"{where}: {gettext(detail)}" if where else gettext(detail), "user": info,
        **words}, status_code=status)
