"""Interop with a second real client: Debian's transmission-daemon as the seeder.

libtorrent is not the only client subscribers run. Transmission differs where it matters to
the collector: its own peer id (``-TR3000-``), BEP 10 ``v``, fast extension bits, and an
unchoke that comes only on its 10 s rechoke round (this found a bug: the session gave up at the
10 s per-message read timeout; see test_unchoke_wait.py). Each test starts its own daemon
(foreground, own config dir, RPC on loopback) and stops it at the end.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import time
from pathlib import Path

import pytest

from netwarden.banks import BankStore
from netwarden.collect.bittorrent.metainfo import parse_info
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.pipeline import run_audit
from netwarden.records import EvidenceLevel
from netwarden.store import open_store

from .conftest import make_scope, peer_obs, run_collectors
from .swarm import make_torrent, opentracker, seeders, transmission_seeder

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("transmission-daemon") is None,
                       reason="transmission-daemon not installed "
                              "(apt-get install -y transmission-daemon)"),
]

TRACKER = "127.77.0.10"


def _assert_transmission_served(obs, torrent) -> None:  # type: ignore[no-untyped-def]
    assert obs.level is EvidenceLevel.SERVED, obs.reason
    assert obs.protocol_check is not None and obs.protocol_check.verdict == "verified"
    assert obs.protocol_check.method == "bt-piece-sha1"
    contact = obs.details["contact"]
    # Azureus-style peer id -TR3000- (Transmission 3.00) and its BEP 10 "v"
    assert bytes.fromhex(contact["peer_id"])[:8] == b"-TR3000-"
    assert contact["client"] == "Transmission 3.0.0.0"
    assert contact["client_v"] == "Transmission 3.00"
    assert contact["fast"] is True
    assert [p["result"] for p in contact["pieces"]] == ["verified"]
    assert contact["claimed"] == parse_info(torrent.info).piece_count
    assert contact["bytes_received"] <= 1.1 * torrent.piece_length + 2048


def test_transmission_known_peer(tmp_path: Path) -> None:
    """Served from Transmission as a known peer: a single-file .torrent, and a multi-file
    torrent known only by its infohash (the info dictionary comes from Transmission, BEP 9)."""
    single = make_torrent(tmp_path, "film", 300_000, piece_length=32 * 1024)
    multi = make_torrent(tmp_path, "series", 400_000, piece_length=32 * 1024, files=3)
    # (a service contacts one torrent after the other, each after a 10 s rechoke round)
    with transmission_seeder(tmp_path, [single, multi]) as tr:
        scope = make_scope([{"url": f"bittorrent://{tr.host}:{tr.port}"}])
        refs = [single.reference(ref_id="single"),
                multi.reference(with_info=False, ref_id="magnet")]
        records = asyncio.run(run_collectors(scope, refs))
        assert tr.proc.poll() is None, tr.log_tail()  # the daemon survived our sessions
    obs = {o.details["reference_id"]: o for o in peer_obs(records, tr.host)}
    assert set(obs) == {"single", "magnet"}
    _assert_transmission_served(obs["single"], single)
    _assert_transmission_served(obs["magnet"], multi)
    assert obs["magnet"].details["contact"]["metadata"] == "verified"  # BEP 9 from Transmission


def _scrape_complete(port: int, info_hash: bytes) -> int:
    from urllib.parse import quote_from_bytes

    from netwarden.collect.bittorrent.tracker_http import parse_scrape

    with socket.create_connection((TRACKER, port), timeout=5) as s:
        s.sendall(f"GET /scrape?info_hash={quote_from_bytes(info_hash, safe='')} HTTP/1.0"
                  "\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return parse_scrape(data.split(b"\r\n\r\n", 1)[1], info_hash).complete or 0


def _wait_swarm(port: int, info_hash: bytes, want: int, tr) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _scrape_complete(port, info_hash) >= want:
            return
        time.sleep(0.2)
    raise AssertionError(f"tracker has fewer than {want} seeders: {tr.torrents()}")


def test_audit_finds_transmission_through_opentracker(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A mixed swarm (Transmission + libtorrent) on opentracker, through ``run_audit``."""
    monkeypatch.setenv("NETWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NETWARDEN_DB", raising=False)
    torrent = make_torrent(tmp_path, "film", 300_000, piece_length=32 * 1024)
    store = open_store()
    init_key()
    banks = BankStore(store)
    assert banks.import_file("films", "film", "torrent", torrent.path).added >= 1
    with opentracker(tmp_path / "tracker", [torrent.btih], TRACKER) as port:
        announce = f"http://{TRACKER}:{port}/announce"
        with transmission_seeder(tmp_path, [torrent], trackers=[announce]) as tr, \
                seeders(1, [torrent], base="127.77.7.1", trackers=[announce]) as (lt_seeder,):
            assert tr.host != lt_seeder.host
            _wait_swarm(port, bytes.fromhex(torrent.btih), 2, tr)
            scope = make_scope([{"url": announce, "kind": "bittorrent-tracker"},
                                {"url": f"udp://{TRACKER}:{port}"}])
            ledger = Ledger.open(store)
            result = run_audit(scope, tmp_path / "run", banks, ledger=ledger, store=store,
                               banks=["films"])
            assert tr.proc.poll() is None, tr.log_tail()
    by_host: dict[str, list] = {}
    for f in result.findings:
        by_host.setdefault(f.host, []).append(f)
    # found once through each tracker (HTTP and UDP), served both times
    assert [f.evidence_level.value for f in by_host[tr.host]] == ["served", "served"]
    assert [f.evidence_level.value for f in by_host[lt_seeder.host]] == ["served", "served"]
    assert [(f.evidence_level.value, f.operator_infrastructure) for f in by_host[TRACKER]] \
        == [("listed", True)] * 2
    # the ledger's observation behind each Transmission finding names the client
    for f in by_host[tr.host]:
        entry = json.loads(ledger.entry(f.ledger["observation"]["index"]))
        contact = entry["details"]["contact"]
        assert contact["client"] == "Transmission 3.0.0.0"
        assert contact["client_v"] == "Transmission 3.00"
        assert entry["details"]["operator_tracker"] is True
    for f in by_host[lt_seeder.host]:
        entry = json.loads(ledger.entry(f.ledger["observation"]["index"]))
        assert entry["details"]["contact"]["client"].startswith("libtorrent")
    lines = (tmp_path / "run" / "findings.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["host"] for line in lines} == {tr.host, lt_seeder.host, TRACKER}
    assert ledger.verify().ok
    store.close()
