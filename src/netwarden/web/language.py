"""The language of the analysts' UI: a user's own setting, else the browser's ``Accept-Language``.

Why a stored per-user setting on top of content negotiation: analysts share machines and
browsers set up in English; the choice they make once (footer of every page) should follow
them to any browser. Order: the logged-in user's setting (``web_user_prefs``), else the
``nw_lang`` cookie (a choice made before logging in), else ``Accept-Language``, else English.
The choice changes only words: identifiers, digests and JSON answers of the API stay as they
are in the evidence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment, pass_context

from netwarden import i18n
from netwarden.i18n import N_
from netwarden.store import Store
from netwarden.web.models import UserPrefRow

LANG_COOKIE = "nw_lang"
router = APIRouter(include_in_schema=False)

STATUS_TEXTS = {400: N_("Bad request"), 401: N_("Login required"), 403: N_("Forbidden"),
                404: N_("Not found"), 405: N_("Method not allowed"), 409: N_("Conflict"),
                413: N_("Request too large"), 422: N_("Invalid input"),
                429: N_("Too many requests"), 500: N_("Server error")}
# review labels of netwarden.web.evidence.ReviewState.label, part by part
N_("awaiting sign-off")
N_("signed off")


def user_language(store: Store, name: str) -> str | None:
    """The language ``name`` chose, or None to follow the browser."""
    with store.session() as session:
        row = session.get(UserPrefRow, name)
        return i18n.normalize(row.lang) if row is not None and row.lang else None


def set_user_language(store: Store, name: str, lang: str | None) -> None:
    """Store ``name``'s language (None: follow the browser's Accept-Language)."""
    with store.session() as session:
        row = session.get(UserPrefRow, name)
        if row is None:
            session.add(UserPrefRow(user_name=name, lang=lang, updated_at=datetime.now(UTC)))
        else:
            row.lang, row.updated_at = lang, datetime.now(UTC)


def choose(request: Request, info: Any | None) -> tuple[str, str | None]:
    """(the language to answer in, the explicit choice or None when negotiated)."""
    choice = None
    if info is not None:
        choice = user_language(request.app.state.ctx.store, info.user.name)
    if choice is None:
        choice = i18n.normalize(request.cookies.get(LANG_COOKIE))
    lang = choice or i18n.negotiate(request.headers.get("accept-language")) \
        or i18n.DEFAULT_LANGUAGE
    return lang, choice


def activate(request: Request, info: Any | None) -> dict[str, Any]:
    """Set the request's language (for ``_()`` in Python and in templates) and return what
    ``base.html`` needs: ``lang``, ``lang_choice``, ``languages``."""
    lang, choice = choose(request, info)
    i18n.set_language(lang)
    request.state.lang = lang
    return {"lang": lang, "lang_choice": choice, "languages": i18n.LANGUAGE_NAMES}


@pass_context
def state_label(context: Any, label: Any) -> str:
    """A review label (``confirmed, awaiting sign-off``) in the current language (a context
    filter, so that Jinja never folds it into a compiled template in one language)."""
    return ", ".join(i18n.word(part) if part in i18n.KEY_WORDS else i18n.gettext(part)
                     for part in str(label).split(", "))


def install(env: Environment) -> None:
    """The UI's additions to the shared i18n filters: review labels and the display zone."""
    i18n.install(env)
    env.filters["state_label"] = state_label
    # Times are shown in $NETWARDEN_TZ, else Moscow time (the installations' jurisdiction),
    # always with UTC beside them.
    env.globals["tz"] = i18n.zone(None, "ru")


def _safe_back(back: str) -> str:
    """Only a path of this site: never an absolute or scheme-relative URL (open redirect)."""
    if not back.startswith("/") or back.startswith("//") or "\\" in back or len(back) > 500:
        return "/"
    return back


@router.post("/language")
def change_language(request: Request, lang: str = Form("auto", max_length=16),
                    back: str = Form("/", max_length=500),
                    csrf_token: str = Form("", max_length=200)) -> Response:
    """Choose the UI's language: stored for the logged-in user, and in a cookie.

    Open before login (the login page has the form too). Another site could make a browser
    post here without the (SameSite=strict) session cookie; that only sets the language
    cookie, which a logged-in user's stored choice overrides."""
    from netwarden.web.app import LoginRequiredError, check_csrf, session_of

    code = i18n.normalize(lang)
    try:
        info = session_of(request)
    except LoginRequiredError:
        info = None
    if info is not None:
        check_csrf(request, info, csrf_token)
        set_user_language(request.app.state.ctx.store, info.user.name, code)
    response = RedirectResponse(_safe_back(back), status_code=303)
    if code:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, httponly=True,
                            samesite="strict", path="/",
                            secure=request.app.state.ctx.settings.secure_cookies)
    else:
        response.delete_cookie(LANG_COOKIE, path="/")
    return response
