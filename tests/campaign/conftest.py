"""Fixtures of the campaign tests: an installation home with a key, SQLite or PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgserver import INSTALL_HINT, PgCluster, pg_cluster


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """NETWARDEN_HOME in the test's directory, with a ledger signing key."""
    from netwarden.ledger.keys import init_key

    home = tmp_path / "home"
    monkeypatch.setenv("NETWARDEN_HOME", str(home))
    monkeypatch.delenv("NETWARDEN_DB", raising=False)
    init_key()
    return home


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgCluster]:
    """A PostgreSQL cluster for the session; skips (fails in CI) without the binaries."""
    try:
        with pg_cluster() as cluster:
            yield cluster
    except FileNotFoundError:
        if os.environ.get("CI"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)


@pytest.fixture
def pg_url(postgres: PgCluster) -> str:
    """A fresh, empty database in the session's cluster."""
    return postgres.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both back ends: a SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'netwarden.sqlite'}"
    return request.getfixturevalue("pg_url")
