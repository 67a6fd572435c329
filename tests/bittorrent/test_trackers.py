"""Tracker clients against real opentracker and against hostile trackers."""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

import pytest

from netwarden.codec.bencode import encode
from netwarden.collect.bittorrent.tracker_http import (
    TrackerError,
    announce,
    parse_announce,
    scrape,
)
from netwarden.collect.bittorrent.tracker_udp import UdpTracker
from netwarden.records import Observation, Outcome, Refusal

from .conftest import make_scope, run_collectors
from .fakepeers import announce_from
from .swarm import make_torrent, opentracker


@pytest.mark.slow
def test_http_and_udp_against_opentracker(tmp_path: Path) -> None:
    ih = os.urandom(20)
    with opentracker(tmp_path, [ih.hex()], "127.77.0.20") as port:
        announce_from("127.77.5.1", ("127.77.0.20", port), ih, 7001)
        announce_from("127.77.5.2", ("127.77.0.20", port), ih, 7002, left=5)

        async def go():  # type: ignore[no-untyped-def]
            me = b"-NW0100-" + os.urandom(12)
            http = await announce(f"http://127.77.0.20:{port}/announce", ih, me, 5)
            sc = await scrape(f"http://127.77.0.20:{port}/announce", ih, 5)
            udp = UdpTracker("127.77.0.20", port)
            u = await udp.announce(ih, me)
            us = await udp.scrape(ih)
            await udp.announce(ih, me, event="stopped")
            return http, sc, u, us

        http, sc, u, us = asyncio.run(go())
    listed = {(p.host, p.port) for p in http.peers}
    assert {("127.77.5.1", 7001), ("127.77.5.2", 7002)} <= listed
    assert {("127.77.5.1", 7001), ("127.77.5.2", 7002)} <= {(p.host, p.port) for p in u.peers}
    assert sc is not None and sc.complete == 1 and sc.incomplete >= 1
    assert us.complete == 1 and u.complete == 1
    assert http.response_sha256 and len(http.response_sha256) == 64


async def _http_server(host: str, body_writer):  # type: ignore[no-untyped-def]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await body_writer(writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, 0)
    return server, server.sockets[0].getsockname()[1]


def test_gigabyte_tracker_response_is_cut() -> None:
    """A tracker that streams without end is cut at the limit, in bounded time and memory."""
    sent = 0

    async def endless(writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nd5:peers999999999:")
        chunk = b"\x7f\x4d\x00\x01\x1a\xe1" * 10_000
        while sent < 2 * 1024**3:
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()

    async def go() -> str:
        server, port = await _http_server("127.77.6.1", endless)
        try:
            with pytest.raises(TrackerError) as info:
                await announce(f"http://127.77.6.1:{port}/announce", os.urandom(20),
                               os.urandom(20), 10, max_bytes=1024 * 1024)
            return str(info.value)
        finally:
            server.close()

    assert "exceeds" in asyncio.run(go())
    assert sent < 64 * 1024 * 1024


def test_declared_huge_response_refused_before_reading() -> None:
    async def liar(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000000\r\n\r\nd")
        await writer.drain()
        await asyncio.sleep(5)

    async def go() -> str:
        server, port = await _http_server("127.77.6.2", liar)
        try:
            with pytest.raises(TrackerError) as info:
                await announce(f"http://127.77.6.2:{port}/a", os.urandom(20), os.urandom(20), 3)
            return str(info.value)
        finally:
            server.close()

    assert "5000000000" in asyncio.run(go())


def test_tracker_outside_scope_peers_refused_and_redirect_not_followed() -> None:
    """Peers outside the prefixes are refusals; a redirect is an error, never followed."""
    outside_hits = 0

    async def outside(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal outside_hits
        outside_hits += 1
        writer.close()

    async def go():  # type: ignore[no-untyped-def]
        trap = await asyncio.start_server(outside, "127.0.0.1", 0)
        trap_port = trap.sockets[0].getsockname()[1]
        peers = (bytes([127, 0, 0, 1]) + struct.pack(">H", trap_port)
                 + bytes([10, 1, 2, 3]) + struct.pack(">H", 6881))

        async def reply(writer: asyncio.StreamWriter) -> None:
            body = encode({"interval": 60, "peers": peers,
                           "peers6": bytes(15) + b"\x01" + struct.pack(">H", 6881)})
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()

        async def redirect(writer: asyncio.StreamWriter) -> None:
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{trap_port}/x\r\n"
                         "Content-Length: 0\r\n\r\n".encode())
            await writer.drain()

        server, port = await _http_server("127.77.6.3", reply)
        server2, port2 = await _http_server("127.77.6.4", redirect)
        torrent_ref = _ref()
        scope = make_scope([
            {"url": f"http://127.77.6.3:{port}/announce", "kind": "bittorrent-tracker"},
            {"url": f"http://127.77.6.4:{port2}/announce", "kind": "bittorrent-tracker"},
        ], infrastructure=())
        try:
            return await run_collectors(scope, [torrent_ref])
        finally:
            for s in (server, server2, trap):
                s.close()

    records = asyncio.run(go())
    refused = {r.target for r in records if isinstance(r, Refusal)}
    assert len(refused) == 3 and "10.1.2.3:6881" in refused and "[::1]:6881" in refused
    assert outside_hits == 0
    errors = [r for r in records if isinstance(r, Observation) and r.outcome is Outcome.ERROR]
    assert len(errors) == 1 and "HTTP 302" in (errors[0].reason or "")
    assert all(not r.operator_infrastructure for r in records if isinstance(r, Observation))


def _ref():  # type: ignore[no-untyped-def]
    from netwarden.collect.references import TorrentReference

    info = encode({"name": "x", "piece length": 16384, "length": 16384,
                   "pieces": os.urandom(20)})
    import hashlib

    return TorrentReference("films", "film", "r1", "x", hashlib.sha1(info).hexdigest(), None,
                            info)


def test_udp_tracker_silent_and_garbage() -> None:
    class Garbage(asyncio.DatagramProtocol):
        def connection_made(self, transport):  # type: ignore[no-untyped-def]
            self.transport = transport

        def datagram_received(self, data, addr):  # type: ignore[no-untyped-def]
            self.transport.sendto(os.urandom(3), addr)  # too short, wrong id
            tid = data[12:16]
            self.transport.sendto(struct.pack(">I", 3) + tid + b"go away", addr)

    async def go():  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        t, _ = await loop.create_datagram_endpoint(Garbage, local_addr=("127.77.6.5", 0))
        port = t.get_extra_info("sockname")[1]
        try:
            with pytest.raises(TrackerError) as garbage:
                await UdpTracker("127.77.6.5", port, timeout=0.5).announce(os.urandom(20),
                                                                          os.urandom(20))
        finally:
            t.close()
        silent_t, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                          local_addr=("127.77.6.6", 0))
        port = silent_t.get_extra_info("sockname")[1]
        started = loop.time()
        try:
            with pytest.raises(TrackerError) as silent:
                await UdpTracker("127.77.6.6", port, timeout=0.3, tries=2).announce(
                    os.urandom(20), os.urandom(20))
        finally:
            silent_t.close()
        return str(garbage.value), str(silent.value), loop.time() - started

    garbage, silent, took = asyncio.run(go())
    assert "go away" in garbage
    assert "no answer" in silent and took < 2


def test_parse_announce_dict_peers_and_failures() -> None:
    body = encode({"interval": 5, "peers": [
        {"ip": "127.77.1.1", "port": 6881, "peer id": b"x" * 20},
        {"ip": "tracker.example", "port": 1},  # names are never resolved: dropped
        {"ip": "127.77.1.2", "port": 0}, "junk"]})
    result = parse_announce(body)
    assert [(p.host, p.port) for p in result.peers] == [("127.77.1.1", 6881)]
    assert result.dropped == 3
    with pytest.raises(TrackerError, match="tracker failure: nope"):
        parse_announce(encode({"failure reason": "nope"}))
    with pytest.raises(TrackerError, match="not bencode"):
        parse_announce(b"<html>")
    _ = make_torrent  # (the swarm helpers are exercised by the slow tests)
