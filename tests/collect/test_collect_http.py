"""HTTP collector against real servers: Python's http.server and a hostile one."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from netwarden.collect.base import location_url
from netwarden.collect.bittorrent.tracker_http import TrackerError, fetch_bounded
from netwarden.records import EvidenceLevel, Observation, Outcome, Refusal
from netwarden.scope import Limits
from netwarden.testbed.hostile import HTTP_FILES, OUTSIDE_HOST, payload, serve_hostile_http
from netwarden.testbed.servers import serve_http

HOST = "127.77.5.1"
HOSTILE_HOST = "127.77.5.66"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Any, dict[str, bytes]]]:
    files = {"/pub/Фильм #1 100%.mkv": os.urandom(250_000), "/pub/empty.bin": b"",
             "/pub/sub/x y.bin": os.urandom(1_300_000), "/other/outside.bin": os.urandom(10)}
    for path, data in files.items():
        target = tmp_path / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    server = serve_http(tmp_path, HOST)
    try:
        yield server, files
    finally:
        server.stop()


def test_walks_python_http_server_under_the_start_url(site: Any, scope_for: Any,
                                                      run_collect: Any) -> None:
    server, files = site
    start = f"http://{HOST}:{server.port}/pub/"
    records, events = run_collect(scope_for([start]))
    served = {r.location: r for r in records
              if isinstance(r, Observation) and r.level is EvidenceLevel.SERVED}
    wanted = {p: d for p, d in files.items() if p.startswith("/pub/")}
    assert set(served) == {location_url("http", HOST, server.port, p.encode()) for p in wanted}
    for path, data in wanted.items():
        obs = served[location_url("http", HOST, server.port, path.encode())]
        assert obs.size == len(data) and obs.bytes_from_endpoint
        assert obs.digests["sha256"] == hashlib.sha256(data).hexdigest()
        assert obs.name == path.rpartition("/")[2]
        assert not obs.operator_infrastructure
    assert all(r.outcome is Outcome.OK for r in records if isinstance(r, Observation))
    assert sum(e.n for e in events if e.kind == "file") == len(wanted)


def test_service_without_trailing_slash_follows_the_redirect(site: Any, scope_for: Any,
                                                              run_collect: Any) -> None:
    server, _files = site
    records, _ = run_collect(scope_for([f"http://{HOST}:{server.port}/pub"]))
    served = [r for r in records
              if isinstance(r, Observation) and r.level is EvidenceLevel.SERVED]
    assert len(served) == 3


@pytest.fixture
def hostile() -> Iterator[Any]:
    server = serve_hostile_http(HOSTILE_HOST)
    try:
        yield server
    finally:
        server.stop()


def test_hostile_http_each_attack_ends_in_a_recorded_outcome(hostile: Any, scope_for: Any,
                                                            run_collect: Any) -> None:
    scope = scope_for([hostile.url], read_timeout=1, connect_timeout=2,
                      max_file_size=2_000_000, max_redirects=4, min_speed=1000,
                      min_speed_seconds=1.5)
    started = time.monotonic()
    records, _ = run_collect(scope, timeout=60)
    assert time.monotonic() - started < 30
    obs = [r for r in records if isinstance(r, Observation)]
    refusals = [r for r in records if isinstance(r, Refusal)]
    base = hostile.url.rstrip("/")

    def at(path: str) -> Observation:
        found = [o for o in obs if o.location == base + path]
        assert len(found) == 1, (path, [(o.location, o.reason) for o in obs])
        return found[0]

    for path in ("/ok.bin", "/after.bin", "/apache/%D0%A4%D0%B8%D0%BB%D1%8C%D0%BC.avi",
                 "/apache/a%20b&c.txt", "/apache/sub/deep.bin", "/nginx/file%201.bin",
                 "/nginx/%D0%9A%D0%B8%D0%BD%D0%BE/%D0%BA%D0%BB%D0%B8%D0%BF.mp4"):
        o = at(path)
        assert o.level is EvidenceLevel.SERVED, o
        plain = unquote(path)
        assert o.digests["sha256"] == hashlib.sha256(
            payload(plain, HTTP_FILES[plain])).hexdigest()
    assert at("/empty.bin").size == 0
    loop = at("/loop")
    assert loop.outcome is Outcome.ERROR and "more than 4 redirects" in loop.reason
    assert len(loop.details["redirects"]) == 5
    # the redirect to 10.0.0.1 and the link to 10.0.0.2 are refused, never contacted
    targets = {r.target: r for r in refusals}
    assert f"http://{OUTSIDE_HOST}/secret.bin" in targets
    assert targets[f"http://{OUTSIDE_HOST}/secret.bin"].found_in == base + "/away.bin"
    assert "http://10.0.0.2/film.mkv" in targets
    assert not [o for o in obs if OUTSIDE_HOST in o.location or o.endpoint.host != HOSTILE_HOST]
    big = at("/big.bin")
    assert big.outcome is Outcome.SKIPPED and "Content-Length" in big.reason
    stream = at("/stream.bin")
    assert stream.outcome is Outcome.SKIPPED and "more than the limit" in stream.reason
    slow = at("/slow.bin")
    assert slow.outcome is Outcome.ERROR and "timed out" in slow.reason and not slow.digests
    # the tarpit never goes quiet for a read timeout: only the minimum speed ends it
    drip = at("/drip.bin")
    assert drip.outcome is Outcome.ERROR and not drip.digests, drip
    assert drip.reason.startswith("transfer slower than 1000 B/s for 1.5 s ("), drip.reason
    assert drip.reason.endswith("); abandoned") and "timed out" not in drip.reason
    assert at("/denied.bin").outcome is Outcome.DENIED
    missing = at("/missing.bin")
    assert missing.outcome is Outcome.ERROR and "404" in missing.reason
    unsafe = [o for o in obs if "path traversal" in (o.reason or "")]
    assert {o.details["href"] for o in unsafe} == {"../../etc/passwd", "..%2F..%2Fetc%2Fshadow"}
    assert all(o.outcome is Outcome.SKIPPED and o.location == base + "/" for o in unsafe)
    # Apache sort links and parent links are not entries: nothing recorded for them
    assert not [o for o in obs if "?C=" in o.location]


def test_a_tracker_that_drips_its_answer_is_abandoned(hostile: Any) -> None:
    # The BitTorrent HTTP tracker client streams its response through the same guard.
    started = time.monotonic()
    with pytest.raises(TrackerError, match=r"^transfer slower than 1000 B/s for 1\.5 s \("):
        asyncio.run(fetch_bounded(hostile.url.rstrip("/") + "/drip.bin", timeout=1,
                                  limits=Limits(min_speed=1000, min_speed_seconds=1.5)))
    assert time.monotonic() - started < 10
