"""Fixtures of the web tests: one real audit of the loopback demo network per session.

The seed installation (SQLite file, ledger key, run directory) is made once by a real audit
(:class:`netwarden.testbed.DemoNetwork` + :func:`netwarden.pipeline.run_audit`) with four users;
every test gets its own copy of the database so review decisions do not leak between tests.

Both back ends: a test module marked with :data:`BOTH_BACKENDS` runs each test on SQLite and
on a real PostgreSQL server (tests/pgserver.py; the PostgreSQL variant is marked slow). The
PostgreSQL seed is the SQLite seed copied row by row into a database migrated by
:func:`netwarden.store.open_store` (Alembic on PostgreSQL), kept as a template; each test gets
``CREATE DATABASE ... TEMPLATE`` of it.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from netwarden.store import Store, open_store
from pgserver import PgCluster, copy_database

PASSWORDS = {"alice": "alice-analyst-pw", "bob": "bob-supervisor-pw",
             "carol": "carol-supervisor-pw", "dave": "dave-auditor-pw"}
ROLES = {"alice": "analyst", "bob": "supervisor", "carol": "supervisor", "dave": "auditor"}
# pytestmark of a module whose tests run on both back ends (``site`` / ``served`` follow it)
BOTH_BACKENDS = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)], indirect=True)


@dataclass(frozen=True)
class Seed:
    db: Path
    key_dir: Path
    run_dir: Path
    findings: list[dict[str, Any]]

    def subscriber_finding(self) -> dict[str, Any]:
        return next(f for f in self.findings if f["attribution"]["status"] == "subscriber")


@dataclass
class Site:
    app: FastAPI
    store: Store
    seed: Seed
    db_url: str

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)


@pytest.fixture(scope="session")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    import json

    from netwarden.attribute import Attributor
    from netwarden.banks import BankStore
    from netwarden.ledger import Ledger
    from netwarden.ledger.keys import init_key
    from netwarden.pipeline import run_audit
    from netwarden.scope import load_scope
    from netwarden.testbed import DemoNetwork
    from netwarden.web.auth import add_user

    base = tmp_path_factory.mktemp("web-seed")
    key_dir = base / "keys"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETWARDEN_HOME", str(base / "home"))
        mp.delenv("NETWARDEN_DB", raising=False)
        store = open_store(f"sqlite:///{base / 'seed.sqlite'}")
        init_key(key_dir)
        ledger = Ledger.open(store, key_dir)
        banks = BankStore(store)
        out = base / "run"
        with DemoNetwork(base / "net") as net:
            for name, category, fmt, path in net.banks:
                banks.import_file(name, category, fmt, path)
            scope = load_scope(net.scope_path)
            attributor = Attributor.from_scope(scope, base / "cache")
            try:
                run_audit(scope, out, banks, ledger=ledger, store=store,
                          banks=[b[0] for b in net.banks], attributor=attributor)
            finally:
                attributor.close()
        for name, password in PASSWORDS.items():
            add_user(store, name, ROLES[name], password)
        store.close()
    findings = [json.loads(line) for line in
                (out / "findings.jsonl").read_text(encoding="utf-8").splitlines()]
    assert any(f["attribution"]["status"] == "subscriber" for f in findings)
    return Seed(base / "seed.sqlite", key_dir, out, findings)


def copy_db(seed: Seed, target: Path) -> str:
    """A private copy of the seed database (with its WAL, if any)."""
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(seed.db) + suffix)
        if src.exists():
            shutil.copy(src, str(target) + suffix)
    return f"sqlite:///{target}"




@pytest.fixture(scope="session")
def pg_seed(seed: Seed, postgres: PgCluster) -> str:
    """Name of a PostgreSQL template database holding the seed installation."""
    name = f"web_seed_{uuid.uuid4().hex[:8]}"
    url = postgres.create_database(name)
    open_store(url).close()  # the Alembic migrations, on PostgreSQL
    counts = copy_database(f"sqlite:///{seed.db}", url)
    assert counts["findings"] == len(seed.findings), counts
    assert counts["ledger_tail"] + counts["ledger_bundles"] > 0, counts
    return name


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` unless the module parametrizes it (:data:`BOTH_BACKENDS`)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def db_url(request: pytest.FixtureRequest, backend: str, seed: Seed, tmp_path: Path) -> str:
    """A private copy of the seed installation on the test's back end."""
    if backend == "sqlite":
        return copy_db(seed, tmp_path / "nw.sqlite")
    template = request.getfixturevalue("pg_seed")
    cluster: PgCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"w_{uuid.uuid4().hex[:12]}", template=template)


@pytest.fixture
def site(seed: Seed, db_url: str) -> Iterator[Site]:
    from netwarden.web.app import create_app

    url = db_url
    store = open_store(url)
    app = create_app(store=store, key_dir=seed.key_dir)
    yield Site(app, store, seed, url)
    store.close()


def login(client: TestClient, name: str, password: str | None = None) -> str:
    """Log ``name`` in through the login form; returns the session's CSRF token."""
    form = client.get("/login")
    assert form.status_code == 200
    r = client.post("/login", data={"username": name,
                                    "password": password or PASSWORDS[name],
                                    "csrf_token": client.cookies.get("nw_login_csrf")})
    assert r.status_code == 303, r.text
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    return me.json()["csrf_token"]


CHROMIUM = Path("/usr/bin/chromium")
# no background traffic: this machine's closed network refuses it, many requests at a time
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is required (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serve_app(app: Any, sock: socket.socket) -> Iterator[None]:
    """Run ``app`` under a real uvicorn on the bound ``sock`` until the block ends."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def served(seed: Seed, db_url: str) -> Iterator[str]:
    from netwarden.web.app import create_app

    store = open_store(db_url)
    app = create_app(store=store, key_dir=seed.key_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        with serve_app(app, sock):
            yield f"http://127.0.0.1:{port}"
    finally:
        store.close()
