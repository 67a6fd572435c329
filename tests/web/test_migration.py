"""Migration 0007_web: upgrades onto the chain and downgrades cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from netwarden.store import open_store
from netwarden.store.base import MIGRATIONS_DIR

WEB_TABLES = {"web_users", "web_sessions", "web_reviews", "web_events"}


def _tables(store) -> set[str]:  # type: ignore[no-untyped-def]
    return set(inspect(store.engine).get_table_names())


def test_web_migration_up_down_up(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'm.sqlite'}")
    assert _tables(store) >= WEB_TABLES
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0006_campaigns")
    assert not WEB_TABLES & _tables(store)
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    assert _tables(store) >= WEB_TABLES
    store.close()


@pytest.mark.slow
def test_web_migration_runs_on_postgresql(pg_url: str) -> None:
    """open_store runs every migration, 0007_web included, on a real PostgreSQL server."""
    store = open_store(pg_url)
    assert _tables(store) >= WEB_TABLES | {"findings", "ledger_bundles"}
    store.close()
