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
from netwarden.collect.dc import nmdc_proto as np
from netwarden.collect.dc.adc_client import (
    MAX_CHAT,
    MAX_CHAT_BYTES,
    MAX_NICK_RETRIES,
    MAX_USERS,
    AdcError,
    Denied,
    HubFacts,
    Identity,
    Line,
    open_line,
)
from netwarden.collect.dc.download import Answer, Get, download
from netwarden.collect.speed import SpeedGuard

CLIENT_TAG = "netwarden V:0.1,M:P,H:1/0/0,S:0"
ACTIVE_TAG = "netwarden V:0.1,M:A,H:1/0/0,S:0"
HUB_SUPPORTS = "NoHello NoGetINFO UserIP2 TTHSearch"
PEER_SUPPORTS = "MiniSlots XmlBZList ADCGet TTHL TTHF"
OUR_LOCK = b"EXTENDEDPROTOCOLNETWARDENAUDIT Pk=netwarden0.1"


class NmdcHubSession:
    """One logged-in NMDC hub connection with a background reader."""

    def __init__(self, host: str, port: int, identity: Identity, *, password: str | None,
                 connect_timeout: float, read_timeout: float, encoding: str = "cp1251",
                 max_users: int = MAX_USERS, login_deadline: float = 60.0,
                 settle: float = 1.5, active_ip: str | None = None) -> None:
        self.host, self.port, self.identity, self.password = host, port, identity, password
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.encoding, self.max_users = encoding, max_users
        self.login_deadline, self.settle = login_deadline, settle
        self.active_ip = active_ip  # active mode: M:A, hub socket bound here, $ConnectToMe
        self.facts = HubFacts()
        self.users: dict[str, ap.UserInfo] = {}  # nick -> user
        self.ops: set[str] = set()
        self.hub_supports: set[str] = set()
        self.sid: str | None = None  # our nick once the hub said $Hello
        self.line: Line | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ctm: asyncio.Queue[tuple[str, int]] = asyncio.Queue(maxsize=64)
        self._ctm_lock = asyncio.Lock()
        self._closed_reason: str | None = None
        self._chat_bytes = 0
        self._own_info_seen = False

    # -- login -----------------------------------------------------------------------------
    async def login(self) -> None:
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
                self.ops.clear()
        raise Denied(f"nick taken {MAX_NICK_RETRIES + 1} times "
                     f"({'; '.join(self.facts.nick_collisions)})")

    async def _login_once(self, nick: str) -> None:
        self.line = await open_line(self.host, self.port, self.connect_timeout,
                                    self.read_timeout, sep=b"|", bind=self.active_ip)
        self._nick, self.sid, self._own_info_seen = nick, None, False
        deadline = time.monotonic() + self.login_deadline
        # NMDC has no "end of user list": after $Hello the list is complete once the hub has
        # echoed our own $MyINFO and then gone quiet for `settle` seconds; a hub that never
        # goes quiet (a flood) is cut at the login deadline and noted.
        while True:
            if time.monotonic() > deadline:
                if self.sid:
                    self.facts.statuses.append(
                        f"hub still sending after {self.login_deadline:g} s of login; user "
                        f"list taken as it stood ({len(self.users)} users)")
                    break
                raise AdcError(f"login not complete after {self.login_deadline:g} s")
            timeout = self.settle if self.sid else self.read_timeout
            try:
                raw = await asyncio.wait_for(self.line.read_line(), timeout)
            except TimeoutError:
                if self.sid:
                    break
                raise AdcError(f"hub sent nothing for {timeout:g} s during login") from None
            await self._handle(raw, during_login=True)
        self._reader = asyncio.create_task(self._read_forever())

    async def _send(self, name: str, args: str = "") -> None:
        assert self.line is not None
        await self.line.send(np.encode(name, args, self.encoding))

    async def _handle(self, raw: bytes, during_login: bool = False) -> None:
        if not raw.strip():
            return
        if raw.startswith(b"$Lock "):
            lock, _pk = np.lock_of(raw[6:])
            assert self.line is not None
            await self.line.send(b"$Supports " + HUB_SUPPORTS.encode() + b"|$Key "
                                 + np.lock_to_key(lock) + b"|"
                                 + np.encode("$ValidateNick", self._nick, self.encoding))
            return
        try:
            cmd = np.parse(raw, self.encoding)
        except np.NmdcError:
            self._protocol_error()
            return
        name, args = cmd.name, cmd.args
        if name == "":
            self._chat(args, private=False)
        elif name == "$HubName":
            self.facts.name = args[:512]
        elif name == "$HubTopic":
            self.facts.description = args[:4096]
        elif name == "$Supports":
            self.hub_supports = set(args.split(" ")[:64])
        elif name == "$GetPass":
            self.facts.password_challenged = True
            if not self.password:
                raise Denied("the hub asks for a password and the scope gives none")
            await self._send("$MyPass", self.password)
        elif name == "$BadPass":
            raise Denied("hub says: bad password")
        elif name == "$ValidateDenide":
            raise _NickTaken(f"hub denied nick {args[:64]!r}")
        elif name == "$Hello" and args == self._nick and self.sid is None:
            self.sid = self._nick
            ident = self.identity
            await self._send("$Version", "1,0091")
            await self._send("$MyINFO", np.myinfo(
                self._nick, ident.description, ACTIVE_TAG if self.active_ip else CLIENT_TAG))
            await self._send("$GetNickList")
        elif name == "$Hello" and np.valid_nick(args):
            self._user(args)
        elif name == "$MyINFO":
            self._myinfo(args)
        elif name in ("$NickList", "$OpList"):
            for nick in np.parse_nicklist(args, self.max_users):
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
        elif name in ("$Search", "$RevConnectToMe", "$SR", "$LogedIn"):
            pass  # we answer no searches and share nothing

    def _protocol_error(self) -> None:
        self.facts.protocol_errors += 1
        if self.facts.protocol_errors > 1000:
            raise AdcError("more than 1000 malformed messages from the hub")

    def _user(self, nick: str) -> ap.UserInfo | None:
        user = self.users.get(nick)
        if user is None:
            if len(self.users) >= self.max_users and nick != self._nick:
                self.facts.users_dropped += 1
                return None
            user = self.users[nick] = ap.UserInfo(nick, {"NI": nick})
        return user

    def _myinfo(self, args: str) -> None:
        try:
            info = np.parse_myinfo(args)
        except np.NmdcError:
            self._protocol_error()
            return
        if info.nick == self._nick:
            self._own_info_seen = self.sid is not None
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
        if len(self.facts.messages) >= MAX_CHAT or self._chat_bytes + len(text) > MAX_CHAT_BYTES:
            self.facts.messages_dropped += 1
            return
        self._chat_bytes += len(text)
        sender = None
        if text.startswith("<") and "> " in text:
            sender, _, text = text[1:].partition("> ")
        elif text.startswith("* "):
            sender = text[2:].partition(" ")[0]
        user = self.users.get(sender or "")
        self.facts.messages.append({
            "from": sender or "hub", "sid": sender, "private": private,
            "text": np.unescape_chat(text)[:4096],
            "operator": bool(user and user.is_operator), "bot": False})

    def _ctm_reply(self, args: str) -> None:
        try:
            target, host, port = np.parse_ctm(args)
        except np.NmdcError:
            self._protocol_error()
            return
        if target != self.sid:
            return
        with contextlib.suppress(asyncio.QueueFull):  # a flood of CTMs is dropped
            self._ctm.put_nowait((host, port))

    async def _read_forever(self) -> None:
        assert self.line is not None
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(self.line.reader.readuntil(b"|"), 600)
                except asyncio.LimitOverrunError:
                    self.facts.protocol_errors += 1
                    raise AdcError("hub sent a message longer than the limit") from None
                await self._handle(raw[:-1])
        except (AdcError, asyncio.IncompleteReadError, OSError, TimeoutError) as exc:
            self._closed_reason = self._closed_reason or f"hub connection ended: {exc}"

    # -- client-client ----------------------------------------------------------------------
    async def request_connection(self, nick: str, timeout: float) -> tuple[str, int]:
        """``$RevConnectToMe`` to ``nick``; its ``$ConnectToMe`` address ``(ip, port)``."""
        if self.line is None or self.sid is None:
            raise AdcError("not logged in")
        async with self._ctm_lock:
            if self._closed_reason:
                raise AdcError(self._closed_reason)
            while not self._ctm.empty():  # stale answers belong to nobody we wait for
                self._ctm.get_nowait()
            await self._send("$RevConnectToMe", f"{self.sid} {nick}")
            try:
                return await asyncio.wait_for(self._ctm.get(), timeout)
            except TimeoutError:
                raise AdcError(f"no $ConnectToMe answer to our $RevConnectToMe within "
                               f"{timeout:g} s") from None

    async def send_ctm(self, nick: str, port: int) -> None:
        """``$ConnectToMe <nick> <our-ip>:<port>``: ask ``nick`` to connect to our listener."""
        if self.line is None or self.sid is None or not self.active_ip:
            raise AdcError("not logged in as an active user")
        if self._closed_reason:
            raise AdcError(self._closed_reason)
        await self._send("$ConnectToMe", f"{nick} {self.active_ip}:{port}")

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


class NmdcPeer:
    """A client-client connection: opened by us after the peer's ``$ConnectToMe`` (answer to
    our ``$RevConnectToMe``), or accepted by our listener after ours (:meth:`accept`)."""

    # how NMDC spells a download (see .download, shared with ADC)
    get_name, send_name = "$ADCGET", "$ADCSND"
    decline = b"$Error File Not Available|"

    def __init__(self, line: Line, encoding: str) -> None:
        self.line, self.encoding = line, encoding
        self.peer_nick: str | None = None
        self.peer_supports: set[str] = set()
        self.peer_cid: str | None = None  # NMDC has none; kept for the collector's details
        self.remote: tuple[str, int] | None = None  # the peer's address as seen
        self.incoming = False

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
                lock, _pk = np.lock_of(raw[6:])
                their_key = np.lock_to_key(lock)
                break
            cmd = conn._parse(raw)
            if cmd.name == "$MyNick":
                conn.peer_nick = cmd.args
                if not expected(cmd.args):
                    raise AdcError(f"nick {cmd.args[:64]!r} not expected")
        if conn.peer_nick is None or their_key is None:
            raise AdcError("peer did not send $MyNick and $Lock")
        # Download 32767: the highest number, so a peer that also asks to download loses
        await line.send(np.encode("$MyNick", our_nick, encoding) + b"$Lock " + OUR_LOCK + b"|"
                        + np.encode("$Supports", PEER_SUPPORTS)
                        + b"$Direction Download 32767|$Key " + their_key + b"|")
        for _ in range(20):
            cmd = conn._parse(await line.read_line())
            if cmd.name == "$Supports":
                conn.peer_supports = set(cmd.args.split(" ")[:64])
            elif cmd.name == "$Direction" and not cmd.args.startswith("Upload"):
                raise AdcError(f"peer wants {cmd.args[:40]!r}; we never upload")
            elif cmd.name == "$Key":
                break
            elif cmd.name in ("$Error", "$MaxedOut", "$Failed"):
                raise AdcError(f"peer refused: {cmd.name} {cmd.args[:200]}")
        else:
            raise AdcError("peer did not complete the $Supports/$Direction/$Key handshake")
        if "ADCGet" not in conn.peer_supports:
            raise AdcError("peer does not support ADCGet (a pre-2006 client)")
        return conn.peer_nick, conn

    def _parse(self, raw: bytes) -> np.Command:
        try:
            return np.parse(raw, self.encoding)
        except np.NmdcError as exc:
            raise AdcError(f"peer sent a malformed message: {exc}") from None

    @classmethod
    async def connect(cls, host: str, port: int, our_nick: str, expect_nick: str,
                      connect_timeout: float, read_timeout: float,
                      encoding: str = "cp1251") -> NmdcPeer:
        line = await open_line(host, port, connect_timeout, read_timeout, sep=b"|")
        conn = cls(line, encoding)
        conn.remote = (host, port)
        try:
            await conn._handshake(our_nick, expect_nick)
        except BaseException:
            await line.close()
            raise
        return conn

    async def _handshake(self, our_nick: str, expect_nick: str) -> None:
        await self.line.send(np.encode("$MyNick", our_nick, self.encoding) + b"$Lock "
                             + OUR_LOCK + b"|")
        key_sent = False
        for _ in range(20):
            raw = await self.line.read_line()
            if raw.startswith(b"$Lock "):
                lock, _pk = np.lock_of(raw[6:])
                self._their_key = np.lock_to_key(lock)
                continue
            try:
                cmd = np.parse(raw, self.encoding)
            except np.NmdcError as exc:
                raise AdcError(f"peer sent a malformed message: {exc}") from None
            if cmd.name == "$MyNick":
                self.peer_nick = cmd.args
                if cmd.args != expect_nick:
                    raise AdcError(f"peer says it is {cmd.args[:64]!r}, we asked "
                                   f"{expect_nick!r} for a connection")
            elif cmd.name == "$Supports":
                self.peer_supports = set(cmd.args.split(" ")[:64])
            elif cmd.name == "$Key":
                key_sent = True
                break
            elif cmd.name in ("$Error", "$MaxedOut", "$Failed"):
                raise AdcError(f"peer refused: {cmd.name} {cmd.args[:200]}")
        if not key_sent or self.peer_nick is None or not hasattr(self, "_their_key"):
            raise AdcError("peer did not complete the $MyNick/$Lock/$Key handshake")
        if "ADCGet" not in self.peer_supports:
            raise AdcError("peer does not support ADCGet (a pre-2006 client)")
        await self.line.send(np.encode("$Supports", PEER_SUPPORTS) + b"$Direction Download 1|"
                             + b"$Key " + self._their_key + b"|")

    async def get(self, kind: str, ident: str, start: int, length: int, max_bytes: int,
                  sink: Callable[[bytes], None], deadline: float,
                  speed: SpeedGuard | None = None) -> int:
        """``$ADCGET kind ident start length``; stream the ``$ADCSND`` bytes into ``sink``.

        Same rules as the ADC ``get`` (:func:`.download.download`); a peer's own download
        request is answered ``$Error File Not Available``.
        """
        return await download(self, Get(kind, ident, start, length), max_bytes, sink,
                              deadline, speed)

    def request(self, get: Get) -> bytes:
        """``$ADCGET`` for :func:`.download.download`."""
        return np.encode("$ADCGET", f"{get.kind} {ap.escape(get.ident)} {get.start} "
                         f"{get.length}", self.encoding)

    async def answer(self) -> Answer:
        """The peer's next message for :func:`.download.download`: ``$ADCSND``, a refusal or
        its own download request."""
        cmd = self._parse(await self.line.read_line())
        if cmd.name == "$ADCSND":
            try:
                return Answer(send=np.parse_adcsnd(cmd.args))
            except np.NmdcError as exc:
                raise AdcError(str(exc)) from None
        if cmd.name in ("$Error", "$MaxedOut", "$Failed"):
            return Answer(refused=f"peer refused: {cmd.name} {cmd.args[:200]}".rstrip())
        if cmd.name in ("$ADCGET", "$Get", "$GetZBlock", "$UGetBlock"):
            return Answer(wants=True)
        return Answer()

    async def close(self) -> None:
        await self.line.close()
