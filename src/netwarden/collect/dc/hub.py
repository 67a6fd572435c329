"""What an ADC and an NMDC hub session share: the bounded line stream, the auditor's identity,
the hub facts, and :class:`HubSession` — connect with deadlines, log in (retrying a taken
nick), keep the user list and the hub's chat within bounds, read in the background, close;
and :class:`Peer`, a client-client connection that fetches file lists and file segments
through the shared download loop (:mod:`.download`).

The protocols themselves (:mod:`.adc_client`, :mod:`.nmdc_client`) subclass both and add only
their messages: how to log in, what each hub message means, how a connection is brokered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from netwarden.collect.dc import adc_proto as ap
from netwarden.collect.dc.download import Answer, Get, download
from netwarden.collect.dc.errors import Denied, HubError
from netwarden.collect.speed import SpeedGuard

__all__ = ["MAX_CHAT", "MAX_CHAT_BYTES", "MAX_NICK_RETRIES", "MAX_USERS", "HubFacts",
           "HubSession", "Identity", "Line", "NickTaken", "Peer", "open_line"]

MAX_USERS = 100_000
MAX_CHAT = 200  # messages kept (MOTD, rules, main chat) for the hub facts
MAX_CHAT_BYTES = 256 * 1024
MAX_NICK_RETRIES = 3
MAX_PROTOCOL_ERRORS = 1000  # malformed hub messages tolerated before the session ends
IDLE_HUB = 600.0  # seconds the background reader waits for the hub's next message
MAX_FILELIST = 64 * 1024**2  # compressed bytes of one file list


@dataclass
class Line:
    """A line-oriented stream with bounded reads (ADC ends lines with '\\n', NMDC with '|').

    ``error`` is what a broken stream raises: the dialect's own :class:`HubError`.
    """

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    timeout: float
    sep: bytes = b"\n"
    received: int = 0
    error: type[HubError] = HubError

    async def read_line(self) -> bytes:
        try:
            line = await asyncio.wait_for(self.reader.readuntil(self.sep), self.timeout)
        except asyncio.LimitOverrunError:
            raise self.error(f"line longer than {ap.MAX_LINE} bytes") from None
        except asyncio.IncompleteReadError:
            raise self.error("connection closed by the other side") from None
        except TimeoutError:
            raise self.error(f"no complete line within {self.timeout:g} s") from None
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
                    sep: bytes = b"\n", bind: str | None = None,
                    error: type[HubError] = HubError) -> Line:
    """Connect with bounded lines; ``bind`` sets our source address (active mode: the hub
    must see the address peers are to connect to)."""
    local = (bind, 0) if bind else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, limit=ap.MAX_LINE, local_addr=local),
        connect_timeout)
    return Line(reader, writer, read_timeout, sep, error=error)


@dataclass
class Identity:
    """Our PID/CID (ADC; NMDC knows only the nick) and what we show the hub."""

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
    description: str | None = None  # the topic (ADC: the hub's DE; NMDC: $HubTopic)
    software: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    messages_dropped: int = 0
    users_dropped: int = 0
    protocol_errors: int = 0
    statuses: list[str] = field(default_factory=list)
    nick_used: str | None = None
    nick_collisions: list[str] = field(default_factory=list)
    password_challenged: bool = False


class NickTaken(Denied):
    """The hub says our nick is taken: :meth:`HubSession.login` retries with another."""


class HubSession(ABC):
    """One logged-in hub connection with a background reader dispatching messages.

    Users are :class:`~.adc_proto.UserInfo` keyed by ``sid`` (ADC's SID; NMDC's nick), ours
    included once logged in (:meth:`user_list` leaves it out).
    """

    sep: ClassVar[bytes]  # the protocol's message separator
    error: ClassVar[type[HubError]]  # what this protocol's session raises

    def __init__(self, host: str, port: int, identity: Identity, *, password: str | None,
                 connect_timeout: float, read_timeout: float, max_users: int = MAX_USERS,
                 login_deadline: float = 60.0, active_ip: str | None = None) -> None:
        self.host, self.port, self.identity, self.password = host, port, identity, password
        # active mode: we listen on active_ip, advertise it and ask passive peers to connect
        self.active_ip = active_ip
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.max_users, self.login_deadline = max_users, login_deadline
        self.facts = HubFacts()
        self.users: dict[str, ap.UserInfo] = {}
        self.sid: str | None = None
        self.line: Line | None = None
        self._nick = identity.nick
        self._reader: asyncio.Task[None] | None = None
        self._closed_reason: str | None = None
        self._chat_bytes = 0

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
            except NickTaken as exc:
                self.facts.nick_collisions.append(f"{nick}: {exc}")
                await self.close()
                self.users.clear()
                self._after_nick_taken()
        raise Denied(f"nick taken {MAX_NICK_RETRIES + 1} times "
                     f"({'; '.join(self.facts.nick_collisions)})")

    async def _connect(self) -> Line:
        """Open the hub connection (bounded lines, bound to ``active_ip`` when active)."""
        self.line = await open_line(self.host, self.port, self.connect_timeout,
                                    self.read_timeout, sep=self.sep, bind=self.active_ip,
                                    error=self.error)
        self._closed_reason = None
        return self.line

    def _login_deadline(self) -> float:
        """The monotonic time by which the login must be complete."""
        return time.monotonic() + self.login_deadline

    @abstractmethod
    async def _login_once(self, nick: str) -> None:
        """Connect and log in as ``nick``; start the background reader when done."""

    @abstractmethod
    def _after_nick_taken(self) -> None:
        """Forget what the refused login left of the subclass's own state."""

    @abstractmethod
    async def _handle(self, raw: bytes, during_login: bool = False) -> None:
        """Act on one hub message (without its separator)."""

    def _start_reader(self) -> None:
        self._reader = asyncio.create_task(self._read_forever())

    async def _read_forever(self) -> None:
        """Dispatch hub messages until the hub ends the connection (or is idle too long)."""
        assert self.line is not None
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(self.line.reader.readuntil(self.sep), IDLE_HUB)
                except asyncio.LimitOverrunError:
                    self.facts.protocol_errors += 1
                    raise self.error("hub sent a message longer than the limit") from None
                await self._handle(raw[:-len(self.sep)])
        except (HubError, asyncio.IncompleteReadError, OSError, TimeoutError) as exc:
            self._closed_reason = self._closed_reason or f"hub connection ended: {exc}"
            self._connection_ended(self._closed_reason)

    @abstractmethod
    def _connection_ended(self, reason: str) -> None:
        """The hub connection is gone (``reason``): fail whatever still waits on it."""

    # -- bounds ----------------------------------------------------------------------------
    def _protocol_error(self) -> None:
        """Count a malformed hub message; too many end the session."""
        self.facts.protocol_errors += 1
        if self.facts.protocol_errors > MAX_PROTOCOL_ERRORS:
            raise self.error(f"more than {MAX_PROTOCOL_ERRORS} malformed messages from the hub")

    def _new_user(self, key: str, user: ap.UserInfo, ours: bool) -> ap.UserInfo | None:
        """Add ``user`` under ``key`` unless the list is full (then counted as dropped);
        our own entry (``ours``) is always kept."""
        if len(self.users) >= self.max_users and not ours:
            self.facts.users_dropped += 1
            return None
        self.users[key] = user
        return user

    def _keep_chat(self, text: str) -> bool:
        """Whether there is room for one more chat message of ``text`` (else counted)."""
        if len(self.facts.messages) >= MAX_CHAT or self._chat_bytes + len(text) > MAX_CHAT_BYTES:
            self.facts.messages_dropped += 1
            return False
        self._chat_bytes += len(text)
        return True

    def _check_open(self) -> None:
        """Raise unless logged in and the hub connection still stands."""
        if self.line is None or self.sid is None:
            raise self.error("not logged in")
        if self._closed_reason:
            raise self.error(self._closed_reason)

    # -- users -----------------------------------------------------------------------------
    def user_list(self) -> list[ap.UserInfo]:
        """The hub's users, ourselves left out."""
        return [u for sid, u in self.users.items() if sid != self.sid]

    # -- end -------------------------------------------------------------------------------
    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
            self._reader = None
        if self.line is not None:
            await self.line.close()
            self.line = None


class Peer(ABC):
    """A client-client connection of either dialect: downloads through :mod:`.download`.

    Subclasses say how their protocol spells a download (``get_name``, ``send_name``,
    ``decline``, :meth:`request`, :meth:`answer`) and which ``error`` it raises.
    """

    get_name: ClassVar[str]
    send_name: ClassVar[str]
    decline: ClassVar[bytes]
    error: ClassVar[type[HubError]]

    def __init__(self, line: Line) -> None:
        self.line = line
        self.peer_cid: str | None = None  # ADC's CID; NMDC has none
        self.remote: tuple[str, int] | None = None  # the peer's address as seen
        self.incoming = False

    async def get(self, kind: str, ident: str, start: int, length: int, max_bytes: int,
                  sink: Callable[[bytes], None], deadline: float,
                  speed: SpeedGuard | None = None) -> int:
        """Ask for ``kind ident start length``; stream the answer's bytes into ``sink``;
        their count.

        A peer's own download request is declined (``decline``): we never upload. Raises
        ``error`` for a refusal, an announced size over ``max_bytes``, a mismatched answer, or
        a transfer past ``deadline`` or slower than ``speed`` allows
        (see :func:`.download.download`).
        """
        return await download(self, Get(kind, ident, start, length), max_bytes, sink,
                              deadline, speed)

    async def file_list(self, deadline: float, speed: SpeedGuard | None = None,
                        max_bytes: int = MAX_FILELIST) -> bytes:
        """The peer's compressed file list (``files.xml.bz2``), at most ``max_bytes``."""
        blob = bytearray()
        await self.get("file", "files.xml.bz2", 0, -1, max_bytes, blob.extend, deadline, speed)
        return bytes(blob)

    @abstractmethod
    def request(self, get: Get) -> bytes:
        """The encoded download request for :func:`.download.download`."""

    @abstractmethod
    async def answer(self) -> Answer:
        """The peer's next message for :func:`.download.download`."""

    async def close(self) -> None:
        await self.line.close()
