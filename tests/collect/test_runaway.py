"""Issue 14, "an audit ended, hung or ran away": collectors against the runaway servers.

Each test uses small limits (a 2 s phase time limit, a 2000-entry budget, floods of 300 names)
so it is fast, and asserts on the records: what ended, why, and that the ordinary files next to
the attacks were still served exactly once. Time bounds are generous (the wait_for of the
runner); the phase limits themselves are checked through the reasons recorded.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from netwarden.records import EvidenceLevel, Observation, Outcome, Refusal
from netwarden.testbed.hostile import (
    LOOP_FILES,
    RUNAWAY_FILES,
    payload,
    serve_runaway_ftp,
    serve_runaway_http,
)
from netwarden.testbed.servers import serve_ftp

HTTP_HOST = "127.77.33.1"
FTP_HOST = "127.77.33.2"
DRIP_FTP_HOST = "127.77.33.3"
LOOP_FTP_HOST = "127.77.33.4"
FLOOD = 300
BUDGET = 2000
LIMITS: dict[str, Any] = dict(read_timeout=1, connect_timeout=2, phase_timeout=2,
                              max_files_per_service=BUDGET, max_depth=8, min_speed=100,
                              min_speed_seconds=1)


@pytest.fixture
def runaway() -> Iterator[tuple[Any, Any, Any]]:
    # drip_interval < read_timeout: only the phase time limit can end a drip
    http = serve_runaway_http(HTTP_HOST, flood_names=FLOOD, drip_interval=0.3)
    ftp = serve_runaway_ftp(FTP_HOST, flood_names=FLOOD, drip_interval=0.3)
    drip = serve_runaway_ftp(DRIP_FTP_HOST, banner_drip=True, drip_interval=0.3)
    try:
        yield http, ftp, drip
    finally:
        http.stop()
        ftp.stop()
        drip.stop()


def _served(obs: list[Observation], host: str) -> dict[str, Observation]:
    served: dict[str, Observation] = {}
    for o in obs:
        if o.endpoint.host == host and o.level is EvidenceLevel.SERVED:
            assert o.location not in served, f"served twice: {o.location}"
            served[o.location] = o
    return served


def test_runaway_servers_end_within_bounds_and_keep_the_ordinary_files(
        runaway: tuple[Any, Any, Any], scope_for: Any, run_collect: Any) -> None:
    http, ftp, drip = runaway
    records, _ = run_collect(scope_for([http.url, ftp.url, drip.url], **LIMITS), timeout=120)
    for record in records:  # every record can go into the ledger as it is
        rfc8785.dumps(record.entry())
    obs = [r for r in records if isinstance(r, Observation)]
    refusals = [r for r in records if isinstance(r, Refusal)]
    h, f = http.url.rstrip("/"), ftp.url.rstrip("/")

    def one(location: str) -> Observation:
        found = [o for o in obs if o.location == location]
        assert len(found) == 1, (location, [(o.location, o.reason) for o in found])
        return found[0]

    # numbers from the wire: recorded, never stored as numbers, never ending the walk
    huge = one(h + "/huge-length.bin")
    assert huge.outcome is Outcome.SKIPPED and huge.size is None
    assert "9007199254740993" in (huge.reason or "") and "not a plausible size" in huge.reason
    liar = one(f + "/liar23.bin")
    assert liar.details["listed_size"] is None and liar.details["announced_size"] is None
    assert liar.size == 500 and liar.level is EvidenceLevel.SERVED  # what was really sent

    # drips: the phase time limit ends them (the read timeout never trips at 0.3 s a byte)
    header = one(h + "/header-drip.bin")
    assert header.outcome is Outcome.ERROR and "after 2 s (the phase time limit" in header.reason
    banner = [o for o in obs if o.endpoint.host == DRIP_FTP_HOST]
    assert len(banner) == 1 and banner[0].outcome is Outcome.ERROR
    assert banner[0].reason == ("server banner not finished after 2 s (the phase time limit); "
                                "abandoned")

    # loops: each loop directory recorded once as a loop, each file served exactly once
    for base in (h, f):
        for loop in ("/loop/self/", "/loop/sub/up/"):
            o = one(base + loop)
            assert o.outcome is Outcome.SKIPPED and "a loop" in o.reason, o.reason
            assert o.reason.endswith(f"{base}/loop/: a loop (a link back up the tree); "
                                     "not walked again")
    for host in (HTTP_HOST, FTP_HOST):
        served = _served(obs, host)
        base = h if host == HTTP_HOST else f
        expected = {base + "/ok.bin": payload("/ok.bin", RUNAWAY_FILES["/ok.bin"]),
                    base + "/loop/file.bin": payload("loop/file.bin", LOOP_FILES["file.bin"]),
                    base + "/loop/sub/x.bin": payload("loop/x.bin", LOOP_FILES["x.bin"])}
        if host == FTP_HOST:
            expected[base + "/liar23.bin"] = payload("/liar23.bin", 500)
        assert set(served) == set(expected)
        for location, data in expected.items():
            assert served[location].digests["sha256"] == hashlib.sha256(data).hexdigest()

    # floods: every entry counts against the budget, so the walk stops at it; unsafe names
    # beyond 100 per listing are counted on the directory, not recorded one by one
    for host in (HTTP_HOST, FTP_HOST):
        mine = [o for o in obs if o.endpoint.host == host]
        budget = [o for o in mine if o.reason and f"more than {BUDGET} entries" in o.reason]
        assert len(budget) == 1, host
        listings = [o for o in mine if o.details.get("type") == "dir"]
        assert len(mine) <= len(listings) * 101 + 10, (host, len(mine), len(listings))
        # with 303 entries a page and a 2000 budget, at most 7 pages' entries were looked at
        unsafe = [o for o in mine if "unsafe name" in (o.reason or "")
                  or "path traversal" in (o.reason or "")]
        assert 0 < len(unsafe) <= 7 * 100
    def listing(location: str) -> Observation:
        found = [o for o in obs if o.location == location and o.details.get("type") == "dir"]
        assert len(found) == 1, location
        return found[0]

    flood_ftp = listing(f + "/flood/")
    assert flood_ftp.details["unsafe_names"] == FLOOD
    assert flood_ftp.details["unsafe_names_not_recorded"] == FLOOD - 100
    flood_http = listing(h + "/flood/")
    assert flood_http.details["link_records_not_kept"] == FLOOD + 1 - 100  # + the outside link

    # nothing out of scope was contacted: the flood's outside link is refused (and counted)
    assert all(r.target == "http://10.0.0.3/flood.bin" for r in refusals)
    assert not [o for o in obs if o.endpoint.host not in (HTTP_HOST, FTP_HOST, DRIP_FTP_HOST)]


def test_real_pyftpdlib_symlink_loops_serve_each_file_once(tmp_path: Path, scope_for: Any,
                                                           run_collect: Any) -> None:
    """pyftpdlib lists ``self -> .`` and ``sub/up -> ..`` in MLSD as directories (it follows
    links): the RFC 3659 ``unique`` fact (the root's asked with MLST) tells they are the root."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    files = {"/ok.bin": os.urandom(1000), "/sub/x.bin": os.urandom(300)}
    for path, data in files.items():
        (root / path.lstrip("/")).write_bytes(data)
    os.symlink(".", root / "self")
    os.symlink("..", root / "sub" / "up")
    server = serve_ftp(root, LOOP_FTP_HOST)
    try:
        records, _ = run_collect(scope_for([server.url], **LIMITS), timeout=120)
    finally:
        server.stop()
    obs = [r for r in records if isinstance(r, Observation)]
    base = server.url.rstrip("/")
    served = _served(obs, LOOP_FTP_HOST)
    assert set(served) == {base + p for p in files}
    for path, data in files.items():
        assert served[base + path].digests["sha256"] == hashlib.sha256(data).hexdigest()
    loops = {o.location: o.reason for o in obs if "a loop or an alias" in (o.reason or "")}
    assert set(loops) == {base + "/self/", base + "/sub/up/"}
    assert all(r.startswith(f"same directory as {base}/ (RFC 3659 unique fact")
               for r in loops.values())
    assert not [o for o in obs if o.outcome is Outcome.ERROR]
