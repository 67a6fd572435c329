"""schemathesis against the OpenAPI document: generated requests to every operation of the
running app (logged in, with the CSRF token), a bounded number of examples each; no 5xx."""

from __future__ import annotations

import pytest

from .conftest import BOTH_BACKENDS, PASSWORDS

pytestmark = [pytest.mark.slow, BOTH_BACKENDS]

EXAMPLES = 12


def test_api_answers_generated_requests_without_server_errors(served: str) -> None:
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    session = requests.Session()
    form = session.get(f"{served}/login", timeout=10)
    assert form.status_code == 200
    r = session.post(f"{served}/login", timeout=30, allow_redirects=False, data={
        "username": "bob", "password": PASSWORDS["bob"],
        "csrf_token": session.cookies.get("nw_login_csrf")})
    assert r.status_code == 303
    csrf = session.get(f"{served}/api/v1/me", timeout=10).json()["csrf_token"]
    document = session.get(f"{served}/api/v1/openapi.json", timeout=10)
    assert document.status_code == 200
    schema = schemathesis.openapi.from_dict(document.json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    failures: list[str] = []
    calls = 0
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            nonlocal calls
            headers = dict(case.headers or {})
            headers.setdefault("X-CSRF-Token", csrf)
            response = case.call(base_url=served, session=session, headers=headers,
                                 timeout=30)
            calls += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: "
                                f"{response.status_code} {response.text[:200]}")

        check()
    print(f"schemathesis: {calls} requests over {len(operations)} operations")
    assert calls >= 3 * len(operations)
    assert not failures, failures
    # the session survived the barrage (no logout endpoint in the API, CSRF kept)
    assert session.get(f"{served}/api/v1/me", timeout=10).status_code == 200
