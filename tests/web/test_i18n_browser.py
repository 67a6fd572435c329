"""The analysts' UI in Russian and in English, in a real browser (issue 16).

Playwright drives Debian's Chromium against the app under uvicorn, over a real audit of the
demo network. Every page is opened by a browser that asks ``Accept-Language: ru`` and by one
that asks for English: the Russian pages carry ``lang="ru"`` and no English template string
(every English message of the catalog is looked for in the visible text), the English pages
no Russian one. The finding page shows the Cyrillic location decoded (the raw escapes stay
beside it, and in the API's ``location``). At phone width no page scrolls sideways. A user's
own language choice follows them to another browser. Screenshots land in
/tmp/netwarden-screens/ (``i18n-*``) for people to look at.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from babel.messages.pofile import read_po

from netwarden import i18n
from netwarden.store import open_store

from .conftest import PASSWORDS, Seed, launch_chromium
from .test_campaigns import NAME, _campaign

pytestmark = pytest.mark.slow

SCREENS = Path("/tmp/netwarden-screens")
CYRILLIC = re.compile(r"[А-Яа-яЁё]")


def _catalog(lang: str) -> dict[str, str]:
    with (i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "netwarden.po").open("rb") as fh:
        return {m.id: m.string for m in read_po(fh) if m.id and isinstance(m.id, str)}


def _needles(texts: list[str]) -> list[str]:
    """The parts of catalog messages worth looking for on a page: phrases and capitalized
    labels (a lone lowercase word such as "match" also occurs inside evidence text)."""
    out = set()
    for text in texts:
        for part in re.split(r"%\(\w+\)s|\{\w+\}|<[^>]+>|\[/?\w*\]", text):
            part = part.strip(" :()·.,;")
            if len(part) >= 4 and (" " in part or part[:1].isupper()):
                out.add(part)
    return sorted(out, key=len, reverse=True)


RU = _catalog("ru")
EN_NEEDLES = _needles([m for m, t in RU.items() if t and t != m])
RU_NEEDLES = _needles([t for m, t in RU.items() if t and t != m])


def _leftovers(text: str, needles: list[str]) -> list[str]:
    return [n for n in needles if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text)]


def _pages(seed: Seed) -> list[tuple[str, str]]:
    f = seed.subscriber_finding()
    return [
        ("dashboard", "/"), ("campaigns", "/campaigns"),
        ("campaign", f"/campaigns/{quote(NAME, safe='')}"), ("findings", "/findings"),
        ("findings-served", "/findings?level=served"), ("finding", f"/findings/{f['id']}"),
        ("operator", f"/operators/{quote(f['operator'], safe='')}"), ("notices", "/notices"),
        ("audit", "/audit"), ("exports", "/exports"),
        ("audit-finding", f"/audit?finding_id={f['id']}"),
        ("not-found", "/operators/no-such-operator"),
    ]


def _login(page, base: str, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/")


def _visible(page) -> str:  # type: ignore[no-untyped-def]
    return " ".join(page.inner_text("body").split())


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"i18n-{name}.png"), full_page=True)


@pytest.fixture
def site_with_campaign(seed: Seed, db_url: str, served: str) -> str:
    store = open_store(db_url)
    try:
        _campaign(SimpleNamespace(seed=seed, store=store))  # type: ignore[arg-type]
    finally:
        store.close()
    return served


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_every_page_speaks_the_browsers_language(site_with_campaign: str, seed: Seed,
                                                 lang: str) -> None:
    base = site_with_campaign
    needles = EN_NEEDLES if lang == "ru" else RU_NEEDLES
    with launch_chromium() as browser:
        context = browser.new_context(locale="ru-RU" if lang == "ru" else "en-US",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/login")
        assert page.get_attribute("html", "lang") == lang
        text = _visible(page)
        assert not _leftovers(text, needles), ("login", _leftovers(text, needles))
        # the search itself works: the page's own language is found by the same means
        assert _leftovers(text, RU_NEEDLES if lang == "ru" else EN_NEEDLES)
        _shot(page, f"{lang}-login")
        _login(page, base, "bob")  # a supervisor: sees security events and sign-off
        problems = {}
        for name, path in _pages(seed):
            response = page.goto(base + path)
            assert response is not None
            assert response.status == (404 if name == "not-found" else 200), (name, path)
            if name == "finding":  # the proofs are checked by script: wait for its words
                page.wait_for_selector("#proof[data-verified]")
            assert page.get_attribute("html", "lang") == lang, name
            assert response.headers.get("content-language") == lang, name
            text = _visible(page)
            if lang == "ru":
                head = page.inner_text(".status-text" if name == "not-found" else "h1")
                assert CYRILLIC.search(head), (name, head)
            left = _leftovers(text, needles)
            if left:
                problems[name] = left
            _shot(page, f"{lang}-{name}")
        assert not problems, f"{'English' if lang == 'ru' else 'Russian'} template strings " \
                             f"left on the {lang} pages: {problems}"
        assert not errors, errors
        context.close()


def test_russian_finding_page_reads_cyrillic_and_outcomes_in_words(served: str,
                                                                   seed: Seed) -> None:
    f = next(x for x in seed.findings if "%D0" in x["location"])
    decoded = i18n.display_name(f["location"])
    assert CYRILLIC.search(decoded)
    with launch_chromium() as browser:
        context = browser.new_context(locale="ru-RU")
        page = context.new_page()
        page.set_default_timeout(20_000)
        _login(page, served, "alice")
        page.goto(f"{served}/findings/{f['id']}")
        location = page.locator("table.kv td.loc").first
        assert decoded in location.inner_text()
        assert f["location"] in location.inner_text()  # the exact recorded form, beside it
        outcomes = page.locator("table.assessment tbody td:nth-child(2)").all_inner_texts()
        assert outcomes and any("освобождён от ответственности" in o for o in outcomes)
        assert not any(re.search(r"[a-z_]{4,}", o) for o in outcomes), outcomes  # no raw keys
        page.wait_for_selector("#proof[data-verified=true]")
        assert "проверено в вашем браузере" in page.inner_text("table.chain")
        assert "Все листы" in page.inner_text("#proof-status")
        # lists show the decoded name too, and the API keeps the raw location beside it
        page.goto(f"{served}/findings?operator={quote(f['operator'])}")
        assert decoded in _visible(page)
        api = context.request.get(f"{served}/api/v1/findings?limit=500").json()
        item = next(x for x in api["items"] if x["id"] == f["id"])
        assert item["location"] == f["location"] and item["location_display"] == decoded
        detail = context.request.get(f"{served}/api/v1/findings/{f['id']}").json()
        assert detail["location_display"] == decoded
        assert detail["finding"]["location"] == f["location"]
        context.close()


def test_pages_fit_a_phone(site_with_campaign: str, seed: Seed) -> None:
    base = site_with_campaign
    with launch_chromium() as browser:
        context = browser.new_context(locale="ru-RU", viewport={"width": 390, "height": 844},
                                      device_scale_factor=1, is_mobile=True, has_touch=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{base}/login")
        wide = {}
        _login(page, base, "bob")
        for name, path in [("login", "/login"), *_pages(seed)]:
            page.goto(base + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                wide[name] = width
            _shot(page, f"phone-{name}")
        assert not wide, f"pages wider than the phone (390 px): {wide}"
        context.close()


def test_a_users_language_follows_them(served: str) -> None:
    with launch_chromium() as browser:
        first = browser.new_context(locale="en-US")
        page = first.new_page()
        page.set_default_timeout(20_000)
        _login(page, served, "carol")
        assert page.inner_text("h1") == "Campaign dashboard"
        page.select_option("footer select[name=lang]", "ru")
        page.click("footer form.language button")
        page.wait_for_url(f"{served}/")
        assert page.inner_text("h1") == "Сводка по кампании"
        first.close()
        # another browser, asking for English: the stored choice wins after login
        second = browser.new_context(locale="en-US")
        page = second.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{served}/login")
        assert page.get_attribute("html", "lang") == "en"  # not logged in: the browser's
        _login(page, served, "carol")
        assert page.get_attribute("html", "lang") == "ru"
        assert page.inner_text("h1") == "Сводка по кампании"
        page.select_option("footer select[name=lang]", "auto")
        page.click("footer form.language button")
        page.wait_for_url(f"{served}/")
        assert page.inner_text("h1") == "Campaign dashboard"
        # the form needs the session's CSRF token once logged in
        csrf = page.request.post(f"{served}/language", form={"lang": "ru", "back": "/"},
                                 max_redirects=0)
        assert csrf.status == 403
        # and never redirects off the site
        off = page.request.post(f"{served}/language", max_redirects=0, form={
            "lang": "en", "back": "//evil.example/", "csrf_token": page.input_value(
                "footer input[name=csrf_token]")})
        assert off.status == 303 and off.headers["location"] == "/"
        second.close()
