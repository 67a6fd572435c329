"""Waiting for unchoke is bounded by ``unchoke_timeout``, not by the per-message read timeout.

Found against transmission-daemon (tests/bittorrent/test_transmission.py): Transmission says
nothing after ``interested`` until its next rechoke round (every 10 s), and the session gave up
after the 10 s ``read_timeout`` although ``unchoke_timeout`` is 20 s. These fake peers replay
that timing in a second: an honest peer that unchokes late must be verified, and a peer that
never unchokes must still be given up on at ``unchoke_timeout``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import time

from netwarden.codec.bencode import encode
from netwarden.collect.bittorrent import messages as m
from netwarden.collect.bittorrent.metainfo import parse_info
from netwarden.collect.bittorrent.peerwire import PeerContact, PeerLimits, PeerSession

from .fakepeers import FakePeer, fake_peers, read_msg, silent

PIECE = 16 * 1024
CONTENT = os.urandom(4 * PIECE)
INFO = encode({"name": "late", "piece length": PIECE, "length": len(CONTENT),
               "pieces": b"".join(hashlib.sha1(CONTENT[i:i + PIECE]).digest()
                                  for i in range(0, len(CONTENT), PIECE))})
BTIH = hashlib.sha1(INFO).hexdigest()
LIMITS = PeerLimits(read_timeout=0.5, unchoke_timeout=3.0, session_timeout=10.0)


async def late_unchoker(peer: FakePeer, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
    """Honest, but silent for 1.5 s (3 read timeouts) after ``interested`` before unchoking."""
    writer.write(peer.all_pieces())
    await writer.drain()
    while True:
        kind, payload = await read_msg(reader)
        if kind == m.INTERESTED:
            await asyncio.sleep(1.5)
            writer.write(m.encode_message(m.UNCHOKE))
        elif kind == m.REQUEST:
            index, begin, length = struct.unpack(">III", payload)
            start = index * PIECE + begin
            writer.write(m.encode_message(m.PIECE, struct.pack(">II", index, begin)
                                          + CONTENT[start:start + length]))
        await writer.drain()


def _session(host: str, behaviour) -> tuple[PeerContact, float]:  # type: ignore[no-untyped-def]
    async def go() -> tuple[PeerContact, float]:
        peer = FakePeer(host, bytes.fromhex(BTIH), 4, behaviour)
        async with fake_peers(peer):
            start = time.monotonic()
            contact = await asyncio.wait_for(
                PeerSession(peer.host, peer.port, bytes.fromhex(BTIH), parse_info(INFO),
                            LIMITS, expected_btih=BTIH).run(), 20)
            return contact, time.monotonic() - start

    return asyncio.run(go())


def test_late_unchoke_within_unchoke_timeout_is_verified() -> None:
    contact, _ = _session("127.77.7.101", late_unchoker)
    assert contact.error is None, contact.error
    assert contact.unchoked
    assert [p.result for p in contact.pieces] == ["verified"]


def test_never_unchoking_peer_is_still_given_up_at_unchoke_timeout() -> None:
    contact, took = _session("127.77.7.102", silent)
    assert contact.handshaken and not contact.unchoked
    assert contact.error == "the peer never unchoked us: the peer sent no unchoke within 3 s"
    assert 2.5 <= took < 8, took
