"""Persistent state: SQLAlchemy 2 models and Alembic migrations.

One database per installation. SQLite (a single file) is the default; a PostgreSQL URL works the
same way. :func:`open_store` always brings the schema to the newest migration, so a user never
runs a migration by hand and an old database is upgraded in place.

Each component keeps its models in its own module (``store/models_*.py``) on the shared
:class:`Base`; migrations live in ``store/migrations/versions``.
"""

from __future__ import annotations

from netwarden.store.base import Base, Store, default_db_url, open_store

__all__ = ["Base", "Store", "default_db_url", "open_store"]
