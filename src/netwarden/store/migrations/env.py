"""Alembic environment: runs on the connection handed over by :func:`netwarden.store.upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from netwarden.store.models import load_all

target_metadata = load_all().metadata
config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # alembic CLI use: needs sqlalchemy.url
        url = config.get_main_option("sqlalchemy.url")
        if url is None:
            raise RuntimeError("alembic: set sqlalchemy.url (or pass a connection)")
        engine = create_engine(url)
        with engine.begin() as connection:
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
