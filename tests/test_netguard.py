"""The net guard: one process-wide gate under every collector (issue 14, "one gate").

The destinations used here are TEST-NET addresses (RFC 5737, 192.0.2.0/24): the guard refuses
before the system call, so nothing is ever sent; were it to fail, the connection attempt would
go to an address that routes nowhere.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from netwarden import netguard
from netwarden.banks import BankStore
from netwarden.collect import Collector, register
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.pipeline import run_audit
from netwarden.records import Observation, Outcome, Refusal
from netwarden.scope import parse_scope
from netwarden.store import open_store

OUTSIDE = ("192.0.2.1", 80)


def _scope(prefixes: list[str], ports: list[int] | None = None) -> Any:
    now = datetime.now(UTC)
    operator: dict[str, Any] = {"name": "T", "prefixes": prefixes}
    if ports is not None:
        operator["ports"] = ports
    return parse_scope({"check": {"id": "g", "authorization": "t",
                                  "not_before": now - timedelta(hours=1),
                                  "not_after": now + timedelta(hours=1), "jurisdiction": "ru"},
                        "operator": operator}, "<guard-test>")


def test_the_suite_runs_under_the_loopback_guard() -> None:
    with socket.socket() as sock, pytest.raises(netguard.GuardRefused,
                                                match="only loopback addresses"):
        sock.connect(OUTSIDE)


def test_scope_policy_refuses_and_records_tcp_udp_and_threads() -> None:
    policy = netguard.scope_policy(_scope(["127.77.0.0/16"], ports=[2121]))
    listener = socket.create_server(("127.77.0.1", 0))
    port = listener.getsockname()[1]
    with netguard.guarded(policy) as refused:
        # outside the prefixes: refused, before any packet leaves (TCP, UDP, another thread)
        with socket.socket() as sock, pytest.raises(PermissionError):
            sock.connect(OUTSIDE)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
                pytest.raises(netguard.GuardRefused):
            udp.sendto(b"x", ("192.0.2.7", 6969))
        errors: list[BaseException] = []

        def other_thread() -> None:
            try:
                with socket.socket() as s:
                    s.connect_ex(("192.0.2.9", 21))
            except BaseException as exc:
                errors.append(exc)

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert errors and isinstance(errors[0], netguard.GuardRefused)

        # asyncio (what the collectors use) sees the same refusal
        async def connect() -> None:
            await asyncio.open_connection("192.0.2.10", 2121)

        with pytest.raises(PermissionError):
            asyncio.run(connect())
        # inside the prefixes but on a port the scope does not list: refused too
        with socket.socket() as sock, pytest.raises(netguard.GuardRefused,
                                                    match="not among the authorized ports"):
            sock.connect(("127.77.0.1", port))
    listener.close()
    assert [(r.host, r.port) for r in refused] == [
        ("192.0.2.1", 80), ("192.0.2.7", 6969), ("192.0.2.9", 21), ("192.0.2.10", 2121),
        ("127.77.0.1", port)]
    assert refused[1].event == "socket.sendto"


def test_inside_the_scope_connects() -> None:
    listener = socket.create_server(("127.77.0.1", 0))
    port = listener.getsockname()[1]
    policy = netguard.scope_policy(_scope(["127.77.0.0/16"], ports=[port]))
    with netguard.guarded(policy) as refused, socket.create_connection(("127.77.0.1", port)):
        pass
    listener.close()
    assert refused == []


def test_extra_endpoints_are_allowed_by_address() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # the database server of the installation: outside the audited scope, still reachable
    policy = netguard.scope_policy(_scope(["127.77.0.0/16"]), also=[("localhost", port)])
    with netguard.guarded(policy), socket.create_connection(("127.0.0.1", port)):
        pass
    assert policy("127.0.0.1", port + 1) is not None
    listener.close()


def test_store_endpoints_name_a_tcp_database() -> None:
    class Url:
        host, port = "db.example", 6543

    class Engine:
        url = Url()

    class Store:
        engine = Engine()

    class LedgerWithTsa:
        tsa_url = "https://tsa.example/ts"

    assert netguard.store_endpoints(Store(), LedgerWithTsa()) == [("db.example", 6543),
                                                                  ("tsa.example", 443)]


# -- in an audit: a collector that forgets its scope check is stopped, and it is on record ---

class _ForgetfulCollector(Collector):
    """A collector with a bug: it connects without asking the scope first."""

    schemes = ("netguard-test",)  # never a URL scheme; selected by kind
    default_ports: ClassVar[dict[str, int]] = {"netguard-test": 9}
    kinds = ("netguard-test",)

    async def collect(self) -> AsyncIterator[Observation | Refusal]:
        try:
            await asyncio.open_connection("192.0.2.44", 8080)
            outcome, reason = Outcome.OK, "connected (the guard failed)"
        except PermissionError as exc:
            outcome, reason = Outcome.ERROR, str(exc)
        yield self.observation(self.service.url + "escape", method="test", outcome=outcome,
                               reason=reason)
        yield self.observation(self.service.url, method="test")


register(_ForgetfulCollector)


def test_an_audit_records_what_the_guard_refused(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETWARDEN_HOME", str(tmp_path / "home"))
    store = open_store(f"sqlite:///{tmp_path / 'nw.sqlite'}")
    init_key()
    ledger = Ledger.open(store)
    now = datetime.now(UTC)
    scope = parse_scope({
        "check": {"id": "g2", "authorization": "t", "not_before": now - timedelta(hours=1),
                  "not_after": now + timedelta(hours=1), "jurisdiction": "ru"},
        "operator": {"name": "T", "prefixes": ["127.77.16.0/24"]},
        "services": [{"url": "ftp://127.77.16.1:2121/", "kind": "netguard-test"}]}, "<g2>")
    try:
        result = run_audit(scope, tmp_path / "run", BankStore(store), ledger=ledger,
                           store=store, assess=False)
        entries = [json.loads(ledger.entry(i)) for i in range(ledger.size)]
    finally:
        store.close()
    escape = [p for p in result.problems if p.location.endswith("escape")]
    assert escape and "net guard refused to contact 192.0.2.44:8080" in (escape[0].reason or "")
    assert [(r.target, r.found_in) for r in result.refusals] == [
        ("192.0.2.44:8080", "net guard (socket.connect)")]
    recorded = [e for e in entries if e.get("record_type") == "refusal"]
    assert [(e["target"], e["found_in"]) for e in recorded] == [
        ("192.0.2.44:8080", "net guard (socket.connect)")]
    assert result.summary["refused"] == 1
