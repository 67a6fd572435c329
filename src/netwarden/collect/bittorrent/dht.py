"""BEP 5 ``get_peers`` and BEP 51 ``sample_infohashes`` through the DHT, inside the scope only.

Why bounded and scoped: the DHT is the whole Internet; an audit may only talk to nodes inside
the authorized prefixes. The walk starts from in-scope bootstrap nodes; every node learnt from
a response goes through the scope check before it is queried (outside: recorded as refused,
never contacted); the walk stops after ``max_queries`` queries or ``timeout`` seconds, whichever
comes first. Responses are bencoded KRPC decoded with small bounds; parsing is separate
from I/O (:func:`parse_response`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netwarden.codec.bencode import BencodeError, decode, encode
from netwarden.collect.bittorrent.tracker_http import PeerAddress, compact_peers
from netwarden.scope import Decision

MAX_DATAGRAM = 8192
MAX_SAMPLES = 400  # per response: more than a datagram can carry (BEP 51 nodes send ~20)
MAX_SAMPLED = 100_000  # distinct infohashes one sampling walk keeps
ALPHA = 4  # concurrent queries


class KrpcError(ValueError):
    """A datagram that is not a usable KRPC response."""


@dataclass(frozen=True)
class Response:
    tid: bytes
    node_id: bytes
    peers: list[PeerAddress]
    nodes: list[tuple[bytes, str, int]]  # (id, host, port)
    samples: list[bytes] = field(default_factory=list)  # BEP 51: infohashes the node stores
    num: int | None = None  # BEP 51: how many infohashes the node says it stores


def compact_nodes(data: bytes) -> list[tuple[bytes, str, int]]:
    out = []
    for off in range(0, len(data) - len(data) % 26, 26):
        nid = data[off:off + 20]
        host = str(ipaddress.IPv4Address(data[off + 20:off + 24]))
        (port,) = struct.unpack(">H", data[off + 24:off + 26])
        if port:
            out.append((nid, host, port))
    return out


def parse_response(data: bytes) -> Response:
    """A KRPC ``get_peers`` response (``values`` and/or ``nodes``)."""
    try:
        msg = decode(data, max_size=MAX_DATAGRAM, max_depth=6, max_int_digits=20, strict=False)
    except BencodeError as exc:
        raise KrpcError(str(exc)) from None
    if not isinstance(msg, dict) or not isinstance(msg.get(b"t"), bytes):
        raise KrpcError("not a KRPC message")
    if msg.get(b"y") == b"e":
        raise KrpcError(f"KRPC error {msg.get(b'e')!r}"[:200])
    r = msg.get(b"r")
    if msg.get(b"y") != b"r" or not isinstance(r, dict):
        raise KrpcError("not a KRPC response")
    node_id = r.get(b"id")
    if not isinstance(node_id, bytes) or len(node_id) != 20:
        raise KrpcError("response without a 20-byte node id")
    peers: list[PeerAddress] = []
    values = r.get(b"values", [])
    if isinstance(values, list):
        for v in values[:1000]:
            if isinstance(v, bytes) and len(v) in (6, 18):
                peers.extend(compact_peers(v, ipv6=len(v) == 18)[0])
    nodes_raw = r.get(b"nodes", b"")
    nodes = compact_nodes(nodes_raw) if isinstance(nodes_raw, bytes) else []
    raw_samples = r.get(b"samples", b"")
    samples: list[bytes] = []
    if isinstance(raw_samples, bytes):  # a trailing partial hash is dropped, never padded
        samples = [raw_samples[i:i + 20]
                   for i in range(0, min(len(raw_samples), 20 * MAX_SAMPLES) - 19, 20)]
    num = r.get(b"num")
    return Response(msg[b"t"], node_id, peers, nodes[:200], samples,
                    num if isinstance(num, int) and num >= 0 else None)


@dataclass
class Walk:
    """What a walk saw; ``refused_nodes`` were outside the scope and never queried."""

    queries: int = 0
    responses: int = 0
    errors: int = 0
    peers: list[PeerAddress] = field(default_factory=list)
    refused_nodes: list[tuple[tuple[str, int], str]] = field(default_factory=list)
    stopped_by: str = "exhausted"
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"queries": self.queries, "responses": self.responses, "errors": self.errors,
                "peers": len(self.peers), "refused_nodes": len(self.refused_nodes),
                "stopped_by": self.stopped_by, "seconds": round(self.seconds, 3)}


class _Proto(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiters: dict[bytes, tuple[tuple[str, int], asyncio.Future[bytes]]] = {}

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        if len(data) > MAX_DATAGRAM:
            return
        try:
            msg = decode(data, max_size=MAX_DATAGRAM, max_depth=6, strict=False)
            tid = msg.get(b"t") if isinstance(msg, dict) else None
        except BencodeError:
            return
        waiter = self.waiters.get(tid) if isinstance(tid, bytes) else None
        if waiter and waiter[0] == (addr[0], addr[1]) and not waiter[1].done():
            waiter[1].set_result(data)


def _distance(a: bytes, b: bytes) -> int:
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


async def get_peers(info_hash: bytes, bootstrap: list[tuple[str, int]],
                    check: Callable[[str, int], Decision], max_queries: int = 200,
                    timeout: float = 20.0, query_timeout: float = 2.0) -> Walk:
    """Iterative ``get_peers`` from in-scope ``bootstrap`` nodes, bounded in queries and time."""
    walk = Walk()
    start = time.monotonic()
    deadline = start + timeout
    my_id = os.urandom(20)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Proto, local_addr=("0.0.0.0", 0))
    seen: set[tuple[str, int]] = set()
    candidates: list[tuple[int, str, int]] = []
    for host, port in bootstrap:
        decision = check(host, port)
        if decision:
            seen.add((host, port))
            candidates.append((0, host, port))
        else:
            walk.refused_nodes.append(((host, port), decision.reason))

    async def query(host: str, port: int) -> Response | None:
        tid = os.urandom(4)
        fut: asyncio.Future[bytes] = loop.create_future()
        proto.waiters[tid] = ((host, port), fut)
        transport.sendto(encode({"t": tid, "y": "q", "q": "get_peers",
                                 "a": {"id": my_id, "info_hash": info_hash}}), (host, port))
        walk.queries += 1
        try:
            left = max(0.01, min(query_timeout, deadline - time.monotonic()))
            data = await asyncio.wait_for(fut, left)
            response = parse_response(data)
            walk.responses += 1
            return response
        except (TimeoutError, KrpcError):
            walk.errors += 1
            return None
        finally:
            proto.waiters.pop(tid, None)

    try:
        while candidates:
            if walk.queries >= max_queries:
                walk.stopped_by = "max_queries"
                break
            if time.monotonic() >= deadline:
                walk.stopped_by = "timeout"
                break
            candidates.sort()
            batch = candidates[:min(ALPHA, max_queries - walk.queries)]
            del candidates[:len(batch)]
            results = await asyncio.gather(*(query(h, p) for _, h, p in batch))
            for response in results:
                if response is None:
                    continue
                for peer in response.peers:
                    if peer not in walk.peers and len(walk.peers) < 10_000:
                        walk.peers.append(peer)
                for nid, host, port in response.nodes:
                    if (host, port) in seen:
                        continue
                    seen.add((host, port))
                    decision = check(host, port)
                    if not decision:
                        if len(walk.refused_nodes) < 1000:
                            walk.refused_nodes.append(((host, port), decision.reason))
                        continue
                    candidates.append((_distance(nid, info_hash), host, port))
    finally:
        transport.close()
        walk.seconds = time.monotonic() - start
    return walk


@dataclass
class SampleWalk:
    """What a BEP 51 sampling walk saw: every in-scope node queried once, at most."""

    queries: int = 0
    responses: int = 0
    errors: int = 0
    samples: dict[bytes, int] = field(default_factory=dict)  # infohash -> nodes that sampled it
    stored_claimed: int = 0  # sum of the nodes' ``num``: what they say they store
    refused_nodes: list[tuple[tuple[str, int], str]] = field(default_factory=list)
    stopped_by: str = "exhausted"
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"queries": self.queries, "responses": self.responses, "errors": self.errors,
                "samples": len(self.samples), "stored_claimed": self.stored_claimed,
                "refused_nodes": len(self.refused_nodes), "stopped_by": self.stopped_by,
                "seconds": round(self.seconds, 3)}


async def sample_infohashes(bootstrap: list[tuple[str, int]],
                            check: Callable[[str, int], Decision], max_queries: int = 200,
                            timeout: float = 20.0, query_timeout: float = 2.0) -> SampleWalk:
    """BEP 51 ``sample_infohashes`` over the in-scope DHT: which torrents its nodes store.

    Why: a swarm the bank does not know is announced into the DHT, and a node keeps the
    infohashes announced to it; sampling every in-scope node once lists the torrents the
    operator's network offers without joining any swarm. Each node is asked once with a random
    target (BEP 51 asks not to re-query a node within its ``interval``); the nodes it returns
    are queried only after the scope check, like :func:`get_peers`; bounded in queries, time and
    the number of infohashes kept. A node that does not implement BEP 51 answers with an error
    or plain ``nodes``: counted, never fatal.
    """
    walk = SampleWalk()
    start = time.monotonic()
    deadline = start + timeout
    my_id = os.urandom(20)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(_Proto, local_addr=("0.0.0.0", 0))
    seen: set[tuple[str, int]] = set()
    queue: list[tuple[str, int]] = []
    for host, port in bootstrap:
        decision = check(host, port)
        if decision:
            seen.add((host, port))
            queue.append((host, port))
        else:
            walk.refused_nodes.append(((host, port), decision.reason))

    async def query(host: str, port: int) -> Response | None:
        tid = os.urandom(4)
        fut: asyncio.Future[bytes] = loop.create_future()
        proto.waiters[tid] = ((host, port), fut)
        transport.sendto(encode({"t": tid, "y": "q", "q": "sample_infohashes",
                                 "a": {"id": my_id, "target": os.urandom(20)}}), (host, port))
        walk.queries += 1
        try:
            left = max(0.01, min(query_timeout, deadline - time.monotonic()))
            response = parse_response(await asyncio.wait_for(fut, left))
            walk.responses += 1
            return response
        except (TimeoutError, KrpcError):
            walk.errors += 1
            return None
        finally:
            proto.waiters.pop(tid, None)

    try:
        while queue:
            if walk.queries >= max_queries:
                walk.stopped_by = "max_queries"
                break
            if time.monotonic() >= deadline:
                walk.stopped_by = "timeout"
                break
            batch = queue[:min(ALPHA, max_queries - walk.queries)]
            del queue[:len(batch)]
            for response in await asyncio.gather(*(query(h, p) for h, p in batch)):
                if response is None:
                    continue
                walk.stored_claimed += response.num or 0
                for sample in response.samples:
                    if sample in walk.samples:
                        walk.samples[sample] += 1
                    elif len(walk.samples) < MAX_SAMPLED:
                        walk.samples[sample] = 1
                for _nid, host, port in response.nodes:
                    if (host, port) in seen:
                        continue
                    seen.add((host, port))
                    decision = check(host, port)
                    if not decision:
                        if len(walk.refused_nodes) < 1000:
                            walk.refused_nodes.append(((host, port), decision.reason))
                        continue
                    queue.append((host, port))
    finally:
        transport.close()
        walk.seconds = time.monotonic() - start
    return walk
