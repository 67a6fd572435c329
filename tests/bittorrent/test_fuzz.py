"""Fuzz the parsers that read what peers, trackers and DHT nodes send (hypothesis, bounded).

Each parser must either return a value or raise its own error type, whatever the bytes, and
quickly: no other exception, no hang, no unbounded allocation.
"""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden.codec.bencode import encode
from netwarden.collect.bittorrent import dht
from netwarden.collect.bittorrent import messages as m
from netwarden.collect.bittorrent import tracker_udp as udp
from netwarden.collect.bittorrent.metainfo import MetainfoError, parse_info
from netwarden.collect.bittorrent.tracker_http import TrackerError, parse_announce, parse_scrape

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# bencode-ish bytes: mostly structure characters so the fuzzer reaches deep paths
bencodeish = st.one_of(
    st.binary(max_size=512),
    st.lists(st.sampled_from([b"d", b"l", b"e", b"i", b"0", b"1", b"9", b":", b"-", b"4:peers",
                              b"5:peers", b"6:peers6", b"8:msg_type", b"1:r", b"1:t", b"1:y",
                              b"2:id", b"20:", b"6:values", b"5:nodes", b"i99999999999999e"]),
             max_size=200).map(b"".join),
)


def _values() -> st.SearchStrategy[object]:
    leaf = st.one_of(st.integers(min_value=-2**70, max_value=2**70), st.binary(max_size=40))
    return st.recursive(leaf, lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(st.sampled_from([b"m", b"v", b"metadata_size", b"msg_type", b"piece",
                                         b"total_size", b"peers", b"peers6", b"interval",
                                         b"files", b"failure reason", b"ut_metadata", b"ip",
                                         b"port", b"name", b"piece length", b"length",
                                         b"pieces", b"meta version", b"file tree", b""]),
                        kids, max_size=5)), max_leaves=20)


@FAST
@given(st.binary(max_size=70))
def test_handshake(data: bytes) -> None:
    try:
        hs = m.parse_handshake(data)
        assert len(hs.info_hash) == 20
    except m.WireError:
        pass


@FAST
@given(st.binary(min_size=4, max_size=4))
def test_length_prefix_bounded(prefix: bytes) -> None:
    try:
        assert m.parse_length(prefix) <= m.MAX_MESSAGE
    except m.WireError as exc:
        assert "exceeds" in str(exc)


@FAST
@given(st.integers(0, 30), st.binary(max_size=64 + m.BLOCK // 64))
def test_messages(kind: int, payload: bytes) -> None:
    try:
        msg = m.parse_message(bytes([kind]) + payload)
    except m.WireError:
        return
    if msg.kind == m.PIECE:
        m.parse_piece(msg.payload)
    elif msg.kind == m.HAVE:
        m.parse_have(msg.payload)
    elif msg.kind in (m.REQUEST, m.REJECT, m.CANCEL):
        m.parse_request_triplet(msg.payload)
    for parser in (m.parse_extension_handshake, m.parse_metadata_message, m.parse_hashes):
        with contextlib.suppress(m.WireError):
            parser(msg.payload[1:] if msg.kind == m.EXTENDED else msg.payload)


@FAST
@given(st.binary(max_size=40), st.integers(0, 300))
def test_bitfield(payload: bytes, count: int) -> None:
    try:
        claimed = m.parse_bitfield(payload, count)
        assert all(0 <= i < count for i in claimed)
    except m.WireError:
        pass


@FAST
@given(st.one_of(bencodeish, _values().map(lambda v: encode(v) + b"\xff" * 3)))
def test_extension_and_metadata(data: bytes) -> None:
    for parser in (m.parse_extension_handshake, m.parse_metadata_message):
        with contextlib.suppress(m.WireError):
            parser(data)


@FAST
@given(st.one_of(bencodeish, _values().map(encode)))
def test_tracker_responses(data: bytes) -> None:
    with contextlib.suppress(TrackerError):
        parse_announce(data)
    with contextlib.suppress(TrackerError):
        parse_scrape(data, b"\0" * 20)


@FAST
@given(st.binary(max_size=200), st.integers(0, 2**32 - 1))
def test_udp_responses(data: bytes, tid: int) -> None:
    for parser in (udp.parse_connect, udp.parse_announce_response, udp.parse_scrape_response):
        with contextlib.suppress(TrackerError):
            parser(data, tid)


@FAST
@given(st.one_of(bencodeish, _values().map(encode)))
def test_dht_responses(data: bytes) -> None:
    with contextlib.suppress(dht.KrpcError):
        dht.parse_response(data)


@FAST
@given(st.one_of(bencodeish, _values().map(encode)))
def test_info_dictionaries(data: bytes) -> None:
    try:
        meta = parse_info(data)
        assert meta.piece_count >= 0
    except MetainfoError:
        pass


@pytest.mark.parametrize("data", [
    b"l" * 100_000,  # deep nesting
    b"i" + b"9" * 1_000_000 + b"e",  # huge integer
    b"d8:msg_typei1e5:piecei0e10:total_sizei" + b"9" * 500 + b"ee",  # lying huge size
    b"d1:md11:ut_metadatai3ee13:metadata_sizei99999999999999999999999ee",
    b"999999999999:x",  # string longer than the input
])
def test_pathological_bencode(data: bytes) -> None:
    for parser in (m.parse_extension_handshake, m.parse_metadata_message):
        with contextlib.suppress(m.WireError):
            parser(data)
    with pytest.raises(TrackerError):
        parse_announce(data)
    with pytest.raises(MetainfoError):
        parse_info(data)


def test_oversized_piece_message_rejected() -> None:
    with pytest.raises(m.WireError, match="block of"):
        m.parse_message(bytes([m.PIECE]) + struct.pack(">II", 0, 0) + bytes(m.BLOCK + 1))
    with pytest.raises(m.WireError, match="exceeds"):
        m.parse_length(struct.pack(">I", m.MAX_MESSAGE + 1))
