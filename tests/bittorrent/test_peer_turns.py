"""Sessions with one peer on one torrent never overlap, even from different services.

Found with transmission-daemon (test_transmission.py): it accepts one connection per address
and torrent, so when the HTTP and the UDP tracker both listed it, the second, simultaneous
session was closed at the handshake and recorded as a failure of the peer. This fake peer
counts overlapping sessions instead of needing Transmission.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

from netwarden.codec.bencode import encode

from .conftest import make_scope, peer_obs, run_collectors
from .fakepeers import FakePeer, fake_peers, read_msg
from .swarm import MadeTorrent


class Overlap:
    now = 0
    peak = 0


async def one_at_a_time(peer: FakePeer, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
    """Claims every piece, never unchokes, and counts how many sessions are open at once."""
    Overlap.now += 1
    Overlap.peak = max(Overlap.peak, Overlap.now)
    try:
        writer.write(peer.all_pieces())
        await writer.drain()
        while True:
            await read_msg(reader)
    finally:
        Overlap.now -= 1


def test_same_peer_and_torrent_from_two_services_take_turns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    info = encode({"name": "x", "piece length": 16384, "length": 4 * 16384,
                   "pieces": os.urandom(80)})
    btih = hashlib.sha1(info).hexdigest()
    torrent = MadeTorrent(tmp_path, tmp_path, b"", info, btih, None, 16384, "x")

    async def go():  # type: ignore[no-untyped-def]
        peer = FakePeer("127.77.7.103", bytes.fromhex(btih), 4, one_at_a_time)
        async with fake_peers(peer):
            url = f"bittorrent://{peer.host}:{peer.port}"
            options = {"unchoke_timeout": 0.5, "read_timeout": 0.5}
            scope = make_scope([{"url": url, **options}, {"url": url, **options}],
                               per_host_concurrency=4)
            return await run_collectors(scope, [torrent.reference()]), peer.connections

    records, connections = asyncio.run(go())
    obs = peer_obs(records, "127.77.7.103")
    assert len(obs) == 2 and connections == 2
    assert all("never unchoked" in (o.reason or "") for o in obs), [o.reason for o in obs]
    assert Overlap.peak == 1
    starts = sorted(o.details["contact"]["started_monotonic_ns"] for o in obs)
    ends = sorted(o.details["contact"]["ended_monotonic_ns"] for o in obs)
    assert starts[1] >= ends[0] + 1.4e9  # the second began ≥ 1.5 s after the first ended
