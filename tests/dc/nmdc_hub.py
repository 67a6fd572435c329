"""A small scripted NMDC hub for the tests (no maintained NMDC hub is packaged for Debian/PyPI).

It implements the hub side of the NMDC protocol as documented (see docs/dc-smb.md): ``$Lock``,
checking each client's ``$Key``, ``$ValidateNick`` (``$ValidateDenide`` on a taken nick),
``$GetPass``/``$MyPass`` for registered nicks (``$LogedIn`` for operators), ``$Hello``,
``$MyINFO`` broadcast, ``$NickList``/``$OpList``/``$UserIP``, chat, and relays
``$ConnectToMe``/``$RevConnectToMe``. Real clients (eiskaltdcpp-daemon) and the auditor log in
to it; the hub is only a switchboard, the file lists and segments come from the real clients.
It runs in its own thread with its own event loop, so tests can drive it synchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field

from netwarden.collect.dc import nmdc_proto as nmdc

LOCK = b"EXTENDEDPROTOCOL_scripted_hub_lock"


@dataclass
class _Conn:
    writer: asyncio.StreamWriter
    peer_ip: str
    nick: str | None = None
    supports: set[str] = field(default_factory=set)
    key_ok: bool | None = None
    pending_nick: str | None = None
    logged_in: bool = False


class ScriptedNmdcHub:
    """``ScriptedNmdcHub(host, passwords={nick: pw}, ops={nick}).start()`` → ``.url``."""

    def __init__(self, host: str, *, name: str = "Scripted NMDC",
                 topic: str = "NMDC films", passwords: dict[str, str] | None = None,
                 ops: set[str] | None = None, motd: str = "Welcome to the NMDC hub") -> None:
        self.host, self.name, self.topic, self.motd = host, name, topic, motd
        self.passwords, self.ops = dict(passwords or {}), set(ops or ())
        self.port = 0
        self.conns: dict[str, _Conn] = {}  # logged-in nick -> connection
        self.infos: dict[str, str] = {}  # nick -> $MyINFO args
        self.keys: dict[str, bool] = {}  # nick -> did its $Key match our $Lock
        self.relayed: list[str] = []  # "$RevConnectToMe a b" / "$ConnectToMe ..." seen
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"nmdc://{self.host}:{self.port}"

    def start(self) -> ScriptedNmdcHub:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        fut.result(10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, 0, limit=1 << 16)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self.conns.values()):
                conn.writer.close()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def share_sizes(self) -> dict[str, int | None]:
        """Nick → share size from the latest ``$MyINFO`` (what a hub shows)."""
        out: dict[str, int | None] = {}
        for nick, args in list(self.infos.items()):
            with contextlib.suppress(nmdc.NmdcError):
                out[nick] = nmdc.parse_myinfo(args).share_size
        return out

    # -- protocol ---------------------------------------------------------------------------
    @staticmethod
    def _send(conn: _Conn, data: bytes) -> None:
        with contextlib.suppress(Exception):
            conn.writer.write(data)

    def _broadcast(self, data: bytes) -> None:
        for conn in list(self.conns.values()):
            self._send(conn, data)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(writer, writer.get_extra_info("peername")[0])
        self._send(conn, b"$Lock " + LOCK + b" Pk=scriptedhub|"
                   + nmdc.encode("$HubName", self.name) + nmdc.encode("$HubTopic", self.topic))
        try:
            for _ in range(100_000):
                raw = await asyncio.wait_for(reader.readuntil(b"|"), 120)
                await self._handle(conn, raw[:-1])
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, TimeoutError):
            pass
        finally:
            if conn.nick and self.conns.get(conn.nick) is conn:
                del self.conns[conn.nick]
                self.infos.pop(conn.nick, None)
                self._broadcast(nmdc.encode("$Quit", conn.nick))
            writer.close()

    async def _handle(self, conn: _Conn, raw: bytes) -> None:
        if raw.startswith(b"$Key "):
            conn.key_ok = raw[5:] == nmdc.lock_to_key(LOCK)
            return
        try:
            cmd = nmdc.parse(raw, "utf-8")
        except nmdc.NmdcError:
            return
        name, args = cmd.name, cmd.args
        if name == "$Supports":
            conn.supports = set(args.split())
        elif name == "$ValidateNick":
            if not nmdc.valid_nick(args) or args in self.conns:
                self._send(conn, nmdc.encode("$ValidateDenide", args))
                return
            conn.pending_nick = args
            if args in self.passwords:
                self._send(conn, b"$GetPass|")
            else:
                self._hello(conn)
        elif name == "$MyPass" and conn.pending_nick:
            if self.passwords.get(conn.pending_nick) != args:
                self._send(conn, b"$BadPass|")
                conn.writer.close()
                return
            self._hello(conn)
        elif not conn.logged_in:
            return
        elif name == "$MyINFO":
            info = nmdc.parse_myinfo(args)
            if info.nick != conn.nick:
                return
            first = conn.nick not in self.infos
            self.infos[conn.nick] = args
            self._broadcast(nmdc.encode("$MyINFO", args))
            if first:
                self._send(conn, nmdc.encode(
                    "$OpList", "$$".join(sorted(self.ops & set(self.conns))) + "$$"))
                ips = "$$".join(f"{n} {c.peer_ip}" for n, c in self.conns.items())
                self._broadcast(nmdc.encode("$UserIP", ips + "$$"))
                self._send(conn, f"<{self.name}> {nmdc.escape_chat(self.motd)}|".encode())
        elif name == "$GetNickList":
            self._send(conn, nmdc.encode("$NickList", "$$".join(self.conns) + "$$")
                       + nmdc.encode("$OpList", "$$".join(sorted(self.ops & set(self.conns)))
                                   + "$$"))
            for nick, info in self.infos.items():
                if nick != conn.nick:
                    self._send(conn, nmdc.encode("$MyINFO", info))
        elif name == "$RevConnectToMe":
            parts = args.split(" ")
            if len(parts) == 2 and parts[0] == conn.nick and parts[1] in self.conns:
                self.relayed.append(f"$RevConnectToMe {args}")
                self._send(self.conns[parts[1]], nmdc.encode("$RevConnectToMe", args))
        elif name == "$ConnectToMe":
            target = args.split(" ")[0]
            if target in self.conns:
                self.relayed.append(f"$ConnectToMe {args}")
                self._send(self.conns[target], nmdc.encode("$ConnectToMe", args))
        elif name == "" and args.startswith(f"<{conn.nick}> "):
            self._broadcast(raw + b"|")

    def _hello(self, conn: _Conn) -> None:
        nick = conn.pending_nick or ""
        conn.nick, conn.logged_in = nick, True
        self.keys[nick] = bool(conn.key_ok)
        self.conns[nick] = conn
        self._send(conn, nmdc.encode("$Hello", nick))
        if nick in self.ops:
            self._send(conn, nmdc.encode("$LogedIn", nick))
