"""FTP collector: walk a server with MLSD (LIST as fallback) and digest every file once.

Why ftplib in worker threads rather than an asyncio FTP client: ftplib is the standard
library's well-tested client, every blocking call on it is bounded by socket timeouts, and
hashing in a thread releases the GIL, so several transfers are digested on several cores.
Each worker owns one control connection (``per_host_concurrency`` workers per service).

Names are handled as bytes end to end: the control connection is latin-1, which maps every byte
to one character and back, so a cp1251 or UTF-8 name is sent back to the server exactly as it
was listed; names are decoded only for display (see :mod:`netwarden.collect.names`).

Passive mode uses the control connection's peer address whatever address the server puts in
its PASV reply (ftplib's default), so a server cannot make us connect elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import hashlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote_to_bytes

from netwarden.collect.base import (
    CollectContext,
    TreeCollector,
    location_url,
    register,
    unsafe_name_reason,
)
from netwarden.collect.bounds import Deadline, PhaseTimeoutError, wire_int
from netwarden.collect.ftp_list import ListEntry, mlsd_facts, parse_list_line, parse_mlsd_line
from netwarden.collect.names import decode_name, legacy_encoding
from netwarden.collect.speed import SpeedGuard, TooSlowError
from netwarden.digest import MultiDigest
from netwarden.digest.perceptual import PerceptualDigest
from netwarden.records import EvidenceLevel, Observation, Outcome, Refusal
from netwarden.scope import Decision, Limits, Service

log = logging.getLogger("netwarden.collect.ftp")

# A multi-line control reply longer than this is hostile (an endless banner).
MAX_REPLY_LINES = 1000
CHUNK = 1 << 20


class _BoundedFTP(ftplib.FTP):
    """ftplib.FTP whose control replies are bounded in lines, line length *and* time, and
    whose passive data connections are checked against the scope (``data_check``).

    Why: ftplib reads replies through a buffered file whose reads are bounded only by the socket
    timeout, i.e. per byte; a server dripping its banner (or any reply) at one byte every few
    seconds kept a worker forever (issue 14). Here every reply is read straight from the socket
    under a :class:`~netwarden.collect.bounds.Deadline` of ``phase_timeout`` seconds, each
    ``recv`` waiting at most ``min(read_timeout, time left)``.
    """

    # The scope check for data connections: the PASV/EPSV reply names a port (ftplib already
    # ignores the reply's address and uses the control connection's), which must be one of the
    # scope's ports like any other connection.
    data_check: Callable[[str, int], Decision] | None = None

    def makepasv(self) -> tuple[str, int]:
        host, port = super().makepasv()
        if self.data_check is not None:
            decision = self.data_check(host, port)
            if not decision:
                raise ftplib.error_perm(f"550 data connection to {host}:{port} not made: "
                                        f"{decision.reason}")
        return host, port

    def __init__(self, *, read_timeout: float, phase_timeout: float, encoding: str) -> None:
        super().__init__(encoding=encoding)
        self.read_timeout, self.phase_timeout = read_timeout, phase_timeout
        self._deadline: Deadline | None = None
        self._rsock: socket.socket | None = None
        self._rbuf = b""

    def getresp(self) -> str:
        phase = "server banner" if self.welcome is None else "server reply"
        self._deadline = Deadline(self.phase_timeout, phase)
        try:
            return super().getresp()
        finally:
            self._deadline = None

    def getline(self) -> str:
        sock = self.sock
        if sock is None:
            raise EOFError("not connected")
        if sock is not self._rsock:  # a new connection: nothing buffered from the old one
            self._rsock, self._rbuf = sock, b""
        deadline = self._deadline or Deadline(self.phase_timeout, "server reply")
        try:
            while b"\n" not in self._rbuf:
                if len(self._rbuf) > self.maxline:
                    raise ftplib.Error(f"got more than {self.maxline} bytes")
                sock.settimeout(min(self.read_timeout, deadline.remaining()))
                try:
                    data = sock.recv(8192)
                except TimeoutError:
                    deadline.check()  # over the phase's time: say so rather than "no data"
                    raise
                if not data:
                    break
                self._rbuf += data
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(self.read_timeout)
        raw, sep, self._rbuf = self._rbuf.partition(b"\n")
        if not raw and not sep:
            raise EOFError
        if len(raw) > self.maxline:
            raise ftplib.Error(f"got more than {self.maxline} bytes")
        return raw.rstrip(b"\r").decode(self.encoding)

    def getmultiline(self) -> str:
        line = self.getline()
        if line[3:4] == "-":
            code = line[:3]
            for _ in range(MAX_REPLY_LINES):
                nextline = self.getline()
                line = line + ("\n" + nextline)
                if nextline[:3] == code and nextline[3:4] != "-":
                    return line
            raise ftplib.error_proto(f"reply longer than {MAX_REPLY_LINES} lines")
        return line


def _wire(raw: bytes) -> str:
    """Raw path bytes as the latin-1 string ftplib sends back unchanged."""
    return raw.decode("latin-1")


class _Stopped(Exception):
    """The walk was abandoned while a worker thread was reading (see ``_Session.stopping``)."""


class _LimitExceeded(Exception):
    """A file is (or turned out to be) larger than a limit or than announced: not digested."""

    def __init__(self, reason: str, outcome: Outcome = Outcome.SKIPPED,
                 level: EvidenceLevel = EvidenceLevel.LISTED, size: int | None = None) -> None:
        super().__init__(reason)
        self.outcome, self.level, self.size = outcome, level, size


@dataclass
class _Listing:
    entries: list[ListEntry]
    command: str
    nbytes: int
    lines: int
    unparsed: int
    truncated: str | None  # why the listing was cut short, in words
    unique: str | None = None  # the RFC 3659 ``unique`` fact of the listed directory (cdir)
    fingerprint: str = ""  # SHA-256 of the sorted entry lines: "the same listing"


@dataclass
class _Fetched:
    size: int
    digests: dict[str, str]
    announced: int | None
    details: dict[str, Any] = field(default_factory=dict)  # perceptual hashing details


class _Session:
    """One control connection, used by one worker at a time (from a worker thread)."""

    def __init__(self, service: Service, limits: Limits,
                 check: Callable[[str, int], Decision] | None = None,
                 stopping: threading.Event | None = None) -> None:
        self.service = service
        self.limits = limits
        self.check = check
        # set when the walk is abandoned (run interrupted, service time limit): a worker thread
        # cannot be cancelled, so its loops look at this between reads
        self.stopping = stopping or threading.Event()
        self.ftp: _BoundedFTP | None = None
        self.utf8 = False
        self.mlsd = True
        self.welcome: str | None = None

    # -- connection ---------------------------------------------------------------------------
    def ensure(self) -> _BoundedFTP:
        if self.ftp is not None:
            return self.ftp
        ftp = _BoundedFTP(encoding="latin-1", read_timeout=self.limits.read_timeout,
                          phase_timeout=self.limits.phase_timeout)
        ftp.data_check = self.check
        try:
            self.welcome = ftp.connect(self.service.host, self.service.port,
                                       timeout=self.limits.connect_timeout)
            # From here on every read, control or data, waits at most read_timeout.
            ftp.timeout = self.limits.read_timeout
            if ftp.sock is not None:
                ftp.sock.settimeout(self.limits.read_timeout)
            user = self.service.username or "anonymous"
            password = self.service.password if self.service.username else "anonymous@"
            ftp.login(user, password or "")
            try:
                ftp.sendcmd("OPTS UTF8 ON")
                self.utf8 = True
            except ftplib.Error:
                self.utf8 = False
            ftp.voidcmd("TYPE I")
        except BaseException:
            _close_quietly(ftp)
            raise
        self.ftp = ftp
        return ftp

    def close(self) -> None:
        """Drop the connection (after an error or abort its state is unknown)."""
        if self.ftp is not None:
            _close_quietly(self.ftp)
            self.ftp = None

    def quit(self) -> None:
        if self.ftp is not None:
            with contextlib.suppress(OSError, EOFError, ftplib.Error):
                self.ftp.quit()
            self.close()

    # -- operations ----------------------------------------------------------------------------
    def list_dir(self, raw_path: bytes, own_unique: bool = False) -> _Listing:
        """List one directory. ``own_unique``: also ask the directory's own RFC 3659 ``unique``
        fact with MLST when the listing has no ``cdir`` line (the root's, for loop detection:
        every other directory's comes from its parent's listing)."""
        ftp = self.ensure()
        ftp.voidcmd("CWD " + _wire(raw_path))
        conn = None
        command = "MLSD"
        if self.mlsd:
            try:
                conn = ftp.transfercmd("MLSD")
            except ftplib.error_perm as exc:
                if str(exc)[:3] not in ("500", "501", "502", "504"):
                    raise
                self.mlsd = False
        if conn is None:
            command = "LIST"
            conn = ftp.transfercmd("LIST")
        parse = parse_mlsd_line if command == "MLSD" else parse_list_line
        lines, nbytes, truncated = self._read_lines(conn)
        if truncated:
            self.close()  # the server may still be sending: abandon this connection
        else:
            ftp.voidresp()
        entries = []
        unparsed = 0
        unique = None
        kept: list[bytes] = []
        for line in lines:
            entry = parse(line)
            if entry is not None:
                entries.append(entry)
                kept.append(line.rstrip(b"\r\n"))
                continue
            facts = mlsd_facts(line) if command == "MLSD" else None
            kind = facts[0].get("type", "").lower() if facts else ""
            if kind == "cdir":
                unique = facts[0].get("unique") if facts else None
            elif kind != "pdir":
                unparsed += 1
        digest = hashlib.sha256()
        for line in sorted(kept):
            digest.update(len(line).to_bytes(4, "big") + line)
        if own_unique and not unique and command == "MLSD" and self.ftp is not None:
            unique = self._mlst_unique(raw_path)
        return _Listing(entries, command, nbytes, len(lines), unparsed, truncated,
                        unique=(unique or None) and unique[:128], fingerprint=digest.hexdigest())

    def _mlst_unique(self, raw_path: bytes) -> str | None:
        """The ``unique`` fact of ``raw_path`` itself (MLST), or None when not given."""
        assert self.ftp is not None
        try:
            reply = self.ftp.sendcmd("MLST " + _wire(raw_path))
        except ftplib.error_perm:
            return None
        for line in reply.splitlines()[1:2]:
            parsed = mlsd_facts(line.strip().encode("latin-1"))
            if parsed is not None:
                return parsed[0].get("unique") or None
        return None

    def _read_lines(self, conn: socket.socket) -> tuple[list[bytes], int, str | None]:
        """Read a listing within ``max_listing_bytes``/``max_listing_entries`` and within
        ``phase_timeout`` seconds however slowly it drips (each read waits at most the time
        left); a listing cut by any of the three is marked ``truncated``."""
        limits = self.limits
        deadline = Deadline(limits.phase_timeout, "listing")
        lines: list[bytes] = []
        buf = b""
        nbytes = 0
        truncated = None
        try:
            while True:
                try:
                    conn.settimeout(min(limits.read_timeout, deadline.remaining()))
                    data = conn.recv(65536)
                    if self.stopping.is_set():
                        raise _Stopped("walk abandoned")
                except (TimeoutError, PhaseTimeoutError) as exc:
                    if not isinstance(exc, PhaseTimeoutError) and deadline.end > time.monotonic():
                        raise  # a real read timeout: the listing failed
                    truncated = f"listing not finished after {limits.phase_timeout:g} s"
                    break
                if not data:
                    break
                nbytes += len(data)
                if nbytes > limits.max_listing_bytes:
                    truncated = f"listing longer than {limits.max_listing_bytes} bytes"
                    break
                buf += data
                *complete, buf = buf.split(b"\n")
                lines.extend(line for line in complete if line.strip())
                if len(lines) > limits.max_listing_entries:
                    del lines[limits.max_listing_entries:]
                    truncated = f"listing longer than {limits.max_listing_entries} entries"
                    break
        finally:
            conn.close()
        if not truncated and buf.strip():
            lines.append(buf)
        return lines, nbytes, truncated

    def retrieve(self, raw_path: bytes, listed_size: int | None) -> _Fetched:
        """Stream one file through the digest engine; raise _LimitExceeded when it is too big."""
        ftp = self.ensure()
        limit = self.limits.max_file_size
        announced = None
        try:
            reply = ftp.sendcmd("SIZE " + _wire(raw_path))
            # ftplib's size() takes any integer; a 23-digit SIZE is a lie, not a size
            announced = wire_int(reply[3:]) if reply[:3] == "213" else None
        except ftplib.error_perm:
            announced = None  # SIZE not supported or refused: RETR will tell
        expected = announced if announced is not None else listed_size
        if expected is not None and expected > limit:
            raise _LimitExceeded(
                f"{'SIZE' if announced is not None else 'listed size'} {expected} bytes is "
                f"larger than the limit of {limit} bytes; not downloaded", size=expected,
                level=EvidenceLevel.CONTACTED if announced is not None else EvidenceLevel.LISTED)
        digest = MultiDigest()
        perceptual = PerceptualDigest(_basename(raw_path))
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        received = 0
        conn = ftp.transfercmd("RETR " + _wire(raw_path))
        speed = SpeedGuard.from_limits(self.limits)
        try:
            while True:
                n = conn.recv_into(buffer, CHUNK)
                if self.stopping.is_set():
                    self.close()
                    raise _Stopped("walk abandoned")
                if n == 0:
                    break
                received += n
                try:
                    speed.feed(n)
                except TooSlowError:
                    # The server is still sending (slowly) on the data connection and will
                    # answer 426/226 whenever it likes: this control connection is in an
                    # unknown state, so it is dropped (the next item reconnects).
                    self.close()
                    raise
                if received > limit:
                    self.close()
                    raise _LimitExceeded(f"server sent more than the limit of {limit} bytes; "
                                         "transfer stopped")
                if announced is not None and received > announced:
                    self.close()
                    raise _LimitExceeded(f"server sent more than the {announced} bytes it "
                                         "announced; transfer stopped", Outcome.ERROR)
                digest.update(view[:n])
                perceptual.update(view[:n])
        finally:
            conn.close()
        ftp.voidresp()
        if announced is not None and received < announced:
            raise EOFError(f"transfer ended after {received} of {announced} announced bytes")
        result = digest.finalize().as_dict()
        size = int(result.pop("size"))
        extra = perceptual.finish()  # decoded in memory, in this worker thread
        result.update(extra.digests)
        return _Fetched(size=size, digests={k: str(v) for k, v in result.items()},
                        announced=announced, details=extra.details)


def _basename(raw_path: bytes) -> str:
    """The file name's extension is all the perceptual accumulator needs (latin-1 is safe)."""
    return raw_path.rsplit(b"/", 1)[-1].decode("latin-1")


def _close_quietly(ftp: ftplib.FTP) -> None:
    with contextlib.suppress(OSError):
        ftp.close()


def classify(exc: BaseException, timeout: float) -> tuple[Outcome, str]:
    """Map what went wrong talking to a server to an outcome and a reason in words."""
    if isinstance(exc, _LimitExceeded):
        return exc.outcome, str(exc)
    if isinstance(exc, TooSlowError | PhaseTimeoutError):
        return Outcome.ERROR, str(exc)
    if isinstance(exc, TimeoutError | socket.timeout):
        return Outcome.ERROR, f"timed out: no data for {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return Outcome.ERROR, "connection refused"
    if isinstance(exc, ConnectionResetError):
        return Outcome.ERROR, "connection reset by the server"
    if isinstance(exc, EOFError):
        return Outcome.ERROR, str(exc) or "server closed the connection"
    if isinstance(exc, ftplib.error_perm):
        text = str(exc).strip()
        if text[:3] in ("530", "532", "550", "553"):
            return Outcome.DENIED, f"server refused: {text}"
        return Outcome.ERROR, f"server error: {text}"
    if isinstance(exc, ftplib.Error):
        return Outcome.ERROR, f"server error: {str(exc).strip() or type(exc).__name__}"
    if isinstance(exc, OSError):
        return Outcome.ERROR, f"network error: {exc.strerror or exc}"
    return Outcome.ERROR, f"{type(exc).__name__}: {exc}"


# Unsafe names recorded one by one per listing; beyond this they are only counted (on the
# directory's observation), so a listing of 100k hostile names is not 100k ledger leaves.
MAX_UNSAFE_RECORDED = 100


@dataclass
class _UnsafeTally:
    count: int = 0
    recorded: int = 0


@dataclass
class _Dir:
    raw_path: bytes
    depth: int
    # (listing fingerprint, raw path) of every enclosing directory, root first: a listing equal
    # to an ancestor's is a symbolic link back up the tree (``self -> .``, ``up -> ..``)
    ancestors: tuple[tuple[str, bytes], ...] = ()


@dataclass
class _File:
    raw_path: bytes
    entry: ListEntry
    name: str
    details: dict[str, Any]


@register
class FtpCollector(TreeCollector[_Dir, _File, _Session]):
    """Walks one FTP service; yields one observation per directory, file or problem."""

    schemes = ("ftp",)
    default_ports: ClassVar[dict[str, int]] = {"ftp": 21}
    protocol = "ftp"
    dir_type = _Dir

    def __init__(self, service: Service, ctx: CollectContext) -> None:
        super().__init__(service, ctx)
        self.fallback = legacy_encoding(service.encoding)
        self.entries_seen = 0
        self.budget_reported = False
        # RFC 3659 ``unique`` fact → the first path it was seen at (loop/alias detection)
        self.dir_uniques: dict[str, bytes] = {}
        self.stopping = threading.Event()

    async def collect(self) -> AsyncIterator[Observation | Refusal]:
        """The tree walk; when it ends or is abandoned, worker threads stop at their next read."""
        try:
            async for record in super().collect():
                yield record
        finally:
            self.stopping.set()

    def _url(self, raw_path: bytes) -> str:
        return location_url("ftp", self.service.host, self.service.port, raw_path)

    def _decode(self, raw: bytes) -> tuple[str, str]:
        return decode_name(raw, self.fallback)

    def _new_session(self) -> _Session:
        return _Session(self.service, self.limits, self.ctx.check, self.stopping)

    async def _end_session(self, session: _Session) -> None:
        await asyncio.to_thread(session.quit)

    def _roots(self) -> list[_Dir]:
        root = unquote_to_bytes(self.service.path or "/")  # the URL names the path's bytes
        return [_Dir(root.rstrip(b"/") or b"/", 0)]

    def _item_url(self, item: _Dir | _File) -> str:
        return self._url(item.raw_path)

    # -- directories ---------------------------------------------------------------------------
    async def _list(self, session: _Session, item: _Dir,
                    add: Callable[[_Dir | _File], None]) -> list[Observation]:
        url = self._url(item.raw_path if item.raw_path.endswith(b"/") else item.raw_path + b"/")
        path_name, path_enc = self._decode(item.raw_path)
        try:
            listing = await asyncio.to_thread(session.list_dir, item.raw_path, item.depth == 0)
        except Exception as exc:
            session.close()
            outcome, reason = classify(exc, self.limits.read_timeout)
            self.ctx.emit("problem", self.service.url)
            return [self.observation(url, method="ftp-list", outcome=outcome, reason=reason,
                                     name=path_name, details={"path": path_name})]
        self.ctx.emit("dir", self.service.url)
        details: dict[str, Any] = {
            "type": "dir", "path": path_name, "path_encoding": path_enc,
            "entries": len(listing.entries), "listing_bytes": listing.nbytes,
            "unparsed_lines": listing.unparsed, "utf8": session.utf8,
            "welcome": (session.welcome or "")[:200] if item.depth == 0 else None,
            "unique": listing.unique}
        name = path_name.rstrip("/").rpartition("/")[2] or "/"
        loop = self._loop(item, listing)
        if loop is not None:
            return [self.observation(url, method=f"ftp-{listing.command.lower()}",
                                     outcome=Outcome.SKIPPED, reason=loop, name=name,
                                     details=details)]
        records: list[Observation] = []
        base = item.raw_path.rstrip(b"/")
        ancestors = (*item.ancestors, (listing.fingerprint, item.raw_path))
        unsafe = _UnsafeTally()
        for entry in listing.entries:
            records.extend(self._entry(base, entry, item.depth, listing.command, add,
                                       ancestors, unsafe))
        if unsafe.count:
            details["unsafe_names"] = unsafe.count
            details["unsafe_names_not_recorded"] = unsafe.count - unsafe.recorded
        directory = self.observation(
            url, method=f"ftp-{listing.command.lower()}",
            outcome=Outcome.SKIPPED if listing.truncated else Outcome.OK,
            reason=(f"{listing.truncated}: stopped reading; the first {len(listing.entries)} "
                    "entries were used") if listing.truncated else None,
            name=name, details=details)
        return [directory, *records]

    def _loop(self, item: _Dir, listing: _Listing) -> str | None:
        """Why this listing must not be walked (it is a directory already walked), or None.

        Two signs, both of server identity rather than of names: the listing's own RFC 3659
        ``unique`` fact was seen on another path, or its content is identical to the listing
        of an enclosing directory (a symbolic link back up the tree on a server that gives no
        ``unique`` fact). Empty listings lead nowhere and are never judged.
        """
        if listing.unique:
            first = self.dir_uniques.setdefault(listing.unique, item.raw_path)
            if first != item.raw_path:
                where = self._url(first.rstrip(b"/") + b"/")
                return (f"same directory as {where} (RFC 3659 unique fact "
                        f"{listing.unique!r}): a loop or an alias; not walked again")
        if listing.entries and not listing.truncated:
            for fingerprint, raw_path in item.ancestors:
                if fingerprint == listing.fingerprint:
                    return (f"listing identical to that of the enclosing directory "
                            f"{self._url(raw_path.rstrip(b'/') + b'/')}: a loop (a link back up "
                            "the tree); not walked again")
        return None

    def _entry(self, base: bytes, entry: ListEntry, depth: int, command: str,
               add: Callable[[_Dir | _File], None],
               ancestors: tuple[tuple[str, bytes], ...] = (),
               unsafe_tally: _UnsafeTally | None = None) -> list[Observation]:
        # Every entry counts against the service's budget, safe or not, before anything is
        # recorded for it: a listing of 100k unsafe names must not be 100k records per level.
        self.entries_seen += 1
        if self.entries_seen > self.limits.max_files_per_service:
            if self.budget_reported:
                return []
            self.budget_reported = True
            return [self._skip(base + b"/", None, f"more than "
                               f"{self.limits.max_files_per_service} entries on this service: "
                               "the rest is not walked", {})]
        name, encoding = self._decode(entry.raw_name)
        raw_path = base + b"/" + entry.raw_name
        details: dict[str, Any] = {"name_hex": entry.raw_name.hex(), "name_encoding": encoding,
                                   "listed_type": entry.type, "listed_size": entry.size,
                                   "modified": entry.modified, "listing": command}
        # The URL of an unsafe name is built from its bytes, percent-encoded: it is a record of
        # what the server listed, never a path we request.
        unsafe = unsafe_name_reason(name)
        if unsafe:  # located at its directory: a URL built from the name would mislead
            tally = unsafe_tally if unsafe_tally is not None else _UnsafeTally()
            tally.count += 1
            if tally.recorded >= MAX_UNSAFE_RECORDED:
                return []  # counted on the directory's observation
            tally.recorded += 1
            return [self._skip(base + b"/", name, f"{unsafe}; never followed", details)]
        if entry.type == "dir":
            if depth + 1 > self.limits.max_depth:
                return [self._skip(raw_path + b"/", name, f"deeper than the depth limit of "
                                   f"{self.limits.max_depth}: not listed", details)]
            unique = (entry.facts or {}).get("unique")
            if unique:
                first = self.dir_uniques.setdefault(unique[:128], raw_path)
                if first != raw_path:
                    details["unique"] = unique[:128]
                    where = self._url(first.rstrip(b"/") + b"/")
                    return [self._skip(raw_path + b"/", name, f"same directory as {where} "
                                       "(RFC 3659 unique fact): a loop or an alias; not walked "
                                       "again", details)]
            add(_Dir(raw_path, depth + 1, ancestors))
            return []
        if entry.type == "link":
            target = entry.link_target.hex() if entry.link_target else None
            details["link_target_hex"] = target
            return [self._skip(raw_path, name, "symbolic link: not followed", details)]
        if entry.type != "file":
            return [self._skip(raw_path, name, "not a regular file", details)]
        if entry.size is not None and entry.size > self.limits.max_file_size:
            return [self._skip(raw_path, name, f"listed size {entry.size} bytes is larger than "
                               f"the limit of {self.limits.max_file_size} bytes; not downloaded",
                               details, size=entry.size)]
        add(_File(raw_path, entry, name, details))
        return []

    def _skip(self, raw_path: bytes, name: str | None, reason: str, details: dict[str, Any],
              size: int | None = None) -> Observation:
        return self.observation(self._url(raw_path), method="ftp-list", outcome=Outcome.SKIPPED,
                                reason=reason, name=name, size=size, details=details)

    # -- files ---------------------------------------------------------------------------------
    async def _fetch(self, session: _Session, item: _File) -> Observation:
        url = self._url(item.raw_path)
        path_name, _ = self._decode(item.raw_path)
        details = {**item.details, "path": path_name}
        try:
            fetched = await asyncio.to_thread(session.retrieve, item.raw_path, item.entry.size)
        except Exception as exc:
            if not isinstance(exc, _LimitExceeded):
                session.close()
            outcome, reason = classify(exc, self.limits.read_timeout)
            self.ctx.emit("problem", self.service.url)
            limit = exc if isinstance(exc, _LimitExceeded) else None
            return self.observation(
                url, method="ftp-retr", outcome=outcome, reason=reason, name=item.name,
                size=limit.size if limit and limit.size is not None else item.entry.size,
                level=limit.level if limit else EvidenceLevel.LISTED, details=details)
        details["announced_size"] = fetched.announced
        details.update(fetched.details)
        self.ctx.emit("file", self.service.url)
        self.ctx.emit("bytes", self.service.url, fetched.size)
        return self.observation(url, method="ftp-retr", name=item.name, size=fetched.size,
                                digests=fetched.digests, level=EvidenceLevel.SERVED,
                                bytes_from_endpoint=True, details=details)
