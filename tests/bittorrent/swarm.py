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
from realserver import serve


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
                 version: str = "v1", files: int = 1, content: bytes | None = None
                 ) -> MadeTorrent:
    """Random content of ``size`` bytes (split over ``files``), or the one file ``content``,
    and its torrent."""
    data_dir = tmp / f"data-{name}"
    data_dir.mkdir(parents=True)
    if content is not None:
        (data_dir / name).write_bytes(content)
    elif files == 1:
        (data_dir / name).write_bytes(os.urandom(size))
    else:
        (data_dir / name).mkdir()
        for i in range(files):
            (data_dir / name / f"part{i}.bin").write_bytes(os.urandom(size // files + i * 1000))
    flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only,
             "hybrid": 0}[version]
    # libtorrent 2.1: list_files() + create_torrent(list of create_file_entry) replace the
    # deprecated add_files(file_storage) / create_torrent(file_storage).
    ct = lt.create_torrent(lt.list_files(str(data_dir / name)), piece_length, flags=flags)
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
    argv = [exe, "-i", host, "-p", str(port), "-P", str(port), "-d", str(workdir), "-w",
            "whitelist.txt"]
    with serve(argv, host, port, workdir / "no-log", cwd=workdir):
        _wait_whitelist(host, port, info_hashes)
        yield port


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


# -- Transmission (a second, independent BitTorrent implementation) ------------------------------

class TransmissionRPC:
    """Minimal client of transmission-daemon's JSON RPC (the ``X-Transmission-Session-Id`` dance).

    The daemon answers 409 with a fresh session id until a request carries it (CSRF guard);
    the id is remembered and the request repeated once.
    """

    def __init__(self, host: str, port: int) -> None:
        self.url = f"http://{host}:{port}/transmission/rpc"
        self.session_id = ""

    def call(self, method: str, arguments: dict[str, Any] | None = None,
             timeout: float = 5.0) -> dict[str, Any]:
        import json
        import urllib.error
        import urllib.request

        body = json.dumps({"method": method, "arguments": arguments or {}}).encode()
        for _ in range(2):
            req = urllib.request.Request(self.url, data=body, method="POST", headers={
                "X-Transmission-Session-Id": self.session_id,
                "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    answer = json.loads(resp.read(4 * 1024 * 1024))
            except urllib.error.HTTPError as exc:
                if exc.code == 409 and exc.headers.get("X-Transmission-Session-Id"):
                    self.session_id = exc.headers["X-Transmission-Session-Id"]
                    continue
                raise
            if answer.get("result") != "success":
                raise RuntimeError(f"transmission RPC {method}: {answer.get('result')!r}")
            return answer.get("arguments", {})
        raise RuntimeError(f"transmission RPC {method}: no session id accepted")


class TransmissionSeeder:
    """A transmission-daemon (Debian package) seeding from ``host:port``, in the foreground.

    Its own ``--config-dir`` under ``workdir``; DHT, LPD, PEX, uTP and port forwarding off, so
    it is reachable only by its listen address; plaintext peer connections preferred (the
    collector speaks plaintext BitTorrent). Torrents are added through RPC with the content
    already in place, so Transmission checks it and seeds.
    """

    TR_STATUS_SEED = 6

    def __init__(self, workdir: Path, host: str) -> None:
        import json

        exe = shutil.which("transmission-daemon")
        if exe is None:
            raise RuntimeError("transmission-daemon is not installed "
                               "(apt-get install -y transmission-daemon)")
        self.host = host
        self.port = free_port(host)
        self.rpc_port = free_port("127.0.0.1")
        self.config_dir = workdir / f"transmission-{host}"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        settings = {
            "bind-address-ipv4": host, "bind-address-ipv6": "::1",
            "peer-port": self.port, "peer-port-random-on-start": False,
            "port-forwarding-enabled": False, "dht-enabled": False, "lpd-enabled": False,
            "pex-enabled": False, "utp-enabled": False,
            "encryption": 0,  # prefer plaintext; incoming plaintext is always accepted then
            "rpc-enabled": True, "rpc-bind-address": "127.0.0.1", "rpc-port": self.rpc_port,
            "rpc-authentication-required": False, "rpc-whitelist-enabled": False,
            "rpc-host-whitelist-enabled": False,
            "download-dir": str(workdir), "incomplete-dir-enabled": False,
            "watch-dir-enabled": False, "start-added-torrents": True,
            "speed-limit-up-enabled": False, "alt-speed-enabled": False,
            "ratio-limit-enabled": False, "idle-seeding-limit-enabled": False,
            "blocklist-enabled": False, "cache-size-mb": 4, "message-level": 2,
            "peer-limit-global": 1000, "peer-limit-per-torrent": 500,
        }
        (self.config_dir / "settings.json").write_text(json.dumps(settings, indent=1))
        self.log_path = self.config_dir / "daemon.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([exe, "-f", "--config-dir", str(self.config_dir)],
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.rpc = TransmissionRPC("127.0.0.1", self.rpc_port)
        try:
            deadline = time.monotonic() + 15
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"transmission-daemon exited: {self.log_tail()}")
                try:
                    self.version = self.rpc.call("session-get", timeout=1)["version"]
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("transmission-daemon RPC did not come up: "
                                           f"{self.log_tail()}") from None
                    time.sleep(0.1)
        except BaseException:
            self.close()
            raise
        self.ids: list[int] = []

    def log_tail(self, limit: int = 2000) -> str:
        return self.log_path.read_bytes()[-limit:].decode("utf-8", "replace")

    def seed(self, torrent: MadeTorrent, trackers: list[str] = ()) -> int:
        """Add ``torrent`` (metainfo in base64) with its content dir; add ``trackers``."""
        import base64

        added = self.rpc.call("torrent-add", {
            "metainfo": base64.b64encode(torrent.raw).decode(),
            "download-dir": str(torrent.data_dir), "paused": False})
        entry = added.get("torrent-added") or added.get("torrent-duplicate")
        tid = int(entry["id"])
        if trackers:
            self.rpc.call("torrent-set", {"ids": [tid], "trackerAdd": list(trackers)})
        self.ids.append(tid)
        return tid

    def torrents(self) -> list[dict[str, Any]]:
        return self.rpc.call("torrent-get", {"ids": self.ids, "fields": [
            "id", "hashString", "percentDone", "status", "error", "errorString",
            "trackerStats", "peersConnected"]})["torrents"]

    def wait_seeding(self, timeout: float = 30.0) -> None:
        """Until every torrent is checked complete (``percentDone`` 1) and seeding."""
        deadline = time.monotonic() + timeout
        state: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            state = self.torrents()
            if state and all(t["percentDone"] == 1 and t["status"] == self.TR_STATUS_SEED
                             for t in state):
                return
            time.sleep(0.1)
        raise AssertionError(f"transmission did not start seeding: {state} {self.log_tail()}")

    def close(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; the daemon is always reaped."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextmanager
def transmission_seeder(workdir: Path, torrents: list[MadeTorrent], host: str = "127.77.7.1",
                        trackers: list[str] = ()) -> Iterator[TransmissionSeeder]:
    """A transmission-daemon seeding ``torrents`` from ``host``; stopped on exit."""
    seeder = TransmissionSeeder(workdir, host)
    try:
        for t in torrents:
            seeder.seed(t, trackers)
        seeder.wait_seeding()
        yield seeder
    finally:
        seeder.close()
