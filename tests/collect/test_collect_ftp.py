"""FTP collector against real servers: pyftpdlib (UTF-8 and cp1251 names) and a hostile one."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from netwarden.collect.base import location_url
from netwarden.records import EvidenceLevel, Observation, Outcome, Refusal
from netwarden.testbed.hostile import DRIP_SIZE, FTP_SIZES, payload, serve_hostile_ftp
from netwarden.testbed.servers import serve_ftp

FTP_HOST = "127.77.3.10"
HOSTILE_HOST = "127.77.3.66"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Any, dict[bytes, bytes]]]:
    files = {
        "/films/Брат 2.mkv".encode(): os.urandom(300_000),
        b"/old/" + "Сталкер.avi".encode("cp1251"): os.urandom(1_200_000),
        b"/empty.bin": b"",
        b"/a/b/c/d/deep.bin": os.urandom(10),
    }
    root = os.fsencode(tmp_path / "root")
    for raw, data in files.items():
        os.makedirs(os.path.dirname(root + raw), exist_ok=True)
        with open(root + raw, "wb") as handle:
            handle.write(data)
    server = serve_ftp(tmp_path / "root", FTP_HOST)
    try:
        yield server, files
    finally:
        server.stop()


def test_walks_utf8_and_cp1251_names_and_digests_each_file(store: Any, scope_for: Any,
                                                            run_collect: Any) -> None:
    server, files = store
    scope = scope_for([server.url], infrastructure=(FTP_HOST,))
    records, events = run_collect(scope)
    served = {r.location: r for r in records
              if isinstance(r, Observation) and r.level is EvidenceLevel.SERVED}
    assert len(served) == len(files)
    for raw, data in files.items():
        obs = served[location_url("ftp", FTP_HOST, server.port, raw)]
        assert obs.size == len(data)
        assert obs.digests["sha256"] == hashlib.sha256(data).hexdigest()
        assert obs.digests["md5"] == hashlib.md5(data).hexdigest()
        assert "size" not in obs.digests
        assert obs.bytes_from_endpoint and obs.outcome is Outcome.OK
        assert obs.operator_infrastructure
        assert obs.details["name_hex"] == raw.rpartition(b"/")[2].hex()
    legacy = served[location_url("ftp", FTP_HOST, server.port,
                                 b"/old/" + "Сталкер.avi".encode("cp1251"))]
    assert legacy.name == "Сталкер.avi" and legacy.details["name_encoding"] == "cp1251"
    utf8 = served[location_url("ftp", FTP_HOST, server.port, "/films/Брат 2.mkv".encode())]
    assert utf8.name == "Брат 2.mkv" and utf8.details["name_encoding"] == "utf-8"
    assert not any(r.outcome is not Outcome.OK for r in records if isinstance(r, Observation))
    kinds = {e.kind for e in events}
    assert {"file", "bytes", "dir"} <= kinds
    assert sum(e.n for e in events if e.kind == "bytes") == sum(map(len, files.values()))


def test_depth_limit_and_file_size_limit(store: Any, scope_for: Any, run_collect: Any) -> None:
    server, _files = store
    scope = scope_for([server.url], max_depth=3, max_file_size=1_000_000)
    records, _ = run_collect(scope)
    obs = [r for r in records if isinstance(r, Observation)]
    deep = [o for o in obs if "deeper than the depth limit" in (o.reason or "")]
    assert len(deep) == 1 and deep[0].outcome is Outcome.SKIPPED
    big = [o for o in obs if o.name == "Сталкер.avi"]
    assert len(big) == 1 and big[0].outcome is Outcome.SKIPPED
    assert "larger than the limit" in (big[0].reason or "") and not big[0].digests
    assert any(o.level is EvidenceLevel.SERVED and o.name == "Брат 2.mkv" for o in obs)


def test_out_of_scope_service_is_refused_never_contacted(scope_for: Any,
                                                         run_collect: Any) -> None:
    # A scope file cannot list an out-of-scope service; narrow a valid scope afterwards to
    # check that the collector asks the scope itself before connecting.
    scope = scope_for(["ftp://127.77.3.99:2121/"])
    narrowed = replace(scope, prefixes=(ipaddress.ip_network("127.77.4.0/24"),))
    records, _ = run_collect(narrowed)
    assert len(records) == 1 and isinstance(records[0], Refusal)
    assert "outside the authorized prefixes" in records[0].reason


def test_connection_refused_is_a_recorded_error(scope_for: Any, run_collect: Any) -> None:
    sock = socket.socket()
    sock.bind(("127.77.3.98", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    records, _ = run_collect(scope_for([f"ftp://127.77.3.98:{port}/"]))
    assert len(records) == 1 and records[0].outcome is Outcome.ERROR
    assert "refused" in records[0].reason


@pytest.fixture
def hostile() -> Iterator[Any]:
    server = serve_hostile_ftp(HOSTILE_HOST)
    try:
        yield server
    finally:
        server.stop()


def test_hostile_ftp_each_attack_ends_in_a_recorded_outcome(hostile: Any, scope_for: Any,
                                                           run_collect: Any) -> None:
    scope = scope_for([hostile.url], read_timeout=1, connect_timeout=2, max_file_size=2_000_000,
                      max_listing_entries=40, min_speed=1000, min_speed_seconds=1.5)
    started = time.monotonic()
    records, _ = run_collect(scope, timeout=60)
    assert time.monotonic() - started < 30
    obs = [r for r in records if isinstance(r, Observation)]
    url = hostile.url.rstrip("/")

    def at(path: str) -> Observation:
        found = [o for o in obs if o.location == url + path]
        assert len(found) == 1, (path, [o.location for o in obs])
        return found[0]

    # ordinary files before and after the attacks are served and digested (LIST fallback)
    for path in ("/ok.bin", "/after.bin", "/dos/dosfile.bin"):
        o = at(path)
        assert o.level is EvidenceLevel.SERVED, o
        assert o.digests["sha256"] == hashlib.sha256(payload(path, FTP_SIZES[path])).hexdigest()
        assert o.details["listing"] == "LIST"
    empty = at("/empty.bin")
    assert empty.size == 0 and empty.digests["sha256"] == hashlib.sha256(b"").hexdigest()
    stall = at("/stall.bin")
    assert stall.outcome is Outcome.ERROR and "timed out" in stall.reason and not stall.digests
    # the tarpit never goes quiet for a read timeout: only the minimum speed ends it
    drip = at("/drip.bin")
    assert drip.outcome is Outcome.ERROR and not drip.digests, drip
    assert drip.reason.startswith("transfer slower than 1000 B/s for 1.5 s ("), drip.reason
    assert drip.reason.endswith("); abandoned") and "timed out" not in drip.reason
    assert drip.size == DRIP_SIZE and drip.level is EvidenceLevel.LISTED
    huge = at("/huge.bin")
    assert huge.outcome is Outcome.SKIPPED and "larger than the limit" in huge.reason
    liar = at("/liar.bin")
    assert liar.outcome is Outcome.ERROR and "more than the 100 bytes it announced" in liar.reason
    bomb = at("/bomb.bin")
    assert bomb.outcome is Outcome.SKIPPED and "more than the limit" in bomb.reason
    unsafe = [o for o in obs if "unsafe name" in (o.reason or "")]
    assert {o.name for o in unsafe} == {"../../etc/passwd", "a/b"}
    assert all(o.outcome is Outcome.SKIPPED and o.location == url + "/" for o in unsafe)
    endless = at("/endless/")
    assert endless.outcome is Outcome.SKIPPED and "longer than 40 entries" in endless.reason
    secret = at("/secret/")
    assert secret.outcome is Outcome.DENIED
    # entries of the endless listing that were read were tried, and each ended in an outcome
    tried = [o for o in obs if o.location.startswith(url + "/endless/f")]
    assert len(tried) == 40 and all(o.outcome is Outcome.DENIED for o in tried)


def test_credentials_from_the_service_and_a_refused_login(tmp_path: Path, scope_for: Any,
                                                          run_collect: Any) -> None:
    (tmp_path / "f.bin").write_bytes(b"x" * 10)
    server = serve_ftp(tmp_path, "127.77.3.11", users={"auditor": "s3cret"}, anonymous=False)
    try:
        good = scope_for([f"ftp://auditor:s3cret@127.77.3.11:{server.port}/"])
        records, _ = run_collect(good)
        assert [r.name for r in records if r.level is EvidenceLevel.SERVED] == ["f.bin"]
        bad = scope_for([f"ftp://127.77.3.11:{server.port}/"])  # anonymous: refused
        records, _ = run_collect(bad)
        assert len(records) == 1 and records[0].outcome is Outcome.DENIED
        assert "530" in records[0].reason
    finally:
        server.stop()
