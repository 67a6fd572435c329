"""Hostile peers for the tests: tiny asyncio peer-wire servers that lie, stay silent or stall.

Each speaks just enough BEP 3 to get past the handshake, then misbehaves in one way. They count
the connections they accept so a test can assert that nobody (or somebody) came.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from netwarden.collect.bittorrent import messages as m

Behaviour = Callable[["FakePeer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class FakePeer:
    def __init__(self, host: str, info_hash: bytes, piece_count: int, behaviour: Behaviour,
                 reserved: bytes = bytes(8)) -> None:
        self.host, self.info_hash, self.piece_count = host, info_hash, piece_count
        self.behaviour = behaviour
        self.reserved = reserved
        self.connections = 0
        self.port = 0
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await asyncio.wait_for(self._session(reader, writer), 30)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(m.HANDSHAKE_LEN)
        writer.write(m.encode_handshake(self.info_hash, b"-XX0001-" + os.urandom(12),
                                        self.reserved))
        await self.behaviour(self, reader, writer)

    def all_pieces(self) -> bytes:
        return m.encode_message(m.BITFIELD, m.bitfield_bytes(range(self.piece_count),
                                                             self.piece_count))


async def read_msg(reader: asyncio.StreamReader) -> tuple[int | None, bytes]:
    (length,) = struct.unpack(">I", await reader.readexactly(4))
    body = await reader.readexactly(length) if length else b""
    return (body[0] if body else None), body[1:]


async def liar(peer: FakePeer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
               ) -> None:
    """Claims every piece, unchokes, and answers every request with random bytes."""
    writer.write(peer.all_pieces())
    while True:
        kind, payload = await read_msg(reader)
        if kind == m.INTERESTED:
            writer.write(m.encode_message(m.UNCHOKE))
        elif kind == m.REQUEST:
            index, begin, length = struct.unpack(">III", payload)
            writer.write(m.encode_message(m.PIECE, struct.pack(">II", index, begin)
                                          + os.urandom(length)))
        await writer.drain()


async def silent(peer: FakePeer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                 ) -> None:
    """Claims every piece and never unchokes."""
    writer.write(peer.all_pieces())
    await writer.drain()
    while True:
        await read_msg(reader)


async def staller(peer: FakePeer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                  ) -> None:
    """Unchokes, then sends half a block and stalls forever."""
    writer.write(peer.all_pieces())
    while True:
        kind, payload = await read_msg(reader)
        if kind == m.INTERESTED:
            writer.write(m.encode_message(m.UNCHOKE))
        elif kind == m.REQUEST:
            index, begin, length = struct.unpack(">III", payload)
            writer.write(struct.pack(">IBII", 9 + length, m.PIECE, index, begin)
                         + os.urandom(length // 2))
            await writer.drain()
            await asyncio.sleep(3600)
        await writer.drain()


async def keepalive_flood(peer: FakePeer, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
    """Claims everything and then sends keep-alives as fast as it can, forever."""
    writer.write(peer.all_pieces())
    while True:
        writer.write(b"\0\0\0\0" * 64)
        await writer.drain()
        await asyncio.sleep(0.001)


async def oversized(peer: FakePeer, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
    """Announces a 4 GiB message after the handshake."""
    writer.write(struct.pack(">I", 0xFFFFFFF0) + b"\x05" + b"\xff" * 1000)
    await writer.drain()
    await asyncio.sleep(3600)


@asynccontextmanager
async def fake_peers(*peers: FakePeer) -> AsyncIterator[tuple[FakePeer, ...]]:
    try:
        for p in peers:
            await p.start()
        yield peers
    finally:
        for p in peers:
            await p.stop()


def announce_from(source_ip: str, tracker: tuple[str, int], info_hash: bytes, port: int,
                  left: int = 0) -> bytes:
    """An HTTP announce to opentracker sent *from* ``source_ip`` (the tracker lists that IP)."""
    from urllib.parse import quote_from_bytes

    query = (f"info_hash={quote_from_bytes(info_hash, safe='')}&peer_id="
             f"{quote_from_bytes(b'-XX0001-' + os.urandom(12), safe='')}&port={port}"
             f"&uploaded=0&downloaded=0&left={left}&compact=1&event=started")
    with socket.socket() as s:
        s.settimeout(5)
        s.bind((source_ip, 0))
        s.connect(tracker)
        s.sendall(f"GET /announce?{query} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)
