"""Real Direct Connect software on loopback: the ``uhub`` ADC hub and ``eiskaltdcpp-daemon``.

Each eiskaltdcpp client gets its own config dir (a generated DCPlusPlus.xml: nick, active mode
on its own 127.77.6.x address and port), shares a generated directory through its JSON-RPC
interface and joins the hub. The fixture waits until the hub reports each client's full share
size, i.e. until the client has hashed its files.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from netwarden.collect.base import CollectContext, collector_for
from netwarden.collect.dc.adc_proto import b32, cid_from_pid
from netwarden.records import Observation, Refusal
from netwarden.scope import Scope, parse_scope

HUB_HOST = "127.77.6.1"
OP_NICK, OP_PASS = "HubOwner", "op-secret"
AUDITOR_NICK, AUDITOR_PASS = "Auditor", "aud-secret"

needs_dc = pytest.mark.skipif(
    shutil.which("uhub") is None or shutil.which("eiskaltdcpp-daemon") is None,
    reason="Debian uhub / eiskaltdcpp-daemon not installed")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wait_port(host: str, port: int, proc: subprocess.Popen[bytes], what: str,
               log: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class Hub:
    host: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"adc://{self.host}:{self.port}"


@pytest.fixture
def uhub(tmp_path: Path) -> Iterator[Hub]:
    """uhub on 127.77.6.1 with a registered operator and a registered auditor (sqlite)."""
    base = tmp_path / "uhub"
    base.mkdir()
    port = free_port(HUB_HOST)
    db = base / "users.db"
    subprocess.run(["uhub-passwd", str(db), "create"], check=True, capture_output=True)
    subprocess.run(["uhub-passwd", str(db), "add", OP_NICK, OP_PASS, "op"], check=True,
                   capture_output=True)
    subprocess.run(["uhub-passwd", str(db), "add", AUDITOR_NICK, AUDITOR_PASS, "user"],
                   check=True, capture_output=True)
    (base / "motd.txt").write_text("Welcome! New films every day\n")
    (base / "rules.txt").write_text("No rules\n")
    (base / "plugins.conf").write_text(
        f'plugin /usr/lib/uhub/mod_auth_sqlite.so "file={db}"\n'
        f'plugin /usr/lib/uhub/mod_welcome.so "motd={base}/motd.txt rules={base}/rules.txt"\n')
    topic = getattr(uhub, "topic", "Local films hub")
    (base / "uhub.conf").write_text(
        f"server_port={port}\nserver_bind_addr={HUB_HOST}\nhub_name=Local Films\n"
        f"hub_description={topic}\nfile_plugins={base}/plugins.conf\nmax_users=500\n"
        "registered_users_only=0\nshow_banner=1\n")
    log = base / "uhub.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["uhub", "-c", str(base / "uhub.conf")], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        _wait_port(HUB_HOST, port, proc, "uhub", log)
        yield Hub(HUB_HOST, port, proc)
    finally:
        _stop(proc)


@dataclass
class Client:
    nick: str
    host: str
    port: int
    rpc_port: int
    share: Path
    proc: subprocess.Popen[bytes]
    files: dict[str, bytes] = field(default_factory=dict)
    cid: str = ""

    def rpc(self, method: str, **params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                           "params": params}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.rpc_port}/", data=body)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())["result"]


def _dc_xml(nick: str, host: str, port: int, pid: str, passive: bool = False) -> str:
    """eiskaltdcpp settings. ``CID`` is the *private* ID (the PID): without it every daemon
    started within the same second generates the same one (its random source is seeded with
    the time), so the hub refuses all but the first with "CID is taken".
    ``IncomingConnections``: 0 direct (active), 3 firewall-passive (dcpp's SettingsManager
    enum INCOMING_DIRECT, _FIREWALL_UPNP, _FIREWALL_NAT, _FIREWALL_PASSIVE)."""
    settings = {"CID": pid, "Nick": nick, "Description": "test user", "InPort": port,
                "UDPPort": port, "TLSPort": port + 1, "IncomingConnections": 3 if passive else 0,
                "AutoDetectIncomingConnection": 0, "BindAddress": host, "ExternalIp": host,
                "NoIpOverride": 1, "Slots": 5, "HashingStartDelay": 0, "UseDHT": 0,
                "UseTLS": 0, "RequireTLS": 0, "AutoRefreshTime": 0}
    rows = "\n".join(
        f'<{k} type="{"int" if isinstance(v, int) else "string"}">{v}</{k}>'
        for k, v in settings.items())
    return ('<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n'
            f"<DCPlusPlus>\n<Settings>\n{rows}\n</Settings>\n</DCPlusPlus>\n")


def _favorites_xml(hub_url: str, nick: str, password: str) -> str:
    """A favourite hub entry: the only place eiskaltdcpp takes a hub password from."""
    return ('<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<Favorites>\n<Hubs>\n'
            f'<Hub Name="test hub" Connect="0" Description="" Nick="{nick}" '
            f'Password="{password}" Server="{hub_url}" UserDescription="" Encoding=""/>\n'
            "</Hubs>\n</Favorites>\n")


def client_factory(tmp_path: Path, default_hub: str, started: list[Client]) -> Any:
    """``start(nick, host, files, password=None, hub_url=None, enc="", passive=False)`` → a
    Client that shares ``files`` and has joined ``hub_url`` (ADC or NMDC), active or passive.
    Each client has its own config dir, PID (so its own CID), address, TCP/UDP ports and
    JSON-RPC port."""

    def start(nick: str, host: str, files: dict[str, bytes], password: str | None = None,
              hub_url: str | None = None, enc: str = "", passive: bool = False) -> Client:
        url = hub_url or default_hub
        base = tmp_path / f"dc-{nick}"
        share = base / "share"
        for rel, data in files.items():
            (share / rel).parent.mkdir(parents=True, exist_ok=True)
            (share / rel).write_bytes(data)
        conf = base / "conf"
        conf.mkdir(parents=True)
        port = free_port(host)
        pid = os.urandom(24)
        (conf / "DCPlusPlus.xml").write_text(_dc_xml(nick, host, port, b32(pid), passive))
        if password is not None:
            (conf / "Favorites.xml").write_text(_favorites_xml(url, nick, password))
        rpc_port = free_port("127.0.0.1")
        log = base / "daemon.out"
        with open(log, "wb") as out:
            proc = subprocess.Popen(["eiskaltdcpp-daemon", "-c", f"{conf}/", "-L", "127.0.0.1",
                                     "-P", str(rpc_port)], stdout=out, stderr=subprocess.STDOUT)
        client = Client(nick, host, port, rpc_port, share, proc, dict(files),
                        cid=b32(cid_from_pid(pid)))
        started.append(client)
        _wait_port("127.0.0.1", rpc_port, proc, "eiskaltdcpp-daemon", log)
        client.rpc("share.add", directory=f"{share}/", virtname="share")
        client.rpc("share.refresh")
        _wait_hashed(client)
        client.rpc("hub.add", huburl=url, enc=enc)
        return client

    return start


def _wait_hashed(client: Client, timeout: float = 60) -> None:
    """Join only once the share is hashed, so the first $MyINFO/BINF has the full size (an
    NMDC eiskaltdcpp does not re-announce its share size soon after hashing)."""
    deadline = time.monotonic() + timeout
    calm = 0
    while time.monotonic() < deadline:
        state = client.rpc("hash.status")
        calm = calm + 1 if state["filesleft"] == 0 and state["bytesleft"] == 0 else 0
        if calm >= 2:
            client.rpc("share.refresh")
            return
        time.sleep(0.2)
    raise RuntimeError(f"{client.nick}: hashing not finished in {timeout:g} s: {state}")


@pytest.fixture
def dc_clients(tmp_path: Path, uhub: Hub) -> Iterator[Any]:
    """Real eiskaltdcpp-daemon clients joined to the ``uhub`` fixture (see client_factory)."""
    started: list[Client] = []
    try:
        yield client_factory(tmp_path, uhub.url, started)
    finally:
        for client in started:
            _stop(client.proc)


def wait_shared(hub: Hub, clients: list[Client], timeout: float = 60) -> None:
    """Wait until the hub lists each client with its full share size (hashing finished)."""
    from netwarden.collect.dc.adc_client import HubSession, Identity

    want = {c.nick: sum(len(d) for d in c.files.values()) for c in clients}

    async def poll() -> dict[str, int | None]:
        session = HubSession(hub.host, hub.port, Identity("probe", "fixture probe"),
                             password=None, connect_timeout=5, read_timeout=5)
        await session.login()
        await asyncio.sleep(0.3)
        seen = {u.nick or "": u.share_size for u in session.users.values()}
        await session.close()
        return seen

    deadline = time.monotonic() + timeout
    seen: dict[str, int | None] = {}
    while time.monotonic() < deadline:
        for client in clients:  # eiskaltdcpp re-announces its share size after a refresh
            client.rpc("share.refresh")
        time.sleep(1)
        seen = asyncio.run(poll())
        if all(seen.get(nick) == size for nick, size in want.items()):
            return
        time.sleep(0.5)
    raise RuntimeError(f"clients did not finish hashing/joining: want {want}, hub says {seen}")


class Refs:
    """A real ReferenceView over a fixed set of TTH roots (what the pipeline builds from banks)."""

    def __init__(self, tths: set[str], titles: list[str] | None = None) -> None:
        self.tths = frozenset(tths)
        self._titles = list(titles or [])

    def titles(self) -> list[str]:
        return list(self._titles)

    def torrents(self) -> list[Any]:
        return []

    def has_digest(self, algorithm: str, value: str) -> bool:
        return algorithm == "tth" and value.upper() in self.tths

    def digests(self, algorithm: str) -> frozenset[str]:
        return self.tths if algorithm == "tth" else frozenset()


def dc_scope(services: list[dict[str, Any]], infrastructure: tuple[str, ...] = (),
             **limits: Any) -> Scope:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "check": {"id": "T-DC", "authorization": "test", "not_before": now - timedelta(hours=1),
                  "not_after": now + timedelta(hours=1), "jurisdiction": "ru"},
        "operator": {"name": "Test Telecom", "prefixes": ["127.77.6.0/24", "127.0.0.1/32"],
                     "infrastructure": list(infrastructure)},
        "auditor": {"nick": AUDITOR_NICK, "description": "netwarden audit T-DC"},
        "services": services,
    }
    if limits:
        data["limits"] = limits
    return parse_scope(data, "test-scope")


def run_dc(scope: Scope, tths: set[str], timeout: float = 90,
           titles: list[str] | None = None) -> list[Observation | Refusal]:
    import netwarden.collect.dc.collector  # noqa: F401  (registers the collector)

    async def main() -> list[Observation | Refusal]:
        ctx = CollectContext(scope=scope, run_id="test-run", limits=scope.limits,
                             references=Refs(tths, titles))
        out: list[Observation | Refusal] = []
        for service in scope.services:
            async for record in collector_for(service)(service, ctx).collect():
                out.append(record)
        return out

    return asyncio.run(asyncio.wait_for(main(), timeout))
