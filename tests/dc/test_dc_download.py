"""The client-client download loop both DC dialects share (collect/dc/download.py), through the
NMDC peer over a real loopback socket: a scripted peer answers our $ADCGET as the test says
(the ADC side runs through the fake peers of test_adc_hostile)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import pytest

from netwarden.collect.dc.errors import NmdcHubError
from netwarden.collect.dc.hub import open_line
from netwarden.collect.dc.nmdc_client import NmdcPeer
from netwarden.collect.speed import SpeedGuard

PEER_HOST = "127.77.6.50"
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def fetch(script: Script, want: int, speed: SpeedGuard | None = None,
          read_timeout: float = 5.0) -> tuple[bytes, list[bytes]]:
    """Run ``script`` as the peer; ``$ADCGET file TTH/X 0 want`` with the real NmdcPeer.

    Returns the bytes received and what the peer read from us after our request.
    """
    heard: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            heard.append(await reader.readuntil(b"|"))  # our $ADCGET
            await script(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> bytes:
        server = await asyncio.start_server(serve, PEER_HOST, 0)
        port = server.sockets[0].getsockname()[1]
        got = bytearray()
        try:
            line = await open_line(PEER_HOST, port, 3, read_timeout, sep=b"|",
                                   error=NmdcHubError)
            peer = NmdcPeer(line, "cp1251")
            try:
                loop = asyncio.get_running_loop()
                count = await peer.get("file", "TTH/X", 0, want, want, got.extend,
                                       loop.time() + 60, speed)
                assert count == len(got)
            finally:
                await peer.close()
        finally:
            server.close()
        return bytes(got)

    return asyncio.run(asyncio.wait_for(main(), 30)), heard


def test_declines_a_peer_download_then_streams_the_answer() -> None:
    data = os.urandom(70_000)
    heard: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"$ADCGET file TTH/OURS 0 10|")  # the peer wants to download from us
        await writer.drain()
        heard.append(await reader.readuntil(b"|"))
        writer.write(b"$ADCSND file TTH/X 0 70000|" + data)
        await writer.drain()
        await reader.read()  # until we hang up

    got, first = fetch(script, len(data), SpeedGuard(1000, 1.5))
    assert got == data
    assert first == [b"$ADCGET file TTH/X 0 70000|"]
    assert heard == [b"$Error File Not Available|"]  # we never upload


def test_a_dripping_peer_is_abandoned_for_its_speed() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"$ADCSND file TTH/X 0 5000000|" + b"x" * 100)
        for _ in range(300):  # a byte every 0.1 s: never quiet for the 1 s read timeout
            await writer.drain()
            await asyncio.sleep(0.1)
            if writer.is_closing() or reader.at_eof():
                return
            writer.write(b"x")

    with pytest.raises(NmdcHubError) as info:
        fetch(script, 5_000_000, SpeedGuard(1000, 1.5), read_timeout=1.0)
    message = str(info.value)
    assert message.startswith("transfer slower than 1000 B/s for 1.5 s ("), message
    assert message.endswith(" of 5000000 bytes") and "abandoned after" in message


def test_without_a_guard_only_the_read_timeout_and_deadline_apply() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"$ADCSND file TTH/X 0 5000|" + b"x" * 1000)
        await writer.drain()
        await reader.read()  # then silence: a stall, not a drip

    with pytest.raises(NmdcHubError, match=r"no data for 1 s after 1000 of 5000 bytes"):
        fetch(script, 5000, None, read_timeout=1.0)
