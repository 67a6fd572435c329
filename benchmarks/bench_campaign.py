"""Campaign benchmark: N loopback operators on 1 vs 2 Ray workers, local executor baseline.

    .venv/bin/python benchmarks/bench_campaign.py --operators 50

Starts N generated operator testbeds (real FTP/HTTP servers on 127.(120+k).0.0/16), one
campaign over them, and runs it three times in the same process, each on a fresh SQLite
database with the same banks: the local executor with 2 worker processes (the baseline), then
a real Ray cluster (``ray start --head`` on 127.0.0.1 with no CPUs of its own plus one worker
node) with 1 CPU and with 2 CPUs. Prints wall times, the Ray speed-up 2 vs 1 and Ray(2)
against the local baseline, and checks that all three found the same served findings.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netwarden.campaign import load_campaign, make_executor, run_campaign, state
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.store import open_store
from netwarden.store.models_findings import findings_of_runs
from netwarden.testbed import DemoNetwork


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def ray_cluster(cpus: int):
    ray_bin = str(Path(sys.executable).with_name("ray"))
    temp = Path(tempfile.mkdtemp(prefix="nwray-", dir="/tmp"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    port = _port()
    subprocess.run([ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                    "--num-cpus=0", "--include-dashboard=false", f"--temp-dir={temp}",
                    "--disable-usage-stats"], check=True, capture_output=True, env=env)
    try:
        subprocess.run([ray_bin, "start", f"--address=127.0.0.1:{port}",
                        "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}",
                        "--disable-usage-stats"], check=True, capture_output=True, env=env)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, env=env)
        shutil.rmtree(temp, ignore_errors=True)


def run_once(campaign_file: Path, work: Path, label: str, executor: str, workers: int,
             address: str | None = None) -> tuple[float, set[tuple[str, str, str]]]:
    import dataclasses

    url = f"sqlite:///{work / f'{label}.sqlite'}"
    store = open_store(url)
    campaign = dataclasses.replace(load_campaign(campaign_file), workers=workers,
                                   out_dir=work / f"runs-{label}")
    runner = make_executor(executor, url, address)
    start = time.perf_counter()
    try:
        result = run_campaign(campaign, store, Ledger.open(store), runner)
    finally:
        runner.close()
    wall = time.perf_counter() - start
    assert result.complete, result.events
    runs = [j["run_id"] for j in state.jobs(store, campaign.name)]
    served = {(f["host"], f["location"], f["reference"]) for f in findings_of_runs(store, runs)
              if f["evidence_level"] == "served"}
    store.close()
    return wall, served


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--operators", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nw-bench-campaign-"))
    os.environ["NETWARDEN_HOME"] = str(work / "home")
    init_key()
    with contextlib.ExitStack() as stack:
        nets = []
        for k in range(args.operators):
            net = DemoNetwork(work / f"op{k:02d}", seed=100 + k, prefix_octet=120 + k,
                              operator=f"Operator {k:02d} Telecom")
            stack.enter_context(net)
            nets.append(net)
        lines = ["[campaign]", 'name = "bench"', ""]
        for net in nets:
            lines += ["[[operators]]", f'scope = "{net.scope_path}"', ""]
            for b in net.banks:
                lines += ["[[banks]]", f'name = "{b.name}"', f'category = "{b.category}"',
                          f'format = "{b.format}"', f'path = "{b.path}"', ""]
        campaign_file = work / "campaign.toml"
        campaign_file.write_text("\n".join(lines), encoding="utf-8")
        expected = {tuple(e) for net in nets for e in net.expected}
        print(f"{args.operators} operators, {sum(len(n.servers) for n in nets)} servers, "
              f"{len(expected)} planted copies; cpus={os.cpu_count()}")
        local, found_local = run_once(campaign_file, work, "local", "local", 2)
        print(f"local executor, 2 worker processes (baseline): {local:8.1f} s")
        with ray_cluster(1) as address:
            ray1, found_1 = run_once(campaign_file, work, "ray1", "ray", 1, address)
        print(f"Ray, 1 worker CPU:                           {ray1:8.1f} s")
        with ray_cluster(2) as address:
            ray2, found_2 = run_once(campaign_file, work, "ray2", "ray", 2, address)
        print(f"Ray, 2 worker CPUs:                          {ray2:8.1f} s")
        print(f"speed-up Ray 2 vs 1 workers: {ray1 / ray2:.2f}x (target >= 1.7x)")
        print(f"Ray(2) vs local baseline:    {local / ray2:.2f}x")
        same = found_local == found_1 == found_2 == expected
        print(f"same served findings on all three, equal to the planted copies: {same}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
