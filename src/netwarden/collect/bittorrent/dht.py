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
from typing import Any, Protocol

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


class _Counts(Protocol):
    queries: int
    responses: int
    errors: int
    refused_nodes: list[tuple[tuple[str, int], str]]


class _Krpc:
    """One UDP socket asking in-scope DHT nodes one KRPC query each, bounded by a deadline.

    Shared by both walks: :meth:`ask` sends a query and waits (at most ``query_timeout``, never
    past the walk's deadline) for the answer from that very address; :meth:`admit` passes nodes
    an answer named through the scope check once each (outside: recorded, never queried).
    """

    def __init__(self, walk: _Counts, check: Callable[[str, int], Decision], deadline: float,
                 query_timeout: float) -> None:
        self.walk, self.check = walk, check
        self.deadline, self.query_timeout = deadline, query_timeout
        self.my_id = os.urandom(20)
        self.seen: set[tuple[str, int]] = set()
        self.transport: asyncio.DatagramTransport | None = None
        self.proto = _Proto()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self.proto,
                                                                local_addr=("0.0.0.0", 0))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def spent(self, max_queries: int) -> str | None:
        """Why the walk must stop now (``max_queries`` or ``timeout``), or None."""
        if self.walk.queries >= max_queries:
            return "max_queries"
        if time.monotonic() >= self.deadline:
            return "timeout"
        return None

    def admit(self, host: str, port: int) -> bool:
        """True the first time an in-scope node is named; a node outside is refused once."""
        if (host, port) in self.seen:
            return False
        self.seen.add((host, port))
        decision = self.check(host, port)
        if not decision:
            if len(self.walk.refused_nodes) < 1000:
                self.walk.refused_nodes.append(((host, port), decision.reason))
            return False
        return True

    async def ask(self, host: str, port: int, query: str, args: dict[str, Any]
                  ) -> Response | None:
        assert self.transport is not None, "open() first"
        tid = os.urandom(4)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.proto.waiters[tid] = ((host, port), fut)
        self.transport.sendto(encode({"t": tid, "y": "q", "q": query,
                                      "a": {"id": self.my_id, **args}}), (host, port))
        self.walk.queries += 1
        try:
            left = max(0.01, min(self.query_timeout, self.deadline - time.monotonic()))
            response = parse_response(await asyncio.wait_for(fut, left))
            self.walk.responses += 1
            return response
        except (TimeoutError, KrpcError):
            self.walk.errors += 1
            return None
        finally:
            self.proto.waiters.pop(tid, None)


def _distance(a: bytes, b: bytes) -> int:
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


async def get_peers(info_hash: bytes, bootstrap: list[tuple[str, int]],
                    check: Callable[[str, int], Decision], max_queries: int = 200,
                    timeout: float = 20.0, query_timeout: float = 2.0) -> Walk:
    """Iterative ``get_peers`` from in-scope ``bootstrap`` nodes, bounded in queries and time."""
    walk = Walk()
    start = time.monotonic()
    krpc = _Krpc(walk, check, start + timeout, query_timeout)
    await krpc.open()
    candidates = [(0, h, p) for h, p in bootstrap if krpc.admit(h, p)]
    try:
        while candidates:
            if why := krpc.spent(max_queries):
                walk.stopped_by = why
                break
            candidates.sort()
            batch = candidates[:min(ALPHA, max_queries - walk.queries)]
            del candidates[:len(batch)]
            for response in await asyncio.gather(*(
                    krpc.ask(h, p, "get_peers", {"info_hash": info_hash}) for _, h, p in batch)):
                if response is None:
                    continue
                for peer in response.peers:
                    if peer not in walk.peers and len(walk.peers) < 10_000:
                        walk.peers.append(peer)
                candidates += [(_distance(nid, info_hash), h, p)
                               for nid, h, p in response.nodes if krpc.admit(h, p)]
    finally:
        krpc.close()
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
    krpc = _Krpc(walk, check, start + timeout, query_timeout)
    await krpc.open()
    queue = [(h, p) for h, p in bootstrap if krpc.admit(h, p)]
    try:
        while queue:
            if why := krpc.spent(max_queries):
                walk.stopped_by = why
                break
            batch = queue[:min(ALPHA, max_queries - walk.queries)]
            del queue[:len(batch)]
            for response in await asyncio.gather(*(
                    krpc.ask(h, p, "sample_infohashes", {"target": os.urandom(20)})
                    for h, p in batch)):
                if response is None:
                    continue
                walk.stored_claimed += response.num or 0
                for sample in response.samples:
                    if sample in walk.samples:
                        walk.samples[sample] += 1
                    elif len(walk.samples) < MAX_SAMPLED:
                        walk.samples[sample] = 1
                queue += [(h, p) for _nid, h, p in response.nodes if krpc.admit(h, p)]
    finally:
        krpc.close()
        walk.seconds = time.monotonic() - start
    return walk
