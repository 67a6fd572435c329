"""A digest of one peer session's protocol messages, content excluded; optional PCAP.

Why: a court may ask what exactly was said on the wire. The transcript digest commits to every
message in order (direction, relative time, type and the bytes of every non-piece message);
piece messages contribute only their index, offset, length and the SHA-256 of the block, so the
digest proves the exchange without keeping content. The PCAP (optional, for a protocol expert)
holds the same stream as synthetic TCP packets with the block bytes of piece messages zeroed.
"""

from __future__ import annotations

import hashlib
import struct
import time
from pathlib import Path

from netwarden.collect.bittorrent.messages import PIECE

MAX_RECORDED_MESSAGES = 100_000


class Transcript:
    """Collects message summaries for one session and hashes them as they come."""

    def __init__(self, local: tuple[str, int], remote: tuple[str, int],
                 pcap: Path | None = None) -> None:
        self._hash = hashlib.sha256()
        self._start = time.monotonic_ns()
        self.messages = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.local, self.remote = local, remote
        self._pcap = _Pcap(pcap, local, remote) if pcap else None

    def record(self, direction: str, raw: bytes) -> None:
        """Record one message (or handshake) as framed on the wire; ``direction`` is in/out."""
        if direction == "in":
            self.bytes_in += len(raw)
        else:
            self.bytes_out += len(raw)
        self.messages += 1
        if self.messages > MAX_RECORDED_MESSAGES:
            return
        t = (time.monotonic_ns() - self._start) // 1000
        if len(raw) > 13 and raw[4] == PIECE:
            summary = raw[:13] + hashlib.sha256(raw[13:]).digest()
            wire = raw[:13] + bytes(len(raw) - 13)
        else:
            summary = wire = raw
        self._hash.update(direction.encode() + struct.pack(">QI", t, len(summary)) + summary)
        if self._pcap:
            self._pcap.packet(direction == "out", wire)

    def digest(self) -> str:
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._pcap:
            self._pcap.close()


class _Pcap:
    """A minimal libpcap writer (LINKTYPE_RAW IPv4/TCP); sequence numbers follow the stream."""

    def __init__(self, path: Path, local: tuple[str, int], remote: tuple[str, int]) -> None:
        self.file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        self.local, self.remote = local, remote
        self.seq = {True: 1, False: 1}

    @staticmethod
    def _ip(text: str) -> bytes:
        try:
            return bytes(int(p) for p in text.split("."))
        except ValueError:
            return bytes(4)  # IPv6 endpoints are not written as IPv4 headers

    def packet(self, outgoing: bool, data: bytes) -> None:
        src, dst = (self.local, self.remote) if outgoing else (self.remote, self.local)
        for off in range(0, max(1, len(data)), 65000):
            chunk = data[off:off + 65000]
            tcp = struct.pack(">HHIIBBHHH", src[1], dst[1], self.seq[outgoing],
                              self.seq[not outgoing], 5 << 4, 0x18, 65535, 0, 0)
            total = 20 + len(tcp) + len(chunk)
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 6, 0,
                             self._ip(src[0]), self._ip(dst[0]))
            self.seq[outgoing] = (self.seq[outgoing] + len(chunk)) & 0xFFFFFFFF
            now = time.time()
            self.file.write(struct.pack("<IIII", int(now), int(now % 1 * 1e6), total, total))
            self.file.write(ip + tcp + chunk)

    def close(self) -> None:
        self.file.close()
