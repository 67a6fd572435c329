"""The analysts' UI in a real browser: Playwright driving Debian's Chromium (headless) against
the app served by uvicorn on loopback, over data from a real audit of the demo network.

Log in, open a finding, let the page verify the inclusion proofs in the browser (WebCrypto),
confirm it, sign it off as a second user, see the audit trail; a tampered proof must fail in
the browser. Each test runs on SQLite and on PostgreSQL (``backend``). Screenshots of the main
pages (named with the back end) land in the test's tmp dir (and a copy in
/tmp/netwarden-screens/ for people to look at).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import BOTH_BACKENDS, PASSWORDS, Seed, launch_chromium

pytestmark = [pytest.mark.slow, BOTH_BACKENDS]

SCREENS = Path("/tmp/netwarden-screens")


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    with launch_chromium() as b:
        yield b


def _shot(page, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / path.name)


def _login(page, base: str, name: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_review_a_finding_in_the_browser(served: str, browser, seed: Seed,  # type: ignore
                                         tmp_path: Path, backend: str) -> None:
    from playwright.sync_api import expect

    f = seed.subscriber_finding()
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{served}/findings")
    expect(page).to_have_url(f"{served}/login")
    _shot(page, tmp_path, f"01-login-{backend}")
    _login(page, served, "alice")
    expect(page.locator("h1")).to_have_text("Campaign dashboard")
    expect(page.locator(".tiles li").nth(2)).to_have_text(f"{len(seed.findings)} findings")
    _shot(page, tmp_path, f"02-dashboard-{backend}")

    page.get_by_role("link", name=f["operator"], exact=True).first.click()
    expect(page.locator("h1")).to_contain_text(f["operator"])
    _shot(page, tmp_path, f"03-operator-{backend}")

    page.goto(f"{served}/findings/{f['id']}")
    status = page.locator("#proof-status")
    expect(status).to_contain_text("verified in your browser", timeout=20_000)
    expect(page.locator("#proof")).to_have_attribute("data-verified", "true")
    cells = page.locator("table.chain td.browser")
    assert cells.count() == 4
    for i in range(4):
        expect(cells.nth(i)).to_have_text("verified in your browser")
    expect(page.locator("#checkpoint-line")).to_contain_text("signature: ok")
    expect(page.locator("#pseudonym")).to_have_text(f["attribution"]["pseudonym"])
    expect(page.locator("#view-recorded")).to_contain_text("recorded as ledger leaf")
    _shot(page, tmp_path, f"04-finding-verified-{backend}")

    page.fill("form.review textarea[name=reason]", "sha256 of the served bytes equals the "
              "bank reference; subscriber session unambiguous")
    page.click("form.review button[value=confirmed]")
    expect(page.locator("#review-state")).to_have_text("confirmed, awaiting sign-off")
    expect(page.locator("table.history")).to_contain_text("alice (analyst)")
    # the review leaf is now part of the chain and verifies in the browser too
    expect(page.locator("#proof")).to_have_attribute("data-verified", "true")
    assert page.locator("table.chain td.browser").count() == 5
    _shot(page, tmp_path, f"05-finding-confirmed-{backend}")
    page.click("header form.logout button")
    expect(page).to_have_url(f"{served}/login")

    _login(page, served, "bob")
    page.goto(f"{served}/findings/{f['id']}")
    page.fill("form.signoff textarea[name=reason]", "chain checked")
    page.click("form.signoff button[value=approved]")
    expect(page.locator("#review-state")).to_have_text("confirmed, signed off")
    page.goto(f"{served}/audit")
    trail = page.locator("table.trail tbody")
    expect(trail).to_contain_text("signoff")
    expect(trail).to_contain_text("review")
    expect(trail).to_contain_text("pseudonym_view")
    expect(page.locator("table.events")).to_contain_text("login")
    _shot(page, tmp_path, f"06-audit-trail-{backend}")
    assert not errors, errors
    context.close()


def test_a_tampered_proof_fails_in_the_browser(served: str, browser, seed: Seed,  # type: ignore
                                               tmp_path: Path, backend: str) -> None:
    """The browser checks the server's answer itself: flip one proof byte in transit and the
    page must say so (the server's own 'verified' flag is not trusted)."""
    from playwright.sync_api import expect

    f = seed.subscriber_finding()
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    _login(page, served, "dave")

    def tamper(route) -> None:  # type: ignore[no-untyped-def]
        data = route.fetch().json()
        proof = data["leaves"][1]["proof"]
        proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(data))

    page.route("**/proof", tamper)
    page.goto(f"{served}/findings/{f['id']}")
    expect(page.locator("#proof")).to_have_attribute("data-verified", "false")
    cells = page.locator("table.chain td.browser")
    expect(cells.nth(1)).to_contain_text("FAILED")
    expect(cells.nth(0)).to_have_text("verified in your browser")
    expect(page.locator("table.chain td.server").nth(1)).to_have_text("verified")
    _shot(page, tmp_path, f"07-tampered-proof-{backend}")
    context.close()
