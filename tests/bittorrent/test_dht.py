"""DHT: get_peers through real libtorrent DHT nodes, and a hostile node pointing outside."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
from pathlib import Path

import pytest

from netwarden.codec.bencode import decode, encode
from netwarden.collect.bittorrent.dht import get_peers
from netwarden.records import EvidenceLevel, Observation, Refusal

from .conftest import make_scope, peer_obs, run_collectors
from .swarm import Seeder, free_port, make_torrent

DHT_SETTINGS = {"dht_restrict_routing_ips": False, "dht_restrict_search_ips": False,
                "dht_enforce_node_id": False, "dht_prefer_verified_node_ids": False,
                "dht_bootstrap_nodes": "", "dht_ignore_dark_internet": False}


@pytest.mark.slow
def test_dht_walk_finds_libtorrent_seeder(tmp_path: Path) -> None:
    torrent = make_torrent(tmp_path, "film", 100_000)
    nodes: list[Seeder] = []
    try:
        for i in range(3):
            host = f"127.77.2.{i + 1}"
            nodes.append(Seeder(host, free_port(host, socket.SOCK_DGRAM), dht=True,
                                extra=DHT_SETTINGS))
        for a in nodes:
            for b in nodes:
                if a is not b:
                    a.session.add_dht_node((b.host, b.port))
        seeder = nodes[1]
        handle = seeder.seed(torrent)
        seeder.wait_seeding()
        scope = make_scope([{"url": f"bittorrent://{nodes[0].host}:{nodes[0].port}",
                             "kind": "dht", "dht_timeout": 3}])
        records: list = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the seeder's announce_peer has landed
            handle.force_dht_announce()
            time.sleep(0.2)
            records = asyncio.run(run_collectors(scope, [torrent.reference()]))
            if peer_obs(records, seeder.host):
                break
    finally:
        for n in nodes:
            n.close()
    served = peer_obs(records, seeder.host)
    assert served and served[0].level is EvidenceLevel.SERVED, served
    walk = [r for r in records if isinstance(r, Observation) and r.method == "bt-dht-get-peers"]
    assert walk and walk[0].details["walks"][0]["responses"] >= 1


def test_hostile_dht_node_cannot_lead_us_outside() -> None:
    """A node answering with nodes and peers outside the scope: refused, never contacted."""
    trap_hits = 0

    class Trap(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):  # type: ignore[no-untyped-def]
            nonlocal trap_hits
            trap_hits += 1

    class Hostile(asyncio.DatagramProtocol):
        def __init__(self, trap_port: int) -> None:
            self.trap_port = trap_port

        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            self.transport = transport

        def datagram_received(self, data, addr):  # type: ignore[no-untyped-def]
            query = decode(data)
            out = bytes([127, 0, 0, 1]) + struct.pack(">H", self.trap_port)
            nodes = os.urandom(20) + out + os.urandom(20) + bytes([127, 0, 0, 9]) + b"\x1a\xe1"
            self.transport.sendto(b"garbage", addr)
            self.transport.sendto(encode({"t": query[b"t"], "y": "r", "r": {
                "id": os.urandom(20), "token": b"x", "nodes": nodes,
                "values": [out, bytes([8, 8, 8, 8]) + b"\x1a\xe1"]}}), addr)

    async def go():  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        trap, _ = await loop.create_datagram_endpoint(Trap, local_addr=("127.0.0.1", 0))
        trap_port = trap.get_extra_info("sockname")[1]
        node, _ = await loop.create_datagram_endpoint(lambda: Hostile(trap_port),
                                                      local_addr=("127.77.2.9", 0))
        port = node.get_extra_info("sockname")[1]
        scope = make_scope([])
        try:
            walk = await get_peers(os.urandom(20), [(("127.77.2.9"), port)], scope.check,
                                   max_queries=5, timeout=3)
            records = await run_collectors(
                make_scope([{"url": f"bittorrent://127.77.2.9:{port}", "kind": "dht",
                             "dht_max_queries": 3, "dht_timeout": 2}]),
                [_ref()])
        finally:
            trap.close()
            node.close()
        return walk, records, trap_port

    walk, records, trap_port = asyncio.run(go())
    assert trap_hits == 0
    assert len(walk.refused_nodes) == 2 and walk.queries == 1
    assert {(p.host, p.port) for p in walk.peers} == {("127.0.0.1", trap_port),
                                                      ("8.8.8.8", 6881)}
    refused = {r.target for r in records if isinstance(r, Refusal)}
    assert {f"127.0.0.1:{trap_port}", "8.8.8.8:6881", "127.0.0.9:6881"} <= refused
    assert not [r for r in records if isinstance(r, Observation) and r.method == "bt-peer-wire"]


def _ref():  # type: ignore[no-untyped-def]
    import hashlib

    from netwarden.collect.references import TorrentReference

    info = encode({"name": "x", "piece length": 16384, "length": 16384, "pieces": os.urandom(20)})
    return TorrentReference("films", "film", "r1", "x", hashlib.sha1(info).hexdigest(), None,
                            info)
