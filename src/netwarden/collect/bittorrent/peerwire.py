"""An asyncio peer-wire client that proves (or fails to prove) that a peer serves a torrent.

Why our own: BitTorrent libraries download files; evidence collection needs the opposite — one
connection, one or a few pieces, every step recorded, every byte hashed and dropped, and every
lie of the peer turned into a recorded outcome. The session:

1. connects (bounded), sends the BEP 3 handshake with our reserved bits (BEP 10 extension
   protocol, BEP 6 fast extension), reads the peer's and checks it answers for the infohash;
2. sends the BEP 10 handshake when the peer supports it and records the client's ``v``;
3. fetches the info dictionary with BEP 9 ``ut_metadata`` when we only know the infohash, and
   checks it hashes to the infohash before trusting a single field of it;
4. reads the claimed pieces (bitfield, have, have-all/have-none), says ``interested``, waits
   for ``unchoke``, requests ``pieces`` random claimed pieces in 16 KiB blocks and checks each
   against its SHA-1 (v1) or SHA-256 Merkle root (v2, with a hash-request proof when the piece
   layer is not in the info dictionary).

Every wait is bounded (per message and per session), every message length is checked before it
is read, keep-alives and other messages are counted and bounded. The piece bytes go through
hashers and are dropped; only digests and counts are kept (:class:`PeerContact`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netwarden.collect.bittorrent import messages as m
from netwarden.collect.bittorrent.metainfo import (
    MAX_INFO_BYTES,
    Metainfo,
    MetainfoError,
    PieceSpec,
    next_pow2,
    pad_hash,
    parse_info,
    v2_piece_hash,
    verify_layer_proof,
)
from netwarden.collect.bittorrent.transcript import Transcript

MAX_PIECE_LENGTH = 16 * 1024 * 1024  # longer pieces are not fetched (bounded memory)
MAX_METADATA = 8 * 1024 * 1024
METADATA_PIECE = 16 * 1024
PIPELINE = 16  # outstanding block requests

CLIENTS = {"LT": "libtorrent (Rasterbar)", "lt": "libTorrent (rakshasa)", "TR": "Transmission",
           "qB": "qBittorrent", "UT": "µTorrent", "DE": "Deluge", "AZ": "Vuze", "BT": "BitTorrent",
           "KT": "KTorrent", "BC": "BitComet", "FD": "Free Download Manager", "NW": "netwarden"}


def our_peer_id() -> bytes:
    """An Azureus-style peer id naming us (``-NW0100-``) and 12 random bytes."""
    return b"-NW0100-" + os.urandom(12)


def client_from_peer_id(peer_id: bytes) -> str | None:
    """The client an Azureus-style peer id names (``-LT2010-`` → libtorrent 2.0.1.0)."""
    if len(peer_id) >= 8 and peer_id[:1] == b"-" and peer_id[7:8] == b"-":
        code = peer_id[1:3].decode("latin-1")
        version = ".".join(peer_id[3:7].decode("latin-1"))
        return f"{CLIENTS.get(code, code)} {version}"
    return None


@dataclass(frozen=True)
class PeerLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0  # longest wait for one message
    unchoke_timeout: float = 20.0  # longest wait for unchoke (and for claims)
    session_timeout: float = 90.0  # the whole session
    max_messages: int = 20_000  # incoming messages of any kind
    max_keepalives: int = 30


@dataclass
class PieceResult:
    """How one requested piece ended: ``verified``, ``failed`` (wrong bytes) or ``incomplete``."""

    index: int
    length: int
    received: int = 0
    result: str = "incomplete"
    method: str | None = None  # bt-piece-sha1, bt-piece-sha256-merkle
    reason: str | None = None
    received_sha1: str | None = None  # digest of what the peer sent, not the content itself

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class PeerContact:
    """Everything recorded about one peer session (no content bytes)."""

    host: str
    port: int
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_monotonic_ns: int = field(default_factory=time.monotonic_ns)
    ended_monotonic_ns: int | None = None
    stage: str = "connect"  # how far it got: connect, handshake, contacted, unchoked, done
    error: str | None = None
    peer_id: str | None = None
    client: str | None = None  # from the peer id
    client_v: str | None = None  # BEP 10 ``v``
    reserved: str | None = None
    fast: bool = False
    extensions: dict[str, Any] | None = None
    claimed: int | None = None
    have_all: bool = False
    bitfield_sha256: str | None = None
    unchoked: bool = False
    pieces_requested: list[int] = field(default_factory=list)
    bytes_received: int = 0
    bytes_sent: int = 0
    block_bytes: int = 0
    messages_in: int = 0
    keepalives: int = 0
    pieces: list[PieceResult] = field(default_factory=list)
    metadata: str | None = None  # fetched/verified/failed ... for magnet-only entries
    transcript_sha256: str | None = None
    rejected_requests: int = 0

    @property
    def handshaken(self) -> bool:
        return self.peer_id is not None

    @property
    def verified(self) -> list[PieceResult]:
        return [p for p in self.pieces if p.result == "verified"]

    @property
    def failed(self) -> list[PieceResult]:
        return [p for p in self.pieces if p.result == "failed"]

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()
               if k not in ("pieces", "started_at") and v is not None}
        out["started_at"] = self.started_at.isoformat()
        out["pieces"] = [p.as_dict() for p in self.pieces]
        return out


class _Stop(Exception):
    """End of a session with a reason (timeout, protocol violation, limit)."""


class PeerSession:
    """One TCP connection to a peer, for one torrent."""

    def __init__(self, host: str, port: int, info_hash: bytes, meta: Metainfo | None,
                 limits: PeerLimits, pieces_wanted: int = 1, rng: random.Random | None = None,
                 peer_id: bytes | None = None, pcap: Path | None = None,
                 expected_btih: str | None = None, expected_btmh: str | None = None,
                 plan: Callable[[Metainfo, bytes | None], list[int] | None] | None = None,
                 sink: Callable[[PieceSpec, bytes], None] | None = None) -> None:
        """``plan`` and ``sink`` turn the session into a download for identification by
        content (discovery, :mod:`.discover`): once the info dictionary is known (and verified
        against the infohash), ``plan(meta, raw_info)`` names the pieces to fetch, in order,
        or None to end the session there; each piece that verifies against the torrent is
        handed to ``sink`` with its bytes (which the sink digests and drops). Without them the
        session fetches ``pieces_wanted`` random claimed pieces and keeps no byte."""
        self.host, self.port, self.info_hash = host, port, info_hash
        self.meta, self.limits = meta, limits
        self.pieces_wanted = pieces_wanted
        self.rng = rng or random.SystemRandom()
        self.peer_id = peer_id or our_peer_id()
        self.pcap = pcap
        self.expected_btih, self.expected_btmh = expected_btih, expected_btmh
        self.plan, self.sink = plan, sink
        self.declined = False  # the plan wanted nothing of this torrent
        self.contact = PeerContact(host, port)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._transcript: Transcript | None = None
        self._deadline = 0.0
        self._claimed: set[int] = set()
        self._raw_bitfield: bytes | None = None
        self._bitfield_seen = False
        self._peer_v2 = False
        self.metadata_raw: bytes | None = None
        self._choked = True
        self._peer_ext: m.ExtensionHandshake | None = None
        self._metadata_parts: dict[int, bytes] = {}
        self._hashes: dict[tuple[bytes, int, int], list[bytes]] = {}

    # -- I/O primitives ----------------------------------------------------------------------
    def _left(self, cap: float) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _Stop("session time limit reached")
        return min(cap, left)

    async def _send(self, raw: bytes) -> None:
        assert self._writer is not None and self._transcript is not None
        self._transcript.record("out", raw)
        self.contact.bytes_sent += len(raw)
        self._writer.write(raw)
        await asyncio.wait_for(self._writer.drain(), self._left(self.limits.read_timeout))

    async def _read_exactly(self, n: int, cap: float, quiet: str | None = None) -> bytes:
        assert self._reader is not None
        try:
            data = await asyncio.wait_for(self._reader.readexactly(n), self._left(cap))
        except TimeoutError:
            raise _Stop(quiet or f"no data from the peer for {cap:g} s") from None
        except asyncio.IncompleteReadError as exc:
            self.contact.bytes_received += len(exc.partial)
            raise _Stop("the peer closed the connection") from None
        self.contact.bytes_received += n
        return data

    async def _next(self, cap: float | None = None, quiet: str | None = None) -> m.Message:
        """The next message other than a keep-alive (bounded in time, count and size)."""
        cap = self.limits.read_timeout if cap is None else cap
        while True:
            prefix = await self._read_exactly(4, cap, quiet)
            try:
                length = m.parse_length(prefix)
            except m.WireError as exc:
                raise _Stop(str(exc)) from None
            body = await self._read_exactly(length, self.limits.read_timeout) if length else b""
            assert self._transcript is not None
            self._transcript.record("in", prefix + body)
            self.contact.messages_in += 1
            if self.contact.messages_in > self.limits.max_messages:
                raise _Stop(f"more than {self.limits.max_messages} messages")
            if not length:
                self.contact.keepalives += 1
                if self.contact.keepalives > self.limits.max_keepalives:
                    raise _Stop(f"more than {self.limits.max_keepalives} keep-alives")
                continue
            try:
                return m.parse_message(body)
            except m.WireError as exc:
                raise _Stop(f"protocol violation: {exc}") from None

    # -- session -----------------------------------------------------------------------------
    async def run(self) -> PeerContact:
        """Run the whole session; never raises for anything the peer does."""
        self._deadline = time.monotonic() + self.limits.session_timeout
        c = self.contact
        try:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.limits.connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise _Stop(f"connection failed: {_describe(exc)}") from None
            self._reader, self._writer = reader, writer
            local = writer.get_extra_info("sockname") or ("0.0.0.0", 0)
            self._transcript = Transcript((local[0], local[1]), (self.host, self.port),
                                          self.pcap)
            c.stage = "handshake"
            await self._handshake()
            c.stage = "contacted"
            await self._exchange()
            c.stage = "done"
        except _Stop as exc:
            c.error = str(exc)
        except (OSError, asyncio.IncompleteReadError) as exc:
            c.error = f"connection error: {_describe(exc)}"
        except TimeoutError:
            c.error = "timed out"
        finally:
            await self._close()
        return c

    async def _close(self) -> None:
        c = self.contact
        c.ended_monotonic_ns = time.monotonic_ns()
        if self._transcript is not None:
            c.transcript_sha256 = self._transcript.digest()
            self._transcript.close()
        for p in c.pieces:
            if p.result == "incomplete" and p.reason is None:
                p.reason = c.error or "not received"
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), 1.0)

    async def _handshake(self) -> None:
        c = self.contact
        v2 = bool(self.expected_btmh or (self.meta and self.meta.btmh))
        await self._send(m.encode_handshake(self.info_hash, self.peer_id,
                                            m.reserved_bytes(v2=v2)))
        raw = await self._read_exactly(m.HANDSHAKE_LEN, self.limits.read_timeout)
        assert self._transcript is not None
        self._transcript.record("in", raw)
        try:
            hs = m.parse_handshake(raw)
        except m.WireError as exc:
            raise _Stop(str(exc)) from None
        # BEP 52: for a hybrid torrent a peer that upgrades answers with the truncated v2 hash.
        v2_short = bytes.fromhex(self.expected_btmh)[:20] if self.expected_btmh else None
        if hs.info_hash not in (self.info_hash, v2_short):
            raise _Stop(f"the peer answered for another infohash {hs.info_hash.hex()}")
        c.peer_id = hs.peer_id.hex()
        c.client = client_from_peer_id(hs.peer_id)
        c.reserved = hs.reserved.hex()
        c.fast = hs.has(m.FAST_BIT)
        self._peer_v2 = hs.has(m.V2_BIT) or (v2_short is not None and hs.info_hash == v2_short)
        if hs.has(m.EXTENSION_BIT):
            await self._send(m.encode_extension_handshake())

    async def _exchange(self) -> None:
        c = self.contact
        claim_deadline = time.monotonic() + self.limits.unchoke_timeout
        # 1. the info dictionary (magnet-only), then claims.
        while self.meta is None:
            await self._metadata_step(claim_deadline)
        wanted: list[int] | None = None
        if self.plan is not None:
            wanted = self.plan(self.meta, self.metadata_raw)
            if not wanted:
                self.declined = True
                return
        self._apply_raw_bitfield()
        await self._send(m.encode_message(m.INTERESTED))
        try:
            while not self._claimed and not c.have_all:
                await self._handle(await self._next(*self._patient(claim_deadline, "claims")))
        except _Stop as exc:
            raise _Stop(f"the peer claimed no piece: {exc}") from None
        c.claimed = self.meta.piece_count if c.have_all else len(self._claimed)
        choices = sorted(self._claimed) if not c.have_all else range(self.meta.piece_count)
        usable = [i for i in choices if self.meta.piece(i).length <= MAX_PIECE_LENGTH
                  and self.meta.piece(i).length > 0]
        if wanted is not None:
            have = set(usable)
            missing = [i for i in wanted if i not in have]
            if missing:
                raise _Stop(f"the peer does not offer {len(missing)} of the {len(wanted)} "
                            f"pieces needed (first: {missing[0]})")
            picked = list(wanted)
        else:
            picked = self.rng.sample(list(usable), min(self.pieces_wanted, len(usable)))
        if not picked:
            raise _Stop("no claimed piece can be fetched within our limits")
        # 2. wait for unchoke
        unchoke_deadline = time.monotonic() + self.limits.unchoke_timeout
        try:
            while self._choked:
                await self._handle(await self._next(*self._patient(unchoke_deadline, "unchoke")))
        except _Stop as exc:
            raise _Stop(f"the peer never unchoked us: {exc}") from None
        c.unchoked = True
        c.stage = "unchoked"
        # 3. pieces
        for index in picked:
            try:
                await self._fetch_piece(self.meta.piece(index))
            except _Stop as exc:
                got = c.pieces[-1].received if c.pieces else 0
                raise _Stop(f"piece {index} stalled after {got} bytes: {exc}") from None

    def _until(self, deadline: float, what: str) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Stop(f"the peer sent no {what} within {self.limits.unchoke_timeout:g} s")
        return min(left, self.limits.read_timeout)

    def _patient(self, deadline: float, what: str) -> tuple[float, str]:
        """How long to wait for the next message while waiting for ``what``, and the words.

        Only ``unchoke_timeout`` bounds the wait for claims and for unchoke, not the shorter
        per-message ``read_timeout``: a real client may rightly say nothing until its next
        rechoke round (Transmission rechokes every 10 s, so a 10 s read timeout gave up just
        before the unchoke came). Keep-alive and message counts and the session limit apply.
        """
        words = f"the peer sent no {what} within {self.limits.unchoke_timeout:g} s"
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Stop(words)
        return left, words

    async def _handle(self, msg: m.Message) -> None:
        """Update state from one message that is not a piece we wait for."""
        c = self.contact
        k = msg.kind
        if k == m.CHOKE:
            self._choked = True
        elif k == m.UNCHOKE:
            self._choked = False
        elif k == m.BITFIELD:
            if self._raw_bitfield is not None or self._bitfield_seen:
                raise _Stop("protocol violation: a second bitfield")
            self._raw_bitfield = msg.payload
            c.bitfield_sha256 = hashlib.sha256(msg.payload).hexdigest()
            self._apply_raw_bitfield()
        elif k == m.HAVE:
            index = m.parse_have(msg.payload)
            if self.meta is not None and index >= self.meta.piece_count:
                raise _Stop(f"protocol violation: have {index} beyond the last piece")
            if len(self._claimed) < 10_000_000:
                self._claimed.add(index)
        elif k == m.HAVE_ALL:
            c.have_all = True
        elif k == m.HAVE_NONE:
            pass
        elif k == m.REJECT:
            c.rejected_requests += 1
        elif k == m.EXTENDED:
            self._extended(msg.payload)
        elif k == m.HASHES:
            try:
                root, base, index, _length, _, hashes = m.parse_hashes(msg.payload)
            except m.WireError as exc:
                raise _Stop(str(exc)) from None
            self._hashes[(root, base, index)] = hashes
        elif k == m.HASH_REJECT:
            self._hashes[(msg.payload[:32], -1, -1)] = []

    def _apply_raw_bitfield(self) -> None:
        if self._raw_bitfield is None or self.meta is None:
            return
        try:
            self._claimed |= set(m.parse_bitfield(self._raw_bitfield, self.meta.piece_count))
        except m.WireError as exc:
            raise _Stop(f"protocol violation: {exc}") from None
        self._raw_bitfield = None
        self._bitfield_seen = True

    def _extended(self, payload: bytes) -> None:
        ext_id, body = payload[0], payload[1:]
        try:
            if ext_id == 0:
                self._peer_ext = m.parse_extension_handshake(body)
                self.contact.extensions = self._peer_ext.summary()
                self.contact.client_v = self._peer_ext.client
            elif ext_id == 3:  # our ut_metadata id
                msg = m.parse_metadata_message(body)
                if msg.msg_type == 1 and msg.piece not in self._metadata_parts:
                    self._metadata_parts[msg.piece] = msg.data
                elif msg.msg_type == 2:
                    raise _Stop(f"the peer rejected metadata piece {msg.piece}")
        except m.WireError as exc:
            raise _Stop(f"protocol violation: {exc}") from None

    # -- BEP 9 -------------------------------------------------------------------------------
    async def _metadata_step(self, deadline: float) -> None:
        c = self.contact
        while self._peer_ext is None:
            await self._handle(await self._next(self._until(deadline, "extension handshake")))
        ext = self._peer_ext
        ut = ext.extensions.get("ut_metadata")
        if ut is None or ext.metadata_size is None:
            c.metadata = "unavailable"
            raise _Stop("the peer offers no ut_metadata; the info dictionary is unknown")
        size = ext.metadata_size
        if size > min(MAX_METADATA, MAX_INFO_BYTES):
            c.metadata = "refused"
            raise _Stop(f"metadata_size {size} exceeds our limit of {MAX_METADATA}")
        count = -(-size // METADATA_PIECE)
        c.metadata = "requested"
        for piece in range(count):
            await self._send(m.metadata_request(ut, piece))
        while len(self._metadata_parts) < count:
            await self._handle(await self._next(self._until(deadline, "metadata")))
            if any(p >= count for p in self._metadata_parts):
                c.metadata = "failed"
                raise _Stop("the peer sent a metadata piece beyond metadata_size")
        for piece in range(count):
            want = min(METADATA_PIECE, size - piece * METADATA_PIECE)
            if len(self._metadata_parts[piece]) != want:
                c.metadata = "failed"
                raise _Stop(f"metadata piece {piece} has {len(self._metadata_parts[piece])} "
                            f"bytes, expected {want} (the metadata size lied)")
        raw = b"".join(self._metadata_parts[i] for i in range(count))
        self._metadata_parts.clear()
        ok = ((self.expected_btih and hashlib.sha1(raw).hexdigest() == self.expected_btih)
              or (self.expected_btmh
                  and hashlib.sha256(raw).hexdigest() == self.expected_btmh))
        if not ok:
            c.metadata = "failed"
            raise _Stop("the info dictionary the peer sent does not hash to the infohash")
        try:
            self.meta = parse_info(raw)
        except MetainfoError as exc:
            c.metadata = "failed"
            raise _Stop(f"the verified info dictionary is unusable: {exc}") from None
        c.metadata = "verified"
        self.metadata_raw = raw

    # -- pieces ------------------------------------------------------------------------------
    async def _fetch_piece(self, spec: PieceSpec) -> None:
        c = self.contact
        result = PieceResult(spec.index, spec.length)
        c.pieces.append(result)
        c.pieces_requested.append(spec.index)
        sha1 = hashlib.sha1()
        leaves: dict[int, bytes] = {}
        pending: dict[int, bytes] = {}  # out-of-order blocks waiting for the SHA-1 stream
        kept = bytearray() if self.sink is not None else None  # only for a download's sink
        next_offset = 0
        offsets = list(range(0, spec.length, m.BLOCK))
        outstanding: set[int] = set()
        queue = list(offsets)
        # v2 hashes are asked only of peers that upgraded; a hybrid is then checked both ways.
        v2 = (spec.v2_file is not None and self.meta is not None and self.meta.btmh is not None
              and (self._peer_v2 or self.meta.btih is None))
        expected_v2 = await self._v2_expected(spec) if v2 else None
        piece_deadline = time.monotonic() + self.limits.unchoke_timeout
        while next_offset < spec.length or (v2 and len(leaves) < len(offsets)):
            while queue and len(outstanding) < PIPELINE and not self._choked:
                off = queue.pop(0)
                outstanding.add(off)
                await self._send(m.request(spec.index, off, min(m.BLOCK, spec.length - off)))
            if time.monotonic() > piece_deadline + self.limits.session_timeout:
                raise _Stop("piece time limit reached")
            msg = await self._next()
            if msg.kind == m.PIECE:
                index, begin, block = m.parse_piece(msg.payload)
                if index != spec.index or begin not in outstanding:
                    continue  # unrequested block: ignored (counted in bytes received)
                want = min(m.BLOCK, spec.length - begin)
                if len(block) != want:
                    raise _Stop(f"protocol violation: block of {len(block)} bytes at {begin}, "
                                f"requested {want}")
                outstanding.discard(begin)
                c.block_bytes += len(block)
                result.received += len(block)
                if v2:
                    leaves[begin // m.BLOCK] = hashlib.sha256(block).digest()
                pending[begin] = block
                while next_offset in pending:
                    block_bytes = pending.pop(next_offset)
                    sha1.update(block_bytes)
                    if kept is not None:
                        kept += block_bytes
                    next_offset += m.BLOCK
                next_offset = min(next_offset, spec.length)
            elif msg.kind == m.REJECT:
                index, begin, _ = m.parse_request_triplet(msg.payload)
                c.rejected_requests += 1
                if index == spec.index and begin in outstanding:
                    raise _Stop(f"the peer rejected our request for piece {index}")
            elif msg.kind == m.CHOKE:
                self._choked = True
                if not c.fast:  # without the fast extension, a choke drops our requests
                    queue = sorted(outstanding) + queue
                    outstanding.clear()
            else:
                await self._handle(msg)
        result.received_sha1 = sha1.hexdigest()
        if spec.v1_length > spec.length:
            # Hybrid: the rest of the v1 piece is a BEP 47 padding file, zeros by definition.
            sha1.update(bytes(spec.v1_length - spec.length))
        self._judge(spec, result, sha1.digest(), leaves, expected_v2)
        if kept is not None and self.sink is not None:
            if result.result != "verified":
                raise _Stop(f"piece {spec.index}: {result.reason or 'not verified'}; "
                            "the download stops (no unverified byte is used)")
            self.sink(spec, bytes(kept))

    def _judge(self, spec: PieceSpec, result: PieceResult, sha1: bytes,
               leaves: dict[int, bytes], expected_v2: bytes | None) -> None:
        assert self.meta is not None
        checks: list[tuple[str, bool]] = []
        if spec.sha1 is not None:
            checks.append(("bt-piece-sha1", sha1 == spec.sha1))
        if expected_v2 is not None and spec.v2_file is not None:
            got = v2_piece_hash([leaves[i] for i in sorted(leaves)], self.meta.piece_length,
                                spec.v2_file.length)
            checks.append(("bt-piece-sha256-merkle", got == expected_v2))
        if not checks:
            result.result = "incomplete"
            result.reason = "no reference hash for this piece could be established"
            return
        result.method = "+".join(name for name, _ in checks)
        if all(ok for _, ok in checks):
            result.result = "verified"
        else:
            result.result = "failed"
            bad = ", ".join(name for name, ok in checks if not ok)
            result.reason = f"{spec.length} bytes received do not match the torrent ({bad})"

    async def _v2_expected(self, spec: PieceSpec) -> bytes | None:
        """The v2 hash of a piece: the file root for a one-piece file, else a proven layer hash."""
        assert self.meta is not None and spec.v2_file is not None
        f, pl = spec.v2_file, self.meta.piece_length
        if f.length <= pl:
            return f.pieces_root
        # Ask the peer for a pair of piece-layer hashes with the uncles up to the file root.
        base = (pl // m.BLOCK).bit_length() - 1
        index = spec.v2_local & ~1
        layer_width = next_pow2(f.piece_count)
        proofs = max(0, layer_width.bit_length() - 2)  # uncles above the pair
        await self._send(m.hash_request(f.pieces_root, base, index, 2, proofs))
        key = (f.pieces_root, base, index)
        deadline = time.monotonic() + self.limits.read_timeout
        while key not in self._hashes and (f.pieces_root, -1, -1) not in self._hashes:
            msg = await self._next(self._until(deadline, "hashes"))
            if msg.kind == m.PIECE:
                continue
            await self._handle(msg)
        hashes = self._hashes.get(key) or []
        if len(hashes) < 2:
            return None
        pair, uncles = hashes[:2], hashes[2:]
        if index + 1 >= f.piece_count and pair[1] != pad_hash(pl):
            return None
        if not verify_layer_proof(pair, index, uncles, f.pieces_root):
            return None
        return pair[spec.v2_local - index]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
