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
import os
import secrets
import time
from collections.abc import Callable

from netwarden.collect.dc import adc_proto as ap
from netwarden.collect.dc.download import Answer, Get
from netwarden.collect.dc.errors import AdcError, Denied, HubError
from netwarden.collect.dc.hub import (
    MAX_USERS,
    Identity,
    Line,
    NickTaken,
    Peer,
    open_line,
)
from netwarden.collect.dc.hub import HubSession as _HubSession

# Importable from here as before (tests and callers of the ADC client use these names).
__all__ = ["AdcError", "AdcHubSession", "Denied", "HubError", "HubSession", "Identity", "Line",
           "PeerConnection", "open_line"]

CLIENT_NAME, CLIENT_VERSION = "netwarden", "0.1"
HUB_FEATURES = ("ADBASE", "ADTIGR")
PEER_FEATURES = ("ADBASE", "ADTIGR", "ADBZIP")


class AdcHubSession(_HubSession):
    """One logged-in ADC hub connection (see :class:`.hub.HubSession`)."""

    sep = b"\n"
    error = AdcError

    def __init__(self, host: str, port: int, identity: Identity, *, password: str | None,
                 connect_timeout: float, read_timeout: float, max_users: int = MAX_USERS,
                 login_deadline: float = 60.0, active_ip: str | None = None) -> None:
        super().__init__(host, port, identity, password=password,
                         connect_timeout=connect_timeout, read_timeout=read_timeout,
                         max_users=max_users, login_deadline=login_deadline,
                         active_ip=active_ip)
        self._ctm: dict[str, asyncio.Future[tuple[str, int, str]]] = {}
        self._logged_in = asyncio.Event()

    # -- login -----------------------------------------------------------------------------
    def _after_nick_taken(self) -> None:
        # a fresh PID (and so CID) with the next nick: the hub may tie the old one to it
        self.identity = Identity(self.identity.nick, self.identity.description, os.urandom(24))

    async def _login_once(self, nick: str) -> None:
        line = await self._connect()
        self._logged_in = asyncio.Event()
        await line.send(ap.Message("H", "SUP", HUB_FEATURES).encode())
        deadline = self._login_deadline()
        self._nick = nick
        while not self._logged_in.is_set():
            if time.monotonic() > deadline:
                raise AdcError(f"login not complete after {self.login_deadline:g} s "
                               f"({len(self.users)} users so far)")
            await self._handle(await line.read_line(), during_login=True)
        self._start_reader()

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
            self._protocol_error()
            return
        assert self.line is not None
        cmd = msg.cmd
        if msg.type == "I" and cmd == "SID" and msg.params:
            self.sid = msg.params[0]
            await self.line.send(self._inf().encode())
        elif msg.type == "I" and cmd == "INF":
            named = msg.named()
            if ni := named.get("NI"):
                self.facts.name = ni[-1]
            if de := named.get("DE"):
                self.facts.description = de[-1]
            if ve := named.get("VE") or named.get("AP"):
                self.facts.software = ve[-1]
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
        user = self.users.get(msg.src) or self._new_user(msg.src, ap.UserInfo(msg.src),
                                                         ours=msg.src == self.sid)
        if user is None:
            return
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
                raise NickTaken(text or "nick taken")
            raise Denied(f"hub error {severity}{code:02d}: {text}")

    def _chat(self, msg: ap.Message) -> None:
        text = msg.params[0] if msg.params else ""
        if not self._keep_chat(text):
            return
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

    def _connection_ended(self, reason: str) -> None:
        for fut in self._ctm.values():
            if not fut.done():
                fut.set_exception(AdcError(reason))

    # -- client-client ----------------------------------------------------------------------
    async def request_connection(self, sid: str, timeout: float) -> tuple[str, int, str]:
        """Send RCM to ``sid``; wait for its CTM: ``(token, port, protocol)``."""
        self._check_open()
        assert self.line is not None and self.sid is not None
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
        self._check_open()
        assert self.line is not None and self.sid is not None
        await self.line.send(ap.Message("D", "CTM", ("ADC/1.0", str(port), token),
                                        src=self.sid, dst=sid).encode())


# The ADC session under its earlier name (the collector, tests and tools use it).
HubSession = AdcHubSession


class PeerConnection(Peer):
    """A client-client connection: opened by us after the peer's CTM (answer to our RCM), or
    accepted by our listener after our CTM (:meth:`accept`)."""

    # how ADC spells a download (see .download, shared with NMDC)
    get_name, send_name = "GET", "SND"
    decline = ap.Message("C", "STA", ("151", "Not sharing")).encode()
    error = AdcError

    def __init__(self, line: Line, identity: Identity) -> None:
        super().__init__(line)
        self.identity = identity

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
        line = await open_line(host, port, connect_timeout, read_timeout, error=AdcError)
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
            if msg.cmd == "INF":
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
