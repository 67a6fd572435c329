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
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar
from urllib.parse import quote

from netwarden.errors import InputError
from netwarden.records import Endpoint, EvidenceLevel, Observation, Outcome, Refusal
from netwarden.scope import Decision, Limits, Scope, Service

T = TypeVar("T")  # a work item
S = TypeVar("S")  # a worker's state
R = TypeVar("R")  # a record

ProgressKind = Literal["file", "bytes", "dir", "problem", "refusal"]


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
    references: Any = None
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


class Collector(ABC):
    """Walks one service and yields what it saw. Subclasses set ``schemes`` and ``collect``."""

    schemes: ClassVar[tuple[str, ...]] = ()
    kinds: ClassVar[tuple[str, ...]] = ()  # service `kind` options this collector serves
    protocol: ClassVar[str] = ""

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
                    endpoint: Endpoint | None = None) -> Observation:
        """An observation with the run's id filled in, of this service's endpoint by default.

        ``endpoint`` is another (in-scope) endpoint the service redirected us to.
        """
        endpoint = endpoint or self.endpoint
        infrastructure = (self.infrastructure if endpoint is self.endpoint
                          else self.ctx.scope.is_infrastructure(endpoint.host))
        return Observation(
            run_id=self.ctx.run_id, endpoint=endpoint, location=location, name=name,
            size=size, digests=digests or {}, level=level,
            bytes_from_endpoint=bytes_from_endpoint, method=method, outcome=outcome,
            reason=reason, service=self.service.url,
            operator_infrastructure=infrastructure, details=details or {},
        )

    def refusal(self, target: str, found_in: str, reason: str) -> Refusal:
        """A target seen but not contacted because the scope does not cover it."""
        self.ctx.emit("refusal", self.service.url)
        return Refusal(run_id=self.ctx.run_id, target=target, found_in=found_in, reason=reason)


_REGISTRY: dict[str, type[Collector]] = {}


_KINDS: dict[str, type[Collector]] = {}


def register(cls: type[Collector]) -> type[Collector]:
    """Class decorator: make ``cls`` the collector for each URL scheme in ``cls.schemes``
    and for each service ``kind`` in ``cls.kinds`` (e.g. an HTTP URL that is a tracker)."""
    if not cls.schemes:
        raise ValueError(f"{cls.__name__} declares no URL schemes")
    for scheme in cls.schemes:
        _REGISTRY[scheme.lower()] = cls
    for kind in getattr(cls, "kinds", ()):
        _KINDS[kind.lower()] = cls
    return cls


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


def registered_schemes() -> tuple[str, ...]:
    """URL schemes that have a collector."""
    return tuple(sorted(_REGISTRY))


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
        out: asyncio.Queue[Any] = asyncio.Queue()
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
                            out.put_nowait(record)
                    finally:
                        work.task_done()  # after the records, so "done" comes after them
            finally:
                if self.close is not None:
                    await self.close(state)

        async def finish() -> None:
            await work.join()
            out.put_nowait(done)

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
