"""Users, roles, passwords, sessions, CSRF tokens and login rate limiting.

Why this shape:

* Passwords are argon2id hashes (``argon2-cffi``, the OWASP-recommended KDF); an unknown user
  still costs one hash so response time does not reveal which names exist.
* Sessions are server-side rows keyed by SHA-256 of a random cookie token: a stolen database
  does not yield usable cookies, and logout or disabling a user ends sessions at once. A session
  ends after ``idle`` without requests and at the latest ``lifetime`` after login.
* CSRF uses the synchronizer-token pattern: each session has a random token that every
  state-changing form (hidden field) or API call (``X-CSRF-Token`` header) must echo; the
  cookie is also ``SameSite=Strict``. The login form, which has no session yet, uses a
  double-submit cookie.
* Failed logins are rows in ``web_events``; rate limiting counts them per user name and per
  client address over a window, so the limit holds across restarts and several workers. The
  two limits differ on purpose: ``max_failures`` (5) wrong passwords lock that *account* only
  (until they age out or ``netwarden user unlock``), while an *address* is refused only after
  ``max_address_failures`` (20) — an office behind one NAT or reverse proxy shares an address,
  and one analyst's typos must not lock everyone else out. The client address is the peer's,
  or, when the peer is a ``trusted_proxies`` entry, the nearest untrusted ``X-Forwarded-For``
  hop (web/app.py ``client_of``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select

from netwarden.errors import InputError
from netwarden.store.base import Store
from netwarden.web.models import EventRow, SessionRow, UserRow

log = logging.getLogger("netwarden.web.auth")

ROLES = ("analyst", "supervisor", "auditor")

# permission -> roles that hold it. "view" covers every read page and endpoint.
PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "review": frozenset({"analyst", "supervisor"}),
    "signoff": frozenset({"supervisor"}),
    "users": frozenset({"supervisor"}),
}

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone")
# Stored instead of a password hash for users made by single sign-on (netwarden.web.oidc): they
# have no password, and authenticate() refuses them after hashing like for anyone else.
SSO_HASH_PREFIX = "oidc:"


@dataclass(frozen=True)
class AuthSettings:
    """Session lifetimes and the login rate limit."""

    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=12)
    max_failures: int = 5  # per account
    max_address_failures: int = 20  # per client address
    failure_window: timedelta = timedelta(minutes=15)
    secure_cookies: bool = False  # set when served behind HTTPS
    # reverse proxies whose X-Forwarded-For is honoured (ip_network objects)
    trusted_proxies: tuple[Any, ...] = ()


# what an API token's scope allows at most (netwarden.web.tokens); never "users"
TOKEN_SCOPES: dict[str, frozenset[str]] = {
    "read": frozenset({"view"}),
    "review": frozenset({"view", "review", "signoff"}),
}


@dataclass(frozen=True)
class User:
    """An authenticated user as the request handlers see it. ``scope`` is set when the request
    came with an API token: the token's scope narrows what the role allows."""

    name: str
    role: str
    scope: str | None = None

    def can(self, permission: str) -> bool:
        if self.scope is not None and permission not in TOKEN_SCOPES.get(self.scope, ()):
            return False
        return self.role in PERMISSIONS[permission]


@dataclass(frozen=True)
class SessionInfo:
    """A live session: who, and the CSRF token its forms must carry."""

    user: User
    csrf_token: str
    expires_at: datetime
    token_id: str | None = None  # set for a request authenticated by an API token


class RateLimitedError(Exception):
    """Too many failed logins for this account (``what`` = "account") or from this client
    address ("address") recently."""

    def __init__(self, name: str, what: str = "account") -> None:
        super().__init__(name)
        self.what = what


def now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything here is stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError("user name", f"{name!r} must be 1-64 characters of letters, digits, "
                         "'.', '_', '@' or '-', starting with a letter or digit")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError("role", f"{role!r} is not one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InputError("password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
    return password


def add_user(store: Store, name: str, role: str, password: str) -> User:
    """Create a user; refuses an existing name, an unknown role and a short password."""
    check_name(name)
    check_role(role)
    check_password(password)
    with store.session() as session:
        if session.get(UserRow, name) is not None:
            raise InputError("user name", f"{name!r} already exists")
        session.add(UserRow(name=name, role=role, password_hash=_hasher.hash(password),
                            created_at=now(), disabled=False))
    return User(name, role)


def set_disabled(store: Store, name: str, disabled: bool = True) -> None:
    """Disable (or re-enable) a user; disabling ends the user's sessions."""
    with store.session() as session:
        row = _existing(session, name)
        row.disabled = disabled
        if disabled:
            session.execute(delete(SessionRow).where(SessionRow.user_name == name))
    record_event(store, "user_disabled" if disabled else "user_enabled", user=name,
                 client="cli")


def set_role(store: Store, name: str, role: str) -> str:
    """Give ``name`` another role (takes effect at the next request: sessions read the role
    from the user row); returns the old role. Refused for single sign-on users, whose role
    the identity provider sets at every login."""
    check_role(role)
    with store.session() as session:
        row = _existing(session, name)
        if row.password_hash.startswith(SSO_HASH_PREFIX):
            raise InputError("user name", f"{name!r} is a single sign-on user: its role comes "
                             "from the identity provider at each login")
        old, row.role = row.role, role
    record_event(store, "user_role", user=name, client="cli", detail=f"role {old} -> {role}")
    return old


def reset_password(store: Store, name: str, password: str) -> None:
    """Set a new password, end the user's sessions and clear the account's lock."""
    check_password(password)
    with store.session() as session:
        row = _existing(session, name)
        if row.password_hash.startswith(SSO_HASH_PREFIX):
            raise InputError("user name", f"{name!r} is a single sign-on user and has no "
                             "password")
        row.password_hash = _hasher.hash(password)
        session.execute(delete(SessionRow).where(SessionRow.user_name == name))
    record_event(store, "password_reset", user=name, client="cli",
                 detail="password reset; sessions ended; lock cleared")


def unlock(store: Store, name: str) -> None:
    """Clear the account's failed-login lock (earlier failures stop counting)."""
    with store.session() as session:
        _existing(session, name)
    record_event(store, "unlocked", user=name, client="cli", detail="failed logins cleared")


def _existing(session: Any, name: str) -> UserRow:
    row = session.get(UserRow, name)
    if row is None:
        raise InputError("user name", f"{name!r} does not exist")
    return row


def list_users(store: Store) -> list[tuple[str, str, datetime, bool]]:
    """``(name, role, created_at, disabled)`` of every user."""
    with store.session() as session:
        rows = session.execute(select(UserRow).order_by(UserRow.name)).scalars().all()
        return [(r.name, r.role, _aware(r.created_at), r.disabled) for r in rows]


def no_nul(text: str | None) -> str | None:
    """``text`` with NUL replaced by U+FFFD: PostgreSQL text cannot hold NUL (it raises where
    SQLite stores it), and a hostile user name or path must still be recorded and compared."""
    return None if text is None else text.replace("\x00", "\ufffd")


def record_event(store: Store, kind: str, *, user: str | None = None, client: str | None = None,
                 method: str | None = None, path: str | None = None,
                 detail: str | None = None) -> None:
    """Append a security event (also to the log, which operators ship elsewhere)."""
    user, client, method, path, detail = (no_nul(v) for v in (user, client, method, path,
                                                              detail))
    log.warning("%s user=%s client=%s %s %s %s", kind, user, client, method or "", path or "",
                detail or "")
    with store.session() as session:
        session.add(EventRow(at=now(), kind=kind, user_name=user, client=(client or "")[:64],
                             method=method, path=(path or "")[:300] or None, detail=detail))


# events after which an account's earlier failures no longer count
CLEARING_EVENTS = ("unlocked", "password_reset")


def account_failures(store: Store, name: str, window: timedelta) -> int:
    """Failed logins for account ``name`` within ``window`` and since its last unlock or
    password reset."""
    since = now() - window
    with store.session() as session:
        cleared = session.execute(select(func.max(EventRow.at)).where(
            EventRow.kind.in_(CLEARING_EVENTS), EventRow.user_name == name)).scalar_one()
        if cleared is not None and _aware(cleared) > since:
            since = _aware(cleared)
        return session.execute(select(func.count()).select_from(EventRow).where(
            EventRow.kind == "login_failed", EventRow.at >= since,
            EventRow.user_name == name)).scalar_one()


def address_failures(store: Store, client: str | None, window: timedelta) -> int:
    """Failed logins from client address ``client`` within ``window`` (any account)."""
    if not client:
        return 0
    since = now() - window
    with store.session() as session:
        return session.execute(select(func.count()).select_from(EventRow).where(
            EventRow.kind == "login_failed", EventRow.at >= since,
            EventRow.client == client[:64])).scalar_one()


def is_locked(store: Store, settings: AuthSettings, name: str) -> bool:
    """Whether account ``name`` is locked by failed logins now."""
    return account_failures(store, name, settings.failure_window) >= settings.max_failures


def authenticate(store: Store, settings: AuthSettings, name: str, password: str,
                 client: str | None) -> User | None:
    """The user if ``password`` is right; None otherwise (recorded). Raises
    :class:`RateLimitedError` when the account's recent failures reach ``max_failures`` or the
    client address's reach ``max_address_failures``."""
    name = no_nul((name or "")[:64]) or ""
    if is_locked(store, settings, name):
        record_event(store, "rate_limited", user=name, client=client,
                     detail="login refused: account locked by failed logins")
        raise RateLimitedError(name, "account")
    if address_failures(store, client, settings.failure_window) >= settings.max_address_failures:
        record_event(store, "rate_limited", user=name, client=client,
                     detail="login refused: too many failed logins from this address")
        raise RateLimitedError(name, "address")
    with store.session() as session:
        row = session.get(UserRow, name) if _NAME.match(name) else None
        stored = row.password_hash if row is not None else _DUMMY_HASH
        role, disabled = (row.role, row.disabled) if row is not None else ("", True)
    sso = stored.startswith(SSO_HASH_PREFIX)
    if sso:
        stored = _DUMMY_HASH  # same cost as a real check; never accepted below
    ok = False
    if len(password or "") <= MAX_PASSWORD:
        try:
            ok = _hasher.verify(stored, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    if not ok or row is None or disabled or sso:
        record_event(store, "login_failed", user=name, client=client,
                     detail="unknown user" if row is None else
                     "user disabled" if disabled else
                     "single sign-on user has no password" if sso else "wrong password")
        return None
    if _hasher.check_needs_rehash(stored):
        with store.session() as session:
            fresh = session.get(UserRow, name)
            if fresh is not None:  # the row was read in an earlier transaction
                fresh.password_hash = _hasher.hash(password)
    record_event(store, "login", user=name, client=client)
    return User(name, role)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(store: Store, settings: AuthSettings, user: User) -> tuple[str, SessionInfo]:
    """A new session for ``user``: the cookie token (returned once, never stored) and its info."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    t = now()
    expires = t + min(settings.idle, settings.lifetime)
    with store.session() as session:
        session.execute(delete(SessionRow).where(SessionRow.expires_at < t))  # housekeeping
        session.add(SessionRow(token_sha256=_token_hash(token), user_name=user.name,
                               csrf_token=csrf, created_at=t, last_seen_at=t,
                               expires_at=expires))
    return token, SessionInfo(user, csrf, expires)


def load_session(store: Store, settings: AuthSettings, token: str | None) -> SessionInfo | None:
    """The live session of a cookie token, extending its idle deadline; None if unknown,
    expired or its user is disabled."""
    if not token or len(token) > 200:
        return None
    t = now()
    with store.session() as session:
        row = session.get(SessionRow, _token_hash(token))
        if row is None:
            return None
        if _aware(row.expires_at) <= t:
            session.delete(row)
            return None
        user = session.get(UserRow, row.user_name)
        if user is None or user.disabled:
            session.delete(row)
            return None
        row.last_seen_at = t
        row.expires_at = min(t + settings.idle, _aware(row.created_at) + settings.lifetime)
        return SessionInfo(User(user.name, user.role), row.csrf_token, _aware(row.expires_at))


def end_session(store: Store, token: str | None) -> None:
    if token:
        with store.session() as session:
            session.execute(delete(SessionRow).where(SessionRow.token_sha256 ==
                                                     _token_hash(token)))


def csrf_ok(expected: str, given: str | None) -> bool:
    """Constant-time comparison of the CSRF token."""
    return bool(given) and secrets.compare_digest(expected.encode(), (given or "").encode())


def events(store: Store, kinds: Iterable[str] | None = None, limit: int = 200
           ) -> list[EventRow]:
    """Recent security events, newest first."""
    query = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
    if kinds:
        query = query.where(EventRow.kind.in_(list(kinds)))
    with store.session() as session:
        return list(session.execute(query).scalars().all())
