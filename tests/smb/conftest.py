"""A real Samba ``smbd`` on loopback, started per test with a generated smb.conf.

smbd binds only to addresses configured on an interface; 127.77.x.y are routed to lo but not
configured on it, so the server listens on 127.0.0.1 (``bind interfaces only``) on a free high
port, with its private, lock, state, cache and pid directories under the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from netwarden.collect.base import CollectContext, collector_for
from netwarden.records import Observation, Refusal
from netwarden.scope import Scope, parse_scope

SMB_HOST = "127.0.0.1"
USER, PASSWORD = "root", "Audit-pw-1"

pytestmark = pytest.mark.skipif(shutil.which("smbd") is None, reason="Debian samba not installed")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Smbd:
    host: str
    port: int
    root: Path  # directory holding one subdirectory per share
    proc: subprocess.Popen[bytes]
    log: Path
    user: str = USER
    password: str = PASSWORD

    def url(self, share: str) -> str:
        return f"smb://{self.host}:{self.port}/{share}"


def _conf(base: Path, port: int) -> str:
    dirs = {k: base / k for k in ("private", "lock", "state", "cache", "pid", "ncalrpc", "log")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    return f"""[global]
  server role = standalone server
  interfaces = {SMB_HOST}
  bind interfaces only = yes
  smb ports = {port}
  private dir = {dirs['private']}
  lock directory = {dirs['lock']}
  state directory = {dirs['state']}
  cache directory = {dirs['cache']}
  pid directory = {dirs['pid']}
  ncalrpc dir = {dirs['ncalrpc']}
  log file = {dirs['log']}/log.%m
  map to guest = Bad User
  guest account = root
  disable spoolss = yes
  load printers = no
  printcap name = /dev/null
  disable netbios = yes
  server min protocol = SMB2_02
  unix extensions = no
  follow symlinks = yes
  wide links = yes
  unix charset = UTF-8
[pub]
  path = {base / 'shares' / 'pub'}
  guest ok = yes
  read only = yes
[priv]
  path = {base / 'shares' / 'priv'}
  guest ok = no
  valid users = {USER}
  read only = yes
"""


@pytest.fixture
def smbd(tmp_path: Path) -> Iterator[Smbd]:
    """smbd with shares ``pub`` (guest) and ``priv`` (user root); tests add the files."""
    base = tmp_path / "samba"
    for share in ("pub", "priv"):
        (base / "shares" / share).mkdir(parents=True)
    port = free_port(SMB_HOST)
    conf = base / "smb.conf"
    conf.write_text(_conf(base, port))
    subprocess.run(["smbpasswd", "-c", str(conf), "-s", "-a", USER],
                   input=f"{PASSWORD}\n{PASSWORD}\n".encode(), check=True, capture_output=True)
    log = base / "smbd.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["smbd", "-F", "--debug-stdout", "-s", str(conf)],
                                stdout=out, stderr=subprocess.STDOUT)
    server = Smbd(SMB_HOST, port, base / "shares", proc, log)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection((SMB_HOST, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("smbd did not start: " + log.read_text()[-2000:]) from None
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def smb_scope(services: list[dict[str, Any]], **limits: Any) -> Scope:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "check": {"id": "T-SMB", "authorization": "test", "not_before": now - timedelta(hours=1),
                  "not_after": now + timedelta(hours=1), "jurisdiction": "ru"},
        "operator": {"name": "Test Telecom", "prefixes": ["127.0.0.1/32", "127.77.0.0/16"],
                     "infrastructure": []},
        "services": services,
    }
    if limits:
        data["limits"] = limits
    return parse_scope(data, "test-scope")


def run_collect(scope: Scope, timeout: float = 60.0) -> list[Observation | Refusal]:
    import netwarden.collect.smb  # noqa: F401  (registers the collector)

    async def main() -> list[Observation | Refusal]:
        ctx = CollectContext(scope=scope, run_id="test-run", limits=scope.limits)
        out: list[Observation | Refusal] = []
        for service in scope.services:
            async for record in collector_for(service)(service, ctx).collect():
                out.append(record)
        return out

    return asyncio.run(asyncio.wait_for(main(), timeout))


@pytest.fixture
def scope_for() -> Any:
    """``scope_for(services, **limits)``: a scope over 127.0.0.1 and 127.77/16."""
    return smb_scope


@pytest.fixture
def collect_smb() -> Any:
    """``collect_smb(scope)``: run each service's collector → records."""
    return run_collect
