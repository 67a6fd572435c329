"""Direct Connect collector: join the hub as the auditor, read file lists, verify bank segments.

For one ``adc://host:port`` service: log in (visible, identified, empty share), record the
hub's facts and users, fetch each sharing user's ``files.xml.bz2`` through a client-client
connection the hub brokers (RCM → the peer's CTM → we connect to the peer's address, checked
against the scope first; or, when the auditor is active (service option ``active``) and the
user is passive, our CTM → the peer connects to our listener, see :mod:`.listener`), record
every listed file with a TTH at level ``contacted``, and for files whose TTH root is in a
bank fetch the TTH leaves and one leaf-aligned segment and verify it (``served``). The hub
facts observation (``dc-hub-info``) closes the run with what the liability assessment
needs: operators, bots, whether the hub host is the operator's own, which
operators/bots/infrastructure users share bank content and which topic/MOTD links name it.

Only bank TTHs are ever requested for verification; besides them, discovery (see
:mod:`.discover`) downloads a few listed media files whole to identify them by content. The
auditor never searches and never uploads.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, ClassVar

from pydantic import Field

from netwarden.collect.base import CollectContext, Collector, location_url, register
from netwarden.collect.dc import adc_proto as ap
from netwarden.collect.dc.adc_client import AdcHubSession, PeerConnection
from netwarden.collect.dc.discover import DcCandidate, DiscoveryOptions, WholeFile, candidates
from netwarden.collect.dc.errors import Denied, HubError
from netwarden.collect.dc.filelist import MAX_DECOMPRESSED, FileListError, parse_file_list
from netwarden.collect.dc.hub import HubSession, Identity, Line, Peer
from netwarden.collect.dc.listener import Handshake, PeerListener
from netwarden.collect.dc.nmdc_client import NmdcHubSession, NmdcPeer
from netwarden.collect.dc.tth_verify import LeafSet, SegmentVerifier, TthError, check_leaves
from netwarden.collect.speed import SpeedGuard
from netwarden.digest.perceptual import MAX_VIDEO_BYTES
from netwarden.errors import InputError
from netwarden.records import (
    Endpoint,
    EvidenceLevel,
    Observation,
    Outcome,
    ProtocolCheck,
    Refusal,
)
from netwarden.scope import Scope, Service, StrictModel

log = logging.getLogger("netwarden.collect.dc")

SEGMENT = 1 << 20  # bytes of a bank file fetched and verified (leaf-aligned)
MAX_TTHL = 24 * 65536  # bytes of one leaf stream
_MAGNET_TTH = re.compile(r"urn:tree:tiger:([A-Z2-7]{39})", re.IGNORECASE)
_TTH_WORD = re.compile(r"(?<![A-Z2-7])([A-Z2-7]{39})(?![A-Z2-7])")


class DcOptions(StrictModel):
    """Options of a Direct Connect hub service (``[[services]]`` keys besides the URL)."""

    segment_bytes: Annotated[int, Field(gt=0)] = SEGMENT
    max_filelist_bytes: Annotated[int, Field(gt=0)] = MAX_DECOMPRESSED
    settle_s: Annotated[float, Field(gt=0)] = 1.5
    active: bool = False
    listen: str | None = None
    listen_port: Annotated[int, Field(ge=0, lt=65536)] = 0
    # discovery (collect/dc/discover.py)
    discover: bool = True
    discover_min_score: Annotated[float, Field(ge=0, le=1)] = 0.6
    discover_candidates: Annotated[int, Field(gt=0)] = 5
    discover_bytes: Annotated[int, Field(gt=0)] = MAX_VIDEO_BYTES
    discover_total_bytes: Annotated[int, Field(gt=0)] = 512 * 1024 * 1024


def active_options(service: Service, scope: Scope) -> tuple[str, int] | None:
    """``(listen address, port)`` when the service asks for active mode, else None.

    Options: ``active = true``, ``listen = "<IPv4 inside the scope prefixes>"`` (required when
    active: there is no safe default address to listen on), ``listen_port`` (0 = ephemeral).
    Bad values are an :class:`InputError` naming the service and the option.
    """
    opts = service.options
    where = f"services[{service.url}]"
    active = opts.get("active", False)
    if not isinstance(active, bool):
        raise InputError(scope.source, f"must be true or false, got {active!r}",
                         f"{where}.active")
    if not active:
        return None
    listen = opts.get("listen")
    try:
        address = ipaddress.IPv4Address(str(listen))
    except ValueError:
        raise InputError(scope.source, "active mode needs the IPv4 address to listen on, got "
                         f"{listen!r}", f"{where}.listen") from None
    if not any(address in net for net in scope.prefixes):
        raise InputError(scope.source, f"{address} is outside the authorized prefixes",
                         f"{where}.listen")
    port = opts.get("listen_port", 0)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
        raise InputError(scope.source, f"must be a port 0..65535 (0 = any), got {port!r}",
                         f"{where}.listen_port")
    return str(address), port


def tths_in_text(text: str) -> set[str]:
    """TTH roots a text names: magnet ``urn:tree:tiger:`` links and bare 39-char roots."""
    found = {m.upper() for m in _MAGNET_TTH.findall(text)}
    found |= set(_TTH_WORD.findall(text))
    return found


@register
class AdcCollector(Collector):
    """Audits one Direct Connect hub: ADC (``adc://``) or NMDC (``nmdc://``, ``dchub://``)."""

    schemes = ("adc", "adcs", "nmdc", "dchub")
    default_ports: ClassVar[dict[str, int]] = {"adc": 411, "adcs": 411, "nmdc": 411, "dchub": 411}
    protocol = "adc"
    options_model = DcOptions
    # Collector declares check_service as a Callable ClassVar, which mypy binds like a method
    # (dropping `service`); the bittorrent collector meets the same: settled with base.py's
    # typing (issue 18, typed seams)
    check_service = staticmethod(active_options)  # type: ignore[assignment]

    def __init__(self, service: Service, ctx: CollectContext) -> None:
        super().__init__(service, ctx)
        auditor = ctx.scope.auditor or {}
        nick = service.username or str(auditor.get("nick") or "netwarden-auditor")
        desc = str(auditor.get("description") or f"netwarden audit {ctx.scope.check_id}")
        self.identity = Identity(nick, desc)
        refs = ctx.references
        self.bank_tths: frozenset[str] = (frozenset(v.upper() for v in refs.digests("tth"))
                                          if refs is not None else frozenset())
        self.hub_url = service.url
        self.segment = int(service.options.get("segment_bytes", SEGMENT))
        self.max_list_bytes = int(service.options.get("max_filelist_bytes", MAX_DECOMPRESSED))
        self.nmdc = service.scheme in ("nmdc", "dchub")
        self.proto = "nmdc" if self.nmdc else "adc"
        self.encoding = service.encoding or "cp1251"
        self.active = active_options(service, ctx.scope)
        self.listener: PeerListener | None = None
        self.discovery = DiscoveryOptions.of(service)
        titles = getattr(refs, "titles", None)
        self.titles: list[str] = list(titles()) if callable(titles) else []

    def _loc(self, user: ap.UserInfo, path: str) -> str:
        """``adc://hub/<CID>/path`` (ADC) or ``nmdc://hub/<nick>/path`` (NMDC has no CID)."""
        key = user.cid or (f"nick:{user.nick}" if user.nick else "unknown-cid")
        raw = f"/{key}{path if path.startswith('/') else '/' + path}"
        return location_url(self.service.scheme, self.service.host, self.service.port,
                            raw.encode("utf-8", "surrogatepass"))

    async def collect(self) -> AsyncIterator[Observation | Refusal]:
        host, port = self.service.host, self.service.port
        refusal = self.service_refusal()
        if refusal is not None:
            yield refusal
            return
        if self.service.scheme == "adcs":
            yield self.observation(self.service.url, method="dc-hub-info",
                                   outcome=Outcome.SKIPPED,
                                   reason="adcs (TLS) hubs are not supported yet")
            return
        limits = self.limits
        session: HubSession
        if self.nmdc:
            session = NmdcHubSession(host, port, self.identity, password=self.service.password,
                                     connect_timeout=limits.connect_timeout,
                                     read_timeout=limits.read_timeout,
                                     encoding=self.encoding,
                                     max_users=limits.max_listing_entries,
                                     login_deadline=limits.read_timeout * 4,
                                     settle=float(self.service.options.get("settle_s", 1.5)),
                                     active_ip=self.active[0] if self.active else None)
        else:
            session = AdcHubSession(host, port, self.identity,
                                    password=self.service.password,
                                    connect_timeout=limits.connect_timeout,
                                    read_timeout=limits.read_timeout,
                                    max_users=limits.max_listing_entries,
                                    login_deadline=limits.read_timeout * 4,
                                    active_ip=self.active[0] if self.active else None)
        started = time.monotonic()
        if self.active:
            self.listener = self._make_listener(session)
            try:
                await self.listener.start()
            except OSError as exc:
                self.listener = None
                yield self.observation(self.service.url, method="dc-hub-info",
                                       outcome=Outcome.ERROR,
                                       reason=f"cannot listen on {self.active[0]}:"
                                              f"{self.active[1]} for active mode: {exc}")
                return
        try:
            async with self.ctx.slot(host):
                await session.login()
        except Exception as exc:
            await session.close()
            if self.listener is not None:
                await self.listener.close()
            outcome = Outcome.DENIED if isinstance(exc, Denied) else Outcome.ERROR
            yield self.observation(self.service.url, method="dc-hub-info", outcome=outcome,
                                   reason=f"login failed: {exc}",
                                   details=self._hub_details(session, {}))
            return
        shared: dict[str, list[str]] = {}  # sid -> bank TTHs the user lists
        try:
            for user in self._users(session):
                yield self.observation(
                    self._loc(user, "/"), method="dc-user", level=EvidenceLevel.LISTED,
                    endpoint=self._user_endpoint(user, None),
                    details={**user.as_details(), "hub": self.hub_url})
            queue = [u for u in self._users(session) if (u.share_size or 0) > 0]
            sem = asyncio.Semaphore(max(1, limits.per_host_concurrency))
            results: asyncio.Queue[Any] = asyncio.Queue()

            async def one(user: ap.UserInfo) -> None:
                async with sem:
                    try:
                        async for rec in self._audit_user(session, user, shared):
                            await results.put(rec)
                    except Exception as exc:  # one peer must not stop the hub audit
                        log.error("dc user %s failed", user.nick, exc_info=exc)
                        await results.put(self._user_problem(user, None, Outcome.ERROR,
                                                             f"collector error: {exc}"))

            tasks = [asyncio.create_task(one(u)) for u in queue]
            done = asyncio.create_task(_finish(tasks, results))
            try:
                while True:
                    rec = await results.get()
                    if rec is _DONE:
                        break
                    yield rec
            finally:
                for task in tasks:
                    task.cancel()
                done.cancel()
                await asyncio.gather(*tasks, done, return_exceptions=True)
        finally:
            details = self._hub_details(session, shared)
            details["duration_s"] = round(time.monotonic() - started, 3)
            await session.close()
            if self.listener is not None:
                await self.listener.close()
        if self.listener is not None:
            for rhost, rport, reason in self.listener.stats.refused:
                yield self.refusal(f"{self.proto}://{rhost}:{rport}",
                                   f"incoming connection to the auditor via {self.hub_url}",
                                   reason)
        yield self.observation(self.service.url, method="dc-hub-info",
                               name=session.facts.name, details=details)

    def _make_listener(self, session: HubSession) -> PeerListener:
        """The listening socket for active mode; the handshake matches tokens (ADC) or nicks."""
        assert self.active is not None
        handshake: Handshake
        if isinstance(session, NmdcHubSession):
            handshake = functools.partial(_nmdc_accept, session, self.encoding)
        else:
            assert isinstance(session, AdcHubSession)
            handshake = functools.partial(_adc_accept, session)
        # the peer is not contacted, it contacts us: only its address is checked (its source
        # port is ephemeral and not one of the scope's service ports)
        return PeerListener(self.active[0], self.active[1],
                            check=lambda h: self.ctx.scope.check(h),
                            handshake=handshake, read_timeout=self.limits.read_timeout,
                            sep=b"|" if self.nmdc else b"\n")

    # -- users ----------------------------------------------------------------------------
    def _users(self, session: HubSession) -> list[ap.UserInfo]:
        return session.user_list()

    def _user_endpoint(self, user: ap.UserInfo, port: int | None) -> Endpoint:
        if user.ip4:
            return Endpoint(protocol=self.proto, host=user.ip4, port=port or self.service.port)
        return self.endpoint

    def _user_problem(self, user: ap.UserInfo, port: int | None, outcome: Outcome,
                      reason: str, path: str = "/files.xml.bz2") -> Observation:
        self.ctx.emit("problem", self.service.url)
        return self.observation(self._loc(user, path), method=f"{self.proto}-get", outcome=outcome,
                                reason=reason, endpoint=self._user_endpoint(user, port),
                                details={**user.as_details(), "hub": self.hub_url})

    async def _connect(self, session: HubSession, user: ap.UserInfo
                       ) -> tuple[Peer | None, Observation | Refusal | None, int]:
        limits = self.limits
        if self.listener is not None and not user.active:
            return await self._connect_incoming(session, user)
        if isinstance(session, NmdcHubSession):
            return await self._connect_nmdc(session, user)
        assert isinstance(session, AdcHubSession)
        if not user.ip4:
            return None, self._user_problem(user, None, Outcome.SKIPPED,
                                            "the hub does not reveal this user's address"), 0
        if not user.active:
            return None, self._user_problem(
                user, None, Outcome.SKIPPED, "user is passive (no TCP4) and so are we: no "
                "client-client connection is possible"), 0
        try:
            token, port, proto = await session.request_connection(user.sid,
                                                                  limits.read_timeout)
        except HubError as exc:
            return None, self._user_problem(user, None, Outcome.ERROR, str(exc)), 0
        if proto != "ADC/1.0":
            return None, self._user_problem(user, port, Outcome.SKIPPED,
                                            f"peer offers {proto[:32]!r}, not ADC/1.0"), port
        decision = self.ctx.check(user.ip4, port)
        if not decision:
            return None, self.refusal(f"adc://{user.ip4}:{port}",
                                      f"CTM from {user.nick!r} via {self.hub_url}",
                                      decision.reason), port
        try:
            async with self.ctx.slot(user.ip4):
                conn = await PeerConnection.connect(user.ip4, port, token, session.identity,
                                                    limits.connect_timeout, limits.read_timeout)
        except (HubError, OSError, TimeoutError) as exc:
            return None, self._user_problem(user, port, Outcome.ERROR,
                                            f"client connection failed: {exc}"), port
        return conn, None, port

    async def _connect_incoming(self, session: HubSession, user: ap.UserInfo
                                ) -> tuple[Peer | None, Observation | Refusal | None, int]:
        """Active auditor, passive user: our CTM, the user connects to our listener."""
        assert self.listener is not None
        listener, limits = self.listener, self.limits
        send: Callable[[], Awaitable[None]]
        if isinstance(session, NmdcHubSession):
            nick = user.nick or ""
            key, cid = nick, None
            send = functools.partial(session.send_ctm, nick, listener.port)
        else:
            assert isinstance(session, AdcHubSession)
            key, cid = secrets.token_hex(6), user.cid
            send = functools.partial(session.send_ctm, user.sid, listener.port, key)
        try:
            conn = await listener.connection(key, send, limits.read_timeout, cid=cid)
        except (HubError, OSError) as exc:
            return None, self._user_problem(user, None, Outcome.ERROR, str(exc)), 0
        host, port = conn.remote
        if user.ip4 and user.ip4 != host:
            user.fields["conn_ip"] = host  # the hub's address for the user and the socket's
        user.fields.setdefault("I4", host)
        return conn, None, port

    async def _connect_nmdc(self, session: NmdcHubSession, user: ap.UserInfo
                            ) -> tuple[Peer | None, Observation | Refusal | None, int]:
        """$RevConnectToMe → the peer's $ConnectToMe address (scope-checked) → connect."""
        limits = self.limits
        if not user.active:
            return None, self._user_problem(
                user, None, Outcome.SKIPPED, "user is passive (M:P) and so are we: no "
                "client-client connection is possible"), 0
        try:
            host, port = await session.request_connection(user.nick or "", limits.read_timeout)
        except HubError as exc:
            return None, self._user_problem(user, None, Outcome.ERROR, str(exc)), 0
        if user.ip4 and user.ip4 != host:
            user.fields["ctm_ip"] = host  # the hub's $UserIP and the peer's own claim differ
        user.fields.setdefault("I4", host)
        decision = self.ctx.check(host, port)
        if not decision:
            return None, self.refusal(f"nmdc://{host}:{port}",
                                      f"$ConnectToMe for {user.nick!r} via {self.hub_url}",
                                      decision.reason), port
        try:
            async with self.ctx.slot(host):
                conn = await NmdcPeer.connect(host, port, session.sid or "", user.nick or "",
                                              limits.connect_timeout, limits.read_timeout,
                                              self.encoding)
        except (HubError, OSError, TimeoutError) as exc:
            return None, self._user_problem(user, port, Outcome.ERROR,
                                            f"client connection failed: {exc}"), port
        return conn, None, port

    async def _audit_user(self, session: HubSession, user: ap.UserInfo,
                          shared: dict[str, list[str]]
                          ) -> AsyncIterator[Observation | Refusal]:
        conn, problem, port = await self._connect(session, user)
        if conn is None:
            if problem is not None:
                yield problem
            return
        limits = self.limits
        if conn.remote:  # the address the bytes come from, as our socket sees it
            endpoint = Endpoint(protocol=self.proto, host=conn.remote[0], port=conn.remote[1])
        else:
            endpoint = self._user_endpoint(user, port)
        who = {**user.as_details(), "hub": self.hub_url, "peer_cid": conn.peer_cid,
               "connection": ("incoming, after our connect-to-me" if conn.incoming
                              else "outgoing, after the peer's connect-to-me")}
        if "conn_ip" in user.fields:
            who["hub_ip4"] = user.fields.get("I4")
            who["connection_ip4"] = user.fields["conn_ip"]
        try:
            deadline = time.monotonic() + limits.read_timeout * 10
            try:
                blob = await conn.file_list(deadline, SpeedGuard.from_limits(limits))
                listing = parse_file_list(blob, limit=self.max_list_bytes,
                                          max_files=limits.max_listing_entries)
            except FileListError as exc:
                yield self._user_problem(user, port, Outcome.ERROR, f"file list refused: {exc}")
                return
            except (HubError, OSError) as exc:
                yield self._user_problem(user, port, Outcome.ERROR,
                                         f"file list not received: {exc}")
                return
            del blob
            self.ctx.emit("dir", self.service.url)
            yield self.observation(
                self._loc(user, "/files.xml.bz2"), method=f"{self.proto}-filelist",
                level=EvidenceLevel.CONTACTED, endpoint=endpoint,
                outcome=Outcome.SKIPPED if listing.truncated else Outcome.OK,
                reason=listing.truncated,
                details={**who, "files": len(listing.files), "bad_entries": listing.bad_entries,
                         "unsafe_names": listing.unsafe_names,
                         "generator": listing.generator, "list_cid": listing.cid,
                         "decompressed_bytes": listing.decompressed_bytes})
            bank_files = []
            for item in listing.files:
                if item.tth is None:
                    continue
                yield self.observation(
                    self._loc(user, item.path), method=f"{self.proto}-filelist",
                    name=item.path.rpartition("/")[2], size=item.size,
                    digests={"tth": item.tth}, level=EvidenceLevel.CONTACTED,
                    endpoint=endpoint, details={**who, "path": item.path})
                if item.tth in self.bank_tths:
                    bank_files.append(item)
            if bank_files:
                shared[user.sid] = sorted({f.tth for f in bank_files if f.tth})
            for item in bank_files:
                yield await self._verify(conn, user, endpoint, who, item.path, item.tth or "",
                                         item.size or 0)
            if self.discovery.enabled:
                for candidate in candidates(listing.files, self.bank_tths, self.titles,
                                            self.discovery):
                    if not self._take_budget(candidate.size):
                        break
                    yield await self._identify_whole(conn, user, endpoint, who, candidate)
        finally:
            await conn.close()

    async def _verify(self, conn: Peer, user: ap.UserInfo, endpoint: Endpoint,
                      who: dict[str, Any], path: str, root: str, size: int) -> Observation:
        """Fetch the leaves and one segment of a bank file from this user and check them."""
        limits = self.limits
        details = {**who, "path": path, "tth": root}
        loc = self._loc(user, path)
        name = path.rpartition("/")[2]
        deadline = time.monotonic() + limits.read_timeout * 10
        try:
            leaves_blob = bytearray()
            try:
                await conn.get("tthl", f"TTH/{root}", 0, -1, MAX_TTHL, leaves_blob.extend,
                               deadline, SpeedGuard.from_limits(limits))
                leaves = check_leaves(root, size, bytes(leaves_blob))
            except HubError as exc:
                if size > self.segment or "refused" not in str(exc):
                    raise
                # small files: some clients have no leaves beyond the root; fetch it whole
                leaves = LeafSet(root, size, (ap.unb32(root),), max(size, 1))
            start, length = leaves.segment(self.segment)
            verifier = SegmentVerifier(leaves, start, length)
            await conn.get("file", f"TTH/{root}", start, length, length, verifier.update,
                           deadline, SpeedGuard.from_limits(limits))
            blocks = verifier.finish()
        except TthError as exc:
            self.ctx.emit("problem", self.service.url)
            return self.observation(loc, method=f"{self.proto}-segment", name=name, size=size,
                                    digests={"tth": root}, level=EvidenceLevel.CONTACTED,
                                    outcome=Outcome.ERROR, endpoint=endpoint,
                                    reason=f"TTH verification failed: {exc}",
                                    details=details, protocol_check=ProtocolCheck(
                                        verdict="failed", method="tth-segment",
                                        words=f"TTH verification failed: {exc}"))
        except (HubError, OSError) as exc:
            self.ctx.emit("problem", self.service.url)
            return self.observation(loc, method=f"{self.proto}-segment", name=name, size=size,
                                    digests={"tth": root}, level=EvidenceLevel.CONTACTED,
                                    outcome=Outcome.ERROR, endpoint=endpoint,
                                    reason=f"segment not received: {exc}", details=details)
        self.ctx.emit("file", self.service.url)
        self.ctx.emit("bytes", self.service.url, length)
        words = (f"{length} bytes at offset {start} of {size} received from {user.nick} "
                 f"({endpoint.host}:{endpoint.port}, CID {user.cid}) hash to {blocks} TTH "
                 f"leaves of {leaves.block} bytes; the {len(leaves.leaves)} leaves hash to the "
                 f"TTH root {root}")
        return self.observation(
            loc, method=f"{self.proto}-segment", name=name, size=size, digests={"tth": root},
            level=EvidenceLevel.SERVED, endpoint=endpoint,
            details={**details, "segment_start": start, "segment_length": length,
                     "leaf_bytes": leaves.block, "leaves": len(leaves.leaves)},
            protocol_check=ProtocolCheck(verdict="verified", method="tth-segment", words=words))

    # -- discovery (see collect/dc/discover.py) ---------------------------------------------
    def _take_budget(self, size: int) -> bool:
        """Take ``size`` bytes of the run's discovery budget (shared by every hub)."""
        left = getattr(self.ctx, "_dc_discovery_left", None)
        if left is None:
            left = self.discovery.total_bytes
        if size > left:
            return False
        self.ctx._dc_discovery_left = left - size  # type: ignore[attr-defined]
        return True

    async def _identify_whole(self, conn: Peer, user: ap.UserInfo, endpoint: Endpoint,
                              who: dict[str, Any], candidate: DcCandidate) -> Observation:
        """Download a listed file whole, digest it, and check it is the file the list names."""
        loc = self._loc(user, candidate.path)
        name = candidate.path.rpartition("/")[2]
        details: dict[str, Any] = {**who, "path": candidate.path, "tth": candidate.tth,
                                   "discovery": candidate.as_dict()}
        sink = WholeFile(candidate.path)
        deadline = time.monotonic() + self.limits.read_timeout * 10
        try:
            await conn.get("file", f"TTH/{candidate.tth}", 0, candidate.size, candidate.size,
                           sink, deadline, SpeedGuard.from_limits(self.limits))
        except (HubError, OSError) as exc:
            self.ctx.emit("problem", self.service.url)
            return self.observation(loc, method=f"{self.proto}-discovery", name=name,
                                    size=candidate.size, level=EvidenceLevel.CONTACTED,
                                    outcome=Outcome.ERROR, endpoint=endpoint,
                                    reason=f"download for identification failed: {exc}",
                                    details=details)
        exact, perceptual, perceptual_details = await asyncio.to_thread(sink.finish)
        got = exact.get("tth", "").upper()
        if sink.received != candidate.size or got != candidate.tth:
            self.ctx.emit("problem", self.service.url)
            reason = (f"the {sink.received} bytes received do not hash to the TTH "
                      f"{candidate.tth} the user's file list gives for {candidate.size} bytes "
                      f"(TTH of what arrived: {got or 'none'})")
            return self.observation(loc, method=f"{self.proto}-discovery", name=name,
                                    size=candidate.size, level=EvidenceLevel.CONTACTED,
                                    outcome=Outcome.ERROR, endpoint=endpoint, reason=reason,
                                    details=details, protocol_check=ProtocolCheck(
                                        verdict="failed", method="full-content-tth",
                                        words=reason))
        self.ctx.emit("file", self.service.url)
        self.ctx.emit("bytes", self.service.url, sink.received)
        words = (f"all {sink.received} bytes of {candidate.path} were received from "
                 f"{user.nick} ({endpoint.host}:{endpoint.port}, CID {user.cid}); their TTH "
                 f"equals the root {candidate.tth} that the user's file list gives")
        return self.observation(
            loc, method=f"{self.proto}-discovery", name=name, size=sink.received,
            digests={**exact, **perceptual}, level=EvidenceLevel.SERVED,
            bytes_from_endpoint=True, endpoint=endpoint,
            details={**details, **perceptual_details},
            protocol_check=ProtocolCheck(verdict="verified", method="full-content-tth",
                                         words=words))

    # -- hub facts ------------------------------------------------------------------------
    def _hub_details(self, session: HubSession, shared: dict[str, list[str]]) -> dict[str, Any]:
        facts = session.facts
        users = self._users(session)
        ops = [u for u in users if u.is_operator]
        bots = [u for u in users if u.is_bot]
        infra_users = [u for u in users if u.ip4 and self.ctx.scope.is_infrastructure(u.ip4)]
        texts = [facts.description or "", facts.name or ""] + [m["text"] for m in facts.messages
                                                                if m["from"] == "hub" or
                                                                m["operator"] or m["bot"]]
        named = set().union(*(tths_in_text(t) for t in texts)) if texts else set()

        def sharing(group: list[ap.UserInfo]) -> list[dict[str, Any]]:
            return [{"nick": u.nick, "cid": u.cid, "ip4": u.ip4, "bank_tths": shared[u.sid]}
                    for u in group if u.sid in shared]

        return {
            "hub": self.hub_url, "hub_name": facts.name, "topic": facts.description,
            "hub_software": facts.software,
            "hub_infrastructure": self.infrastructure,
            "auditor_nick": facts.nick_used, "auditor_cid": session.identity.cid,
            "nick_collisions": facts.nick_collisions,
            "password_challenged": facts.password_challenged,
            "operators": [{"nick": u.nick, "cid": u.cid, "ip4": u.ip4} for u in ops],
            "bots": [{"nick": u.nick, "cid": u.cid} for u in bots],
            "users": len(users), "users_dropped": facts.users_dropped,
            "infrastructure_users": [{"nick": u.nick, "ip4": u.ip4} for u in infra_users],
            "operators_sharing_bank_content": sharing(ops),
            "bots_sharing_bank_content": sharing(bots),
            "infrastructure_users_sharing_bank_content": sharing(infra_users),
            "users_sharing_bank_content": len(shared),
            "hub_messages": facts.messages[:50], "messages_dropped": facts.messages_dropped,
            "bank_links_in_topic_or_messages": sorted(named & self.bank_tths),
            "statuses": facts.statuses[-10:], "protocol_errors": facts.protocol_errors,
            "auditor_mode": "active" if self.active else "passive",
            "listen": (f"{self.listener.host}:{self.listener.port}" if self.listener else None),
            "incoming": self.listener.stats.as_details() if self.listener else None,
        }


_DONE = object()


async def _adc_accept(session: AdcHubSession, line: Line, expected: Callable[[str], bool]
                      ) -> tuple[str, Peer]:
    return await PeerConnection.accept(line, session.identity, expected)


async def _nmdc_accept(session: NmdcHubSession, encoding: str, line: Line,
                       expected: Callable[[str], bool]) -> tuple[str, Peer]:
    return await NmdcPeer.accept(line, session.sid or session.identity.nick, expected, encoding)


async def _finish(tasks: list[asyncio.Task[None]], results: asyncio.Queue[Any]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)
    await results.put(_DONE)
