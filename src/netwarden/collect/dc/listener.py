"""The auditor's listening socket for active mode: peers connect to us after our CTM.

Why: two passive parties cannot connect, so a passive user's share can only be audited when
the auditor is active. We send ADC ``DCTM`` / NMDC ``$ConnectToMe`` through the hub and the
peer connects to our listener. Only connections we asked for are kept: an ADC connection must
carry a token we sent (``CINF TO``) from the CID we sent it to; an NMDC connection must name
(``$MyNick``) a user we sent ``$ConnectToMe`` to. Everything else is closed.

Bounds: the peer's address is checked against the scope before a byte is read (outside it the
connection is closed and recorded as a refusal); at most :data:`MAX_HANDSHAKES` handshakes at
once and :data:`MAX_INCOMING` connections per hub audit; each handshake must finish within the
read timeout. The protocol handshakes themselves live in the client modules
(:meth:`.adc_client.PeerConnection.accept`, :meth:`.nmdc_client.NmdcPeer.accept`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from netwarden.collect.dc import adc_proto as ap
from netwarden.collect.dc.errors import HubError
from netwarden.collect.dc.hub import Line

MAX_HANDSHAKES = 16  # incoming handshakes in progress at once
MAX_INCOMING = 10_000  # incoming connections accepted per hub audit
MAX_KEPT = 100  # refusals / failures kept for the record (the rest are counted)

# (line, is_expected) -> (key, connection): the protocol's listening-side handshake
Handshake = Callable[[Line, Callable[[str], bool]], Awaitable[tuple[str, Any]]]
ScopeCheck = Callable[[str], Any]  # host -> Decision (truthy when allowed)


@dataclass
class ListenerStats:
    """What happened on the listening socket, for the hub facts observation."""

    accepted: int = 0
    matched: int = 0
    unexpected: int = 0
    failed: int = 0
    over_limit: int = 0
    refused: list[tuple[str, int, str]] = field(default_factory=list)  # host, port, reason
    refused_count: int = 0
    failures: list[str] = field(default_factory=list)

    def as_details(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "matched": self.matched,
                "unexpected": self.unexpected, "failed": self.failed,
                "over_limit": self.over_limit, "refused_out_of_scope": self.refused_count,
                "failures": self.failures[:20]}


@dataclass
class _Waiter:
    future: asyncio.Future[Any]
    cid: str | None


class PeerListener:
    """Accepts the client-client connections our CTMs asked for, matched by token or nick."""

    def __init__(self, host: str, port: int, *, check: ScopeCheck, handshake: Handshake,
                 read_timeout: float, sep: bytes = b"\n") -> None:
        self.host, self.requested_port = host, port
        self.check, self.handshake = check, handshake
        self.read_timeout, self.sep = read_timeout, sep
        self.stats = ListenerStats()
        self._server: asyncio.Server | None = None
        self._waiting: dict[str, _Waiter] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    async def start(self) -> None:
        """Bind and listen (``OSError`` when the address is not ours or the port is taken)."""
        self._server = await asyncio.start_server(self._client, self.host, self.requested_port,
                                                  limit=ap.MAX_LINE)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def connection(self, key: str, send: Callable[[], Awaitable[None]], timeout: float,
                         cid: str | None = None) -> Any:
        """Register ``key``, run ``send`` (the CTM), and wait for the matching connection."""
        if self._server is None:
            raise HubError("not listening")
        if key in self._waiting:
            raise HubError(f"a connection for {key[:64]!r} is already awaited")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[key] = _Waiter(fut, cid)
        try:
            await send()
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise HubError(f"the peer did not connect to {self.host}:{self.port} within "
                           f"{timeout:g} s of our connect-to-me") from None
        finally:
            self._waiting.pop(key, None)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        host, port = str(peer[0]), int(peer[1])
        line = Line(reader, writer, self.read_timeout, self.sep)
        stats = self.stats
        if stats.accepted >= MAX_INCOMING or len(self._tasks) > MAX_HANDSHAKES:
            stats.over_limit += 1
            await line.close()
            return
        stats.accepted += 1
        decision = self.check(host)
        if not decision:  # nothing is read from a peer outside the authorization
            stats.refused_count += 1
            if len(stats.refused) < MAX_KEPT:
                stats.refused.append((host, port, str(decision.reason)))
            await line.close()
            return
        try:
            key, conn = await asyncio.wait_for(self.handshake(line, self._waiting.__contains__),
                                               self.read_timeout)
        except (HubError, ValueError, OSError, TimeoutError) as exc:  # ValueError: grammar
            stats.failed += 1
            if "not expected" in str(exc):
                stats.unexpected += 1
            if len(stats.failures) < MAX_KEPT:
                stats.failures.append(f"{host}:{port}: {exc}"[:300])
            await line.close()
            return
        conn.remote = (host, port)
        waiter = self._waiting.pop(key, None)
        if waiter is None or waiter.future.done():
            stats.unexpected += 1
            await conn.close()
            return
        peer_cid = getattr(conn, "peer_cid", None)
        if waiter.cid is not None and peer_cid != waiter.cid:
            await conn.close()
            waiter.future.set_exception(HubError(
                f"the connection with our token came from CID {str(peer_cid)[:64]}, not the "
                f"user's CID {waiter.cid}"))
            return
        stats.matched += 1
        waiter.future.set_result(conn)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for waiter in self._waiting.values():
            if not waiter.future.done():
                waiter.future.set_exception(HubError("listener closed"))
        self._waiting.clear()
