"""HTTP collector: walk directory indexes under a starting URL and digest every file once.

Redirects are followed by hand (``follow_redirects=False``) so that every hop goes through the
scope first: a redirect outside the authorization becomes a :class:`Refusal` and is never
contacted; a loop ends after ``max_redirects`` as an error. Links are followed only when they
stay on the same service (scheme, host, port) and under the starting URL; links to other hosts
are recorded (refused when outside the scope), never fetched.

Paths are handled as bytes: the index page is decoded as latin-1 (one character per byte), so
an href in any encoding, raw or percent-encoded, maps back to the exact bytes of the path;
names are decoded (UTF-8, else the legacy code page) only for display.

The client ignores proxy settings from the environment (``trust_env=False``): a proxy would be
a connection the scope never authorized. It asks for ``identity`` encoding so that the digested
bytes are the file's bytes and a compressed response cannot expand in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

import httpx

from netwarden import __version__
from netwarden.collect.base import (
    CollectContext,
    Collector,
    WorkQueue,
    location_url,
    register,
)
from netwarden.collect.base import default_ports as scheme_ports
from netwarden.collect.bounds import shown, wire_int
from netwarden.collect.html_index import index_links
from netwarden.collect.names import decode_name, legacy_encoding
from netwarden.collect.speed import SpeedGuard, TooSlowError
from netwarden.digest import MultiDigest
from netwarden.digest.perceptual import PerceptualDigest
from netwarden.records import Endpoint, EvidenceLevel, Observation, Outcome, Refusal
from netwarden.scope import Service

log = logging.getLogger("netwarden.collect.http")

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
HASH_BATCH = 1 << 20  # bytes handed to the digest thread at once


# Links of one index page recorded one by one when skipped or refused; beyond this they are
# only counted on the index's observation, so a page of 100k hostile links is one record.
MAX_LINK_RECORDS_PER_PAGE = 100


@dataclass
class _Item:
    raw_path: bytes  # path bytes (percent-decoded); a trailing b"/" marks a directory
    depth: int
    found_in: str
    # (index fingerprint, raw path) of every enclosing index page: a page whose entries equal an
    # ancestor's is a link back up the tree on the server (``self -> .``), not a new directory
    ancestors: tuple[tuple[str, bytes], ...] = ()


def _fingerprint(links: list[str]) -> str:
    """SHA-256 of the sorted entry names of an index (relative, single-segment hrefs only, so
    the parent link, which differs between a directory and its looped copy, does not count);
    ``""`` (never compared) for a page without any file entry."""
    names = sorted({h for h in links if h and "?" not in h and "#" not in h and ":" not in h
                    and not h.startswith(("/", ".")) and "/" not in h.rstrip("/")})
    digest = hashlib.sha256()
    for name in names:
        data = name.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(4, "big") + data)
    # a page of directories only is never judged: "a/ b/" under "a/ b/" is an ordinary tree
    # shape, and such a page serves nothing twice (the entry budget and depth bound it)
    return digest.hexdigest() if any(not n.endswith("/") for n in names) else ""


def _href_bytes(href: str) -> bytes:
    """The bytes of an href read from a latin-1 decoded page (char refs may exceed latin-1)."""
    try:
        return href.encode("latin-1")
    except UnicodeEncodeError:
        return href.encode("utf-8")


def _traversal(path: str) -> bool:
    """Whether an href path has a ``..`` segment or an encoded separator/NUL in a segment."""
    for segment in path.split("/"):
        raw = unquote_to_bytes(_href_bytes(segment))
        if raw == b".." or b"/" in raw or b"\\" in raw or b"\x00" in raw:
            return True
    return False


@register
class HttpCollector(Collector):
    """Walks one HTTP(S) service from its URL; one observation per index, file or problem."""

    schemes = ("http", "https")
    default_ports: ClassVar[dict[str, int]] = {"http": 80, "https": 443}
    uses_credentials = False  # no HTTP authentication: credentials would be silently unused

    def __init__(self, service: Service, ctx: CollectContext) -> None:
        super().__init__(service, ctx)
        self.fallback = legacy_encoding(service.encoding)
        start = unquote_to_bytes(service.path or "/")
        # The walk stays under the starting URL, taken as a directory ("/pub" → "/pub/").
        self.start_raw = start if start.endswith(b"/") else start + b"/"
        self.first_raw = start
        self.visited: set[bytes] = set()
        self.entries_seen = 0
        self.budget_reported = False
        self.budget_record: Observation | None = None  # always recorded, never capped
        self.client: httpx.AsyncClient | None = None

    # -- urls ----------------------------------------------------------------------------------
    def _url(self, raw_path: bytes) -> str:
        return location_url(self.service.scheme, self.service.host, self.service.port, raw_path)

    def _name(self, raw_path: bytes) -> tuple[str, str, bytes]:
        raw_name = raw_path.rstrip(b"/").rpartition(b"/")[2]
        name, encoding = decode_name(raw_name, self.fallback)
        return name, encoding, raw_name

    # -- walk ----------------------------------------------------------------------------------
    async def collect(self) -> AsyncIterator[Observation | Refusal]:
        refusal = self.service_refusal()
        if refusal is not None:
            yield refusal
            return
        limits = self.limits
        timeout = httpx.Timeout(connect=limits.connect_timeout, read=limits.read_timeout,
                                write=limits.read_timeout, pool=limits.connect_timeout
                                + limits.read_timeout)
        async with httpx.AsyncClient(
            follow_redirects=False, timeout=timeout, trust_env=False, verify=False,
            limits=httpx.Limits(max_connections=limits.total_concurrency,
                                max_keepalive_connections=limits.per_host_concurrency),
            headers={"User-Agent": f"netwarden/{__version__} (authorized audit)",
                     "Accept-Encoding": "identity"},
        ) as client:
            self.client = client
            self.visited.add(self.first_raw)
            pool: WorkQueue[_Item, None] = WorkQueue(
                limits.per_host_concurrency, lambda: None, self._handle, self._failed)
            record: Observation | Refusal  # what _handle and _failed return
            async for record in pool.run([_Item(self.first_raw, 0, "scope services")]):
                yield record

    def _failed(self, _state: None, item: _Item, exc: Exception) -> Observation:
        log.error("http collector error on %r", item.raw_path, exc_info=exc)
        return self.observation(self._url(item.raw_path), method="http-get",
                                outcome=Outcome.ERROR,
                                reason=f"collector error: {type(exc).__name__}: {exc}")

    async def _handle(self, _state: None, item: _Item,
                      add: Callable[[_Item], None]) -> list[Observation | Refusal]:
        assert self.client is not None
        url = self._url(item.raw_path)
        chain: list[str] = []
        for _ in range(self.limits.max_redirects + 1):
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            try:
                host, port = parts.hostname or "", parts.port or scheme_ports().get(scheme, 0)
            except ValueError:
                return [self._problem(item, url, chain, Outcome.ERROR,
                                      f"invalid redirect target {url!r}")]
            decision = self.ctx.check(host, port)
            if not decision:
                return [self.refusal(url, chain[-1] if chain else item.found_in,
                                     decision.reason)]
            if scheme not in ("http", "https"):
                return [self._problem(item, url, chain, Outcome.ERROR,
                                      f"redirect to another protocol ({scheme}): not followed")]
            async with self.ctx.slot(host):
                try:
                    # connect + status line + headers, however slowly dripped, within one
                    # phase_timeout; each body then has its own guards (see _file, _index)
                    async with asyncio.timeout(self.limits.phase_timeout) as phase, \
                            self.client.stream("GET", url) as response:
                        phase.reschedule(None)
                        location = response.headers.get("location")
                        if response.status_code in REDIRECT_CODES and location:
                            chain.append(url)
                            url = urljoin(url, location)
                            continue
                        endpoint = Endpoint(protocol=scheme, host=host, port=port)
                        return await self._response(response, item, url, chain, endpoint, add,
                                                    phase)
                except TimeoutError:  # the phase's wall-clock bound (asyncio.timeout)
                    return [self._problem(item, url, chain, Outcome.ERROR,
                                          f"response not complete after "
                                          f"{self.limits.phase_timeout:g} s (the phase time "
                                          "limit: headers or index page dripped); abandoned")]
                except TooSlowError as exc:  # a slow drip: recorded as a stall is
                    return [self._problem(item, url, chain, Outcome.ERROR, str(exc))]
                except httpx.TimeoutException as exc:
                    what = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "no data"
                    seconds = (self.limits.connect_timeout if what == "connecting"
                               else self.limits.read_timeout)
                    return [self._problem(item, url, chain, Outcome.ERROR,
                                          f"timed out: {what} for {seconds:g} s")]
                except httpx.ConnectError as exc:
                    return [self._problem(item, url, chain, Outcome.ERROR,
                                          f"could not connect: {_cause(exc)}")]
                except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                    return [self._problem(item, url, chain, Outcome.ERROR,
                                          f"connection failed mid-response: {_cause(exc)}")]
                except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                    return [self._problem(item, url, chain, Outcome.ERROR,
                                          f"invalid URL {url!r}: {exc}")]
        return [self._problem(item, url, chain, Outcome.ERROR,
                              f"more than {self.limits.max_redirects} redirects (a loop?): "
                              "stopped")]

    def _problem(self, item: _Item, url: str, chain: list[str], outcome: Outcome, reason: str,
                 **extra: Any) -> Observation:
        self.ctx.emit("problem", self.service.url)
        name, encoding, raw_name = self._name(item.raw_path)
        details = {"requested": self._url(item.raw_path), "redirects": chain,
                   "name_hex": raw_name.hex(), "name_encoding": encoding, **extra}
        return self.observation(url if not chain else self._url(item.raw_path),
                                method="http-get", outcome=outcome, reason=reason, name=name,
                                details=details)

    async def _response(self, response: httpx.Response, item: _Item, url: str,
                        chain: list[str], endpoint: Endpoint,
                        add: Callable[[_Item], None], phase: asyncio.Timeout | None = None
                        ) -> list[Observation | Refusal]:
        status = response.status_code
        if status >= 300:
            outcome = Outcome.DENIED if status in (401, 403, 407) else Outcome.ERROR
            return [self._problem(item, url, chain, outcome,
                                  f"HTTP {status} {response.reason_phrase}".strip(),
                                  status=status)]
        content_type = response.headers.get("content-type", "")
        is_dir = item.raw_path.endswith(b"/") or urlsplit(url).path.endswith("/")
        if is_dir and content_type.lower().startswith("text/html"):
            if phase is not None:  # the whole index page within one phase_timeout
                phase.reschedule(asyncio.get_running_loop().time() + self.limits.phase_timeout)
            return await self._index(response, item, url, chain, endpoint, add)
        return [await self._file(response, item, url, chain, endpoint)]

    # -- files ---------------------------------------------------------------------------------
    async def _file(self, response: httpx.Response, item: _Item, url: str, chain: list[str],
                    endpoint: Endpoint) -> Observation:
        limit = self.limits.max_file_size
        name, encoding, raw_name = self._name(item.raw_path)
        headers = response.headers
        details: dict[str, Any] = {
            "path": decode_name(item.raw_path, self.fallback)[0], "name_hex": raw_name.hex(),
            "name_encoding": encoding, "status": response.status_code,
            "content_type": shown(headers.get("content-type"), 256),
            "content_length": shown(headers.get("content-length")),
            "content_encoding": shown(headers.get("content-encoding")),
            "last_modified": shown(headers.get("last-modified")),
            "server": shown(headers.get("server"), 256), "redirects": chain,
        }
        declared = headers.get("content-length")
        announced = wire_int(declared)
        if declared is not None and announced is None:
            # 9007199254740993 (over 2**53 - 1) or garbage: not a size any file has, and not a
            # number the ledger could store; recorded as text, nothing downloaded
            self.ctx.emit("problem", self.service.url)
            return self.observation(url, method="http-get", outcome=Outcome.SKIPPED,
                                    reason=f"Content-Length {shown(declared)!r} is not a "
                                    "plausible size; not downloaded", name=name,
                                    level=EvidenceLevel.CONTACTED, details=details,
                                    endpoint=endpoint)
        if announced is not None and announced > limit:
            self.ctx.emit("problem", self.service.url)
            return self.observation(url, method="http-get", outcome=Outcome.SKIPPED,
                                    reason=f"Content-Length {announced} bytes is larger than "
                                    f"the limit of {limit} bytes; not downloaded", name=name,
                                    size=announced, level=EvidenceLevel.CONTACTED,
                                    details=details, endpoint=endpoint)
        digest = MultiDigest()
        perceptual = PerceptualDigest(name or decode_name(item.raw_path, self.fallback)[0])
        batch = bytearray()
        received = 0
        speed = SpeedGuard.from_limits(self.limits)
        async for chunk in response.aiter_raw():
            received += len(chunk)
            speed.feed(len(chunk))  # TooSlowError: recorded by _handle, connection dropped
            if received > limit:
                self.ctx.emit("problem", self.service.url)
                return self.observation(url, method="http-get", outcome=Outcome.SKIPPED,
                                        reason=f"server sent more than the limit of {limit} "
                                        "bytes; transfer stopped", name=name,
                                        level=EvidenceLevel.CONTACTED, details=details,
                                        endpoint=endpoint)
            batch += chunk
            if len(batch) >= HASH_BATCH:
                chunk_bytes = bytes(batch)
                await asyncio.to_thread(digest.update, chunk_bytes)
                perceptual.update(chunk_bytes)
                batch.clear()
        if batch:
            chunk_bytes = bytes(batch)
            await asyncio.to_thread(digest.update, chunk_bytes)
            perceptual.update(chunk_bytes)
        result = digest.finalize().as_dict()
        extra = await asyncio.to_thread(perceptual.finish)  # in-memory decode, off the loop
        result.update(extra.digests)
        details.update(extra.details)
        size = int(result.pop("size"))
        self.ctx.emit("file", self.service.url)
        self.ctx.emit("bytes", self.service.url, size)
        return self.observation(url, method="http-get", name=name, size=size,
                                digests={k: str(v) for k, v in result.items()},
                                level=EvidenceLevel.SERVED, bytes_from_endpoint=True,
                                details=details, endpoint=endpoint)

    # -- indexes -------------------------------------------------------------------------------
    async def _index(self, response: httpx.Response, item: _Item, url: str, chain: list[str],
                     endpoint: Endpoint, add: Callable[[_Item], None]
                     ) -> list[Observation | Refusal]:
        limits = self.limits
        body = bytearray()
        truncated = None
        speed = SpeedGuard.from_limits(self.limits)  # an index page can be dripped too
        async for chunk in response.aiter_raw():
            speed.feed(len(chunk))
            body += chunk
            if len(body) > limits.max_listing_bytes:
                del body[limits.max_listing_bytes:]
                truncated = f"index page longer than {limits.max_listing_bytes} bytes"
                break
        index_bytes = len(body)
        # parsed off the event loop: a 16 MiB page takes a while and other services go on
        links, cut = await asyncio.to_thread(index_links, body.decode("latin-1"),
                                             limits.max_listing_entries)
        del body[:]
        if cut and not truncated:
            truncated = f"index with more than {limits.max_listing_entries} links"
        page_url = str(response.url)
        page_raw = unquote_to_bytes(urlsplit(page_url).path.encode("latin-1")) or b"/"
        name = self._name(item.raw_path)[0]
        self.ctx.emit("dir", self.service.url)
        fingerprint = _fingerprint(links)
        loop = None
        if fingerprint and not truncated:
            for seen, raw_path in item.ancestors:
                if seen == fingerprint:
                    loop = (f"index identical to that of the enclosing directory "
                            f"{self._url(raw_path)}: a loop (a link back up the tree); not "
                            "walked again")
                    break
        details: dict[str, Any] = {
            "type": "dir", "path": decode_name(item.raw_path, self.fallback)[0],
            "links": len(links), "index_bytes": index_bytes, "redirects": chain,
            "server": shown(response.headers.get("server"), 256)}
        same_service = (endpoint.protocol, endpoint.host, endpoint.port) == (
            self.service.scheme, self.service.host, self.service.port)
        walk = (not loop and same_service
                and not (chain and not page_raw.startswith(self.start_raw)))
        link_records: list[Observation | Refusal] = []
        ancestors = (*item.ancestors, (fingerprint, item.raw_path))
        dropped = 0
        for href in links if walk else ():  # redirected out of the start URL: not walked
            record = self._link(href, page_url, page_raw, item.depth,
                                lambda new: add(_Item(new.raw_path, new.depth, new.found_in,
                                                      ancestors)))
            if record is None:
                continue
            if len(link_records) >= MAX_LINK_RECORDS_PER_PAGE and record is not self.budget_record:
                dropped += 1  # counted on the index's observation, not recorded one by one
                continue
            link_records.append(record)
        if dropped:
            details["link_records_not_kept"] = dropped
        index = self.observation(
            url, method="http-index",
            outcome=Outcome.SKIPPED if truncated or loop else Outcome.OK,
            reason=loop or (f"{truncated}: stopped reading; the links read so far were used"
                            if truncated else None), name=name or "/", endpoint=endpoint,
            details=details)
        return [index, *link_records]

    def _link(self, href: str, page_url: str, page_raw: bytes, depth: int,
              add: Callable[[_Item], None]) -> Observation | Refusal | None:
        """Decide about one link of an index; a record when it is worth recording."""
        try:
            parts = urlsplit(href)
        except ValueError:
            return self._skipped_link(page_url, href, "unparsable link")
        scheme = parts.scheme.lower()
        if scheme and scheme not in ("http", "https"):
            return None  # mailto:, javascript: — not an entry
        if parts.query or (not parts.path and not parts.netloc):
            return None  # Apache sort links (?C=N;O=D), fragments
        if not parts.netloc and parts.path in ("..", "../", ".", "./"):
            return None  # the parent/self link of nginx and others
        # Every entry counts against the service's budget before anything is recorded for it,
        # safe or not (issue 14: 100k unsafe names per page were recorded before counting).
        self.entries_seen += 1
        if self.entries_seen > self.limits.max_files_per_service:
            if self.budget_reported:
                return None
            self.budget_reported = True
            self.budget_record = self._skipped_link(
                page_url, href, f"more than {self.limits.max_files_per_service} entries on "
                "this service: the rest is not walked")
            return self.budget_record
        if _traversal(parts.path):
            return self._skipped_link(page_url, href, "unsafe name: path traversal ('..' or "
                                      "an encoded separator); never followed")
        absolute = urljoin(page_url, _href_bytes(href).decode("latin-1"))
        target = urlsplit(absolute)
        try:
            host, port = target.hostname or "", target.port or scheme_ports().get(
                target.scheme.lower(), 0)
        except ValueError:
            return self._skipped_link(page_url, href, "link with an invalid port")
        if (target.scheme.lower(), host, port) != (self.service.scheme, self.service.host,
                                                   self.service.port):
            decision = self.ctx.check(host, port)
            if not decision:
                return self.refusal(absolute, page_url, decision.reason)
            return self._skipped_link(page_url, href, f"link to another service "
                                      f"({target.scheme}://{host}:{port}): not followed; list "
                                      "it in the scope's services to audit it")
        raw = unquote_to_bytes(target.path.encode("latin-1")) or b"/"
        if page_raw.startswith(raw):
            return None  # a parent or the page itself (Apache "Parent Directory")
        if not raw.startswith(self.start_raw):
            return self._skipped_link(page_url, href, "link outside the starting URL: "
                                      "not followed")
        if raw in self.visited:
            return None
        self.visited.add(raw)
        if raw.endswith(b"/") and depth + 1 > self.limits.max_depth:
            return self._skipped_link(page_url, href, f"deeper than the depth limit of "
                                      f"{self.limits.max_depth}: not listed")
        add(_Item(raw, depth + 1 if raw.endswith(b"/") else depth, page_url))
        return None

    def _skipped_link(self, page_url: str, href: str, reason: str) -> Observation:
        raw_href = _href_bytes(href)
        name, encoding = decode_name(unquote_to_bytes(raw_href), self.fallback)
        return self.observation(page_url, method="http-index", outcome=Outcome.SKIPPED,
                                reason=reason, name=name,
                                details={"href": href[:2048], "href_hex": raw_href[:2048].hex(),
                                         "name_encoding": encoding})


def _cause(exc: BaseException) -> str:
    """The innermost reason of an httpx error, in words ("Connection refused")."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = getattr(exc, "strerror", None) or str(exc)
    return text or type(exc).__name__
