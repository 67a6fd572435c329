"""Moved to ``tests/pgserver.py`` (shared with the web tests); kept as an alias for imports."""

from pgserver import INSTALL_HINT, PgCluster, copy_database, find_bin, pg_cluster

__all__ = ["INSTALL_HINT", "PgCluster", "copy_database", "find_bin", "pg_cluster"]
