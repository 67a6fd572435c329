"""HTTP tracker client: announce (BEP 3, compact BEP 23, IPv6 ``peers6`` BEP 7) and scrape.

Why hand-built queries: ``info_hash`` and ``peer_id`` are raw bytes that must be
percent-encoded byte by byte; a generic ``params=`` would encode them as text. The response is
read in a stream and cut at ``max_bytes`` (a tracker answering with gigabytes is recorded as
such, never buffered) and abandoned below the scope's minimum speed (a tracker that drips its
answer a byte at a time never trips the read timeout), redirects are not followed (a redirect
is a new target the scope has to see first), proxies from the environment are ignored (a
proxy is a connection nobody authorized). Parsing is separate from I/O
(:func:`parse_announce`, :func:`parse_scrape`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_from_bytes, urlsplit, urlunsplit

import httpx

from netwarden.codec.bencode import BencodeError, decode
from netwarden.collect.speed import SpeedGuard, TooSlowError
from netwarden.scope import Limits

MAX_RESPONSE = 2 * 1024 * 1024
MAX_PEERS = 10_000


class TrackerError(Exception):
    """The tracker failed, refused or answered something unusable; the text says what."""


@dataclass(frozen=True)
class PeerAddress:
    host: str
    port: int
    peer_id: str | None = None  # hex, non-compact lists only


@dataclass
class AnnounceResult:
    peers: list[PeerAddress] = field(default_factory=list)
    interval: int | None = None
    complete: int | None = None
    incomplete: int | None = None
    warning: str | None = None
    dropped: int = 0  # malformed or surplus peer entries left out
    response_bytes: int = 0
    response_sha256: str | None = None
    local_address: str | None = None  # our address on the connection (how we recognise us)


@dataclass(frozen=True)
class ScrapeResult:
    complete: int | None
    incomplete: int | None
    downloaded: int | None


def compact_peers(data: bytes, ipv6: bool = False) -> tuple[list[PeerAddress], int]:
    """Peers from a compact string (6 bytes each, or 18 for IPv6); returns (peers, dropped)."""
    size = 18 if ipv6 else 6
    peers: list[PeerAddress] = []
    dropped = len(data) % size and 1
    for off in range(0, len(data) - len(data) % size, size):
        if len(peers) >= MAX_PEERS:
            dropped += 1
            continue
        addr = ipaddress.ip_address(data[off:off + size - 2])
        (port,) = struct.unpack(">H", data[off + size - 2:off + size])
        if port == 0:
            dropped += 1
            continue
        peers.append(PeerAddress(str(addr), port))
    return peers, dropped


def _dict_peers(items: list[Any]) -> tuple[list[PeerAddress], int]:
    peers: list[PeerAddress] = []
    dropped = 0
    for item in items:
        if len(peers) >= MAX_PEERS or not isinstance(item, dict):
            dropped += 1
            continue
        ip, port, pid = item.get(b"ip"), item.get(b"port"), item.get(b"peer id")
        if not isinstance(ip, bytes):  # missing, or not a bencoded string
            dropped += 1
            continue
        try:
            host = str(ipaddress.ip_address(ip.decode("ascii")))  # names are never resolved
        except (UnicodeDecodeError, ValueError):
            dropped += 1
            continue
        if not isinstance(port, int) or not 0 < port < 65536:
            dropped += 1
            continue
        peers.append(PeerAddress(host, port, pid.hex() if isinstance(pid, bytes) else None))
    return peers, dropped


def parse_announce(body: bytes) -> AnnounceResult:
    """Parse an announce response; :class:`TrackerError` for failures and garbage."""
    try:
        value = decode(body, max_size=MAX_RESPONSE, max_depth=8, max_int_digits=20, strict=False)
    except BencodeError as exc:
        raise TrackerError(f"response is not bencode: {exc}") from None
    if not isinstance(value, dict):
        raise TrackerError("response is not a dictionary")
    failure = value.get(b"failure reason")
    if failure is not None:
        text = failure.decode("utf-8", "replace")[:300] if isinstance(failure, bytes) else "?"
        raise TrackerError(f"tracker failure: {text}")
    out = AnnounceResult()
    for key, attr in ((b"interval", "interval"), (b"complete", "complete"),
                      (b"incomplete", "incomplete")):
        if isinstance(value.get(key), int):
            setattr(out, attr, value[key])
    warning = value.get(b"warning message")
    if isinstance(warning, bytes):
        out.warning = warning.decode("utf-8", "replace")[:300]
    peers = value.get(b"peers", b"")
    if isinstance(peers, bytes):
        found, dropped = compact_peers(peers)
    elif isinstance(peers, list):
        found, dropped = _dict_peers(peers)
    else:
        raise TrackerError("peers is neither a compact string nor a list")
    out.peers.extend(found)
    out.dropped += dropped
    peers6 = value.get(b"peers6")
    if isinstance(peers6, bytes):
        found, dropped = compact_peers(peers6, ipv6=True)
        out.peers.extend(found[:max(0, MAX_PEERS - len(out.peers))])
        out.dropped += dropped
    return out


def parse_scrape(body: bytes, info_hash: bytes) -> ScrapeResult:
    try:
        value = decode(body, max_size=MAX_RESPONSE, max_depth=8, max_int_digits=20, strict=False)
    except BencodeError as exc:
        raise TrackerError(f"scrape response is not bencode: {exc}") from None
    files = value.get(b"files") if isinstance(value, dict) else None
    entry = files.get(info_hash) if isinstance(files, dict) else None
    if not isinstance(files, dict):
        raise TrackerError("scrape response has no files dictionary")
    if not isinstance(entry, dict):  # the tracker does not know the torrent
        return ScrapeResult(None, None, None)

    def num(key: bytes) -> int | None:
        v = entry.get(key)
        return v if isinstance(v, int) else None

    return ScrapeResult(num(b"complete"), num(b"incomplete"), num(b"downloaded"))


def announce_url(url: str, info_hash: bytes, peer_id: bytes, port: int = 6881,
                 numwant: int = 200, event: str | None = "started") -> str:
    """The announce URL with raw-byte fields percent-encoded. ``left=1``: we are leechers."""
    query = (f"info_hash={quote_from_bytes(info_hash, safe='')}"
             f"&peer_id={quote_from_bytes(peer_id, safe='')}&port={port}&uploaded=0"
             f"&downloaded=0&left=1&compact=1&numwant={numwant}")
    if event:
        query += f"&event={event}"
    sep = "&" if "?" in url else "?"
    return url + sep + query


def scrape_url(url: str, info_hash: bytes) -> str | None:
    """BEP 48: replace the last ``announce`` path segment by ``scrape``; None if impossible."""
    parts = urlsplit(url)
    head, _, last = parts.path.rpartition("/")
    if not last.startswith("announce"):
        return None
    path = f"{head}/scrape{last[len('announce'):]}"
    q = f"info_hash={quote_from_bytes(info_hash, safe='')}"
    query = f"{parts.query}&{q}" if parts.query else q
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


async def fetch_bounded(url: str, timeout: float, max_bytes: int = MAX_RESPONSE,
                        limits: Limits | None = None, local: list[str] | None = None) -> bytes:
    """GET ``url`` without redirects or proxies, reading at most ``max_bytes``, no slower than
    ``limits.min_speed`` (the defaults of :class:`Limits` when None).

    ``local``, when given, receives our own address on the connection: a tracker answers
    with the requester's address as it saw it, so that is how the auditor recognises itself
    in the peer list it gets back.
    """
    speed = SpeedGuard.from_limits(limits or Limits())
    timeouts = httpx.Timeout(timeout)
    try:
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False,
                                     timeout=timeouts) as client, \
                client.stream("GET", url, headers={"User-Agent": "netwarden"}) as response:
            if local is not None:
                stream = response.extensions.get("network_stream")
                addr = stream.get_extra_info("client_addr") if stream is not None else None
                if addr:
                    local.append(str(addr[0]))
            if response.status_code != 200:
                location = response.headers.get("location")
                extra = f" to {location[:200]}" if location else ""
                raise TrackerError(f"HTTP {response.status_code}{extra}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise TrackerError(f"response of {declared} bytes exceeds {max_bytes}")
            chunks: list[bytes] = []
            total = 0
            async for chunk in response.aiter_raw():
                total += len(chunk)
                speed.feed(len(chunk))
                if total > max_bytes:
                    raise TrackerError(f"response exceeds {max_bytes} bytes; cut off")
                chunks.append(chunk)
            return b"".join(chunks)
    except TooSlowError as exc:
        raise TrackerError(str(exc)) from None
    except httpx.TimeoutException:
        raise TrackerError(f"no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise TrackerError(f"HTTP error: {type(exc).__name__}: {exc}") from None


async def announce(url: str, info_hash: bytes, peer_id: bytes, timeout: float = 10.0,
                   max_bytes: int = MAX_RESPONSE, event: str | None = "started",
                   numwant: int = 200, limits: Limits | None = None,
                   port: int = 6881) -> AnnounceResult:
    """Announce as a leecher and return the peers the tracker lists (bounded response).

    ``local_address`` of the result is our address on the connection: with ``port`` it is
    what the tracker hands out for us (trackers such as opentracker include the requester).
    """
    local: list[str] = []
    body = await fetch_bounded(announce_url(url, info_hash, peer_id, port=port, event=event,
                                            numwant=numwant), timeout, max_bytes, limits,
                               local=local)
    result = parse_announce(body)
    result.local_address = local[0] if local else None
    result.response_bytes = len(body)
    result.response_sha256 = hashlib.sha256(body).hexdigest()
    return result


async def scrape(url: str, info_hash: bytes, timeout: float = 10.0,
                 limits: Limits | None = None) -> ScrapeResult | None:
    """Scrape counts for one infohash; None when the URL has no scrape form (BEP 48)."""
    target = scrape_url(url, info_hash)
    if target is None:
        return None
    return parse_scrape(await fetch_bounded(target, timeout, limits=limits), info_hash)
