"""Language of the web pages without a browser (issue 16): negotiation, the language form,
the stored per-user choice, translated error pages, and the API keeping data neutral."""

from __future__ import annotations

from urllib.parse import quote

from .conftest import Site, login

RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}


def test_accept_language_and_error_pages(site: Site) -> None:
    client = site.client()
    token = login(client, "bob")
    page = client.get("/", headers=RU)
    assert page.status_code == 200 and '<html lang="ru">' in page.text
    assert page.headers["content-language"] == "ru" and "Сводка по кампании" in page.text
    english = client.get("/", headers={"Accept-Language": "en-GB"})
    assert '<html lang="en">' in english.text and "Campaign dashboard" in english.text
    missing = client.get("/operators/nobody", headers=RU)
    assert missing.status_code == 404 and "Не найдено" in missing.text
    f = site.seed.findings[0]
    # a sign-off before any review: the conflict is explained in Russian on the page ...
    r = client.post(f"/findings/{quote(f['id'], safe='')}/signoff", headers=RU,
                    data={"decision": "approved", "reason": "x", "csrf_token": token})
    assert r.status_code == 409 and "по находке нет рассмотрения" in r.text
    assert "Конфликт" in r.text
    # ... while the API's JSON stays as it is, whatever the browser asks
    api = client.post(f"/api/v1/findings/{quote(f['id'], safe='')}/signoff",
                      headers={**RU, "X-CSRF-Token": token},
                      json={"decision": "approved", "reason": "x"})
    assert api.status_code == 409
    assert api.json()["detail"] == "the finding has no review to sign off"
    # an empty reason is refused with the field named and the problem in Russian
    r = client.post(f"/findings/{quote(f['id'], safe='')}/review", headers=RU,
                    data={"decision": "confirmed", "reason": " ", "csrf_token": token})
    assert r.status_code == 422 and "обязательно для заполнения" in r.text


def test_language_form_before_and_after_login(site: Site) -> None:
    from netwarden.web.language import user_language

    anonymous = site.client()
    r = anonymous.post("/language", data={"lang": "ru", "back": "/login"})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert anonymous.cookies.get("nw_lang") == "ru"
    login_page = anonymous.get("/login", headers={"Accept-Language": "en"})
    assert '<html lang="ru">' in login_page.text and "Вход" in login_page.text

    client = site.client()
    token = login(client, "dave")
    assert user_language(site.store, "dave") is None
    assert client.post("/language", data={"lang": "ru", "back": "/"}).status_code == 403
    r = client.post("/language", data={"lang": "ru", "back": "https://evil.example/",
                                       "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert user_language(site.store, "dave") == "ru"
    fresh = site.client()
    login(fresh, "dave")
    assert '<html lang="ru">' in fresh.get("/", headers={"Accept-Language": "en"}).text
    fresh_token = fresh.get("/api/v1/me").json()["csrf_token"]
    fresh.post("/language", data={"lang": "auto", "back": "/", "csrf_token": fresh_token})
    assert user_language(site.store, "dave") is None
    fresh.cookies.clear()
    login(fresh, "dave")
    assert '<html lang="en">' in fresh.get("/", headers={"Accept-Language": "en"}).text
