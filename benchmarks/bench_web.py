"""Web UI benchmark: p50/p95 latency of the finding page and the findings list API with many
findings in PostgreSQL, SQLite (the default back end) as the baseline, in the same run.

    .venv/bin/python benchmarks/bench_web.py --findings 100000 --requests 300

For each back end the same synthetic installation is written: ``--findings`` rows of the
``findings`` table (synthetic digests and references, loopback hosts 127.x.y.z, 20 runs over 10
operators, half attributed to a subscriber pseudonym so that half the page views append a
``pseudonym_view`` leaf as in real use) and the ledger leaves their pages and proofs need
(observation + match leaf per finding, so the ledger holds 2 × findings leaves and the proofs
are as deep as at that size), then a signed checkpoint. The app then runs in its own process
(uvicorn on 127.0.0.1, as ``netwarden serve`` does) and one httpx client logs in and requests,
one at a time, after a warm-up:

* ``GET /findings/{id}`` — the finding page (HTML) of a random finding;
* ``GET /api/v1/findings/{id}/proof`` — what the page then loads: leaves, inclusion proofs;
* ``GET /api/v1/findings?...`` — a page of 100 of the list API at a random offset, half of the
  requests with a random operator / level filter.

PostgreSQL is a throwaway cluster started like the tests start it (tests/pgserver.py). Prints
p50/p95 per endpoint and back end, and the PostgreSQL/SQLite ratio of the p95s. Target
(issue 8): finding page p95 ≤ 200 ms with 100k findings in PostgreSQL.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # pgserver: the tests' throwaway PostgreSQL cluster

from _measure import parse_args  # noqa: E402

PASSWORD = "bench-analyst-password"
OPERATORS = 10
RUNS = 20
LEVELS = ("listed", "contacted", "served")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _synthetic(n: int, seed: int = 7) -> tuple[list[dict], list[list[Any]]]:
    """Findings (as findings.jsonl objects, without ledger refs yet) and their leaf records
    (an observation and a match each, as a run appends them)."""
    from netwarden.records import Endpoint, Match, Observation, new_id

    rnd = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    findings, entries = [], []
    for i in range(n):
        run = i % RUNS
        op = f"Operator {run % OPERATORS:02d}"
        host = f"127.{100 + run % OPERATORS}.{(i >> 8) & 255}.{1 + i % 250}"
        sha = hashlib.sha256(f"content-{i}".encode()).hexdigest()
        obs_id, match_id = new_id(), new_id()
        level = LEVELS[i % 3]
        at = start + timedelta(seconds=i * 7 + rnd.randint(0, 6))
        attribution = ({"status": "subscriber", "pseudonym": f"sub-{i % 5000:05d}",
                        "source": "radius"} if i % 2 else
                       {"status": "none", "reason": "no session"})
        findings.append({
            "id": match_id, "run_id": f"benchrun{run:04d}", "check_id": "BENCH-1",
            "operator": op, "category": "film" if i % 4 else "csam-standin",
            "bank": "films", "reference": hashlib.sha256(f"ref-{i % 20000}".encode())
            .hexdigest(), "title": f"Synthetic title {i % 20000}", "match_method": "exact",
            "match_algorithm": "sha256", "match_distance": 0,
            "location": f"http://{host}:8080/files/{i}.bin", "endpoint": f"http://{host}:8080",
            "host": host, "port": 8080, "protocol": "http", "name": f"{i}.bin",
            "size": 1_000_000 + i, "digests": {"sha256": sha}, "observed_at": at.isoformat(),
            "evidence_level": level,
            "verification": {"method": "sha256", "result": "match"} if level == "served"
            else "pending", "attribution": attribution, "assessment": "pending",
            "operator_infrastructure": i % 50 == 0, "observation_id": obs_id,
            "match_id": match_id, "verification_id": None})
        entries.append([
            Observation(id=obs_id, run_id=f"benchrun{run:04d}",
                        endpoint=Endpoint(protocol="http", host=host, port=8080),
                        location=f"http://{host}:8080/files/{i}.bin", name=f"{i}.bin",
                        size=1_000_000 + i, digests={"sha256": sha}, observed_at=at,
                        method="http-get"),
            Match(id=match_id, run_id=f"benchrun{run:04d}", observation_id=obs_id,
                  bank="films", category=findings[-1]["category"],
                  reference_id=findings[-1]["reference"], algorithm="sha256",
                  matched_value=sha)])
    return findings, entries


def populate(url: str, key_dir: Path, findings: list[dict], prepared: list) -> float:
    """Write runs, findings, ledger leaves, a checkpoint and the analyst; returns seconds."""
    from sqlalchemy import insert

    from netwarden.ledger import Ledger
    from netwarden.records import Finding
    from netwarden.store import open_store
    from netwarden.store.models_findings import FindingRow, _leaf_index
    from netwarden.store.models_runs import RunRow
    from netwarden.web.auth import add_user

    t0 = time.perf_counter()
    store = open_store(url)
    ledger = Ledger.open(store, key_dir)
    refs = []
    for start in range(0, len(prepared), 20_000):
        refs.extend(ledger.append_many(prepared[start:start + 20_000]))
    ledger.checkpoint()
    stored = Ledger.open(store, key_dir).size
    if stored != len(prepared):  # measured on a ledger that lost leaves would be meaningless
        raise SystemExit(f"{url.split(':')[0]}: the ledger holds {stored} leaves after "
                         f"appending {len(prepared)}: appends were not committed")
    rows = []
    for i, f in enumerate(findings):
        obs, match = refs[2 * i], refs[2 * i + 1]
        f = {**f, "ledger": {"observation": {"index": obs.index, "leaf_hash": obs.hex},
                             "match": {"index": match.index, "leaf_hash": match.hex}}}
        model = Finding.model_validate(f)
        rows.append({"id": model.id, "run_id": model.run_id, "check_id": model.check_id,
                     "operator": model.operator, "category": model.category,
                     "evidence_level": model.evidence_level.value, "protocol": model.protocol,
                     "host": model.host, "observed_at": model.observed_at, "bank": model.bank,
                     "reference": model.reference, "leaf_index": _leaf_index(model.ledger),
                     "data": model.model_dump_json()})
    with store.session() as session:
        for run in range(RUNS):
            session.add(RunRow(id=f"benchrun{run:04d}", check_id="BENCH-1",
                               operator=f"Operator {run % OPERATORS:02d}", jurisdiction="ru",
                               scope_sha256="0" * 64, out_dir="/nonexistent/bench-run",
                               started_at=datetime(2026, 11, 1, tzinfo=UTC)
                               + timedelta(hours=run), finished_at=None, status="finished",
                               observations=len(findings) // RUNS,
                               findings=len(findings) // RUNS, served=len(findings) // RUNS // 3))
        for start in range(0, len(rows), 5000):
            session.execute(insert(FindingRow), rows[start:start + 5000])
    add_user(store, "bench", "analyst", PASSWORD)
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")  # fresh statistics, as autovacuum would make
    store.close()
    return time.perf_counter() - t0


def serve(url: str, key_dir: str, port: int) -> None:
    """Child process: the app on 127.0.0.1:port (what ``netwarden serve`` runs)."""
    import uvicorn

    from netwarden.web.app import create_app

    uvicorn.run(create_app(url, key_dir=Path(key_dir)), host="127.0.0.1", port=port,
                log_level="warning")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(url: str, key_dir: Path, ids: list[str], operators: list[str], requests: int,
            rnd: random.Random) -> dict[str, list[float]]:
    import httpx

    port = _port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", url, str(key_dir), str(port)],
                            env={**os.environ, "NETWARDEN_HOME": str(key_dir.parent)})
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the app did not start")
                time.sleep(0.2)
            client.get("/login")
            r = client.post("/login", data={"username": "bench", "password": PASSWORD,
                                            "csrf_token": client.cookies.get("nw_login_csrf")})
            assert r.status_code == 303, r.text
            times: dict[str, list[float]] = {"finding page": [], "proof API": [],
                                             "findings list API": []}
            total = len(ids)

            def timed(name: str, path: str, params: dict | None = None) -> None:
                t = time.perf_counter()
                resp = client.get(path, params=params)
                elapsed = time.perf_counter() - t
                assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
                if name:
                    times[name].append(elapsed)

            for _ in range(20):  # warm-up: connections, caches, first template compile
                fid = rnd.choice(ids)
                timed("", f"/findings/{fid}")
                timed("", f"/api/v1/findings/{fid}/proof")
                timed("", "/api/v1/findings", {"limit": 100})
            for _ in range(requests):
                fid = rnd.choice(ids)
                timed("finding page", f"/findings/{fid}")
                timed("proof API", f"/api/v1/findings/{fid}/proof")
                params: dict = {"limit": 100}
                if rnd.random() < 0.5:
                    params.update(operator=rnd.choice(operators), level=rnd.choice(LEVELS))
                    params["offset"] = rnd.randrange(0, max(1, total // (OPERATORS * 3) - 100))
                else:
                    params["offset"] = rnd.randrange(0, max(1, total - 100))
                timed("findings list API", "/api/v1/findings", params)
            return times
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parse_args(parser, {"findings": 400, "requests": 3})
    if not args.quick and (args.findings < 10_000 or args.requests < 10):
        parser.error("--findings must be at least 10000 and --requests at least 10")

    from netwarden.ledger import Ledger
    from netwarden.ledger.keys import init_key
    from pgserver import pg_cluster

    with tempfile.TemporaryDirectory(prefix="nw-bench-web-") as tmp:
        base = Path(tmp)
        key_dir = base / "home" / "keys"
        init_key(key_dir)
        t = time.perf_counter()
        findings, entries = _synthetic(args.findings)
        prepared = [Ledger.prepare(e) for pair in entries for e in pair]
        print(f"{args.findings:,} synthetic findings, {len(prepared):,} ledger leaves prepared "
              f"in {time.perf_counter() - t:.1f} s")
        ids = [f["id"] for f in findings]
        operators = sorted({f["operator"] for f in findings})
        results: dict[str, dict[str, list[float]]] = {}
        with pg_cluster() as cluster:
            urls = {"sqlite": f"sqlite:///{base / 'bench.sqlite'}",
                    "postgresql": cluster.create_database("bench_web")}
            for name, url in urls.items():
                secs = populate(url, key_dir, findings, prepared)
                print(f"{name}: populated in {secs:.1f} s")
                results[name] = measure(url, key_dir, ids, operators, args.requests,
                                        random.Random(11))
        print(f"\nload average at the end: {os.getloadavg()}")
        print(f"{args.requests} requests per endpoint and back end, one at a time, "
              f"{args.findings:,} findings\n")
        print(f"{'endpoint':20} {'back end':11} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for endpoint in ("finding page", "proof API", "findings list API"):
            for name in ("sqlite", "postgresql"):
                v = results[name][endpoint]
                print(f"{endpoint:20} {name:11} {1000 * statistics.median(v):8.1f} "
                      f"{1000 * _pct(v, 0.95):8.1f} {1000 * max(v):8.1f}")
            ratio = _pct(results["postgresql"][endpoint], 0.95) / _pct(
                results["sqlite"][endpoint], 0.95)
            print(f"{'':20} p95 PostgreSQL / SQLite baseline: {ratio:.2f}x")
        p95 = 1000 * _pct(results["postgresql"]["finding page"], 0.95)
        print(f"\nfinding page p95 on PostgreSQL: {p95:.1f} ms "
              f"(target <= 200 ms: {'met' if p95 <= 200 else 'NOT met'})")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
