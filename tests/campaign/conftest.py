"""Fixtures of the campaign tests: an installation home with a key, SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """NETWARDEN_HOME in the test's directory, with a ledger signing key."""
    from netwarden.ledger.keys import init_key

    home = tmp_path / "home"
    monkeypatch.setenv("NETWARDEN_HOME", str(home))
    monkeypatch.delenv("NETWARDEN_DB", raising=False)
    init_key()
    return home




@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both back ends: a SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'netwarden.sqlite'}"
    return request.getfixturevalue("pg_url")
