"""The collector interface: one async generator of records per service, one module per protocol.

A collector walks one service of the scope and yields :class:`~netwarden.records.Observation`
and :class:`~netwarden.records.Refusal` records; it never raises for anything an endpoint does
(timeouts, resets, refusals, lies), because hostile input is normal and a crash would lose
what the rest of the run would have seen. Every connection goes through
:meth:`CollectContext.check` first, so the scope (the authorization) is enforced in one place.

Concurrency is bounded by the scope's limits through semaphores shared by every collector of a
run: one for the whole run and one per host, so two services on one host share its budget.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from netwarden.collect.references import ReferenceView
from netwarden.errors import InputError
from netwarden.records import (
    Endpoint,
    EvidenceLevel,
    Observation,
    Outcome,
    ProtocolCheck,
    Refusal,
)
from netwarden.scope import Decision, Limits, Scope, Service, StrictModel

T = TypeVar("T")  # a work item
S = TypeVar("S")  # a worker's state
R = TypeVar("R")  # a record

ProgressKind = Literal["file", "bytes", "dir", "problem", "refusal"]

log = logging.getLogger("netwarden.collect")


@dataclass(frozen=True)
class ProgressEvent:
    """A tick for a progress bar: ``n`` files/bytes/directories done on ``service``.

    ``total`` is set when the collector knows how many bytes a file will have (for a bytes bar).
    """

    kind: ProgressKind
    service: str
    n: int = 1
    total: int | None = None


@dataclass
class CollectContext:
    """What every collector of one run shares: the scope, the run id, limits and slots."""

    scope: Scope
    run_id: str
    limits: Limits
    progress: Callable[[ProgressEvent], None] | None = None
    # the banks' references for protocols that ask by digest (BitTorrent, DC++): see
    # netwarden.collect.references; None when the run has no banks
    references: ReferenceView | None = None
    _total: asyncio.Semaphore | None = field(default=None, init=False, repr=False)
    _hosts: dict[str, asyncio.Semaphore] = field(default_factory=dict, init=False, repr=False)

    def check(self, host: str, port: int) -> Decision:
        """May ``host``:``port`` be contacted now? Asked before EVERY connection."""
        return self.scope.check(host, port)

    def emit(self, kind: ProgressKind, service: str, n: int = 1, total: int | None = None) -> None:
        """Report progress; a failing progress callback must not stop collection."""
        if self.progress is None:
            return
        with suppress(Exception):  # a display problem is not an audit problem
            self.progress(ProgressEvent(kind, service, n, total))

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one connection slot for ``host`` and one of the run's total (host first).

        Taking the host slot first and the total slot second, always in that order and
        releasing both, cannot deadlock.
        """
        if self._total is None:
            self._total = asyncio.Semaphore(self.limits.total_concurrency)
        host_sem = self._hosts.get(host)
        if host_sem is None:
            host_sem = self._hosts[host] = asyncio.Semaphore(self.limits.per_host_concurrency)
        async with host_sem, self._total:
            yield


class NoOptions(StrictModel):
    """A collector without service options."""


class Collector(ABC):
    """Walks one service and yields what it saw. Subclasses set ``schemes``, ``default_ports``
    and ``collect``; the class attributes below are everything the scope file and the run
    know about a protocol (scope.py derives its schemes and ports from them)."""

    schemes: ClassVar[tuple[str, ...]] = ()
    # The port of each scheme in ``schemes`` when a service URL names none. The scope file
    # accepts exactly the schemes registered collectors declare here.
    default_ports: ClassVar[Mapping[str, int]] = {}
    kinds: ClassVar[tuple[str, ...]] = ()  # service `kind` options this collector serves
    protocol: ClassVar[str] = ""
    # The service options this collector takes (keys of its [[services]] table besides url,
    # username, password, password_file, encoding, kind), validated when the scope is loaded;
    # the default takes none, so a typo such as `usernme` is refused (see scope.py).
    options_model: ClassVar[type[BaseModel]] = NoOptions
    # Optional ``check_service(service, scope)`` raising InputError: checks at scope load
    # that need the service as a whole (its scheme with its kind, an address in the prefixes).
    check_service: ClassVar[Callable[[Service, Scope], Any] | None] = None
    # False for collectors that log in as nobody (HTTP, BitTorrent): credentials given to them
    # would be silently unused, so the scope refuses them.
    uses_credentials: ClassVar[bool] = True

    def __init__(self, service: Service, ctx: CollectContext) -> None:
        self.service = service
        self.ctx = ctx
        self.limits = ctx.limits
        self.endpoint = Endpoint(protocol=self.protocol or service.scheme, host=service.host,
                                 port=service.port)
        self.infrastructure = ctx.scope.is_infrastructure(service.host)

    @abstractmethod
    def collect(self) -> AsyncIterator[Observation | Refusal]:
        """Yield observations and refusals for this service (an async generator)."""

    # -- helpers shared by the protocol modules ------------------------------------------------
    def observation(self, location: str, *, method: str, outcome: Outcome = Outcome.OK,
                    reason: str | None = None, name: str | None = None,
                    size: int | None = None, digests: dict[str, str] | None = None,
                    level: EvidenceLevel = EvidenceLevel.LISTED,
                    bytes_from_endpoint: bool = False,
                    details: dict[str, Any] | None = None,
                    endpoint: Endpoint | None = None,
                    protocol_check: ProtocolCheck | None = None) -> Observation:
        """An observation with the run's id filled in, of this service's endpoint by default.

        ``endpoint`` is another (in-scope) endpoint the service redirected us to;
        ``protocol_check`` the protocol's own check of the bytes received (see
        :class:`~netwarden.records.ProtocolCheck`).
        """
        endpoint = endpoint or self.endpoint
        details = details or {}
        if "verified" in details:  # the protocol's verdict is typed, never a details key
            raise ValueError(f"{method}: pass protocol_check=, not details['verified']")
        infrastructure = (self.infrastructure if endpoint is self.endpoint
                          else self.ctx.scope.is_infrastructure(endpoint.host))
        return Observation(
            run_id=self.ctx.run_id, endpoint=endpoint, location=location, name=name,
            size=size, digests=digests or {}, level=level,
            bytes_from_endpoint=bytes_from_endpoint, method=method, outcome=outcome,
            reason=reason, service=self.service.url,
            operator_infrastructure=infrastructure, details=details,
            protocol_check=protocol_check,
        )

    def refusal(self, target: str, found_in: str, reason: str) -> Refusal:
        """A target seen but not contacted because the scope does not cover it."""
        self.ctx.emit("refusal", self.service.url)
        return Refusal(run_id=self.ctx.run_id, target=target, found_in=found_in, reason=reason)

    def service_refusal(self) -> Refusal | None:
        """The refusal to record if the scope does not (or no longer) cover this service."""
        decision = self.ctx.check(self.service.host, self.service.port)
        if decision:
            return None
        return self.refusal(self.service.url, "scope services", decision.reason)


class Session(Protocol):
    """What :class:`TreeCollector` needs of a worker's connection: a way to drop it."""

    def close(self) -> None: ...


D = TypeVar("D")  # a directory item
F = TypeVar("F")  # a file item
SessionT = TypeVar("SessionT", bound=Session)


class TreeCollector(Collector, Generic[D, F, SessionT]):
    """A collector that walks a directory tree, one session per worker (FTP, SMB).

    Why one class: both protocols check the scope, run a :class:`WorkQueue` of directory and
    file items with one connection per worker under the per-host slot, and turn an unexpected
    exception into an ``error`` observation while dropping the connection it happened on, so
    that the next item starts from a fresh one. Subclasses say how to connect, where to start,
    what an item's URL is, and how to list a directory and fetch a file.
    """

    dir_type: ClassVar[type]  # the class of directory items (the rest are files)

    @abstractmethod
    def _new_session(self) -> SessionT:
        """A session for one worker (connecting lazily is fine)."""

    @abstractmethod
    async def _end_session(self, session: SessionT) -> None:
        """Log out politely at the end of the walk."""

    @abstractmethod
    def _roots(self) -> list[D]:
        """Where the walk starts."""

    @abstractmethod
    def _item_url(self, item: D | F) -> str:
        """The location URL of an item, for the error observation."""

    @abstractmethod
    async def _list(self, session: SessionT, item: D,
                    add: Callable[[D | F], None]) -> list[Observation]:
        """List one directory: its observations; ``add`` queues what it contains."""

    @abstractmethod
    async def _fetch(self, session: SessionT, item: F) -> Observation:
        """Fetch and digest one file."""

    async def collect(self) -> AsyncIterator[Observation | Refusal]:
        refusal = self.service_refusal()
        if refusal is not None:
            yield refusal
            return
        pool: WorkQueue[D | F, SessionT] = WorkQueue(
            self.limits.per_host_concurrency, self._new_session, self._handle, self._failed,
            self._end_session)
        record: Observation  # WorkQueue.run yields what _handle and _failed return
        async for record in pool.run(list(self._roots())):
            yield record

    async def _handle(self, session: SessionT, item: D | F,
                      add: Callable[[D | F], None]) -> list[Observation]:
        async with self.ctx.slot(self.service.host):
            if isinstance(item, self.dir_type):
                return await self._list(session, item, add)  # type: ignore[arg-type]
            return [await self._fetch(session, item)]  # type: ignore[arg-type]

    def _failed(self, session: SessionT, item: D | F, exc: Exception) -> Observation:
        log.error("%s collector error on %r", self.protocol, item, exc_info=exc)
        session.close()
        return self.observation(self._item_url(item), method=self.protocol,
                                outcome=Outcome.ERROR,
                                reason=f"collector error: {type(exc).__name__}: {exc}")


_REGISTRY: dict[str, type[Collector]] = {}


_KINDS: dict[str, type[Collector]] = {}


def register(cls: type[Collector]) -> type[Collector]:
    """Class decorator: make ``cls`` the collector for each URL scheme in ``cls.schemes``
    and for each service ``kind`` in ``cls.kinds`` (e.g. an HTTP URL that is a tracker)."""
    if not cls.schemes:
        raise ValueError(f"{cls.__name__} declares no URL schemes")
    for scheme in cls.schemes:
        port = cls.default_ports.get(scheme)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"{cls.__name__} declares no default port for its scheme "
                             f"{scheme!r} (default_ports = {{{scheme!r}: <port>}})")
        taken = _REGISTRY.get(scheme.lower())
        if taken is not None and taken.__qualname__ != cls.__qualname__:
            raise ValueError(f"{cls.__name__}: scheme {scheme!r} is already "
                             f"{taken.__name__}'s")
    for scheme in cls.schemes:
        _REGISTRY[scheme.lower()] = cls
    for kind in getattr(cls, "kinds", ()):
        _KINDS[kind.lower()] = cls
    return cls


def unregister(cls: type[Collector]) -> None:
    """Remove ``cls`` from every scheme and kind it serves (tests, plug-ins)."""
    for table in (_REGISTRY, _KINDS):
        for key in [k for k, v in table.items() if v is cls]:
            del table[key]


def default_ports() -> dict[str, int]:
    """Every URL scheme a registered collector serves, with its default port (sorted): the
    schemes a scope file may use."""
    return {scheme: cls.default_ports[scheme] for scheme, cls in sorted(_REGISTRY.items())}


def registered() -> tuple[type[Collector], ...]:
    """The registered collector classes, each once, in scheme order."""
    return tuple(dict.fromkeys(cls for _scheme, cls in sorted(_REGISTRY.items())))


def collector_for(service: Service) -> type[Collector]:
    """The collector for a service: its ``kind`` option first (``kind = "bittorrent-tracker"``
    on an ``http://`` URL), else its URL scheme; :class:`InputError` when there is none."""
    kind = service.options.get("kind")
    if kind is not None:
        try:
            return _KINDS[str(kind).lower()]
        except KeyError:
            known = ", ".join(sorted(_KINDS)) or "none"
            raise InputError(service.url, f"no collector for service kind {kind!r} "
                             f"(known kinds: {known})", "services.kind") from None
    try:
        return _REGISTRY[service.scheme.lower()]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise InputError(service.url, f"no collector for scheme {service.scheme!r} "
                         f"(collectors exist for: {known})", "services.url") from None


# Characters left unescaped in the path of a location URL; everything else (spaces, non-ASCII
# bytes, '%', '?', '#') is percent-encoded so that the URL names the exact bytes of the path.
_PATH_SAFE = "/-._~!$&'()*+,;=:@"


def location_url(scheme: str, host: str, port: int, raw_path: bytes) -> str:
    """The canonical location of an item: ``scheme://host:port/percent-encoded-raw-path``.

    The path is encoded from the raw bytes the server uses (UTF-8 or a legacy code page such as
    cp1251), so the URL identifies the item exactly and lets anyone fetch it again; the decoded
    name goes into the observation's ``name``.
    """
    host_part = f"[{host}]" if ":" in host else host
    if not raw_path.startswith(b"/"):
        raw_path = b"/" + raw_path
    return f"{scheme}://{host_part}:{port}{quote(raw_path, safe=_PATH_SAFE)}"


def unsafe_name_reason(name: str) -> str | None:
    """Why a name from a listing must not be followed, or None when it is an ordinary name.

    A listing is written by the server; a name that is empty, ``.``/``..``, or contains a path
    separator or NUL would make us request something other than the entry itself.
    """
    if name in ("", ".", ".."):
        return f"unsafe name {name!r}: not an entry of this directory"
    if "/" in name or "\\" in name or "\x00" in name:
        return f"unsafe name {name!r}: contains a path separator or NUL (path traversal)"
    if any(ord(c) < 32 for c in name):
        return f"unsafe name {name!r}: contains control characters"
    return None


# Records a walk may have made and the consumer not yet taken (per collector).
OUT_QUEUE_RECORDS = 256


class WorkQueue(Generic[T, S]):
    """Breadth-first walk with ``n`` workers: items may add items; records come out in order.

    Why: every collector walks a tree (directories → entries) with bounded concurrency and must
    yield records as they are made, keep going after any one item fails, and stop its workers
    when the consumer stops early. ``handle(state, item, add)`` returns the item's records and
    calls ``add`` for new items; ``failed(item, exc)`` turns an unexpected exception into a
    record; each worker has its own ``state`` (an FTP session, say), closed by ``close``.
    """

    def __init__(self, n: int, make_state: Callable[[], S],
                 handle: Callable[[S, T, Callable[[T], None]], Awaitable[list[R]]],
                 failed: Callable[[S, T, Exception], R],
                 close: Callable[[S], Awaitable[None]] | None = None) -> None:
        self.n, self.make_state, self.handle = max(1, n), make_state, handle
        self.failed, self.close = failed, close

    async def run(self, initial: list[T]) -> AsyncIterator[R]:
        work: asyncio.Queue[T] = asyncio.Queue()
        # Bounded: workers wait while the consumer (the pipeline, appending to the ledger) is
        # behind, instead of piling up records in memory (issue 14: 6-8 GB on a hostile tree).
        out: asyncio.Queue[Any] = asyncio.Queue(maxsize=OUT_QUEUE_RECORDS)
        done = object()
        for item in initial:
            work.put_nowait(item)

        async def worker() -> None:
            state = self.make_state()
            try:
                while True:
                    item = await work.get()
                    try:
                        try:
                            records = await self.handle(state, item, work.put_nowait)
                        except Exception as exc:  # one bad item must not stop the walk
                            records = [self.failed(state, item, exc)]
                        for record in records:
                            await out.put(record)
                        del records
                    finally:
                        work.task_done()  # after the records, so "done" comes after them
            finally:
                if self.close is not None:
                    await self.close(state)

        async def finish() -> None:
            await work.join()
            await out.put(done)

        tasks = [asyncio.create_task(worker()) for _ in range(self.n)]
        finisher = asyncio.create_task(finish())
        try:
            while True:
                record = await out.get()
                if record is done:
                    break
                yield record
        finally:
            finisher.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(finisher, *tasks, return_exceptions=True)
