"""Known peers (``bittorrent://`` services): v1, v2, hybrid, magnet-only, hostile metadata."""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

import pytest

from netwarden.codec.bencode import encode
from netwarden.collect.bittorrent import messages as m
from netwarden.collect.bittorrent.metainfo import parse_info
from netwarden.collect.bittorrent.peerwire import PeerLimits, PeerSession
from netwarden.records import EvidenceLevel

from .conftest import make_scope, peer_obs, run_collectors
from .fakepeers import FakePeer, fake_peers, oversized, read_msg
from .swarm import make_torrent, seeders


@pytest.mark.slow
@pytest.mark.parametrize("version", ["v1", "v2", "hybrid"])
def test_known_peer_versions_and_magnet(tmp_path: Path, version: str) -> None:
    """A libtorrent seeder is served-verified with the .torrent and with only the infohash."""
    torrent = make_torrent(tmp_path, f"film-{version}", 200_000 if version == "v1" else 600_000,
                           piece_length=32 * 1024, version=version, files=1 if version == "v1"
                           else 2)
    with seeders(1, [torrent]) as (seeder,):
        scope = make_scope([{"url": f"bittorrent://{seeder.host}:{seeder.port}",
                             "pieces_per_peer": 3}])
        records = asyncio.run(run_collectors(scope, [torrent.reference(ref_id="full"),
                                                     torrent.reference(False, "magnet")]))
    obs = peer_obs(records, seeder.host)
    assert len(obs) == 2
    for o in obs:
        assert o.level is EvidenceLevel.SERVED, o.reason
        contact = o.details["contact"]
        assert len(contact["pieces"]) == 3
        assert all(p["result"] == "verified" for p in contact["pieces"]), contact["pieces"]
        if version == "v1":
            assert o.protocol_check and o.protocol_check.method == "bt-piece-sha1"
            assert o.digests == {"btih": torrent.btih}
        elif version == "v2":
            assert o.protocol_check and o.protocol_check.method == "bt-piece-sha256-merkle"
            assert o.digests == {"btmh": torrent.btmh}
        else:
            assert o.protocol_check and o.protocol_check.method == (
                "bt-piece-sha1+bt-piece-sha256-merkle")
        if o.details["reference_id"] == "magnet":
            assert contact["metadata"] == "verified"


def _run(peer: FakePeer, meta_info: bytes | None, btih: str, **limits: float):
    async def go():  # type: ignore[no-untyped-def]
        async with fake_peers(peer):
            meta = parse_info(meta_info) if meta_info else None
            session = PeerSession(peer.host, peer.port, bytes.fromhex(btih), meta,
                                  PeerLimits(**limits), expected_btih=btih)
            return await asyncio.wait_for(session.run(), 30)

    return asyncio.run(go())


def _info(pieces: int = 4) -> bytes:
    return encode({"name": "x", "piece length": 16384, "length": pieces * 16384,
                   "pieces": os.urandom(20 * pieces)})


def test_oversized_length_prefix_is_refused_without_reading() -> None:
    info = _info()
    btih = __import__("hashlib").sha1(info).hexdigest()
    peer = FakePeer("127.77.4.1", bytes.fromhex(btih), 4, oversized)
    contact = _run(peer, info, btih, read_timeout=2)
    assert contact.handshaken
    assert "exceeds the limit" in (contact.error or "")
    assert contact.bytes_received < 200


def _metadata_liar(size: int, data: bytes):  # type: ignore[no-untyped-def]
    async def behave(peer: FakePeer, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        hs = encode({"m": {"ut_metadata": 7}, "metadata_size": size, "v": "liar 1.0"})
        writer.write(m.encode_message(m.EXTENDED, b"\0" + hs))
        while True:
            kind, payload = await read_msg(reader)
            if kind == m.EXTENDED and payload[0] == 7:
                body = encode({"msg_type": 1, "piece": 0, "total_size": size})
                writer.write(m.encode_message(m.EXTENDED, b"\3" + body + data))
                await writer.drain()
    return behave


@pytest.mark.parametrize("size,data,words", [
    (10**12, b"", "exceeds our limit"),  # a metadata size that lies (huge)
    (100, b"d4:name1:xe", "the metadata size lied"),  # shorter than announced
    (11, b"d4:name1:ye", "does not hash to the infohash"),  # right size, wrong content
])
def test_lying_metadata(size: int, data: bytes, words: str) -> None:
    info = _info()
    btih = __import__("hashlib").sha1(info).hexdigest()
    peer = FakePeer("127.77.4.2", bytes.fromhex(btih), 4, _metadata_liar(size, data),
                    reserved=m.reserved_bytes())
    contact = _run(peer, None, btih, read_timeout=2)
    assert contact.client_v == "liar 1.0"
    assert words in (contact.error or ""), contact.error
    assert contact.metadata in ("refused", "failed")
    assert not contact.pieces


def test_wrong_infohash_and_not_bittorrent() -> None:
    info = _info()
    btih = __import__("hashlib").sha1(info).hexdigest()

    async def idle(peer, reader, writer):  # type: ignore[no-untyped-def]
        await asyncio.sleep(5)

    other = FakePeer("127.77.4.3", os.urandom(20), 4, idle)
    contact = _run(other, info, btih, read_timeout=2)
    assert not contact.handshaken and "another infohash" in (contact.error or "")

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"x" * 100)
        await writer.drain()
        writer.close()

    async def go():  # type: ignore[no-untyped-def]
        server = await asyncio.start_server(http, "127.77.4.4", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await PeerSession("127.77.4.4", port, bytes.fromhex(btih), parse_info(info),
                                     PeerLimits(read_timeout=2)).run()
        finally:
            server.close()
            await server.wait_closed()

    contact = asyncio.run(go())
    assert not contact.handshaken and "not a BitTorrent handshake" in (contact.error or "")


def test_connection_refused_is_listed_error() -> None:
    info = _info()
    btih = __import__("hashlib").sha1(info).hexdigest()
    contact = asyncio.run(PeerSession("127.77.4.5", 1, bytes.fromhex(btih), parse_info(info),
                                      PeerLimits(connect_timeout=2)).run())
    assert contact.stage == "connect" and "connection failed" in (contact.error or "")


def test_bitfield_with_spare_bits_is_a_violation() -> None:
    info = _info(3)
    btih = __import__("hashlib").sha1(info).hexdigest()

    async def bad_bitfield(peer, reader, writer):  # type: ignore[no-untyped-def]
        writer.write(m.encode_message(m.BITFIELD, b"\xff"))  # 8 bits for 3 pieces
        await writer.drain()
        await asyncio.sleep(5)

    contact = _run(FakePeer("127.77.4.6", bytes.fromhex(btih), 3, bad_bitfield), info, btih,
                   read_timeout=2)
    assert "beyond the last piece" in (contact.error or "")
    assert struct.calcsize(">I") == 4


@pytest.mark.slow
def test_pcap_written_with_piece_payload_zeroed(tmp_path: Path) -> None:
    torrent = make_torrent(tmp_path, "film", 64 * 1024, piece_length=32 * 1024)
    content = (torrent.data_dir / "film").read_bytes()
    pcaps = tmp_path / "pcap"
    with seeders(1, [torrent]) as (seeder,):
        scope = make_scope([{"url": f"bittorrent://{seeder.host}:{seeder.port}",
                             "pcap_dir": str(pcaps), "pieces_per_peer": 2}])
        records = asyncio.run(run_collectors(scope, [torrent.reference()]))
    (obs,) = peer_obs(records, seeder.host)
    assert obs.level is EvidenceLevel.SERVED
    (pcap,) = pcaps.glob("*.pcap")
    assert obs.details["pcap"] == str(pcap)
    data = pcap.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1" and len(data) > 64 * 1024  # blocks kept, as zeros
    for off in range(0, len(content), 4096):
        assert content[off:off + 64] not in data
