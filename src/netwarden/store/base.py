"""Engine, session factory and schema upgrade for the installation database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class Base(DeclarativeBase):
    """Declarative base shared by every model of the installation database."""


def default_home() -> Path:
    """Where an installation keeps its database and keys: ``$NETWARDEN_HOME`` or
    ``~/.netwarden``."""
    return Path(os.environ.get("NETWARDEN_HOME", Path.home() / ".netwarden"))


def default_db_url() -> str:
    """``$NETWARDEN_DB`` if set, else the SQLite file in :func:`default_home`."""
    url = os.environ.get("NETWARDEN_DB")
    if url:
        return url
    home = default_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'netwarden.sqlite'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL keeps readers going while an audit appends; synchronous=FULL makes every committed
    # ledger append survive a power cut or kill -9, which the evidence chain depends on.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@dataclass
class Store:
    """An open installation database."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.engine.dispose()


def upgrade(engine: Engine) -> None:
    """Run every Alembic migration the database does not have yet."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    """Open (and by default upgrade) the database at ``url`` (default: :func:`default_db_url`)."""
    url = url or default_db_url()
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if migrate:
        upgrade(engine)
    return Store(url=url, engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
