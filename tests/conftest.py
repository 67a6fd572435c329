"""Suite-wide checks.

Some test modules skip themselves when a real component (smbd, uhub, opentracker, openssl,
libtorrent...) is not installed, so that a developer without them can still run the rest. In
CI (``CI`` set, as ``.ci/run`` is run) a missing component must fail loudly instead: a green
run that silently skipped the real end-to-end tests would prove nothing.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwarden import netguard
from pgserver import INSTALL_HINT, PgCluster, pg_cluster
from realserver import missing

# Every test runs under the net guard with a loopback-only policy: no test may contact anything
# outside this machine, by any path (a collector's missed scope check, a library's own
# connection). In-process connections are checked by the audit hook (netguard.py); `netwarden`
# commands the tests start as subprocesses inherit NETWARDEN_NET_GUARD and do the same.
os.environ["NETWARDEN_NET_GUARD"] = "loopback"


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[list[netguard.GuardRefusal]]:
    with netguard.guarded(netguard.loopback_policy) as refused:
        yield refused

@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """NETWARDEN_HOME in the test's own directory (its database and keys), NETWARDEN_DB unset.
    Modules that need more (a key, registered commands) define their own ``home``."""
    home = tmp_path / "home"
    monkeypatch.setenv("NETWARDEN_HOME", str(home))
    monkeypatch.delenv("NETWARDEN_DB", raising=False)
    return home


REQUIRED_PROGRAMS = ("rhash", "openssl", "smbd", "uhub", "eiskaltdcpp-daemon", "opentracker",
                     "transmission-daemon", "chromium", "nginx", "apache2")
REQUIRED_MODULES = ("libtorrent",)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not os.environ.get("CI"):
        return
    missing = [p for p in REQUIRED_PROGRAMS if shutil.which(p) is None]
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):  # Debian's PostgreSQL server
        missing.append("postgresql (initdb)")
    missing += [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise pytest.UsageError(
            "CI run without the real components the end-to-end tests need: "
            f"{', '.join(missing)} (scripts/setup.sh installs them)")


# A real PostgreSQL server for the tests that run on both back ends (campaigns, web, ledger):
# one throwaway cluster per test session, a fresh database per test.
@pytest.fixture(scope="session")
def postgres() -> Iterator[PgCluster]:
    """A PostgreSQL cluster for the session; skips (fails in CI) without the binaries."""
    try:
        with pg_cluster() as cluster:
            yield cluster
    except FileNotFoundError:
        missing(INSTALL_HINT)


@pytest.fixture
def pg_url(postgres: PgCluster) -> str:
    """A fresh, empty database in the session's cluster."""
    return postgres.create_database(f"t_{uuid.uuid4().hex[:12]}")
