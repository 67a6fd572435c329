"""End to end: real opentracker + real libtorrent seeders + hostile peers, on loopback.

The audit must report exactly the honest seeders as served, the liar as contacted with a failed
verification, the silent/stalling/flooding peers as contacted, the peer outside the scope as
refused (and never contacted), and flag the tracker at the operator's infrastructure address.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from netwarden.collect.bittorrent.metainfo import parse_info
from netwarden.records import EvidenceLevel, Observation, Refusal

from .conftest import make_scope, peer_obs, run_collectors
from .fakepeers import (
    FakePeer,
    announce_from,
    fake_peers,
    keepalive_flood,
    liar,
    silent,
    staller,
)
from .swarm import make_torrent, opentracker, seeders

pytestmark = pytest.mark.slow

TRACKER = "127.77.0.10"


def _scrape_complete(tracker: tuple[str, int], info_hash: bytes) -> int:
    from urllib.parse import quote_from_bytes

    from netwarden.collect.bittorrent.tracker_http import parse_scrape

    with socket.create_connection(tracker, timeout=5) as s:
        s.sendall(f"GET /scrape?info_hash={quote_from_bytes(info_hash, safe='')} HTTP/1.0"
                  "\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    body = data.split(b"\r\n\r\n", 1)[1]
    return parse_scrape(body, info_hash).complete or 0


def test_swarm_audit(tmp_path: Path) -> None:
    torrent = make_torrent(tmp_path, "film", 400_000, piece_length=32 * 1024)
    meta = parse_info(torrent.info)
    ih = bytes.fromhex(torrent.btih)
    with opentracker(tmp_path / "tracker", [torrent.btih], TRACKER) as port:
        announce = f"http://{TRACKER}:{port}/announce"
        with seeders(2, [torrent], trackers=[announce]) as honest:
            outsider = socket.socket()
            outsider.bind(("127.0.0.1", 0))
            outsider.listen(8)
            outsider.setblocking(False)
            outsider_port = outsider.getsockname()[1]
            try:
                records, fakes = asyncio.run(_audit(torrent, meta, ih, port, outsider_port))
                # The peer outside the scope never saw a connection.
                with pytest.raises(BlockingIOError):
                    outsider.accept()
            finally:
                outsider.close()

    hosts = {s.host for s in honest}
    for host in hosts:
        obs = peer_obs(records, host)
        assert obs, f"honest seeder {host} not observed"
        for o in obs:
            assert o.level is EvidenceLevel.SERVED, o.reason
            assert o.protocol_check and o.protocol_check.verdict == "verified"
            assert o.digests == {"btih": torrent.btih}
            contact = o.details["contact"]
            assert contact["client"].startswith("libtorrent")
            assert contact["client_v"] == "libtorrent-test"
            assert contact["claimed"] == meta.piece_count
            assert len(contact["pieces_requested"]) == 1
            # one piece, not the film: bytes received ≤ 1.1 × piece length
            assert contact["bytes_received"] <= 1.1 * torrent.piece_length + 2048
            assert len(contact["transcript_sha256"]) == 64
            assert o.details["operator_tracker"] is True
    lie, quiet, stall, flood = fakes
    for o in peer_obs(records, lie.host):
        assert o.level is EvidenceLevel.CONTACTED
        assert o.protocol_check and o.protocol_check.verdict == "failed"
        assert "verification failed" in (o.reason or "")
    for peer, words in ((quiet, "never unchoked"), (stall, "stalled"), (flood, "keep-alives")):
        obs = peer_obs(records, peer.host)
        assert obs, peer.host
        for o in obs:
            assert o.level is EvidenceLevel.CONTACTED, (peer.host, o.reason)
            assert o.protocol_check and o.protocol_check.verdict == "unverified"
            assert words in o.reason, o.reason
    refusals = [r for r in records if isinstance(r, Refusal)]
    assert f"127.0.0.1:{outsider_port}" in {r.target for r in refusals}
    assert not [r for r in records if isinstance(r, Observation)
                and r.endpoint.host == "127.0.0.1"]
    trackers = [r for r in records if isinstance(r, Observation)
                and r.method.startswith("bt-tracker")]
    assert {t.method for t in trackers} == {"bt-tracker-http-announce", "bt-tracker-udp-announce"}
    for t in trackers:
        assert t.operator_infrastructure is True
        assert t.details["operator_tracker"] is True
        assert t.level is EvidenceLevel.LISTED


async def _audit(torrent, meta, ih, port, outsider_port):  # type: ignore[no-untyped-def]
    peers = [FakePeer(f"127.77.3.{i + 1}", ih, meta.piece_count, b)
             for i, b in enumerate((liar, silent, staller, keepalive_flood))]
    async with fake_peers(*peers):
        loop = asyncio.get_running_loop()
        for p in peers:
            await loop.run_in_executor(None, announce_from, p.host, (TRACKER, port), ih, p.port)
        await loop.run_in_executor(None, announce_from, "127.0.0.1", (TRACKER, port), ih,
                                   outsider_port)
        for _ in range(100):  # the libtorrent seeders announce on their own
            if await loop.run_in_executor(None, _scrape_complete, (TRACKER, port), ih) >= 7:
                break
            await asyncio.sleep(0.1)
        options = {"unchoke_timeout": 2, "read_timeout": 2, "peer_timeout": 15}
        scope = make_scope([
            {"url": f"http://{TRACKER}:{port}/announce", "kind": "bittorrent-tracker", **options},
            {"url": f"udp://{TRACKER}:{port}", **options},
        ])
        records = await run_collectors(scope, [torrent.reference()])
        return records, peers

