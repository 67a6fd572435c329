"""API tokens: how a script calls the REST API without a browser session.

Why this shape:

* A token is ``nwt_<id>_<secret>``: ``id`` (public, 16 hex digits) names it in lists, events
  and ``token revoke``; the secret is 256 random bits. Only SHA-256 of the whole token is
  stored, as for sessions: a copy of the database yields no usable token, and the token is
  shown once, when it is made (``netwarden token create``).
* It is sent as ``Authorization: Bearer <token>`` and accepted on ``/api/`` only: pages are
  for people and keep the cookie session with its CSRF protection. A bearer token is not sent
  by browsers on their own, so requests carrying one need no CSRF token.
* Scope narrows the user's role, never widens it: ``read`` may only view; ``review`` may also
  review (and sign off, if the role may). Neither reaches user or security-event endpoints:
  those stay behind a person's login.
* Every token has an expiry (at most a year); revoking sets ``revoked_at``; a disabled user's
  tokens stop working at once. A refused token answers 401 and is a ``token_failed`` security
  event; creation, revocation and use (at most one ``token_used`` event per token every 5
  minutes, so a polling script does not flood the trail) are events as logins are.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from netwarden.errors import InputError
from netwarden.store.base import Store
from netwarden.web.auth import (
    PERMISSIONS,
    TOKEN_SCOPES,
    User,
    _aware,
    now,
    record_event,
)
from netwarden.web.models import TokenRow, UserRow

PREFIX = "nwt_"
SCOPES = TOKEN_SCOPES
MAX_LIFETIME = timedelta(days=366)
USE_EVENT_EVERY = timedelta(minutes=5)
_TOKEN = re.compile(r"^nwt_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$")
_DURATION = re.compile(r"^(\d{1,4})([hdw])$")


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never its secret."""

    id: str
    user: str
    scope: str
    note: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now() else "active"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_scope(scope: str) -> str:
    """``scope`` if it is a token scope; InputError naming the choices otherwise."""
    if scope not in SCOPES:
        raise InputError("--scope", f"{scope!r} is not one of {', '.join(SCOPES)}")
    return scope


def parse_expiry(text: str, start: datetime | None = None) -> datetime:
    """``30d``, ``12h``, ``4w`` from now, or an RFC 3339 date/time (UTC if no offset); at most
    a year ahead and in the future."""
    start = start or now()
    text = text.strip()
    m = _DURATION.match(text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        when = start + {"h": timedelta(hours=n), "d": timedelta(days=n),
                        "w": timedelta(weeks=n)}[unit]
    else:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InputError("--expires", f"{text!r} is neither a duration (30d, 12h, 4w) nor "
                             "a date (2027-01-31 or 2027-01-31T12:00:00Z)") from None
        when = _aware(when)
    if when <= start:
        raise InputError("--expires", "must be in the future")
    if when - start > MAX_LIFETIME:
        raise InputError("--expires", "at most a year ahead; make a new token then")
    return when


def create_token(store: Store, user: str, scope: str, expires_at: datetime,
                 note: str | None = None) -> tuple[str, TokenInfo]:
    """A new token for ``user``: (the token, shown once and never stored; its info)."""
    check_scope(scope)
    if note is not None and len(note) > 200:
        raise InputError("--note", "at most 200 characters")
    token_id = secrets.token_hex(8)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    t = now()
    with store.session() as session:
        row = session.get(UserRow, user)
        if row is None:
            raise InputError("--user", f"{user!r} does not exist")
        if row.disabled:
            raise InputError("--user", f"{user!r} is disabled")
        if scope == "review" and row.role not in PERMISSIONS["review"]:
            raise InputError("--scope", f"role {row.role} may not review; use --scope read")
        session.add(TokenRow(id=token_id, token_sha256=_hash(token), user_name=user,
                             scope=scope, note=note, created_at=t, expires_at=expires_at))
    record_event(store, "token_created", user=user, client="cli",
                 detail=f"token {token_id} scope={scope} expires={expires_at.isoformat()}")
    return token, TokenInfo(token_id, user, scope, note, t, expires_at, None, None)


def revoke_token(store: Store, token_id: str) -> TokenInfo:
    """Revoke a token by its id; it is refused (401) from the next request on."""
    with store.session() as session:
        row = session.get(TokenRow, token_id.removeprefix(PREFIX))
        if row is None:
            raise InputError("token", f"no token {token_id!r}")
        if row.revoked_at is None:
            row.revoked_at = now()
        info = _info(row)
    record_event(store, "token_revoked", user=info.user, client="cli",
                 detail=f"token {info.id}")
    return info


def list_tokens(store: Store, user: str | None = None) -> list[TokenInfo]:
    """Every token (or ``user``'s), oldest first, without secrets: for ``token list``."""
    query = select(TokenRow).order_by(TokenRow.created_at)
    if user:
        query = query.where(TokenRow.user_name == user)
    with store.session() as session:
        return [_info(r) for r in session.scalars(query)]


def _info(row: TokenRow) -> TokenInfo:
    return TokenInfo(row.id, row.user_name, row.scope, row.note, _aware(row.created_at),
                     _aware(row.expires_at),
                     _aware(row.revoked_at) if row.revoked_at else None,
                     _aware(row.last_used_at) if row.last_used_at else None)


@dataclass(frozen=True)
class TokenAuth:
    """A request authenticated by a token: the user (scope applied) and the token's id."""

    user: User
    token_id: str
    expires_at: datetime


def authenticate_token(store: Store, token: str, client: str | None, method: str | None = None,
                       path: str | None = None) -> TokenAuth | None:
    """The user a bearer token stands for, or None (recorded as ``token_failed``): unknown,
    malformed, revoked, expired, or its user disabled or gone."""
    m = _TOKEN.match(token or "")
    token_id = m.group(1) if m else None
    reason = None
    name: str | None = None
    t = now()
    with store.session() as session:
        row = session.scalar(select(TokenRow).where(TokenRow.token_sha256 == _hash(token)))
        if m is None or row is None or row.id != token_id:
            reason = "unknown token"
        elif row.revoked_at is not None:
            reason = "revoked"
        elif _aware(row.expires_at) <= t:
            reason = "expired"
        else:
            user = session.get(UserRow, row.user_name)
            if user is None or user.disabled:
                reason = "user disabled"
        if reason is None:
            assert row is not None and user is not None
            used = _aware(row.last_used_at) if row.last_used_at else None
            log_use = used is None or t - used >= USE_EVENT_EVERY
            if log_use:
                row.last_used_at = t
            result = TokenAuth(User(user.name, user.role, scope=row.scope), row.id,
                               _aware(row.expires_at))
            name = row.user_name
        else:
            name = row.user_name if row is not None else None
    if reason is not None:
        record_event(store, "token_failed", user=name, client=client, method=method, path=path,
                     detail=f"token {token_id or '(malformed)'}: {reason}")
        return None
    if log_use:
        record_event(store, "token_used", user=name, client=client, method=method, path=path,
                     detail=f"token {result.token_id} scope={result.user.scope}")
    return result
