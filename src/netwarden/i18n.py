"""Languages of people-facing text: gettext catalogs (Babel), Jinja2's i18n extension, and the
local conventions for dates, times and names.

Why one module: reports, the web application, notices and the CLI must say the same thing in
the same words, so every one of them translates through the catalogs under
``netwarden/locale/<lang>/LC_MESSAGES/netwarden.po`` (compiled ``.mo`` files are committed next
to them; ``tests/i18n/test_catalogs.py`` fails when one is stale or a template string has no
Russian translation). What is evidence stays language-neutral: identifiers, JSON keys, ledger
entries and ``findings.jsonl`` never pass through here — only what a person reads does.

The current language is a context variable, so a web request, a CLI command and a report each
set it once (:func:`use_language`) and every ``_()`` below it follows, including Jinja macros
imported without context.
"""

from __future__ import annotations

import contextvars
import gettext as _gettext
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

DOMAIN = "netwarden"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES: tuple[str, ...] = ("en", "ru")
DEFAULT_LANGUAGE = "en"
ENV_LANG = "NETWARDEN_LANG"
ENV_TZ = "NETWARDEN_TZ"
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}

# The time zone a check's times are shown in unless its scope names one (``[check] timezone``):
# the zone of the authority that runs checks under that jurisdiction. EU and US span several
# zones, so they stay in UTC rather than guess.
JURISDICTION_TZ = {"ru": "Europe/Moscow", "fr": "Europe/Paris", "uk": "Europe/London",
                   "eu": "UTC", "us": "UTC"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("netwarden_lang",
                                                               default=DEFAULT_LANGUAGE)


def normalize(lang: str | None) -> str | None:
    """``"ru_RU.UTF-8"``, ``"ru-RU"``, ``"RU"`` → ``"ru"``; None for an unsupported language."""
    if not lang:
        return None
    code = re.split(r"[-_.@]", lang.strip().lower(), maxsplit=1)[0]
    return code if code in LANGUAGES else None


def language_from_env(explicit: str | None = None) -> str:
    """The language of a command: ``--lang``, else ``$NETWARDEN_LANG``, else English.

    Why not ``$LANG``: a server's locale says nothing about who reads a report; a report
    changes language only when someone asks for it.
    """
    for candidate in (explicit, os.environ.get(ENV_LANG)):
        found = normalize(candidate)
        if found:
            return found
    return DEFAULT_LANGUAGE


def negotiate(accept_language: str | None) -> str | None:
    """The best supported language of an HTTP ``Accept-Language`` header (RFC 9110 §12.5.4),
    or None when it names none of them."""
    if not accept_language:
        return None
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")[:32]):
        pieces = part.strip().split(";")
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        code = normalize(pieces[0])
        if code and quality > 0:
            choices.append((-quality, position, code))
    return min(choices)[2] if choices else None


@cache
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``lang`` (English falls back to the message ids themselves)."""
    return _gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[lang],
                                fallback=True)


def current_language() -> str:
    """The language set by the innermost :func:`use_language` (English by default)."""
    return _current.get()


def set_language(lang: str | None) -> str:
    """Set the language of this context (a request, a command); returns the one in effect."""
    code = normalize(lang) or DEFAULT_LANGUAGE
    _current.set(code)
    return code


@contextmanager
def use_language(lang: str | None) -> Iterator[str]:
    """Translate into ``lang`` inside the block (English when None or unsupported)."""
    token = _current.set(normalize(lang) or DEFAULT_LANGUAGE)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    """``message`` in the current language (an empty message stays empty: gettext would
    answer it with the catalog's header)."""
    return translations(_current.get()).gettext(message) if message else message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n`` in the current language (Russian has three)."""
    return translations(_current.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in the current language, disambiguated by ``context``."""
    return translations(_current.get()).pgettext(context, message)


_ = gettext


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it now (tables of labels)."""
    return message


# -- words for language-neutral keys -----------------------------------------------------------

# Evidence keeps its keys in English (they are identifiers); screens and reports show words.
KEY_WORDS: dict[str, str] = {
    # evidence levels
    "served": N_("served"), "contacted": N_("contacted"), "listed": N_("listed"),
    # attribution
    "subscriber": N_("subscriber"), "operator_host": N_("operator's own host"),
    "none": N_("not attributed"), "pending": N_("pending"),
    "verified": N_("verified"), "incomplete": N_("incomplete"),
    "not_attempted": N_("not attempted"),
    "attributed": N_("attributed"), "no_session": N_("no session at that time"),
    "no_log_coverage": N_("the logs do not cover that time"),
    "no_logs_configured": N_("no provider logs configured"),
    "no_nat_mapping": N_("no NAT mapping for that port"),
    "session_edge": N_("too close to a session's start or end"),
    "ambiguous": N_("ambiguous: more than one candidate"),
    "attribution_error": N_("attribution failed"),
    "operator_infrastructure": N_("operator infrastructure"),
    "two_candidates": N_("two candidates"),
    "shared_address_without_port": N_("shared address without port"),
    "nat_two_candidates": N_("NAT: two candidates"), "nat_block_edge": N_("NAT block edge"),
    "sources_disagree": N_("sources disagree"),
    "lease_without_accounting": N_("lease without accounting"),
    # roles (netwarden.liability.engine.ROLES)
    "hosting": N_("hosting"), "mere_conduit": N_("mere conduit"), "index": N_("index"),
    "operator_sharing_service": N_("operator's own sharing service"),
    "active_participant": N_("active participant"),
    # outcomes (netwarden.liability.engine.OUTCOMES)
    "exempt": N_("exempt"), "not_exempt": N_("not exempt"), "liable": N_("liable"),
    "injunction_exposure": N_("injunction exposure"),
    "criminal_evidence_needed": N_("criminal exposure: evidence still missing"),
    # the CSAM track's outcomes (issue 12): no civil rule, duties, administrative exposure
    "lead": N_("lead"), "no_civil_rule": N_("no civil rule"),
    "removal_duty": N_("removal duty"), "blocking_duty": N_("blocking duty"),
    "report_duty": N_("report duty"), "preservation_duty": N_("preservation duty"),
    "admin_exposure": N_("administrative exposure"),
    "assessed": N_("assessed"),
    # security events (netwarden.web.auth)
    "login": N_("login"), "login_failed": N_("failed login"), "logout": N_("logout"),
    "forbidden": N_("forbidden"), "csrf_failed": N_("CSRF check failed"),
    "rate_limited": N_("rate limited"),
    "custody_export": N_("custody export"),
    # observation outcomes
    "ok": N_("ok"), "error": N_("error"), "skipped": N_("skipped"), "timeout": N_("timeout"),
    "refused": N_("refused"), "too_large": N_("too large"), "denied": N_("denied"),
    # review workflow
    "unreviewed": N_("unreviewed"), "confirmed": N_("confirmed"), "rejected": N_("rejected"),
    "approved": N_("approved"), "returned": N_("returned"), "review": N_("review"),
    "signoff": N_("sign-off"), "pseudonym_view": N_("pseudonym view"),
    "subscriber_reveal": N_("subscriber reveal"),
    # runs, campaigns, notices
    "finished": N_("finished"), "running": N_("running"), "interrupted": N_("interrupted"),
    "failed": N_("failed"), "planned": N_("planned"), "queued": N_("queued"),
    "dropped": N_("dropped"), "outgoing": N_("outgoing"), "incoming": N_("incoming"),
    "draft": N_("draft"), "sent": N_("sent"), "acknowledged": N_("acknowledged"),
    "removed": N_("removed"), "still_there": N_("still there"), "expired": N_("expired"),
    # user roles
    "analyst": N_("analyst"), "supervisor": N_("supervisor"), "auditor": N_("auditor"),
    "admin": N_("admin"),
    # chain records
    "observation": N_("observation"), "match": N_("match"), "verification": N_("verification"),
    "attribution": N_("attribution"), "assessment": N_("assessment"),
}


def word(key: Any) -> str:
    """A language-neutral key (``served``, ``mere_conduit``) as a word of the current
    language; an unknown key is shown with its underscores as spaces, never hidden."""
    text = str(key)
    known = KEY_WORDS.get(text)
    return gettext(known) if known else text.replace("_", " ")


# -- names ---------------------------------------------------------------------------------------

def display_name(value: Any) -> str:
    """A location or name for people: percent-escapes decoded as UTF-8, or as cp1251 (the
    legacy code page of Russian servers) when that fails; the exact value stays in the data."""
    if value is None:
        return ""
    text = str(value)
    if "%" not in text:
        return text
    raw = unquote_to_bytes(text)
    for encoding in ("utf-8", "cp1251"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


# -- dates and times -----------------------------------------------------------------------------

def zone(name: str | None = None, jurisdiction: str | None = None) -> tzinfo:
    """The display time zone: ``name`` if valid, else ``$NETWARDEN_TZ``, else the
    jurisdiction's (Europe/Moscow for ``ru``), else UTC."""
    for candidate in (name, os.environ.get(ENV_TZ),
                      JURISDICTION_TZ.get((jurisdiction or "").lower())):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


def scope_zone(scope: Any) -> tzinfo:
    """The time zone of a check: its scope's ``[check] timezone``, else its jurisdiction's."""
    raw = getattr(scope, "raw", None) or {}
    check = raw.get("check") if isinstance(raw, dict) else None
    named = check.get("timezone") if isinstance(check, dict) else None
    return zone(named if isinstance(named, str) else None, getattr(scope, "jurisdiction", None))


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_date(value: Any, tz: tzinfo | None = None) -> str:
    """A date the local way: ``dd.mm.yyyy`` in Russian, ``yyyy-mm-dd`` in English."""
    moment = _as_datetime(value)
    if moment is None:
        return "" if value in (None, "") else str(value)
    local = moment.astimezone(tz or UTC)
    return local.strftime("%d.%m.%Y" if _current.get() == "ru" else "%Y-%m-%d")


def _offset(moment: datetime) -> str:
    name = moment.tzname() or ""
    if name in ("UTC", "GMT"):
        return "UTC"
    offset = moment.utcoffset()
    if offset is None:
        return name
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def format_datetime(value: Any, tz: tzinfo | None = None, *, utc_beside: bool = True) -> str:
    """A moment for people: date and time to the second in ``tz`` with its UTC offset, and
    the UTC time beside it (``06.12.2026 15:04:05 (UTC+3; 12:04:05 UTC)``). Never
    microseconds: they are in the data, not on screens."""
    moment = _as_datetime(value)
    if moment is None:
        return "" if value in (None, "") else str(value)
    tz = tz or UTC
    local = moment.astimezone(tz).replace(microsecond=0)
    text = f"{format_date(local, tz)} {local.strftime('%H:%M:%S')}"
    if local.utcoffset() == moment.astimezone(UTC).utcoffset() and _offset(local) == "UTC":
        return f"{text} UTC"
    utc = moment.astimezone(UTC)
    if not utc_beside:
        return f"{text} ({_offset(local)})"
    same_day = utc.date() == local.date()
    beside = utc.strftime("%H:%M:%S") if same_day else \
        f"{format_date(utc, UTC)} {utc.strftime('%H:%M:%S')}"
    return f"{text} ({_offset(local)}; {beside} UTC)"


# -- Jinja ---------------------------------------------------------------------------------------

@pass_context
def _jinja_gettext(context: Context, message: str, **variables: Any) -> str:
    text = translations(_language_of(context)).gettext(message) if message else message
    return _format(context, text, variables)


@pass_context
def _jinja_ngettext(context: Context, singular: str, plural: str, n: int,
                    **variables: Any) -> str:
    variables.setdefault("num", n)
    text = translations(_language_of(context)).ngettext(singular, plural, n)
    return _format(context, text, variables)


@pass_context
def _jinja_pgettext(context: Context, ctx: str, message: str, **variables: Any) -> str:
    text = translations(_language_of(context)).pgettext(ctx, message)
    return _format(context, text, variables)


@pass_context
def _jinja_word(context: Context, key: Any) -> str:
    # pass_context also keeps Jinja from folding ``"served"|word`` into the compiled template
    # in whatever language happened to be current when it was compiled
    with use_language(_language_of(context)):
        return word(key)


def _language_of(context: Context) -> str:
    lang = context.get("lang")
    return lang if lang in LANGUAGES else _current.get()


def _format(context: Context, text: str, variables: dict[str, Any]) -> str:
    # newstyle gettext: translations are trusted markup, the variables are escaped
    if context.eval_ctx.autoescape:
        text = Markup(text)
    return text % variables  # also turns the ``%%`` of a {% trans %} block into ``%``


def install(env: Environment) -> Environment:
    """Give ``env`` ``{% trans %}``, ``_()`` and the filters of the local conventions.

    Templates call ``_("…")`` / ``{% trans %}…{% endtrans %}`` for text, ``|word`` for a
    language-neutral key, ``|when`` / ``|day`` for moments, ``|display_name`` for names."""
    env.add_extension("jinja2.ext.i18n")
    # {% trans %} blocks are trimmed at run time as babel.cfg trims them at extraction
    env.policies["ext.i18n.trimmed"] = True
    env.globals["gettext"] = _jinja_gettext
    env.globals["_"] = _jinja_gettext
    env.globals["ngettext"] = _jinja_ngettext
    env.globals["pgettext"] = _jinja_pgettext
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.filters["word"] = _jinja_word
    env.filters["when"] = format_datetime
    env.filters["day"] = format_date
    env.filters["display_name"] = display_name
    env.globals["current_language"] = current_language
    return env
