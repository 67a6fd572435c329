"""Real BitTorrent software on loopback for the tests: libtorrent seeders and opentracker.

Content is random bytes written to a temporary directory; .torrent files are made with
libtorrent's own ``create_torrent``. Every process/session started here is stopped by its
context manager.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libtorrent as lt

from netwarden.codec.bencode import decode_with_spans
from netwarden.collect.references import TorrentReference


@dataclass
class MadeTorrent:
    path: Path  # the .torrent
    data_dir: Path  # the directory holding the content
    raw: bytes  # the .torrent bytes
    info: bytes  # bencoded info dictionary
    btih: str | None
    btmh: str | None
    piece_length: int
    name: str

    def reference(self, with_info: bool = True, ref_id: str = "ref") -> TorrentReference:
        return TorrentReference(bank="films", category="film", reference_id=ref_id,
                                title=self.name, btih=self.btih, btmh=self.btmh,
                                info=self.info if with_info else None)


def make_torrent(tmp: Path, name: str, size: int, piece_length: int = 32 * 1024,
                 version: str = "v1", files: int = 1) -> MadeTorrent:
    """Random content of ``size`` bytes (split over ``files``) and its torrent."""
    data_dir = tmp / f"data-{name}"
    data_dir.mkdir(parents=True)
    if files == 1:
        (data_dir / name).write_bytes(os.urandom(size))
    else:
        (data_dir / name).mkdir()
        for i in range(files):
            (data_dir / name / f"part{i}.bin").write_bytes(os.urandom(size // files + i * 1000))
    fs = lt.file_storage()
    lt.add_files(fs, str(data_dir / name))
    flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only,
             "hybrid": 0}[version]
    ct = lt.create_torrent(fs, piece_length, flags=flags)
    lt.set_piece_hashes(ct, str(data_dir))
    raw = lt.bencode(ct.generate())
    path = tmp / f"{name}.torrent"
    path.write_bytes(raw)
    _, spans = decode_with_spans(raw, strict=False)
    info = spans[b"info"]
    btih = hashlib.sha1(info).hexdigest() if version != "v2" else None
    btmh = hashlib.sha256(info).hexdigest() if version != "v1" else None
    return MadeTorrent(path, data_dir, raw, info, btih, btmh, piece_length, name)


def free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Seeder:
    """One libtorrent session seeding some torrents from ``host:port``."""

    def __init__(self, host: str, port: int | None = None, dht: bool = False,
                 extra: dict[str, Any] | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        settings = {
            "listen_interfaces": f"{host}:{self.port}",
            "outgoing_interfaces": host,
            "enable_dht": dht, "enable_lsd": False, "enable_upnp": False,
            "enable_natpmp": False, "enable_incoming_utp": False, "enable_outgoing_utp": False,
            "alert_mask": lt.alert_category.error | lt.alert_category.status,
            "announce_ip": host, "allow_multiple_connections_per_ip": True,
            "user_agent": "libtorrent-test", "min_announce_interval": 1,
        }
        settings.update(extra or {})
        self.session = lt.session(settings)
        self.handles: list[Any] = []

    def seed(self, torrent: MadeTorrent, trackers: list[str] = ()) -> Any:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(str(torrent.path))
        params.save_path = str(torrent.data_dir)
        params.trackers = list(trackers)
        handle = self.session.add_torrent(params)
        self.handles.append(handle)
        return handle

    def wait_seeding(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(h.status().is_seeding for h in self.handles):
                return
            time.sleep(0.05)
        raise AssertionError("libtorrent did not start seeding in time")

    def close(self) -> None:
        for h in self.handles:
            self.session.remove_torrent(h)
        self.session.pause()
        del self.session


@contextmanager
def seeders(n: int, torrents: list[MadeTorrent], base: str = "127.77.1.",
            trackers: list[str] = ()) -> Iterator[list[Seeder]]:
    started: list[Seeder] = []
    try:
        for i in range(n):
            s = Seeder(f"{base}{i + 1}")
            started.append(s)
            for t in torrents:
                s.seed(t, trackers)
        for s in started:
            s.wait_seeding()
        yield started
    finally:
        for s in started:
            s.close()


@contextmanager
def opentracker(workdir: Path, info_hashes: list[str], host: str = "127.77.0.10"
                ) -> Iterator[int]:
    """Start opentracker on ``host`` (TCP and UDP on one free port); yield the port.

    Debian's opentracker is built with a whitelist: only ``info_hashes`` (hex) are tracked.
    """
    exe = shutil.which("opentracker")
    if exe is None:
        raise RuntimeError("opentracker is not installed (apt-get install -y opentracker)")
    port = free_port(host)
    # opentracker chroots here and drops to "nobody", which must be able to read the list.
    workdir = workdir / "opentracker"
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    (workdir / "whitelist.txt").write_text("".join(f"{h}\n" for h in info_hashes))
    proc = subprocess.Popen([exe, "-i", host, "-p", str(port), "-P", str(port), "-d",
                             str(workdir), "-w", "whitelist.txt"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=workdir)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("opentracker did not start")
        _wait_whitelist(host, port, info_hashes)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_whitelist(host: str, port: int, info_hashes: list[str]) -> None:
    """opentracker reads its whitelist in a thread after start: wait until it is in force."""
    from urllib.parse import quote_from_bytes

    if not info_hashes:
        return
    ih = quote_from_bytes(bytes.fromhex(info_hashes[0]), safe="")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(f"GET /announce?info_hash={ih}&peer_id=-XX0001-000000000000&port=1"
                      "&left=0&event=stopped HTTP/1.0\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        if b"not authorized" not in data:
            return
        time.sleep(0.05)
    raise RuntimeError("opentracker did not load its whitelist")
