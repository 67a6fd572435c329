"""Peer-wire message framing and parsing (BEP 3, 6, 9, 10, 52), with no I/O.

Why separate from the socket code: every byte here comes from a peer that may lie or attack, so
the parsers are pure functions over ``bytes`` that either return a typed message or raise
:class:`WireError`. They are fuzzed directly (tests/bittorrent/test_fuzz.py) without a network.

Bounds: a length prefix is checked against :data:`MAX_MESSAGE` *before* any payload is read,
a bitfield must have exactly the torrent's length, a block must be at most 16 KiB, and bencoded
extension headers are decoded with small size/depth limits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from netwarden.codec.bencode import BencodeError, decode_prefix, encode

PROTOCOL = b"BitTorrent protocol"
HANDSHAKE_LEN = 68
BLOCK = 16 * 1024
# Largest message accepted: a 16 KiB block plus header, a bitfield for 2 M pieces, or an
# extension message (ut_metadata piece of 16 KiB plus its bencoded header).
MAX_MESSAGE = 256 * 1024
MAX_EXTENSION_HEADER = 64 * 1024

CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, CANCEL, PORT = range(10)
SUGGEST, HAVE_ALL, HAVE_NONE, REJECT, ALLOWED_FAST = 0x0D, 0x0E, 0x0F, 0x10, 0x11
EXTENDED = 20
HASH_REQUEST, HASHES, HASH_REJECT = 21, 22, 23

NAMES = {CHOKE: "choke", UNCHOKE: "unchoke", INTERESTED: "interested",
         NOT_INTERESTED: "not_interested", HAVE: "have", BITFIELD: "bitfield",
         REQUEST: "request", PIECE: "piece", CANCEL: "cancel", PORT: "port",
         SUGGEST: "suggest", HAVE_ALL: "have_all", HAVE_NONE: "have_none",
         REJECT: "reject_request", ALLOWED_FAST: "allowed_fast", EXTENDED: "extended",
         HASH_REQUEST: "hash_request", HASHES: "hashes", HASH_REJECT: "hash_reject"}

# Reserved bits (byte index, mask)
EXTENSION_BIT = (5, 0x10)  # BEP 10
FAST_BIT = (7, 0x04)  # BEP 6
DHT_BIT = (7, 0x01)  # BEP 5
V2_BIT = (7, 0x10)  # BEP 52 upgrade


class WireError(ValueError):
    """A peer sent something that breaks the protocol or our bounds; the text says what."""


@dataclass(frozen=True)
class Handshake:
    reserved: bytes
    info_hash: bytes
    peer_id: bytes

    def has(self, bit: tuple[int, int]) -> bool:
        return bool(self.reserved[bit[0]] & bit[1])


@dataclass(frozen=True)
class Message:
    """A decoded message. ``payload`` of a piece message is the block (hashed, then dropped)."""

    kind: int | None  # None: keep-alive
    payload: bytes = b""

    @property
    def name(self) -> str:
        if self.kind is None:
            return "keep_alive"
        return NAMES.get(self.kind, f"unknown_{self.kind}")


def reserved_bytes(extension: bool = True, fast: bool = True, v2: bool = False) -> bytes:
    """Our reserved bits: the extension protocol and the fast extension (and v2 when asked)."""
    out = bytearray(8)
    for on, (i, mask) in ((extension, EXTENSION_BIT), (fast, FAST_BIT), (v2, V2_BIT)):
        if on:
            out[i] |= mask
    return bytes(out)


def encode_handshake(info_hash: bytes, peer_id: bytes, reserved: bytes) -> bytes:
    if len(info_hash) != 20 or len(peer_id) != 20 or len(reserved) != 8:
        raise ValueError("handshake fields have fixed sizes 20/20/8")
    return bytes([len(PROTOCOL)]) + PROTOCOL + reserved + info_hash + peer_id


def parse_handshake(data: bytes) -> Handshake:
    """Parse the 68-byte handshake a peer sent."""
    if len(data) != HANDSHAKE_LEN:
        raise WireError(f"handshake of {len(data)} bytes, expected {HANDSHAKE_LEN}")
    if data[0] != len(PROTOCOL) or data[1:20] != PROTOCOL:
        raise WireError(f"not a BitTorrent handshake (starts {data[:20]!r})")
    return Handshake(reserved=data[20:28], info_hash=data[28:48], peer_id=data[48:68])


def encode_message(kind: int | None, payload: bytes = b"") -> bytes:
    if kind is None:
        return b"\0\0\0\0"
    return struct.pack(">IB", len(payload) + 1, kind) + payload


def request(index: int, begin: int, length: int) -> bytes:
    return encode_message(REQUEST, struct.pack(">III", index, begin, length))


def parse_length(prefix: bytes, limit: int = MAX_MESSAGE) -> int:
    """The length of the next message from its 4-byte prefix; refuses lengths over ``limit``."""
    if len(prefix) != 4:
        raise WireError("truncated length prefix")
    (length,) = struct.unpack(">I", prefix)
    if length > limit:
        raise WireError(f"message of {length} bytes exceeds the limit of {limit}")
    return length


def parse_message(body: bytes) -> Message:
    """A message from its body (what follows the length prefix). Empty body: keep-alive."""
    if not body:
        return Message(None)
    kind, payload = body[0], body[1:]
    fixed = {CHOKE: 0, UNCHOKE: 0, INTERESTED: 0, NOT_INTERESTED: 0, HAVE: 4, REQUEST: 12,
             CANCEL: 12, PORT: 2, SUGGEST: 4, HAVE_ALL: 0, HAVE_NONE: 0, REJECT: 12,
             ALLOWED_FAST: 4}
    if kind in fixed and len(payload) != fixed[kind]:
        raise WireError(f"{NAMES[kind]} message with {len(payload)} payload bytes, "
                        f"expected {fixed[kind]}")
    if kind == PIECE and not 8 <= len(payload) <= 8 + BLOCK:
        raise WireError(f"piece message with a block of {len(payload) - 8} bytes "
                        f"(allowed 0..{BLOCK})")
    if kind == EXTENDED and len(payload) < 1:
        raise WireError("extended message without an extension id")
    return Message(kind, payload)


def parse_have(payload: bytes) -> int:
    return struct.unpack(">I", payload)[0]


def parse_piece(payload: bytes) -> tuple[int, int, bytes]:
    index, begin = struct.unpack(">II", payload[:8])
    return index, begin, payload[8:]


def parse_request_triplet(payload: bytes) -> tuple[int, int, int]:
    index, begin, length = struct.unpack(">III", payload)
    return index, begin, length


def parse_bitfield(payload: bytes, piece_count: int) -> list[int]:
    """Indexes of the pieces a bitfield claims; it must have the exact length and no spare bits."""
    expected = -(-piece_count // 8)
    if len(payload) != expected:
        raise WireError(f"bitfield of {len(payload)} bytes for {piece_count} pieces "
                        f"(expected {expected})")
    spare = expected * 8 - piece_count
    if spare and payload[-1] & ((1 << spare) - 1):
        raise WireError("bitfield sets bits beyond the last piece")
    return [i for i in range(piece_count) if payload[i >> 3] & (0x80 >> (i & 7))]


def bitfield_bytes(pieces: set[int] | list[int], piece_count: int) -> bytes:
    out = bytearray(-(-piece_count // 8))
    for i in pieces:
        out[i >> 3] |= 0x80 >> (i & 7)
    return bytes(out)


# -- BEP 10 / BEP 9 -------------------------------------------------------------------------

def _bdecode_small(data: bytes, what: str) -> tuple[Any, int]:
    try:
        return decode_prefix(data, max_size=MAX_EXTENSION_HEADER + BLOCK + 64, max_depth=8,
                             max_int_digits=20, strict=False)
    except BencodeError as exc:
        raise WireError(f"{what}: {exc}") from None


@dataclass(frozen=True)
class ExtensionHandshake:
    """What a peer said in its BEP 10 handshake."""

    extensions: dict[str, int]  # name → the peer's message id for it
    client: str | None  # ``v``
    metadata_size: int | None
    listen_port: int | None

    def summary(self) -> dict[str, Any]:
        return {"m": dict(sorted(self.extensions.items())), "v": self.client,
                "metadata_size": self.metadata_size, "p": self.listen_port}


def parse_extension_handshake(payload: bytes) -> ExtensionHandshake:
    """Parse an extended message 0 (the payload after the extended id byte)."""
    if len(payload) > MAX_EXTENSION_HEADER:
        raise WireError(f"extension handshake of {len(payload)} bytes exceeds "
                        f"{MAX_EXTENSION_HEADER}")
    value, _end = _bdecode_small(payload, "extension handshake")
    if not isinstance(value, dict):
        raise WireError("extension handshake is not a dictionary")
    m = value.get(b"m", {})
    extensions: dict[str, int] = {}
    if isinstance(m, dict):
        for k, v in list(m.items())[:64]:
            if isinstance(v, int) and 0 < v < 256:
                extensions[k.decode("utf-8", "replace")[:64]] = v
    v = value.get(b"v")
    client = v.decode("utf-8", "replace")[:200] if isinstance(v, bytes) else None
    size = value.get(b"metadata_size")
    port = value.get(b"p")
    return ExtensionHandshake(
        extensions=extensions, client=client,
        metadata_size=size if isinstance(size, int) and size > 0 else None,
        listen_port=port if isinstance(port, int) and 0 < port < 65536 else None)


def encode_extension_handshake(ut_metadata_id: int = 3, client: str = "netwarden") -> bytes:
    """Our BEP 10 handshake: we only speak ut_metadata (we never upload)."""
    return encode_message(EXTENDED, b"\0" + encode({"m": {"ut_metadata": ut_metadata_id},
                                                      "v": client, "reqq": 16}))


@dataclass(frozen=True)
class MetadataMessage:
    msg_type: int  # 0 request, 1 data, 2 reject
    piece: int
    total_size: int | None
    data: bytes


def parse_metadata_message(payload: bytes) -> MetadataMessage:
    """A BEP 9 message (after the extended id byte): a bencoded dict, then the data for type 1."""
    value, end = _bdecode_small(payload, "ut_metadata message")
    if not isinstance(value, dict):
        raise WireError("ut_metadata message is not a dictionary")
    msg_type, piece = value.get(b"msg_type"), value.get(b"piece")
    if not isinstance(msg_type, int) or not isinstance(piece, int) or piece < 0:
        raise WireError("ut_metadata message without msg_type/piece integers")
    total = value.get(b"total_size")
    data = payload[end:]
    if len(data) > BLOCK:
        raise WireError(f"ut_metadata piece of {len(data)} bytes exceeds {BLOCK}")
    return MetadataMessage(msg_type, piece, total if isinstance(total, int) else None, data)


def metadata_request(peer_ext_id: int, piece: int) -> bytes:
    return encode_message(EXTENDED, bytes([peer_ext_id]) + encode({"msg_type": 0,
                                                                   "piece": piece}))


# -- BEP 52 hash messages -------------------------------------------------------------------

def hash_request(pieces_root: bytes, base_layer: int, index: int, length: int,
                 proof_layers: int) -> bytes:
    return encode_message(HASH_REQUEST, pieces_root + struct.pack(
        ">IIII", base_layer, index, length, proof_layers))


def parse_hashes(payload: bytes) -> tuple[bytes, int, int, int, int, list[bytes]]:
    """A ``hashes`` message: (root, base layer, index, length, proof layers, hashes)."""
    if len(payload) < 48 or (len(payload) - 48) % 32:
        raise WireError(f"hashes message of {len(payload)} bytes is malformed")
    root = payload[:32]
    base, index, length, proofs = struct.unpack(">IIII", payload[32:48])
    hashes = [payload[i:i + 32] for i in range(48, len(payload), 32)]
    return root, base, index, length, proofs, hashes
