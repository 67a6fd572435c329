"""SMB collector: walk a Windows/Samba share over SMB 2/3 and digest every file once.

Why ``smbprotocol``'s high-level ``smbclient`` API in worker threads: it is the maintained pure
Python SMB 2/3 client (signing, encryption, NTLM/Kerberos), and its blocking calls run in
threads where hashing releases the GIL, as the FTP collector does with ftplib. Each worker owns
its own connection cache (its own TCP connection and session), so workers never share a
half-read response and a wedged connection is dropped alone.

Guest access: a share that allows guests is opened with the ``guest`` account and an empty
password. A guest session has no signing key, so SMB 3 "secure negotiate" cannot be verified;
the tree is then connected with that check off for this session only (never process-wide).

Loops: Samba follows symbolic links on the server side, so a link to a parent directory looks
like an ordinary directory. Directories are identified by their SMB file id (the inode on
Samba); a directory whose id was already walked is recorded as a loop and not entered again.
Reparse points (links a Windows server does not follow for us) are recorded and not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote

from netwarden.collect.base import (
    CollectContext,
    TreeCollector,
    location_url,
    register,
    unsafe_name_reason,
)
from netwarden.collect.speed import SpeedGuard, TooSlowError
from netwarden.digest.engine import SizeLimitExceeded, hash_stream
from netwarden.digest.perceptual import PerceptualDigest
from netwarden.errors import InputError
from netwarden.records import EvidenceLevel, Observation, Outcome
from netwarden.scope import Limits, Service

log = logging.getLogger("netwarden.collect.smb")

FILE_ATTRIBUTE_DIRECTORY = 0x10
FILE_ATTRIBUTE_REPARSE_POINT = 0x400
CHUNK = 4 << 20  # bytes per SMB READ (capped by the server's max read size)
# A listing, however slowly it arrives, must be complete within this many read timeouts.
LISTING_DEADLINE_READ_TIMEOUTS = 10
# A file must arrive at no less than this rate (after one read timeout of grace).
MIN_RATE = 256 * 1024  # bytes/s
GUEST = "guest"

# NTSTATUS values that mean "you may not" rather than "it failed".
_DENIED_STATUS = {
    0xC0000022: "access denied",
    0xC000006D: "logon failure (bad user name or password)",
    0xC000006E: "account restriction",
    0xC0000072: "account disabled",
    0xC0000071: "password expired",
    0xC00000CC: "bad network name (no such share)",
    0xC0000203: "user session deleted",
}


class _TooLong(Exception):
    """An operation did not finish within its deadline; its connection is abandoned."""


def parse_share_url(service: Service) -> tuple[str, str]:
    """``(share, sub-path)`` from ``smb://host[:port]/share[/dir...]``; InputError when no share.

    The sub-path uses backslashes, as SMB does; the URL is percent-decoded as UTF-8.
    """
    parts = [unquote(p) for p in service.path.split("/") if p]
    if not parts:
        raise InputError(service.url, "an smb:// service URL must name a share: "
                         "smb://host/share[/directory]", "services.url")
    for part in parts:
        problem = unsafe_name_reason(part)
        if problem:
            raise InputError(service.url, f"path component {problem}", "services.url")
    return parts[0], "\\".join(parts[1:])


@dataclass
class _Entry:
    name: str
    attributes: int
    size: int
    file_id: int


@dataclass
class _Listing:
    entries: list[_Entry]
    truncated: str | None


class _Session:
    """One SMB connection + session + tree, used by one worker at a time (from a thread)."""

    def __init__(self, service: Service, share: str, limits: Limits) -> None:
        self.service, self.share, self.limits = service, share, limits
        self.cache: dict[str, Any] = {}
        self.ready = False
        self.max_read = CHUNK
        self.user = service.username or GUEST

    def _unc(self, rel: str) -> str:
        base = rf"\\{self.service.host}\{self.share}"
        return base + ("\\" + rel if rel else "")

    def _kwargs(self) -> dict[str, Any]:
        return {"port": self.service.port, "connection_cache": self.cache,
                "connection_timeout": int(max(1, self.limits.connect_timeout))}

    def ensure(self) -> None:
        if self.ready:
            return
        import smbclient
        from smbprotocol.tree import TreeConnect

        # No DFS: a referral names another server, which an in-scope server could point
        # anywhere. skip_dfs stops the domain referral lookups; a referral met on a path still
        # leads to a new connection, which the net guard refuses outside the scope.
        smbclient.ClientConfig(skip_dfs=True)
        guest = self.service.username is None
        session = smbclient.register_session(
            self.service.host, username=self.user, password=self.service.password or "",
            port=self.service.port, connection_cache=self.cache,
            connection_timeout=int(max(1, self.limits.connect_timeout)),
            require_signing=not guest, auth_protocol="ntlm" if guest else "negotiate")
        tree = TreeConnect(session, self._unc(""))
        # A guest session has no signing key: secure negotiate cannot be verified (see module).
        tree.connect(require_secure_negotiate=not guest)
        self.max_read = max(64 * 1024, min(CHUNK, session.connection.max_read_size))
        self.ready = True

    def close(self) -> None:
        """Drop the connection; its state is unknown after an error or an abandoned call."""
        import smbclient

        cache, self.cache, self.ready = self.cache, {}, False
        with contextlib.suppress(Exception):
            smbclient.reset_connection_cache(fail_on_error=False, connection_cache=cache)

    def root_id(self, rel: str) -> int:
        import smbclient

        self.ensure()
        return int(smbclient.stat(self._unc(rel), **self._kwargs()).st_ino)

    def list_dir(self, rel: str) -> _Listing:
        import smbclient

        self.ensure()
        entries: list[_Entry] = []
        truncated = None
        for entry in smbclient.scandir(self._unc(rel), **self._kwargs()):
            info = entry.smb_info
            if entry.name in (".", ".."):
                continue
            if len(entries) >= self.limits.max_listing_entries:
                truncated = f"directory has more than {self.limits.max_listing_entries} entries"
                break
            entries.append(_Entry(entry.name, int(info.file_attributes), int(info.end_of_file),
                                  int(info.file_id)))
        return _Listing(entries, truncated)

    def retrieve(self, rel: str) -> dict[str, Any]:
        import smbclient

        self.ensure()
        perceptual = PerceptualDigest(rel.rsplit("\\", 1)[-1].rsplit("/", 1)[-1])
        with smbclient.open_file(self._unc(rel), mode="rb", buffering=0, share_access="r",
                                 **self._kwargs()) as fh:
            tee = _Tee(fh, perceptual, SpeedGuard.from_limits(self.limits))
            result = hash_stream(tee, max_size=self.limits.max_file_size,
                                 source=rel, chunk_size=self.max_read)
        out: dict[str, Any] = result.as_dict()
        extra = perceptual.finish()  # decoded in memory, in this worker thread
        out.update(extra.digests)
        if extra.details:
            out["_details"] = extra.details
        return out


class _Tee:
    """A readable that also feeds what it reads to the perceptual accumulator, and counts it
    against the minimum speed (a server that answers each READ with a few bytes is a drip)."""

    def __init__(self, fh: Any, perceptual: PerceptualDigest, speed: SpeedGuard) -> None:
        self.fh, self.perceptual, self.speed = fh, perceptual, speed

    def read(self, n: int = -1, /) -> bytes:
        data = self.fh.read(n)
        self.speed.feed(len(data) if data else 0)  # TooSlowError: _fetch drops the link
        if data:
            self.perceptual.update(data)
        return data


def classify(exc: BaseException, timeout: float) -> tuple[Outcome, str]:
    """Map what went wrong talking to an SMB server to an outcome and a reason in words."""
    from smbprotocol.exceptions import (
        SMBAuthenticationError,
        SMBConnectionClosed,
        SMBOSError,
        SMBResponseException,
    )

    if isinstance(exc, SizeLimitExceeded):
        return Outcome.SKIPPED, f"larger than the limit of {exc.limit} bytes; transfer stopped"
    if isinstance(exc, _TooLong | TooSlowError):
        return Outcome.ERROR, str(exc)
    if isinstance(exc, SMBAuthenticationError):
        return Outcome.DENIED, f"authentication failed: {exc}"
    status = getattr(exc, "status", None) or getattr(exc, "ntstatus", None)
    if isinstance(exc, SMBResponseException | SMBOSError) and status is not None:
        status = int(status)
        if status in _DENIED_STATUS:
            return Outcome.DENIED, f"server refused: {_DENIED_STATUS[status]} (0x{status:08X})"
        return Outcome.ERROR, f"server error 0x{status:08X}: {exc}"
    if isinstance(exc, SMBConnectionClosed):
        return Outcome.ERROR, "server closed the connection"
    if isinstance(exc, TimeoutError):
        return Outcome.ERROR, f"timed out: no answer for {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return Outcome.ERROR, "connection refused"
    if isinstance(exc, ValueError) and "Failed to connect" in str(exc):
        return Outcome.ERROR, f"cannot connect: {exc}"
    if isinstance(exc, InputError):
        return Outcome.ERROR, str(exc)
    if isinstance(exc, OSError):
        return Outcome.ERROR, f"network error: {exc.strerror or exc}"
    return Outcome.ERROR, f"{type(exc).__name__}: {exc}"


@dataclass
class _Dir:
    rel: str  # path inside the share, backslash-separated, "" for the share root
    depth: int
    file_id: int = 0


@dataclass
class _File:
    rel: str
    name: str
    size: int
    details: dict[str, Any] = field(default_factory=dict)


@register
class SmbCollector(TreeCollector[_Dir, _File, _Session]):
    """Walks one SMB share; yields one observation per directory, file or problem."""

    schemes = ("smb",)
    default_ports: ClassVar[dict[str, int]] = {"smb": 445}
    protocol = "smb"
    dir_type = _Dir

    def __init__(self, service: Service, ctx: CollectContext) -> None:
        super().__init__(service, ctx)
        self.share, self.base = parse_share_url(service)
        self.seen_dirs: set[int] = set()
        self.files_seen = 0

    def _url(self, rel: str, is_dir: bool = False) -> str:
        path = "/" + self.share + ("/" + rel.replace("\\", "/") if rel else "")
        if is_dir and not path.endswith("/"):
            path += "/"
        raw = path.encode("utf-8", "surrogatepass")
        return location_url("smb", self.service.host, self.service.port, raw)

    def _new_session(self) -> _Session:
        return _Session(self.service, self.share, self.limits)

    async def _end_session(self, session: _Session) -> None:
        await asyncio.to_thread(session.close)

    def _roots(self) -> list[_Dir]:
        return [_Dir(self.base, 0)]

    def _item_url(self, item: _Dir | _File) -> str:
        return self._url(item.rel, isinstance(item, _Dir))

    async def _call(self, session: _Session, deadline: float, fn: Callable[..., Any],
                    *args: Any) -> Any:
        """Run a blocking SMB call in a thread; past ``deadline`` s abandon it and its link."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), deadline)
        except TimeoutError:
            # The thread may still be blocked in a read: drop the connection under it.
            asyncio.get_running_loop().run_in_executor(None, session.close)
            raise _TooLong(f"no complete answer within {deadline:g} s; "
                           "connection dropped") from None

    # -- directories ---------------------------------------------------------------------------
    async def _list(self, session: _Session, item: _Dir,
                    add: Callable[[_Dir | _File], None]) -> list[Observation]:
        url = self._url(item.rel, is_dir=True)
        details: dict[str, Any] = {"type": "dir", "path": item.rel.replace("\\", "/"),
                                   "share": self.share, "user": session.user}
        deadline = LISTING_DEADLINE_READ_TIMEOUTS * self.limits.read_timeout
        try:
            if item.depth == 0:
                item.file_id = await self._call(session, deadline, session.root_id, item.rel)
                self.seen_dirs.add(item.file_id)
            listing: _Listing = await self._call(session, deadline, session.list_dir, item.rel)
        except Exception as exc:
            session.close()
            outcome, reason = classify(exc, self.limits.read_timeout)
            self.ctx.emit("problem", self.service.url)
            return [self.observation(url, method="smb-list", outcome=outcome, reason=reason,
                                     details=details)]
        self.ctx.emit("dir", self.service.url)
        details["entries"] = len(listing.entries)
        records = [self.observation(
            url, method="smb-list", outcome=Outcome.SKIPPED if listing.truncated else Outcome.OK,
            reason=(f"{listing.truncated}: stopped reading; the first {len(listing.entries)} "
                    "entries were used") if listing.truncated else None,
            name=item.rel.rpartition("\\")[2] or self.share, details=details)]
        for entry in listing.entries:
            record = self._entry(item, entry, add)
            if record is not None:
                records.append(record)
        return records

    def _entry(self, parent: _Dir, entry: _Entry,
               add: Callable[[_Dir | _File], None]) -> Observation | None:
        rel = f"{parent.rel}\\{entry.name}" if parent.rel else entry.name
        details: dict[str, Any] = {"path": rel.replace("\\", "/"), "share": self.share,
                                   "file_id": entry.file_id, "attributes": entry.attributes}
        problem = unsafe_name_reason(entry.name)
        if problem:
            return self._skip(rel, entry.name, problem, details)
        # A name with unpaired UTF-16 surrogates cannot be named in UTF-8: keep its code points.
        if any(0xD800 <= ord(c) <= 0xDFFF for c in entry.name):
            details["name_utf16_hex"] = entry.name.encode("utf-16-le", "surrogatepass").hex()
        is_dir = bool(entry.attributes & FILE_ATTRIBUTE_DIRECTORY)
        if entry.attributes & FILE_ATTRIBUTE_REPARSE_POINT:
            return self._skip(rel, entry.name, "reparse point (symbolic link or junction): "
                              "not followed", details, is_dir=is_dir)
        if is_dir:
            if entry.file_id and entry.file_id in self.seen_dirs:
                return self._skip(rel, entry.name, "directory already walked (same file id "
                                  f"{entry.file_id}): a link loop or a second path to it; "
                                  "not entered again", details, is_dir=True)
            if parent.depth + 1 > self.limits.max_depth:
                return self._skip(rel, entry.name, f"deeper than the depth limit of "
                                  f"{self.limits.max_depth}: not listed", details, is_dir=True)
            if entry.file_id:
                self.seen_dirs.add(entry.file_id)
            add(_Dir(rel, parent.depth + 1, entry.file_id))
            return None
        self.files_seen += 1
        if self.files_seen > self.limits.max_files_per_service:
            return self._skip(rel, entry.name, f"more than {self.limits.max_files_per_service} "
                              "files in this service: not downloaded", details, size=entry.size)
        if entry.size > self.limits.max_file_size:
            return self._skip(rel, entry.name, f"listed size {entry.size} bytes is larger than "
                              f"the limit of {self.limits.max_file_size} bytes; not downloaded",
                              details, size=entry.size)
        add(_File(rel, entry.name, entry.size, details))
        return None

    def _skip(self, rel: str, name: str, reason: str, details: dict[str, Any],
              size: int | None = None, is_dir: bool = False) -> Observation:
        return self.observation(self._url(rel, is_dir), method="smb-list",
                                outcome=Outcome.SKIPPED, reason=reason, name=name, size=size,
                                details=details)

    # -- files ---------------------------------------------------------------------------------
    async def _fetch(self, session: _Session, item: _File) -> Observation:
        url = self._url(item.rel)
        details = {**item.details, "listed_size": item.size, "user": session.user}
        deadline = self.limits.read_timeout + item.size / MIN_RATE
        try:
            result = await self._call(session, deadline, session.retrieve, item.rel)
        except Exception as exc:
            if not isinstance(exc, SizeLimitExceeded):
                session.close()
            outcome, reason = classify(exc, self.limits.read_timeout)
            self.ctx.emit("problem", self.service.url)
            return self.observation(url, method="smb-read", outcome=outcome, reason=reason,
                                    name=item.name, size=item.size,
                                    level=EvidenceLevel.CONTACTED, details=details)
        size = int(result.pop("size"))
        details.update(result.pop("_details", {}))
        self.ctx.emit("file", self.service.url)
        self.ctx.emit("bytes", self.service.url, size)
        return self.observation(url, method="smb-read", name=item.name, size=size,
                                digests={k: str(v) for k, v in result.items()},
                                level=EvidenceLevel.SERVED, bytes_from_endpoint=True,
                                details=details)
