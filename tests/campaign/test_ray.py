"""The Ray executor on a real local Ray cluster (``ray start --head``, bound to loopback only).

The same campaign must give the same findings on Ray as on the local executor; a Ray worker
killed -9 mid-audit must leave an interrupted attempt and a complete, duplicate-free result.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netwarden.campaign import load_campaign, make_executor, run_campaign, state
from netwarden.ledger import Ledger
from netwarden.store import open_store
from netwarden.testbed import Gate

from .helpers import expected_served, operator_networks, write_campaign
from .test_campaign_e2e import _campaign_served, _check_ledger, _held_attempt, _wait_for

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="pip install 'ray[default]'")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Ray turns 127.0.0.1 into "a remotely reachable address" (the host's address from a route
# lookup) unless multi-node clustering is off; off, every Ray process binds to loopback only,
# as every network test must. The ``ray start`` subprocesses read the variable; this process
# (the driver) reads the constant at call time.
_LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
                 "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
_START_TRIES = 3


def _ray_logs(temp: Path) -> str:
    """The tail of each Ray log under ``temp``: what a failed ``ray start`` left behind."""
    tails = []
    for log in sorted(temp.glob("session_*/logs/*")):
        if log.is_file() and log.suffix in {".err", ".out", ".log"} and log.stat().st_size:
            tails.append(f"--- {log.name}\n" + log.read_text(errors="replace")[-1500:])
    return "\n".join(tails[-8:])


def _start_head(ray_bin: str, env: dict[str, str]) -> tuple[str, Path]:
    """``ray start --head`` on loopback; a failed start is retried on a fresh port, then
    reported with Ray's own output and logs (a bare exit status says nothing in CI)."""
    failures = []
    for _ in range(_START_TRIES):
        temp = Path(tempfile.mkdtemp(prefix="nwray-", dir="/tmp"))  # short: unix socket paths
        port = _free_port()
        done = subprocess.run(
            [ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
             "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={temp}",
             "--disable-usage-stats"],
            capture_output=True, text=True, env=env, timeout=180)
        if done.returncode == 0:
            return f"127.0.0.1:{port}", temp
        failures.append(f"ray start --head (port {port}) exited {done.returncode}\n"
                        f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}\n{_ray_logs(temp)}")
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
    pytest.fail("a local Ray head did not start:\n" + "\n\n".join(failures))


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """One Ray node on 127.0.0.1 (two CPUs, so two audits run at once); stopped after the
    module. The test kills one of its worker processes, which is what a lost worker is."""
    import ray._private.ray_constants as ray_constants

    ray_bin = str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, **_LOOPBACK_ENV}
    clustering = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    address, temp = _start_head(ray_bin, env)
    try:
        yield address
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
        ray_constants.ENABLE_RAY_CLUSTER = clustering


@contextlib.contextmanager
def _executor(url: str, address: str) -> Iterator[Any]:
    executor = make_executor("ray", url, address)
    try:
        yield executor
    finally:
        executor.close()


def test_same_findings_on_ray_and_local_and_a_killed_ray_worker(
        tmp_path: Path, home: Path, ray_cluster: str) -> None:
    local_url = f"sqlite:///{tmp_path / 'local.sqlite'}"
    ray_url = f"sqlite:///{tmp_path / 'ray.sqlite'}"
    gate = Gate()
    gate.release()  # the local run goes through; the Ray run is held (see below)
    with operator_networks(tmp_path, 2, octet0=160, gate=gate) as nets:
        path = write_campaign(tmp_path / "campaign.toml", nets, workers=2)
        campaign = load_campaign(path)
        local_store = open_store(local_url)
        run_campaign(campaign, local_store, Ledger.open(local_store),
                     make_executor("local", local_url))
        local = sorted(_campaign_served(local_store, campaign.name))
        local_store.close()

        store = open_store(ray_url)
        box: dict[str, Any] = {}
        with _executor(ray_url, ray_cluster) as executor:
            assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
            def coordinator() -> None:
                try:
                    box["result"] = run_campaign(campaign, store, Ledger.open(store), executor)
                except BaseException as exc:
                    box["error"] = exc

            gate.close()  # hold the Ray run's transfers: the kill must land mid-audit
            thread = threading.Thread(target=coordinator)
            thread.start()
            try:
                _attempt, pid = _wait_for(lambda: _held_attempt(store, gate), 120,
                                          "a Ray task held mid-transfer")
                os.kill(pid, signal.SIGKILL)  # the Ray worker process running the audit
            finally:
                gate.release()
            thread.join(300)
        assert not thread.is_alive() and "error" not in box, box.get("error")
        assert box["result"].complete
        served = _campaign_served(store, campaign.name)
        assert sorted(served) == sorted(expected_served(nets)) == local
        assert len(served) == len(set(served))
        attempts = state.attempts(store, campaign.name)
        assert all(a["executor"] == "ray" for a in attempts)
        assert any(a["status"] == "interrupted" for a in attempts), attempts
    _check_ledger(store)
    store.close()
