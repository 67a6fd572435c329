"""ADC hub session and client-to-client transfers (asyncio), as a visible identified auditor.

The auditor logs in with the nick and description of the scope's ``[auditor]`` table, declares
an empty share (SS0 SF0, no slots), never answers searches and never uploads: a GET from a peer
is answered ``CSTA 151`` (file not available). It only downloads file lists, TTH leaves and
segments of bank files.

Bounds: every line is at most :data:`~.adc_proto.MAX_LINE` bytes, every read waits at most the
read timeout, a download has a deadline and a minimum speed (:mod:`.download`, shared with
NMDC), the user list and the kept chat are capped (a hub that floods them is recorded as
such), and login has an overall deadline. Every peer address comes from the hub and is checked
against the scope before any connection; a refused address is returned to the caller to record.
Passive by default (RCM → the peer's CTM → we connect); with ``active_ip`` the auditor also
advertises I4/TCP4 and sends CTM (:meth:`HubSession.send_ctm`) so passive peers connect to
its listener (:meth:`PeerConnection.accept`, :mod:`.listener`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netwarden.collect.dc import adc_proto as ap
from netwarden.collect.dc.download import Answer, Get, download
from netwarden.collect.dc.errors import AdcError, Denied
from netwarden.collect.speed import SpeedGuard

MAX_USERS = 100_000
MAX_CHAT = 200  # messages kept (MOTD, rules, main chat) for the hub facts
MAX_CHAT_BYTES = 256 * 1024
MAX_NICK_RETRIES = 3
CLIENT_NAME, CLIENT_VERSION = "netwarden", "0.1"
HUB_FEATURES = ("ADBASE", "ADTIGR")
PEER_FEATURES = ("ADBASE", "ADTIGR", "ADBZIP")


@dataclass
class Line:
    """A line-oriented stream with bounded reads (ADC and NMDC share it; NMDC ends with '|')."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    timeout: float
    sep: bytes = b"\n"
    received: int = 0

    async def read_line(self) -> bytes:
        try:
            line = await asyncio.wait_for(self.reader.readuntil(self.sep), self.timeout)
        except asyncio.LimitOverrunError:
            raise AdcError(f"line longer than {ap.MAX_LINE} bytes") from None
        except asyncio.IncompleteReadError:
            raise AdcError("connection closed by the other side") from None
        except TimeoutError:
            raise AdcError(f"no complete line within {self.timeout:g} s") from None
        self.received += len(line)
        return line[:-len(self.sep)]

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), self.timeout)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2)


async def open_line(host: str, port: int, connect_timeout: float, read_timeout: float,
                    sep: bytes = b"\n", bind: str | None = None) -> Line:
    """Connect with bounded lines; ``bind`` sets our source address (active mode: the hub
    must see the address peers are to connect to)."""
    local = (bind, 0) if bind else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, limit=ap.MAX_LINE, local_addr=local),
        connect_timeout)
    return Line(reader, writer, read_timeout, sep)


@dataclass
class Identity:
    """Our PID/CID and what we show the hub."""

    nick: str
    description: str
    pid: bytes = field(default_factory=lambda: os.urandom(24))

    @property
    def cid(self) -> str:
        return ap.b32(ap.cid_from_pid(self.pid))


@dataclass
class HubFacts:
    """What the hub says about itself and what happened while we were there."""

    name: str | None = None
    description: str | None = None  # ADC hubs carry the topic in the hub's DE
    software: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    messages_dropped: int = 0
    users_dropped: int = 0
    protocol_errors: int = 0
    statuses: list[str] = field(default_factory=list)
    nick_used: str | None = None
    nick_collisions: list[str] = field(default_factory=list)
    password_challenged: bool = False


class HubSession:
    """One logged-in hub connection with a background reader dispatching messages."""

    def __init__(self, host: str, port: int, identity: Identity, *, password: str | None,
                 connect_timeout: float, read_timeout: float, max_users: int = MAX_USERS,
                 login_deadline: float = 60.0, active_ip: str | None = None) -> None:
        self.host, self.port, self.identity, self.password = host, port, identity, password
        # active mode: we listen on active_ip, advertise it (I4, SU TCP4) and send CTMs
        self.active_ip = active_ip
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.max_users, self.login_deadline = max_users, login_deadline
        self.facts = HubFacts()
        self.users: dict[str, ap.UserInfo] = {}
        self.sid: str | None = None
        self.line: Line | None = None
        self._ctm: dict[str, asyncio.Future[tuple[str, int, str]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._logged_in = asyncio.Event()
        self._closed_reason: str | None = None
        self._chat_bytes = 0
        self.local_ip: str | None = None

    # -- login -----------------------------------------------------------------------------
    async def login(self) -> None:
        """Connect and log in; retry with a suffixed nick when the hub says it is taken."""
        base = self.identity.nick
        for attempt in range(MAX_NICK_RETRIES + 1):
            nick = base if attempt == 0 else f"{base}_{attempt + 1}"
            try:
                await self._login_once(nick)
                self.facts.nick_used = nick
                return
            except _NickTaken as exc:
                self.facts.nick_collisions.append(f"{nick}: {exc}")
                await self.close()
                self.users.clear()
                self.identity = Identity(base, self.identity.description, os.urandom(24))
        raise Denied(f"nick taken {MAX_NICK_RETRIES + 1} times "
                     f"({'; '.join(self.facts.nick_collisions)})")

    async def _login_once(self, nick: str) -> None:
        self.line = await open_line(self.host, self.port, self.connect_timeout,
                                    self.read_timeout, bind=self.active_ip)
        sockname = self.line.writer.get_extra_info("sockname")
        self.local_ip = sockname[0] if sockname else None
        self._logged_in = asyncio.Event()
        self._closed_reason = None
        await self.line.send(ap.Message("H", "SUP", HUB_FEATURES).encode())
        deadline = time.monotonic() + self.login_deadline
        self._nick = nick
        while not self._logged_in.is_set():
            if time.monotonic() > deadline:
                raise AdcError(f"login not complete after {self.login_deadline:g} s "
                               f"({len(self.users)} users so far)")
            await self._handle(await self.line.read_line(), during_login=True)
        self._reader = asyncio.create_task(self._read_forever())

    def _inf(self) -> ap.Message:
        assert self.sid is not None
        ident = self.identity
        params = [f"ID{ident.cid}", f"PD{ap.b32(ident.pid)}", f"NI{self._nick}",
                  f"DE{ident.description}", "SS0", "SF0", "SL0", "HN1", "HR0", "HO0",
                  f"AP{CLIENT_NAME}", f"VE{CLIENT_VERSION}"]
        if self.active_ip:  # peers may connect to us (only the connections we ask for)
            params += [f"I4{self.active_ip}", "SUTCP4"]
        else:
            params += ["I40.0.0.0", "SU"]
        return ap.Message("B", "INF", tuple(params), src=self.sid)

    async def _handle(self, raw: bytes, during_login: bool = False) -> None:
        if not raw.strip():
            return  # keep-alive
        try:
            msg = ap.parse(raw)
        except ap.ProtocolError:
            self.facts.protocol_errors += 1
            if self.facts.protocol_errors > 1000:
                raise AdcError("more than 1000 malformed messages from the hub") from None
            return
        assert self.line is not None
        cmd = msg.cmd
        if msg.type == "I" and cmd == "SID" and msg.params:
            self.sid = msg.params[0]
            await self.line.send(self._inf().encode())
        elif msg.type == "I" and cmd == "INF":
            named = msg.named()
            self.facts.name = (named.get("NI") or [self.facts.name])[-1]
            self.facts.description = (named.get("DE") or [self.facts.description])[-1]
            ve = named.get("VE") or named.get("AP")
            self.facts.software = ve[-1] if ve else self.facts.software
        elif msg.type == "I" and cmd == "GPA" and msg.params:
            self.facts.password_challenged = True
            if not self.password:
                raise Denied("the hub asks for a password and the scope gives none")
            await self.line.send(ap.Message("H", "PAS", (ap.password_response(
                self.password, msg.params[0]),)).encode())
        elif cmd == "INF" and msg.type == "B" and msg.src:
            self._user_inf(msg)
        elif cmd == "QUI":
            await self._quit(msg, during_login)
        elif cmd == "STA":
            self._status(msg, during_login)
        elif cmd == "MSG":
            self._chat(msg)
        elif cmd == "CTM" and msg.type in "DE" and msg.dst == self.sid:
            self._ctm_reply(msg)
        elif cmd == "GET" or cmd == "SCH" or cmd == "RCM":
            pass  # we share nothing and answer no searches; an RCM to us is ignored

    def _user_inf(self, msg: ap.Message) -> None:
        assert msg.src is not None
        user = self.users.get(msg.src)
        if user is None:
            if len(self.users) >= self.max_users and msg.src != self.sid:
                self.facts.users_dropped += 1
                return
            user = self.users[msg.src] = ap.UserInfo(msg.src)
        user.update(msg)
        if msg.src == self.sid:
            self._logged_in.set()  # the hub sends our own INF last: the user list is complete

    async def _quit(self, msg: ap.Message, during_login: bool) -> None:
        target = msg.params[0] if msg.params else None
        if (target and target == self.sid) or (during_login and target is None):
            reason = msg.get("MS") or "no reason given"
            self._closed_reason = f"hub disconnected us: {reason}"
            raise Denied(self._closed_reason)
        if target:
            self.users.pop(target, None)

    def _status(self, msg: ap.Message, during_login: bool) -> None:
        try:
            severity, code, text = ap.status(msg)
        except ap.ProtocolError:
            self.facts.protocol_errors += 1
            return
        self.facts.statuses.append(f"{severity}{code:02d} {text}"[:300])
        del self.facts.statuses[:-50]
        if severity == 2 or (during_login and code in (22, 23, 24, 21, 26, 27)):
            if code == 22:
                raise _NickTaken(text or "nick taken")
            raise Denied(f"hub error {severity}{code:02d}: {text}")

    def _chat(self, msg: ap.Message) -> None:
        text = msg.params[0] if msg.params else ""
        if len(self.facts.messages) >= MAX_CHAT or self._chat_bytes + len(text) > MAX_CHAT_BYTES:
            self.facts.messages_dropped += 1
            return
        self._chat_bytes += len(text)
        sender = self.users.get(msg.src) if msg.src else None
        self.facts.messages.append({
            "from": "hub" if msg.type == "I" else (sender.nick if sender else msg.src),
            "sid": msg.src, "private": msg.type in "DE", "text": text[:4096],
            "operator": bool(sender and sender.is_operator),
            "bot": bool(sender and sender.is_bot)})

    def _ctm_reply(self, msg: ap.Message) -> None:
        if len(msg.params) < 3:
            return
        proto, port, token = msg.params[0], msg.params[1], msg.params[2]
        fut = self._ctm.pop(token, None)
        if fut is None or fut.done():
            return
        try:
            fut.set_result((msg.src or "", int(port), proto))
        except ValueError:
            fut.set_exception(AdcError(f"CTM with a bad port {port[:16]!r}"))

    async def _read_forever(self) -> None:
        assert self.line is not None
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(self.line.reader.readuntil(b"\n"), 600)
                except asyncio.LimitOverrunError:
                    self.facts.protocol_errors += 1
                    raise AdcError("hub sent a line longer than the limit") from None
                await self._handle(raw[:-1])
        except (AdcError, asyncio.IncompleteReadError, OSError, TimeoutError) as exc:
            self._closed_reason = self._closed_reason or f"hub connection ended: {exc}"
            for fut in self._ctm.values():
                if not fut.done():
                    fut.set_exception(AdcError(self._closed_reason))

    # -- client-client ----------------------------------------------------------------------
    async def request_connection(self, sid: str, timeout: float) -> tuple[str, int, str]:
        """Send RCM to ``sid``; wait for its CTM: ``(token, port, protocol)``."""
        if self.line is None or self.sid is None:
            raise AdcError("not logged in")
        if self._closed_reason:
            raise AdcError(self._closed_reason)
        token = secrets.token_hex(6)
        fut: asyncio.Future[tuple[str, int, str]] = asyncio.get_running_loop().create_future()
        self._ctm[token] = fut
        await self.line.send(ap.Message("D", "RCM", ("ADC/1.0", token), src=self.sid,
                                        dst=sid).encode())
        try:
            _src, port, proto = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AdcError(f"no CTM answer to our RCM within {timeout:g} s") from None
        finally:
            self._ctm.pop(token, None)
        return token, port, proto

    async def send_ctm(self, sid: str, port: int, token: str) -> None:
        """``DCTM <us> <sid> ADC/1.0 <port> <token>``: ask ``sid`` to connect to our listener."""
        if self.line is None or self.sid is None:
            raise AdcError("not logged in")
        if self._closed_reason:
            raise AdcError(self._closed_reason)
        await self.line.send(ap.Message("D", "CTM", ("ADC/1.0", str(port), token),
                                        src=self.sid, dst=sid).encode())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
            self._reader = None
        if self.line is not None:
            await self.line.close()
            self.line = None


class _NickTaken(Denied):
    pass


class PeerConnection:
    """A client-client connection: opened by us after the peer's CTM (answer to our RCM), or
    accepted by our listener after our CTM (:meth:`accept`)."""

    # how ADC spells a download (see .download, shared with NMDC)
    get_name, send_name = "GET", "SND"
    decline = ap.Message("C", "STA", ("151", "Not sharing")).encode()

    def __init__(self, line: Line, identity: Identity) -> None:
        self.line, self.identity = line, identity
        self.peer_cid: str | None = None
        self.peer_features: set[str] = set()
        self.remote: tuple[str, int] | None = None  # the peer's address as seen
        self.incoming = False

    @classmethod
    async def accept(cls, line: Line, identity: Identity,
                     expected: Callable[[str], bool]) -> tuple[str, PeerConnection]:
        """Listening side of the handshake: their CSUP, our CSUP + CINF, their CINF with the
        token (``TO``) of a CTM we sent. Returns ``(token, connection)``."""
        conn = cls(line, identity)
        conn.incoming = True
        msg = await conn._next()
        if msg.cmd != "SUP":
            raise AdcError(f"peer opened with {msg.cmd}, not SUP")
        conn.peer_features = {p[2:] for p in msg.params if p.startswith("AD")}
        await line.send(ap.Message("C", "SUP", PEER_FEATURES).encode()
                        + ap.Message("C", "INF", (f"ID{identity.cid}",)).encode())
        for _ in range(20):
            msg = await conn._next()
            if msg.cmd == "INF":
                break
            if msg.cmd == "STA":
                severity, code, text = ap.status(msg)
                if severity:
                    raise AdcError(f"peer refused: {severity}{code:02d} {text}")
        else:
            raise AdcError("peer did not identify itself (no CINF)")
        token, conn.peer_cid = msg.get("TO"), msg.get("ID")
        if not token or not expected(token):
            await line.send(ap.Message("C", "STA", ("240", "Token not expected")).encode())
            raise AdcError(f"token {str(token)[:32]!r} not expected (CID {conn.peer_cid})")
        return token, conn

    @classmethod
    async def connect(cls, host: str, port: int, token: str, identity: Identity,
                      connect_timeout: float, read_timeout: float) -> PeerConnection:
        line = await open_line(host, port, connect_timeout, read_timeout)
        conn = cls(line, identity)
        conn.remote = (host, port)
        try:
            await conn._handshake(token)
        except BaseException:
            await line.close()
            raise
        return conn

    async def _handshake(self, token: str) -> None:
        await self.line.send(ap.Message("C", "SUP", PEER_FEATURES).encode())
        got_inf = False
        for _ in range(20):
            msg = await self._next()
            if msg.cmd == "SUP":
                self.peer_features = {p[2:] for p in msg.params if p.startswith("AD")}
            elif msg.cmd == "INF":
                self.peer_cid = msg.get("ID")
                got_inf = True
                break
            elif msg.cmd == "STA":
                severity, code, text = ap.status(msg)
                if severity:
                    raise AdcError(f"peer refused: {severity}{code:02d} {text}")
        if not got_inf:
            raise AdcError("peer did not identify itself (no CINF)")
        await self.line.send(ap.Message("C", "INF", (f"ID{self.identity.cid}",
                                                     f"TO{token}")).encode())

    async def _next(self) -> ap.Message:
        for _ in range(100):
            raw = await self.line.read_line()
            if raw.strip():
                try:
                    return ap.parse(raw)
                except ap.ProtocolError as exc:
                    raise AdcError(f"peer sent a malformed message: {exc}") from None
        raise AdcError("peer sent only empty lines")

    async def get(self, kind: str, ident: str, start: int, length: int, max_bytes: int,
                  sink: Callable[[bytes], None], deadline: float,
                  speed: SpeedGuard | None = None) -> int:
        """``CGET kind ident start length``; stream the CSND bytes into ``sink``; their count.

        A peer GET (it wants to download from us) is answered with ``CSTA 151``: we never
        upload. Raises :class:`AdcError` for a refusal, an announced size over ``max_bytes``,
        a mismatched answer, or a transfer past ``deadline`` or slower than ``speed`` allows
        (see :func:`.download.download`).
        """
        return await download(self, Get(kind, ident, start, length), max_bytes, sink,
                              deadline, speed)

    def request(self, get: Get) -> bytes:
        """``CGET`` for :func:`.download.download`."""
        return ap.Message("C", "GET", (get.kind, get.ident, str(get.start),
                                       str(get.length))).encode()

    async def answer(self) -> Answer:
        """The peer's next message for :func:`.download.download`: CSND, CSTA or its CGET."""
        msg = await self._next()
        if msg.cmd == "SND":
            return Answer(send=ap.snd_header(msg))
        if msg.cmd == "STA":
            severity, code, text = ap.status(msg)
            if severity:
                return Answer(refused=f"peer refused: {severity}{code:02d} {text}")
        elif msg.cmd == "GET":
            return Answer(wants=True)
        return Answer()

    async def close(self) -> None:
        await self.line.close()
