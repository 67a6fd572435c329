"""A throwaway PostgreSQL cluster on 127.0.0.1 for the tests (Debian ``postgresql``), shared by
the campaign and web suites (and the web benchmark).

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(created by the Debian package) and is started through ``runuser``. Every test gets a fresh
database in the session's cluster (:meth:`PgCluster.create_database`, optionally from a
template database filled once per session: :func:`copy_database`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = ("PostgreSQL server binaries not found: apt-get install postgresql "
                "(initdb and pg_ctl from /usr/lib/postgresql/*/bin)")


def find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgCluster:
    datadir: Path
    port: int
    pg_ctl: str
    as_user: list[str]

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://netwarden@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.as_user, self.pg_ctl, "-D", str(self.datadir), *args],
                              capture_output=True, text=True, timeout=60, check=check)

    def start(self) -> None:
        self._ctl("-o", f"-h 127.0.0.1 -p {self.port} -k {self.datadir}",
                  "-l", str(self.datadir / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop", check=False)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of ``template`` when given: a file copy, far cheaper than
        migrating and filling it again); returns its SQLAlchemy URL."""
        import psycopg

        clause = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=netwarden dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        return self.url(name)


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise FileNotFoundError(INSTALL_HINT)
    root = os.geteuid() == 0
    as_user = ["runuser", "-u", "postgres", "--"] if root else []
    base = Path(tempfile.mkdtemp(prefix="netwarden-pg-"))
    datadir = base / "data"
    try:
        if root:
            os.chmod(base, 0o755)
            shutil.chown(base, "postgres", "postgres")
        subprocess.run([*as_user, initdb, "-D", str(datadir), "-A", "trust", "-U", "netwarden",
                        "-E", "UTF8", "--no-instructions"], capture_output=True, text=True,
                       timeout=120, check=True)
        cluster = PgCluster(datadir, _free_port(), pg_ctl, as_user)
        cluster.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                cluster.create_database("netwarden_probe")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        try:
            yield cluster
        finally:
            cluster.stop("immediate")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def copy_database(source_url: str, target_url: str, *, batch: int = 2000) -> dict[str, int]:
    """Copy every row of every table of ``source_url`` into the same (already migrated) tables
    of ``target_url``; returns rows per table.

    Why: the web tests seed one SQLite installation by a real audit; running that audit again
    for PostgreSQL would double the suite's slowest fixture, while the app's PostgreSQL
    behaviour (queries, migrations, transactions) is what those tests are about. Naive
    datetimes (SQLite keeps UTC without an offset) are stored as UTC, and PostgreSQL's id
    sequences are moved past the copied ids so later inserts do not collide.
    """
    from datetime import UTC, datetime

    from sqlalchemy import Integer, MetaData, create_engine, func, select, text

    src, dst = create_engine(source_url), create_engine(target_url)
    counts: dict[str, int] = {}
    try:
        source_meta, target_meta = MetaData(), MetaData()
        source_meta.reflect(src)
        target_meta.reflect(dst)
        with src.connect() as read, dst.begin() as write:
            for table in target_meta.sorted_tables:
                if table.name == "alembic_version" or table.name not in source_meta.tables:
                    continue
                result = read.execution_options(stream_results=True).execute(
                    select(source_meta.tables[table.name]))
                counts[table.name] = 0
                while rows := result.fetchmany(batch):
                    write.execute(table.insert(), [
                        {k: (v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo
                             is None else v) for k, v in row._mapping.items()} for row in rows])
                    counts[table.name] += len(rows)
                pk = list(table.primary_key.columns)
                if dst.dialect.name == "postgresql" and len(pk) == 1 and isinstance(
                        pk[0].type, Integer):
                    seq = write.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                        {"t": table.name, "c": pk[0].name}).scalar()
                    top = write.execute(select(func.max(pk[0]))).scalar()
                    if seq and top is not None:
                        write.execute(text("SELECT setval(:s, :v)"), {"s": seq, "v": top})
    finally:
        src.dispose()
        dst.dispose()
    return counts
