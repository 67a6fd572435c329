"""Fixtures of the web tests: one real audit of the loopback demo network per session.

The seed installation (SQLite file, ledger key, run directory) is made once by a real audit
(:class:`netwarden.testbed.DemoNetwork` + :func:`netwarden.pipeline.run_audit`) with four users;
every test gets its own copy of the database so review decisions do not leak between tests.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from netwarden.store import Store, open_store

PASSWORDS = {"alice": "alice-analyst-pw", "bob": "bob-supervisor-pw",
             "carol": "carol-supervisor-pw", "dave": "dave-auditor-pw"}
ROLES = {"alice": "analyst", "bob": "supervisor", "carol": "supervisor", "dave": "auditor"}


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


@pytest.fixture
def site(seed: Seed, tmp_path: Path) -> Iterator[Site]:
    from netwarden.web.app import create_app

    url = copy_db(seed, tmp_path / "nw.sqlite")
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


@pytest.fixture
def served(seed: Seed, tmp_path: Path) -> Iterator[str]:
    import uvicorn

    from netwarden.store import open_store
    from netwarden.web.app import create_app

    store = open_store(copy_db(seed, tmp_path / "nw.sqlite"))
    app = create_app(store=store, key_dir=seed.key_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()
    store.close()
