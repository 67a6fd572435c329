"""Single sign-on with OpenID Connect: netwarden as a relying party of the organisation's IdP.

Why this shape:

* **Authorization-code flow with PKCE (S256), ``state`` and ``nonce``**, the flow OAuth 2.0
  Security BCP (RFC 9700) recommends for confidential web clients. ``state`` binds the callback
  to the browser that started the login (no login CSRF), ``nonce`` binds the ID token to it (no
  replayed token), PKCE binds the code to it (a stolen code is useless). The three live in a
  short-lived (10 min), ``HttpOnly``, ``SameSite=Lax`` cookie scoped to ``/login/oidc``: the
  provider sends the browser back with a cross-site top-level GET, which carries ``Lax`` cookies
  but not ``Strict`` ones. Nothing is kept server-side, so several workers need no shared state.
* **The protocol pieces come from authlib** (authorization URL, token request, PKCE challenge,
  ID-token claim rules via :class:`authlib.oidc.core.CodeIDToken`) and **joserfc** (authlib's JOSE
  library: the ID token's signature against the provider's JWKS). HTTP goes through httpx with a
  short timeout; provider metadata (discovery) and keys are fetched on first use and cached, the
  keys fetched again once when a token names an unknown key (rotation). Only asymmetric
  signatures are accepted: a key set published by the provider cannot verify an HMAC token.
* **Checks**: discovery's ``issuer`` equals the configured one; the callback's ``iss``
  (RFC 9207) when the provider sends or promises it; the ID token's signature, ``iss``, ``aud``
  (contains the client id; ``azp`` when present), ``exp``, ``iat``, ``nonce`` and ``at_hash``;
  userinfo's ``sub`` equals the ID token's.
* **The IdP decides the role, netwarden still decides who may log in.** The role comes from
  the claim ``role_claim`` (ID token, else userinfo) mapped through ``role_map``; the user row
  is created on the first login and its role updated on every login. A user disabled with
  ``netwarden user disable`` stays refused. See :func:`role_from_claims` and
  :func:`sso_user` for the refusal rules.
* The session afterwards is the ordinary one (:func:`netwarden.web.app.start_session`), so
  everything after login (CSRF, idle timeout, logout, disabling) is the same for both methods.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError, MissingKeyError
from joserfc.jwk import KeySet

from netwarden.errors import InputError
from netwarden.store.base import Store
from netwarden.web import auth
from netwarden.web.models import UserRow

log = logging.getLogger("netwarden.web.oidc")

START_PATH = "/login/oidc"
CALLBACK_PATH = "/login/oidc/callback"
FLOW_COOKIE = "nw_oidc"
FLOW_SECONDS = 600
LEEWAY_SECONDS = 60
# The marker stored instead of a password hash for users made by single sign-on: argon2 can
# never verify it, and auth.authenticate refuses such users outright.
SSO_HASH_PREFIX = auth.SSO_HASH_PREFIX
ASYMMETRIC_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                   "ES256", "ES384", "ES512", "EdDSA", "Ed25519")

router = APIRouter(include_in_schema=False)


def _default_role_map() -> dict[str, str]:
    return {role: role for role in auth.ROLES}


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(name: str, url: str) -> str:
    """``url`` if it is an absolute https URL (http only on loopback, for tests and local
    trials: anywhere else tokens and codes would cross the network in clear text)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise InputError(name, f"{url!r} is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InputError(name, f"{url!r} must be an http(s) URL with a host name")
    if parts.scheme == "http" and not _is_loopback(host):
        raise InputError(name, f"{url!r} must use https (plain http only on loopback)")
    if parts.query or parts.fragment:
        raise InputError(name, f"{url!r} must not have a query or fragment")
    return url


@dataclass(frozen=True)
class OIDCSettings:
    """How netwarden talks to one OpenID provider.

    ``redirect_url`` is the app's public base URL + ``/login/oidc/callback`` and must be
    registered at the provider exactly so. ``role_map`` maps values of ``role_claim`` to
    netwarden roles; it replaces the default (each role name maps to itself), so an IdP group
    such as ``nw-analysts`` can be mapped and the raw names refused. ``scopes`` must include
    ``openid`` and whatever scope makes the provider release ``role_claim``.
    """

    issuer: str
    client_id: str
    client_secret: str
    redirect_url: str
    role_claim: str = "netwarden_role"
    role_map: Mapping[str, str] = field(default_factory=_default_role_map)
    username_claim: str = "preferred_username"
    label: str = "Single sign-on"
    scopes: tuple[str, ...] = ("openid", "profile")
    timeout: float = 5.0

    def __post_init__(self) -> None:
        check_url("OIDC issuer", self.issuer)
        check_url("OIDC redirect URL", self.redirect_url)
        if not urlsplit(self.redirect_url).path.endswith(CALLBACK_PATH):
            raise InputError("OIDC redirect URL", f"{self.redirect_url!r} must end with "
                             f"{CALLBACK_PATH}")
        if not self.client_id:
            raise InputError("OIDC client id", "is empty")
        if not self.client_secret:
            raise InputError("OIDC client secret", "is empty")
        for value, role in self.role_map.items():
            if role not in auth.ROLES:
                raise InputError("OIDC role map", f"{value}={role}: {role!r} is not one of "
                                 f"{', '.join(auth.ROLES)}")
        if not self.role_map:
            raise InputError("OIDC role map", "maps no claim value to a role")
        if "openid" not in self.scopes:
            raise InputError("OIDC scopes", f"{' '.join(self.scopes)!r} must include openid")
        if not self.role_claim or not self.username_claim:
            raise InputError("OIDC claims", "the role and user name claims must be named")


def parse_role_map(entries: list[str]) -> dict[str, str]:
    """``["value=role", ...]`` (the CLI's ``--oidc-role-map``) as a mapping."""
    result: dict[str, str] = {}
    for entry in entries:
        value, sep, role = entry.partition("=")
        value, role = value.strip(), role.strip()
        if not sep or not value or not role:
            raise InputError("--oidc-role-map", f"{entry!r} must be VALUE=ROLE")
        if role not in auth.ROLES:
            raise InputError("--oidc-role-map", f"{entry!r}: {role!r} is not one of "
                             f"{', '.join(auth.ROLES)}")
        if value in result and result[value] != role:
            raise InputError("--oidc-role-map", f"{value!r} is mapped to both "
                             f"{result[value]} and {role}")
        result[value] = role
    return result


class OIDCError(Exception):
    """A login by single sign-on that did not succeed. ``status`` is the HTTP answer,
    ``str()`` the text the user sees, ``reason`` what the security event records."""

    status = 403

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


class ProviderError(OIDCError):
    """The provider could not be reached or answered nonsense (502)."""

    status = 502


class BadCallbackError(OIDCError):
    """The callback does not belong to a login this browser started (400)."""

    status = 400


class LoginRefusedError(OIDCError):
    """The provider authenticated someone netwarden does not let in (403)."""


@dataclass(frozen=True)
class PendingLogin:
    """What the callback needs from the start of the flow; travels in :data:`FLOW_COOKIE`."""

    started: int
    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> PendingLogin:
        # RFC 7636: the verifier is 43-128 unreserved characters; authlib's tokens are
        # letters and digits, so "." can separate the fields.
        return cls(int(time.time()), generate_token(32), generate_token(32), generate_token(64))

    def cookie(self) -> str:
        return f"{self.started}.{self.state}.{self.nonce}.{self.verifier}"

    @classmethod
    def from_cookie(cls, value: str | None) -> PendingLogin | None:
        parts = (value or "").split(".")
        if len(parts) != 4 or not parts[0].isdigit() or len(value or "") > 300:
            return None
        if not all(p.isascii() and p.isalnum() and 16 <= len(p) <= 128 for p in parts[1:]):
            return None
        return cls(int(parts[0]), parts[1], parts[2], parts[3])


@dataclass(frozen=True)
class Identity:
    """Who the provider says logged in: the issuer, the subject and the verified claims
    (ID token, completed from userinfo)."""

    issuer: str
    subject: str
    claims: dict[str, Any]


class RelyingParty:
    """The OpenID Connect client for one provider (thread-safe; one per app)."""

    def __init__(self, settings: OIDCSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    # -- HTTP -------------------------------------------------------------------------------
    def _problem(self, what: str, problem: str) -> ProviderError:
        return ProviderError(f"OIDC provider {self.settings.issuer}: {what} failed: {problem}")

    def _json(self, what: str, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=self.settings.timeout, follow_redirects=False) as client:
                response = client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise self._problem(what, f"{url}: {exc.__class__.__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            if isinstance(body, dict) and "error" in body and 400 <= response.status_code < 500:
                detail = f"{body.get('error')} ({body.get('error_description', '')})"
                raise LoginRefusedError(
                    f"The identity provider refused {what}: {detail}",
                    reason=f"{what} refused: {detail}")
            snippet = response.text[:200].replace("\n", " ")
            raise self._problem(what, f"{url} answered HTTP {response.status_code}"
                                f"{'' if isinstance(body, dict) else ', not a JSON object'}: "
                                f"{snippet}")
        return body

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once, then cached)."""
        with self._lock:
            if self._metadata is not None:
                return self._metadata
        issuer = self.settings.issuer
        doc = self._json("discovery", "GET",
                         issuer.rstrip("/") + "/.well-known/openid-configuration")
        if doc.get("issuer") != issuer:
            raise self._problem("discovery", f"the document names issuer {doc.get('issuer')!r}"
                                f", not {issuer!r}")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(key), str):
                raise self._problem("discovery", f"the document has no {key}")
            try:
                check_url(key, doc[key])
            except InputError as exc:
                raise self._problem("discovery", str(exc)) from exc
        with self._lock:
            self._metadata = doc
        return doc

    def key_set(self, refresh: bool = False) -> KeySet:
        """The provider's signing keys (``jwks_uri``), cached until a token needs a new one."""
        with self._lock:
            if self._keys is not None and not refresh:
                return self._keys
        data = self._json("fetching the signing keys", "GET", self.metadata()["jwks_uri"])
        try:
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise self._problem("fetching the signing keys", f"unusable JWKS: {exc}") from exc
        with self._lock:
            self._keys = keys
        return keys

    # -- the flow ---------------------------------------------------------------------------
    def begin(self) -> tuple[str, PendingLogin]:
        """The provider's authorization URL for a new login, and what the callback needs."""
        meta = self.metadata()
        pending = PendingLogin.new()
        url = prepare_grant_uri(
            meta["authorization_endpoint"], self.settings.client_id, "code",
            redirect_uri=self.settings.redirect_url, scope=" ".join(self.settings.scopes),
            state=pending.state, nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.verifier),
            code_challenge_method="S256")
        return url, pending

    def finish(self, pending: PendingLogin | None, params: Mapping[str, str]) -> Identity:
        """Check the callback against the login this browser started, redeem the code and
        verify what the provider says; raises :class:`OIDCError`."""
        if pending is None:
            raise BadCallbackError("This single sign-on login was not started in this browser "
                                   "or took too long; please log in again.",
                                   reason="callback without a pending login")
        if time.time() - pending.started > FLOW_SECONDS:
            raise BadCallbackError("The single sign-on login took too long; please log in "
                                   "again.", reason="pending login expired")
        state = params.get("state") or ""
        if not secrets.compare_digest(state.encode(), pending.state.encode()):
            raise BadCallbackError("The single sign-on answer does not belong to the login "
                                   "this browser started (state mismatch); please log in "
                                   "again.", reason="state mismatch")
        meta = self.metadata()
        iss = params.get("iss")
        promised = bool(meta.get("authorization_response_iss_parameter_supported"))
        if (iss is not None and iss != self.settings.issuer) or (iss is None and promised):
            raise BadCallbackError("The single sign-on answer came from another issuer.",
                                   reason=f"callback iss {iss!r} is not "
                                   f"{self.settings.issuer!r}")
        if params.get("error"):
            detail = f"{params['error']} ({params.get('error_description') or ''})"[:300]
            raise LoginRefusedError(f"The identity provider did not log you in: {detail}",
                                    reason=f"provider answered {detail}")
        code = params.get("code")
        if not code:
            raise BadCallbackError("The single sign-on answer has no authorization code.",
                                   reason="callback without code")
        tokens = self._redeem(meta, code, pending.verifier)
        id_token = tokens.get("id_token")
        access_token = tokens.get("access_token")
        if not isinstance(id_token, str):
            raise self._problem("the token request", "the answer has no id_token")
        claims = self.verify_id_token(id_token, pending.nonce,
                                      access_token if isinstance(access_token, str) else None)
        wanted = (self.settings.role_claim, self.settings.username_claim)
        if (any(c not in claims for c in wanted) and isinstance(access_token, str)
                and isinstance(meta.get("userinfo_endpoint"), str)):
            info = self._json("the userinfo request", "GET", meta["userinfo_endpoint"],
                              headers={"Authorization": f"Bearer {access_token}"})
            if info.get("sub") != claims["sub"]:
                raise self._problem("the userinfo request", f"its sub {info.get('sub')!r} is "
                                    f"not the ID token's {claims['sub']!r}")
            claims = {**info, **claims}  # the signed ID token wins where both have a claim
        return Identity(self.settings.issuer, str(claims["sub"]), claims)

    def _redeem(self, meta: Mapping[str, Any], code: str, verifier: str) -> dict[str, Any]:
        s = self.settings
        body = prepare_token_request("authorization_code", code=code, redirect_uri=s.redirect_url,
                                     code_verifier=verifier)
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Accept": "application/json"}
        auth_: httpx.BasicAuth | None = None
        if "client_secret_basic" in methods:
            # RFC 6749 §2.3.1: both halves form-urlencoded before Basic encoding
            auth_ = httpx.BasicAuth(quote(s.client_id, safe=""), quote(s.client_secret, safe=""))
        elif "client_secret_post" in methods:
            body = prepare_token_request("authorization_code", body=body,
                                         client_id=s.client_id, client_secret=s.client_secret)
        else:
            raise self._problem("the token request", "the provider offers neither "
                                "client_secret_basic nor client_secret_post")
        return self._json("the token request", "POST", meta["token_endpoint"], content=body,
                          headers=headers, auth=auth_)

    def verify_id_token(self, id_token: str, nonce: str,
                        access_token: str | None = None) -> dict[str, Any]:
        """The ID token's claims once its signature (provider's JWKS, asymmetric algorithms
        only) and claims (``iss``, ``aud``, ``exp``, ``iat``, ``nonce``, ``azp``, ``at_hash``)
        check out; else :class:`LoginRefusedError` naming the problem."""
        s = self.settings
        offered = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in offered if a in ASYMMETRIC_ALGS]
        if not algorithms:
            raise self._problem("ID token verification", f"the provider signs ID tokens only "
                                f"with {offered}, none of them asymmetric")
        token = None
        for refresh in (False, True):
            try:
                token = jwt.decode(id_token, self.key_set(refresh), algorithms=algorithms)
                break
            except (InvalidKeyIdError, MissingKeyError, BadSignatureError) as exc:
                if refresh:  # already with freshly fetched keys
                    raise _rejected(f"signature: {exc}") from exc
            except (JoseError, ValueError) as exc:
                raise _rejected(f"{exc.__class__.__name__}: {exc}") from exc
        assert token is not None
        options = {"iss": {"essential": True, "value": s.issuer},
                   "aud": {"essential": True, "value": s.client_id},
                   "exp": {"essential": True},
                   "nonce": {"essential": True, "value": nonce}}
        claims = CodeIDToken(token.claims, token.header, options,
                             {"nonce": nonce, "client_id": s.client_id,
                              "access_token": access_token})
        try:
            claims.validate(leeway=LEEWAY_SECONDS)
        except (JoseError, ValueError) as exc:
            raise _rejected(f"{exc.__class__.__name__}: {exc}") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise _rejected("sub is missing or not a string")
        return dict(claims)


def _rejected(problem: str) -> LoginRefusedError:
    return LoginRefusedError("The identity provider's ID token was rejected; the login was "
                             f"refused ({problem}).", reason=f"ID token rejected: {problem}")


def role_from_claims(claims: Mapping[str, Any], settings: OIDCSettings) -> str:
    """The netwarden role of ``claims``: the claim ``role_claim`` (a string or a list of
    strings) mapped through ``role_map``.

    Values the map does not name are ignored (a groups claim carries many unrelated groups),
    and exactly one netwarden role must remain. Several mapped roles are refused rather than
    resolved, because either resolution is wrong somewhere: taking the highest turns a stray
    group membership into supervisor rights (sign-off, user administration), taking the
    lowest silently changes what a person may do. The IdP administrator must fix the
    assignment instead, and the refusal says so.
    """
    name = settings.role_claim
    raw = claims.get(name)
    values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    mapped = {settings.role_map[v] for v in values
              if isinstance(v, str) and v in settings.role_map}
    if not mapped:
        shown = "absent" if raw is None else repr(raw)[:100]
        raise LoginRefusedError("Your account has no netwarden role: the identity provider "
                                f"sent no mapped value in the claim {name!r}. Ask its "
                                "administrator for one.",
                                reason=f"no netwarden role (claim {name} {shown})")
    if len(mapped) > 1:
        roles = ", ".join(sorted(mapped))
        raise LoginRefusedError(f"Your account has several netwarden roles ({roles}) in the "
                                f"claim {name!r}; exactly one is allowed. Ask the identity "
                                "provider's administrator to fix it.",
                                reason=f"several netwarden roles ({roles})")
    return mapped.pop()


def username_from_claims(claims: Mapping[str, Any], settings: OIDCSettings) -> str:
    """The netwarden user name: the claim ``username_claim`` as it is. A value outside
    netwarden's user-name rules is refused, not rewritten: rewriting could map two IdP users
    onto one netwarden user."""
    raw = claims.get(settings.username_claim)
    try:
        return auth.check_name(raw)  # type: ignore[arg-type]
    except InputError as exc:
        raise LoginRefusedError(f"The identity provider's user name {raw!r} (claim "
                                f"{settings.username_claim!r}) is not a valid netwarden user "
                                "name (letters, digits, '.', '_', '@', '-').",
                                reason=f"unusable user name: {exc}") from exc


def _binding(identity: Identity) -> str:
    """What a single-sign-on user row stores instead of a password hash: the marker and a
    digest of (issuer, subject), the stable identity at the provider."""
    digest = hashlib.sha256(f"{identity.issuer}\x00{identity.subject}".encode()).hexdigest()
    return f"{SSO_HASH_PREFIX}{digest}"


def sso_user(store: Store, identity: Identity, name: str, role: str) -> tuple[auth.User, str]:
    """Create or update the user row of a single-sign-on login; ``(user, change)``.

    Refused: a disabled user (``netwarden user disable`` holds for both methods); a name that
    belongs to a password user (an IdP account must not take over a local one); a name that
    an earlier login bound to another subject (user names can be reassigned at the IdP, the
    subject cannot). The role is set from the IdP on every login: it is the source of truth.
    """
    binding = _binding(identity)
    with store.session() as session:
        row = session.get(UserRow, name)
        if row is None:
            session.add(UserRow(name=name, role=role, password_hash=binding,
                                created_at=auth.now(), disabled=False))
            return auth.User(name, role), "new user"
        if not row.password_hash.startswith(SSO_HASH_PREFIX):
            raise LoginRefusedError(f"The netwarden user {name!r} logs in with a password, "
                                    "not by single sign-on.",
                                    reason="name belongs to a password user")
        if not secrets.compare_digest(row.password_hash, binding):
            raise LoginRefusedError(f"The netwarden user {name!r} belongs to another account "
                                    "of the identity provider.",
                                    reason="name bound to another subject")
        if row.disabled:
            raise LoginRefusedError(f"The netwarden user {name!r} is disabled.",
                                    reason="user disabled")
        change = "" if row.role == role else f"role {row.role} -> {role}"
        row.role = role
        return auth.User(name, role), change


def _rp(request: Request) -> RelyingParty:
    from netwarden.web.app import ctx

    rp = ctx(request).oidc
    if rp is None:
        raise HTTPException(404, "single sign-on is not configured")
    return rp


def _refused(request: Request, exc: OIDCError, name: str | None = None,
             identity: Identity | None = None) -> Response:
    from netwarden.web.app import client_of, ctx, error_page

    who = f" issuer={identity.issuer} subject={identity.subject}" if identity else ""
    auth.record_event(ctx(request).store, "login_failed", user=name, client=client_of(request),
                      method=request.method, path=request.url.path,
                      detail=f"method=oidc {exc.reason}{who}"[:2000])
    response = error_page(request, exc.status, str(exc))
    response.delete_cookie(FLOW_COOKIE, path=START_PATH)
    return response


@router.get(START_PATH)
def start(request: Request) -> Response:
    """Send the browser to the provider, remembering state, nonce and PKCE verifier."""
    from netwarden.web.app import ctx

    rp = _rp(request)
    try:
        url, pending = rp.begin()
    except OIDCError as exc:
        log.error("%s", exc)
        return _refused(request, exc)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(FLOW_COOKIE, pending.cookie(), max_age=FLOW_SECONDS, httponly=True,
                        samesite="lax", secure=ctx(request).settings.secure_cookies,
                        path=START_PATH)
    return response


# Sent instead of a redirect: the callback is the end of a navigation that went through the
# provider (another site), and browsers withhold SameSite=Strict cookies, the session's
# included, from every request of such a chain. Navigating on from this page of our own site
# starts a same-site navigation, which carries the new session cookie.
_CONTINUE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="0;url=/">
<title>Logged in · netwarden</title><link rel="stylesheet" href="/static/style.css">
</head><body><main><p class="hint">Logged in. <a id="continue" href="/">Continue to the
dashboard</a>.</p></main></body></html>
"""


@router.get(CALLBACK_PATH)
def callback(request: Request) -> Response:
    """Finish the login: verify the provider's answer, map the role, open a session."""
    from netwarden.web.app import client_of, ctx, start_session

    rp = _rp(request)
    c = ctx(request)
    params = {k: v[:2000] for k, v in request.query_params.items()}
    pending = PendingLogin.from_cookie(request.cookies.get(FLOW_COOKIE))
    identity: Identity | None = None
    name: str | None = None
    try:
        identity = rp.finish(pending, params)
        name = username_from_claims(identity.claims, rp.settings)
        role = role_from_claims(identity.claims, rp.settings)
        user, change = sso_user(c.store, identity, name, role)
    except OIDCError as exc:
        if isinstance(exc, ProviderError):
            log.error("%s", exc)
        return _refused(request, exc, name, identity)
    auth.record_event(c.store, "login", user=user.name, client=client_of(request),
                      method="GET", path=CALLBACK_PATH,
                      detail=f"method=oidc issuer={identity.issuer} subject={identity.subject}"
                      f" role={user.role}{' ' + change if change else ''}"[:2000])
    response = HTMLResponse(_CONTINUE)
    start_session(request, response, user)
    response.delete_cookie(FLOW_COOKIE, path=START_PATH)
    return response

