"""The Ray executor on a real local Ray cluster (``ray start --head`` on loopback, one worker).

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


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A head node on 127.0.0.1 with one worker node; stopped after the module."""
    ray_bin = str(Path(sys.executable).with_name("ray"))
    temp = Path(tempfile.mkdtemp(prefix="nwray-", dir="/tmp"))  # short: unix socket paths
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    common = ["--disable-usage-stats"]
    subprocess.run([ray_bin, "start", "--head", "--node-ip-address=127.0.0.1",
                    f"--port={port}", "--num-cpus=0", "--include-dashboard=false",
                    f"--temp-dir={temp}", *common], check=True, capture_output=True, env=env,
                   timeout=180)
    address = f"127.0.0.1:{port}"
    try:
        subprocess.run([ray_bin, "start", f"--address={address}", "--node-ip-address=127.0.0.1",
                        "--num-cpus=2", *common], check=True, capture_output=True, env=env,
                       timeout=180)
        yield address
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


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
