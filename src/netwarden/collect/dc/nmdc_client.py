"""NMDC hub session and client-to-client downloads (asyncio), as a visible identified auditor.

Same rules as the ADC client (:mod:`.adc_client`): a declared empty share, passive by default, no
searches answered, no uploads (a peer's ``$ADCGET`` gets ``$Error File Not Available``).
Users are described with :class:`~.adc_proto.UserInfo` so the collector treats both protocols
alike (NMDC has no CID; the nick is the key and the ``sid``).

Connections: to an active user we send ``$RevConnectToMe``; the user answers through the hub
with ``$ConnectToMe <us> <ip>:<port>``, which does not name the sender, so requests are
serialized per hub and the peer's ``$MyNick`` is checked after connecting. Every address is
checked against the scope by the caller before connecting. When the auditor is active
(``active_ip``), a passive user gets our ``$ConnectToMe`` and connects to our listener
(:meth:`NmdcPeer.accept`, matched by nick in :mod:`.listener`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from netwarden.collect.dc import adc_proto as ap
from netwarden.collect.dc import nmdc_proto as nmdc
from netwarden.collect.dc.download import Answer, Get
from netwarden.collect.dc.errors import Denied, NmdcHubError
from netwarden.collect.dc.hub import (
    MAX_USERS,
    HubSession,
    Identity,
    Line,
    NickTaken,
    Peer,
    open_line,
)

__all__ = ["NmdcHubError", "NmdcHubSession", "NmdcPeer"]

CLIENT_TAG = "netwarden V:0.1,M:P,H:1/0/0,S:0"
ACTIVE_TAG = "netwarden V:0.1,M:A,H:1/0/0,S:0"
HUB_SUPPORTS = "NoHello NoGetINFO UserIP2 TTHSearch"
PEER_SUPPORTS = "MiniSlots XmlBZList ADCGet TTHL TTHF"
OUR_LOCK = b"EXTENDEDPROTOCOLNETWARDENAUDIT Pk=netwarden0.1"
REFUSALS = ("$Error", "$MaxedOut", "$Failed")  # a peer's ways of saying no


class NmdcHubSession(HubSession):
    """One logged-in NMDC hub connection (see :class:`.hub.HubSession`); users are keyed by
    nick, and ``sid`` is our own nick once the hub said ``$Hello``."""

    sep = b"|"
    error = NmdcHubError

    def __init__(self, host: str, port: int, identity: Identity, *, password: str | None,
                 connect_timeout: float, read_timeout: float, encoding: str = "cp1251",
                 max_users: int = MAX_USERS, login_deadline: float = 60.0,
                 settle: float = 1.5, active_ip: str | None = None) -> None:
        super().__init__(host, port, identity, password=password,
                         connect_timeout=connect_timeout, read_timeout=read_timeout,
                         max_users=max_users, login_deadline=login_deadline,
                         active_ip=active_ip)  # active: M:A, hub socket bound, $ConnectToMe
        self.encoding, self.settle = encoding, settle
        self.ops: set[str] = set()
        self._ctm: asyncio.Queue[tuple[str, int]] = asyncio.Queue(maxsize=64)
        self._ctm_lock = asyncio.Lock()

    # -- login -----------------------------------------------------------------------------
    def _after_nick_taken(self) -> None:
        self.ops.clear()

    def _connection_ended(self, reason: str) -> None:
        """Nothing to fail: :meth:`request_connection` waits with its own timeout and checks
        the closed reason before asking."""
        return

    async def _login_once(self, nick: str) -> None:
        line = await self._connect()
        self._nick, self.sid = nick, None
        deadline = self._login_deadline()
        # NMDC has no "end of user list": after $Hello (our $MyINFO and $GetNickList follow
        # it) the list is taken as complete once the hub has gone quiet for `settle` seconds;
        # a hub that never goes quiet (a flood) is cut at the login deadline and noted.
        while True:
            if time.monotonic() > deadline:
                if self.sid:
                    self.facts.statuses.append(
                        f"hub still sending after {self.login_deadline:g} s of login; user "
                        f"list taken as it stood ({len(self.users)} users)")
                    break
                raise NmdcHubError(f"login not complete after {self.login_deadline:g} s")
            timeout = self.settle if self.sid else self.read_timeout
            try:
                raw = await asyncio.wait_for(line.read_line(), timeout)
            except TimeoutError:
                if self.sid:
                    break
                raise NmdcHubError(f"hub sent nothing for {timeout:g} s during login") from None
            await self._handle(raw, during_login=True)
        self._start_reader()

    async def _send(self, name: str, args: str = "") -> None:
        assert self.line is not None
        await self.line.send(nmdc.encode(name, args, self.encoding))

    async def _handle(self, raw: bytes, during_login: bool = False) -> None:
        if not raw.strip():
            return
        if raw.startswith(b"$Lock "):
            lock, _pk = nmdc.lock_of(raw[6:])
            assert self.line is not None
            await self.line.send(b"$Supports " + HUB_SUPPORTS.encode() + b"|$Key "
                                 + nmdc.lock_to_key(lock) + b"|"
                                 + nmdc.encode("$ValidateNick", self._nick, self.encoding))
            return
        try:
            cmd = nmdc.parse(raw, self.encoding)
        except nmdc.NmdcError:
            self._protocol_error()
            return
        name, args = cmd.name, cmd.args
        if name == "":
            self._chat(args, private=False)
        elif name == "$HubName":
            self.facts.name = args[:512]
        elif name == "$HubTopic":
            self.facts.description = args[:4096]
        elif name == "$GetPass":
            self.facts.password_challenged = True
            if not self.password:
                raise Denied("the hub asks for a password and the scope gives none")
            await self._send("$MyPass", self.password)
        elif name == "$BadPass":
            raise Denied("hub says: bad password")
        elif name == "$ValidateDenide":
            raise NickTaken(f"hub denied nick {args[:64]!r}")
        elif name == "$Hello" and args == self._nick and self.sid is None:
            self.sid = self._nick
            ident = self.identity
            await self._send("$Version", "1,0091")
            await self._send("$MyINFO", nmdc.myinfo(
                self._nick, ident.description, ACTIVE_TAG if self.active_ip else CLIENT_TAG))
            await self._send("$GetNickList")
        elif name == "$Hello" and nmdc.valid_nick(args):
            self._user(args)
        elif name == "$MyINFO":
            self._myinfo(args)
        elif name in ("$NickList", "$OpList"):
            for nick in nmdc.parse_nicklist(args, self.max_users):
                user = self._user(nick)
                if name == "$OpList" and user is not None:
                    self.ops.add(nick)
                    user.fields["CT"] = str(ap.CT_OPERATOR)
        elif name == "$UserIP":
            for pair in args.split("$$")[:self.max_users]:
                nick, _, ip = pair.partition(" ")
                user = self.users.get(nick)
                if user is not None and ip:
                    user.fields["I4"] = ip[:64]
        elif name == "$Quit":
            self.users.pop(args, None)
        elif name == "$To:":
            _to, _, rest = args.partition(" From: ")
            self._chat(rest.partition(" $")[2], private=True)
        elif name == "$ConnectToMe":
            self._ctm_reply(args)
        elif name in ("$ForceMove", "$Kick"):
            self.facts.statuses.append(f"{name} {args[:200]}")
            if name == "$ForceMove":
                raise Denied(f"hub redirects us to {args[:200]!r} (not followed)")
        elif name in ("$Search", "$RevConnectToMe", "$SR", "$LogedIn", "$Supports"):
            pass  # we answer no searches and share nothing; the hub's extensions go unused

    def _user(self, nick: str) -> ap.UserInfo | None:
        return self.users.get(nick) or self._new_user(nick, ap.UserInfo(nick, {"NI": nick}),
                                                      ours=nick == self._nick)

    def _myinfo(self, args: str) -> None:
        try:
            info = nmdc.parse_myinfo(args)
        except nmdc.NmdcError:
            self._protocol_error()
            return
        user = self._user(info.nick)
        if user is None:
            return
        f = user.fields
        f["DE"] = info.description[:1024]
        if info.share_size is not None:
            f["SS"] = str(info.share_size)
        if info.client:
            f["VE"] = info.client[:128]
        if info.tag:
            f["TG"] = info.tag[:256]
        if info.email:
            f["EM"] = info.email[:256]
        user.features = {"TCP4"} if info.mode == "A" else set()
        if info.nick in self.ops:
            f["CT"] = str(ap.CT_OPERATOR)

    def _chat(self, text: str, private: bool) -> None:
        if not self._keep_chat(text):
            return
        sender = None
        if text.startswith("<") and "> " in text:
            sender, _, text = text[1:].partition("> ")
        elif text.startswith("* "):
            sender = text[2:].partition(" ")[0]
        user = self.users.get(sender or "")
        self.facts.messages.append({
            "from": sender or "hub", "sid": sender, "private": private,
            "text": nmdc.unescape_chat(text)[:4096],
            "operator": bool(user and user.is_operator), "bot": False})

    def _ctm_reply(self, args: str) -> None:
        try:
            target, host, port = nmdc.parse_ctm(args)
        except nmdc.NmdcError:
            self._protocol_error()
            return
        if target != self.sid:
            return
        with contextlib.suppress(asyncio.QueueFull):  # a flood of CTMs is dropped
            self._ctm.put_nowait((host, port))

    # -- client-client ----------------------------------------------------------------------
    async def request_connection(self, nick: str, timeout: float) -> tuple[str, int]:
        """``$RevConnectToMe`` to ``nick``; its ``$ConnectToMe`` address ``(ip, port)``."""
        async with self._ctm_lock:
            self._check_open()
            while not self._ctm.empty():  # stale answers belong to nobody we wait for
                self._ctm.get_nowait()
            await self._send("$RevConnectToMe", f"{self.sid} {nick}")
            try:
                return await asyncio.wait_for(self._ctm.get(), timeout)
            except TimeoutError:
                raise NmdcHubError(f"no $ConnectToMe answer to our $RevConnectToMe within "
                               f"{timeout:g} s") from None

    async def send_ctm(self, nick: str, port: int) -> None:
        """``$ConnectToMe <nick> <our-ip>:<port>``: ask ``nick`` to connect to our listener."""
        if not self.active_ip:
            raise NmdcHubError("not logged in as an active user")
        self._check_open()
        await self._send("$ConnectToMe", f"{nick} {self.active_ip}:{port}")


class NmdcPeer(Peer):
    """A client-client connection: opened by us after the peer's ``$ConnectToMe`` (answer to
    our ``$RevConnectToMe``), or accepted by our listener after ours (:meth:`accept`)."""

    # how NMDC spells a download (see .download, shared with ADC)
    get_name, send_name = "$ADCGET", "$ADCSND"
    decline = b"$Error File Not Available|"
    error = NmdcHubError

    def __init__(self, line: Line, encoding: str) -> None:
        super().__init__(line)  # peer_cid stays None: NMDC has no CID
        self.encoding = encoding
        self.peer_nick: str | None = None
        self.peer_supports: set[str] = set()
        self._their_key: bytes | None = None

    @classmethod
    async def accept(cls, line: Line, our_nick: str, expected: Callable[[str], bool],
                     encoding: str = "cp1251") -> tuple[str, NmdcPeer]:
        """Listening side: their ``$MyNick``/``$Lock``; ours with ``$Supports``,
        ``$Direction Download`` and ``$Key``; their ``$Supports``/``$Direction``/``$Key``.
        The nick must be one we sent ``$ConnectToMe`` to. Returns ``(nick, connection)``."""
        conn = cls(line, encoding)
        conn.incoming = True
        their_key: bytes | None = None
        for _ in range(20):
            raw = await line.read_line()
            if raw.startswith(b"$Lock "):
                lock, _pk = nmdc.lock_of(raw[6:])
                their_key = nmdc.lock_to_key(lock)
                break
            cmd = conn._parse(raw)
            if cmd.name == "$MyNick":
                conn.peer_nick = cmd.args
                if not expected(cmd.args):
                    raise NmdcHubError(f"nick {cmd.args[:64]!r} not expected")
        if conn.peer_nick is None or their_key is None:
            raise NmdcHubError("peer did not send $MyNick and $Lock")
        # Download 32767: the highest number, so a peer that also asks to download loses
        await line.send(nmdc.encode("$MyNick", our_nick, encoding) + b"$Lock " + OUR_LOCK + b"|"
                        + nmdc.encode("$Supports", PEER_SUPPORTS)
                        + b"$Direction Download 32767|$Key " + their_key + b"|")
        for _ in range(20):
            cmd = conn._parse(await line.read_line())
            if cmd.name == "$Supports":
                conn.peer_supports = set(cmd.args.split(" ")[:64])
            elif cmd.name == "$Direction" and not cmd.args.startswith("Upload"):
                raise NmdcHubError(f"peer wants {cmd.args[:40]!r}; we never upload")
            elif cmd.name == "$Key":
                break
            elif cmd.name in REFUSALS:
                raise NmdcHubError(f"peer refused: {cmd.name} {cmd.args[:200]}")
        else:
            raise NmdcHubError("peer did not complete the $Supports/$Direction/$Key handshake")
        if "ADCGet" not in conn.peer_supports:
            raise NmdcHubError("peer does not support ADCGet (a pre-2006 client)")
        return conn.peer_nick, conn

    def _parse(self, raw: bytes) -> nmdc.Command:
        try:
            return nmdc.parse(raw, self.encoding)
        except nmdc.NmdcError as exc:
            raise NmdcHubError(f"peer sent a malformed message: {exc}") from None

    @classmethod
    async def connect(cls, host: str, port: int, our_nick: str, expect_nick: str,
                      connect_timeout: float, read_timeout: float,
                      encoding: str = "cp1251") -> NmdcPeer:
        line = await open_line(host, port, connect_timeout, read_timeout, sep=b"|",
                               error=NmdcHubError)
        conn = cls(line, encoding)
        conn.remote = (host, port)
        try:
            await conn._handshake(our_nick, expect_nick)
        except BaseException:
            await line.close()
            raise
        return conn

    async def _handshake(self, our_nick: str, expect_nick: str) -> None:
        await self.line.send(nmdc.encode("$MyNick", our_nick, self.encoding) + b"$Lock "
                             + OUR_LOCK + b"|")
        key_sent = False
        for _ in range(20):
            raw = await self.line.read_line()
            if raw.startswith(b"$Lock "):
                lock, _pk = nmdc.lock_of(raw[6:])
                self._their_key = nmdc.lock_to_key(lock)
                continue
            cmd = self._parse(raw)
            if cmd.name == "$MyNick":
                self.peer_nick = cmd.args
                if cmd.args != expect_nick:
                    raise NmdcHubError(f"peer says it is {cmd.args[:64]!r}, we asked "
                                   f"{expect_nick!r} for a connection")
            elif cmd.name == "$Supports":
                self.peer_supports = set(cmd.args.split(" ")[:64])
            elif cmd.name == "$Key":
                key_sent = True
                break
            elif cmd.name in REFUSALS:
                raise NmdcHubError(f"peer refused: {cmd.name} {cmd.args[:200]}")
        if not key_sent or self.peer_nick is None or self._their_key is None:
            raise NmdcHubError("peer did not complete the $MyNick/$Lock/$Key handshake")
        if "ADCGet" not in self.peer_supports:
            raise NmdcHubError("peer does not support ADCGet (a pre-2006 client)")
        await self.line.send(nmdc.encode("$Supports", PEER_SUPPORTS) + b"$Direction Download 1|"
                             + b"$Key " + self._their_key + b"|")

    def request(self, get: Get) -> bytes:
        """``$ADCGET`` for :func:`.download.download`."""
        return nmdc.encode("$ADCGET", f"{get.kind} {ap.escape(get.ident)} {get.start} "
                         f"{get.length}", self.encoding)

    async def answer(self) -> Answer:
        """The peer's next message for :func:`.download.download`: ``$ADCSND``, a refusal or
        its own download request."""
        cmd = self._parse(await self.line.read_line())
        if cmd.name == "$ADCSND":
            try:
                return Answer(send=nmdc.parse_adcsnd(cmd.args))
            except nmdc.NmdcError as exc:
                raise NmdcHubError(str(exc)) from None
        if cmd.name in REFUSALS:
            return Answer(refused=f"peer refused: {cmd.name} {cmd.args[:200]}".rstrip())
        if cmd.name in ("$ADCGET", "$Get", "$GetZBlock", "$UGetBlock"):
            return Answer(wants=True)
        return Answer()
