"""The BitTorrent collector: bank torrents × one BitTorrent service of the scope → evidence.

For each bank torrent (``ctx.references.torrents()``) the service yields peers — a tracker's
announce, a DHT ``get_peers`` walk from an in-scope node, or the service itself when it is a
known peer. Every peer goes through the scope: outside it is a :class:`Refusal` and is never
contacted. Inside, one peer-wire session (:mod:`.peerwire`) decides the evidence level:

* ``listed``    — a tracker/DHT named the peer but no handshake on the infohash happened;
* ``contacted`` — the peer answered the handshake for the infohash (with claims, client name),
                  but no piece was verified: silent, stalling, or it sent wrong bytes (then
                  ``protocol_check.verdict`` is ``failed`` and ``reason`` says which piece);
* ``served``    — at least one piece received from the peer hashes to the torrent's
                  SHA-1 (v1) or SHA-256 Merkle root (v2); ``protocol_check.verdict`` is
                  ``verified``.

A tracker itself becomes a ``listed`` observation of the infohash; one at an
``operator.infrastructure`` address is flagged as the operator's own service. The tracker is
scraped first (HTTP scrape, BEP 48; UDP scrape, BEP 15) and announced to only when the swarm
is not empty; in its answer the auditor recognises itself (its address and announced port,
its peer id where ids are listed) and never counts itself as a peer or a refusal. The
observation says how many third parties the tracker named (``third_parties``): with none it
is an observation ("the tracker knows the infohash, no peers"), not a finding.

Scope conventions (docs/bittorrent.md)::

    [[services]]  url = "http://127.77.0.10:6969/announce"  kind = "bittorrent-tracker"
    [[services]]  url = "udp://127.77.0.10:6969"             # UDP tracker (BEP 15)
    [[services]]  url = "bittorrent://127.77.2.1:6881"  kind = "dht"   # DHT bootstrap node
    [[services]]  url = "bittorrent://127.77.1.5:51413"                # a known peer

Options on any of them: ``pieces_per_peer`` (1), ``max_peers`` (200 per torrent),
``peer_timeout`` (s, 60), ``unchoke_timeout`` (s, 20), ``pcap_dir`` (write a PCAP per session,
piece payload zeroed), ``dht_max_queries`` (200), ``dht_timeout`` (s, 20).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import Field

from netwarden.collect.base import CollectContext, Collector, register
from netwarden.collect.bittorrent.metainfo import Metainfo, MetainfoError, parse_info
from netwarden.collect.bittorrent.peerwire import PeerContact, PeerLimits, PeerSession, our_peer_id
from netwarden.collect.bittorrent.tracker_http import (
    AnnounceResult,
    PeerAddress,
    ScrapeResult,
    TrackerError,
)
from netwarden.collect.bittorrent.tracker_http import announce as http_announce
from netwarden.collect.bittorrent.tracker_http import scrape as http_scrape
from netwarden.collect.bittorrent.tracker_udp import UdpTracker
from netwarden.collect.references import TorrentReference
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

TRACKER_KINDS = frozenset({"bittorrent-tracker", "tracker"})
ANNOUNCE_PORT = 6881  # the port we announce; with our address, how trackers list us


@dataclass
class _Ourselves:
    """How the auditor appears in peer lists: the addresses it announced from (with
    :data:`ANNOUNCE_PORT`) and its peer ids, run-wide (one run may announce the same
    infohash to the same tracker over HTTP and UDP, from different collectors)."""

    addresses: set[str] = field(default_factory=set)
    peer_ids: set[str] = field(default_factory=set)

    def is_self(self, peer: PeerAddress) -> bool:
        """Whether a listed peer is the auditor itself (never a third party, never refused)."""
        if peer.peer_id is not None and peer.peer_id in self.peer_ids:
            return True
        return peer.port == ANNOUNCE_PORT and _plain(peer.host) in self.addresses


def _plain(host: str) -> str:
    """An address without IPv4-mapped IPv6 dressing (``::ffff:127.0.0.1`` → ``127.0.0.1``)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def _ourselves(ctx: CollectContext) -> _Ourselves:
    """The run-wide :class:`_Ourselves`, kept on the run's context (like the peer turns)."""
    me: _Ourselves | None = getattr(ctx, "_bt_ourselves", None)
    if me is None:
        me = _Ourselves()
        ctx._bt_ourselves = me  # type: ignore[attr-defined]
    return me


def service_kind(service: Service) -> str:
    """``tracker-http``, ``tracker-udp``, ``dht`` or ``peer`` (see the module docstring)."""
    kind = str(service.options.get("kind", "")).lower()
    if service.scheme in ("http", "https"):
        if kind not in TRACKER_KINDS:
            raise InputError(service.url, "an http(s) service is a BitTorrent tracker only with "
                             "kind = \"bittorrent-tracker\"", "services.kind")
        return "tracker-http"
    if service.scheme == "udp":
        return "tracker-udp"
    if service.scheme == "bittorrent":
        if kind == "dht":
            return "dht"
        if kind in ("", "peer"):
            return "peer"
    raise InputError(service.url, f"unknown BitTorrent service kind {kind!r} "
                     "(bittorrent-tracker, dht, peer)", "services.kind")


class BitTorrentOptions(StrictModel):
    """Options of a tracker, DHT node or peer service (``[[services]]`` keys besides the URL)."""

    pieces_per_peer: Annotated[int, Field(gt=0)] = 1
    max_peers: Annotated[int, Field(gt=0)] = 200
    read_timeout: Annotated[float, Field(gt=0)] = 10.0
    unchoke_timeout: Annotated[float, Field(gt=0)] = 20.0
    peer_timeout: Annotated[float, Field(gt=0)] = 60.0
    pcap_dir: str | None = None
    dht_max_queries: Annotated[int, Field(gt=0)] = 200
    dht_timeout: Annotated[float, Field(gt=0)] = 20.0
    # discovery on HTTP trackers (full scrape) and DHT nodes (BEP 51): discover.py
    discover: bool = True
    discover_min_score: Annotated[float, Field(ge=0, le=1)] = 0.6
    discover_candidates: Annotated[int, Field(gt=0)] = 20
    discover_bytes: Annotated[int, Field(gt=0)] = 64 * 1024 * 1024
    discover_total_bytes: Annotated[int, Field(gt=0)] = 512 * 1024 * 1024
    discover_timeout: Annotated[float, Field(gt=0)] = 120.0


def _option(service: Service, name: str, default: float, kind: type = float) -> Any:
    value = service.options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InputError(service.url, f"option {name} must be a positive number, "
                         f"got {value!r}", f"services.{name}")
    return kind(value)


@register
class BitTorrentCollector(Collector):
    """Trackers, DHT nodes and known peers of the scope, for every bank torrent."""

    schemes = ("bittorrent", "udp")
    # a peer's port; a UDP tracker's (BEP 15)
    default_ports: ClassVar[dict[str, int]] = {"bittorrent": 6881, "udp": 6969}
    kinds = ("bittorrent-tracker", "tracker", "dht", "peer")
    protocol = "bittorrent"
    options_model = BitTorrentOptions
    uses_credentials = False
    @staticmethod
    def check_service(service: Service, scope: Scope) -> str:  # type: ignore[override]
        """The service kind must be known at scope load (an InputError otherwise)."""
        return service_kind(service)

    def __init__(self, service: Service, ctx: CollectContext) -> None:
        super().__init__(service, ctx)
        self.kind = service_kind(service)
        if self.kind.startswith("tracker"):  # the tracker speaks HTTP/UDP, not peer wire
            self.endpoint = Endpoint(protocol=service.scheme, host=service.host,
                                     port=service.port)
        self.pieces_per_peer = _option(service, "pieces_per_peer", 1, int)
        self.max_peers = _option(service, "max_peers", 200, int)
        self.peer_limits = PeerLimits(
            connect_timeout=min(ctx.limits.connect_timeout, 10.0),
            read_timeout=min(ctx.limits.read_timeout, _option(service, "read_timeout", 10.0)),
            unchoke_timeout=_option(service, "unchoke_timeout", 20.0),
            session_timeout=_option(service, "peer_timeout", 60.0))
        pcap = service.options.get("pcap_dir")
        self.pcap_dir = Path(pcap) if isinstance(pcap, str) else None
        self.rng = random.SystemRandom()
        self.peer_id = our_peer_id()
        self._me = _ourselves(ctx)
        self._me.peer_ids.add(self.peer_id.hex())
        self._meta: dict[str, Metainfo] = {}

    # -- entry -------------------------------------------------------------------------------
    async def collect(self) -> AsyncIterator[Observation | Refusal]:
        refs = self.ctx.references.torrents() if self.ctx.references is not None else []
        for ref in refs:
            async for record in self._one_torrent(ref):
                yield record
        if (self.kind in ("tracker-http", "dht")
                and self.service.options.get("discover", True) is True):
            from netwarden.collect.bittorrent.discovery_run import Discovery

            discovery = Discovery(self, refs)
            async for record in (discovery.run_dht() if self.kind == "dht"
                                 else discovery.run()):
                yield record

    async def _one_torrent(self, ref: TorrentReference) -> AsyncIterator[Observation | Refusal]:
        digests = {k: v for k, v in (("btih", ref.btih), ("btmh", ref.btmh)) if v}
        if not digests:
            return
        if ref.info is not None and ref.reference_id not in self._meta:
            try:
                self._meta[ref.reference_id] = parse_info(ref.info)
            except MetainfoError as exc:
                yield self.observation(self.service.url, method="bt-reference",
                                       outcome=Outcome.SKIPPED, digests=digests,
                                       reason=f"bank info dictionary unusable: {exc}")
                return
        peers: list[tuple[PeerAddress, str]] = []
        if self.kind == "peer":
            peers = [(PeerAddress(self.service.host, self.service.port), "scope")]
        else:
            found: list[Observation | Refusal | tuple[PeerAddress, str]] = []
            if self.kind == "dht":
                found = await self._from_dht(ref, digests)
            else:
                found = await self._from_tracker(ref, digests)
            for item in found:
                if isinstance(item, tuple):
                    peers.append(item)
                else:
                    yield item
        async for record in self._contact_all(ref, digests, peers):
            yield record

    # -- discovery ---------------------------------------------------------------------------
    def _announce_hashes(self, ref: TorrentReference) -> list[bytes]:
        """v1 hash; the truncated v2 hash too (BEP 52: trackers index both for hybrids)."""
        out = [bytes.fromhex(ref.btih)] if ref.btih else []
        if ref.btmh:
            out.append(bytes.fromhex(ref.btmh)[:20])
        return out

    async def _from_tracker(self, ref: TorrentReference, digests: dict[str, str]
                            ) -> list[Any]:
        """Scrape, then (only if the swarm has peers) announce, recognise ourselves, leave.

        A tracker's answer is a lead only when it names someone other than the auditor:
        trackers such as opentracker hand the requester back in its own peer list, so every
        announce would otherwise "find" the auditor. The observation records the swarm sizes
        (scrape and announce counts), how often we were listed ourselves and how many third
        parties were named (``third_parties``); with none, identify makes no finding of it.
        """
        url = self.service.url
        timeout = self.peer_limits.read_timeout
        out: list[Any] = []
        peers: list[PeerAddress] = []
        facts: dict[str, Any] = {"tracker": url, "operator_tracker": self.infrastructure,
                                 "announces": []}
        error: str | None = None
        self_listed = 0
        for h in self._announce_hashes(ref):
            decision = self.ctx.check(self.service.host, self.service.port)
            if not decision:
                out.append(self.refusal(url, "scope", decision.reason))
                return out
            try:
                async with self.ctx.slot(self.service.host):
                    result, scraped, notes = await self._tracker_exchange(h, timeout)
            except TrackerError as exc:
                error = str(exc)
                facts["announces"].append({"info_hash": h.hex(), "error": error})
                continue
            entry: dict[str, Any] = {"info_hash": h.hex(),
                                     "scrape": scraped.__dict__ if scraped else None, **notes}
            if result is None:
                unknown = scraped is not None and scraped.complete is None \
                    and scraped.incomplete is None
                entry.update(announced=False, peers=0, self_listed=0, swarm=(
                    "the tracker does not know the infohash" if unknown
                    else "the tracker knows the infohash, no peers"))
            else:
                mine = [p for p in result.peers if self._me.is_self(p)]
                others = [p for p in result.peers if not self._me.is_self(p)]
                self_listed += len(mine)
                peers.extend(others)
                entry.update(
                    announced=True, peers=len(others), self_listed=len(mine),
                    our_address=result.local_address, dropped=result.dropped,
                    complete=result.complete, incomplete=result.incomplete,
                    interval=result.interval, warning=result.warning,
                    response_bytes=result.response_bytes,
                    response_sha256=result.response_sha256)
            facts["announces"].append(entry)
        ok = any("error" not in a for a in facts["announces"])
        unique = list(dict.fromkeys(peers))
        facts["peers"] = [f"{p.host}:{p.port}" for p in unique[:1000]]
        facts["self_listed"] = self_listed
        facts["third_parties"] = len(unique)
        out.append(self.observation(
            self._magnet(ref), method=f"bt-{self.kind}-announce", digests=digests,
            name=ref.title, level=EvidenceLevel.LISTED,
            outcome=Outcome.OK if ok else Outcome.ERROR, reason=None if ok else error,
            details=facts))
        out.extend(self._screen(unique, f"{url} announce", facts))
        return out

    async def _tracker_exchange(self, h: bytes, timeout: float
                                ) -> tuple[AnnounceResult | None, ScrapeResult | None,
                                           dict[str, Any]]:
        """Scrape first; announce (and leave at once) only when the swarm is not empty.

        Returns the announce (None when the scrape showed an empty or unknown swarm, so we
        never joined it), the scrape (None when the tracker has no scrape), and notes (a
        scrape or ``stopped`` failure). A failed announce raises :class:`TrackerError`.
        """
        notes: dict[str, Any] = {}
        udp = (UdpTracker(self.service.host, self.service.port, timeout=min(timeout, 3.0),
                          tries=2) if self.kind == "tracker-udp" else None)
        scraped: ScrapeResult | None = None
        try:
            scraped = await (udp.scrape(h) if udp is not None else
                             http_scrape(self.service.url, h, timeout, limits=self.limits))
        except TrackerError as exc:
            notes["scrape_error"] = str(exc)
        if scraped is not None and not (scraped.complete or scraped.incomplete):
            return None, scraped, notes
        if udp is not None:
            result = await udp.announce(h, self.peer_id, numwant=self.max_peers,
                                        port=ANNOUNCE_PORT)
        else:
            result = await http_announce(self.service.url, h, self.peer_id, timeout,
                                         numwant=self.max_peers, limits=self.limits,
                                         port=ANNOUNCE_PORT)
        if result.local_address:
            self._me.addresses.add(_plain(result.local_address))
        try:  # leave the swarm: an auditor must not be handed out as a peer
            if udp is not None:
                await udp.announce(h, self.peer_id, event="stopped", numwant=0,
                                   port=ANNOUNCE_PORT)
            else:
                await http_announce(self.service.url, h, self.peer_id, timeout,
                                    event="stopped", numwant=0, limits=self.limits,
                                    port=ANNOUNCE_PORT)
        except TrackerError as exc:
            notes["stopped_error"] = str(exc)
        return result, scraped, notes

    async def _from_dht(self, ref: TorrentReference, digests: dict[str, str]) -> list[Any]:
        from netwarden.collect.bittorrent.dht import get_peers

        out: list[Any] = []
        facts: dict[str, Any] = {"bootstrap": self.service.url}
        peers: list[PeerAddress] = []
        for h in self._announce_hashes(ref):
            walk = await get_peers(
                h, [(self.service.host, self.service.port)], self.ctx.check,
                max_queries=_option(self.service, "dht_max_queries", 200, int),
                timeout=_option(self.service, "dht_timeout", 20.0))
            peers.extend(p for p in walk.peers if not self._me.is_self(p))
            facts.setdefault("walks", []).append(walk.summary())
            for node, reason in walk.refused_nodes:
                out.append(self.refusal(f"{node[0]}:{node[1]}", f"DHT node list from "
                                        f"{self.service.url}", reason))
        unique = list(dict.fromkeys(peers))
        facts["peers"] = [f"{p.host}:{p.port}" for p in unique[:1000]]
        facts["third_parties"] = len(unique)
        out.append(self.observation(self._magnet(ref), method="bt-dht-get-peers",
                                    digests=digests, name=ref.title, details=facts))
        out.extend(self._screen(unique, f"DHT get_peers from {self.service.url}", facts))
        return out

    def _screen(self, peers: list[PeerAddress], found_in: str, facts: dict[str, Any]
                ) -> list[Any]:
        """Peers inside the scope to contact (bounded); the others become refusals."""
        out: list[Any] = []
        kept = 0
        for p in peers:
            decision = self.ctx.check(p.host, p.port)
            if not decision:
                out.append(self.refusal(f"{_hostport(p.host, p.port)}", found_in,
                                        decision.reason))
            elif kept < self.max_peers:
                kept += 1
                out.append((p, found_in))
        return out

    # -- contact -----------------------------------------------------------------------------
    async def _contact_all(self, ref: TorrentReference, digests: dict[str, str],
                           peers: list[tuple[PeerAddress, str]]
                           ) -> AsyncIterator[Observation | Refusal]:
        queue: asyncio.Queue[Observation | Refusal] = asyncio.Queue()

        async def one(peer: PeerAddress, found_in: str) -> None:
            try:
                queue.put_nowait(await self._contact(ref, digests, peer, found_in))
            except Exception as exc:  # a bug on one peer must not lose the others
                queue.put_nowait(self._peer_observation(
                    ref, digests, peer, found_in, None,
                    error=f"internal error: {type(exc).__name__}: {exc}"))

        tasks = [asyncio.create_task(one(p, f)) for p, f in peers]
        try:
            for _ in tasks:
                yield await queue.get()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _contact(self, ref: TorrentReference, digests: dict[str, str],
                       peer: PeerAddress, found_in: str) -> Observation | Refusal:
        decision = self.ctx.check(peer.host, peer.port)  # again, right before connecting
        if not decision:
            return self.refusal(_hostport(peer.host, peer.port), found_in, decision.reason)
        meta = self._meta.get(ref.reference_id)
        info_hash = (meta.handshake_hash if meta else
                     bytes.fromhex(ref.btih) if ref.btih else bytes.fromhex(ref.btmh or "")[:20])
        pcap = None
        if self.pcap_dir is not None:
            self.pcap_dir.mkdir(parents=True, exist_ok=True)
            pcap = self.pcap_dir / f"{info_hash.hex()[:16]}-{peer.host}-{peer.port}.pcap"
        # one session at a time per (peer, torrent) across the run's services: see _PeerTurn
        async with _peer_turn(self.ctx, peer, info_hash)(), self.ctx.slot(peer.host):
            session = PeerSession(peer.host, peer.port, info_hash, meta, self.peer_limits,
                                  self.pieces_per_peer, self.rng, self.peer_id, pcap,
                                  expected_btih=ref.btih, expected_btmh=ref.btmh)
            contact = await session.run()
        if meta is None and session.meta is not None:
            self._meta[ref.reference_id] = session.meta  # verified against the infohash
        return self._peer_observation(ref, digests, peer, found_in, contact, session.meta,
                                      pcap=pcap)

    def _peer_observation(self, ref: TorrentReference, digests: dict[str, str],
                          peer: PeerAddress, found_in: str, contact: PeerContact | None,
                          meta: Metainfo | None = None, error: str | None = None,
                          pcap: Path | None = None) -> Observation:
        endpoint = Endpoint(protocol="bittorrent", host=peer.host, port=peer.port)
        details: dict[str, Any] = {"found_in": found_in, "reference_id": ref.reference_id,
                                   "operator_tracker": self.infrastructure
                                   and self.kind.startswith("tracker")}
        if self.kind.startswith("tracker"):
            details["tracker"] = self.service.url
        if contact is not None:
            details["contact"] = contact.as_dict()
            error = contact.error
        if pcap is not None and pcap.exists():
            details["pcap"] = str(pcap)
        where = f"{endpoint}"
        check: ProtocolCheck
        if contact is not None and contact.verified:
            good = contact.verified
            check = ProtocolCheck(verdict="verified", method=good[0].method or "bt-piece", words=(
                "; ".join(f"piece {p.index} ({p.length} bytes) received from {where} matches "
                          f"the torrent ({p.method})" for p in good)
                + f" — infohash {ref.btih or ref.btmh}"))
            if contact.failed:
                details["verification_failures"] = [p.as_dict() for p in contact.failed]
            level, outcome, reason = EvidenceLevel.SERVED, Outcome.OK, None
        elif contact is not None and contact.handshaken:
            level, outcome = EvidenceLevel.CONTACTED, Outcome.OK
            if contact.failed:
                bad = contact.failed[0]
                reason = (f"verification failed: piece {bad.index}: {bad.reason}")
                check = ProtocolCheck(verdict="failed", method=bad.method, words=reason)
            else:
                reason = f"no piece verified: {error or 'the peer served no piece'}"
                check = ProtocolCheck(verdict="unverified", words=reason)
        else:
            level, outcome = EvidenceLevel.LISTED, Outcome.ERROR
            reason = error or "not contacted"
            check = ProtocolCheck(verdict="unverified", words=reason)
        size = meta.total_length if meta else None
        name = ref.title or (meta.name if meta else None)
        return self.observation(
            self._magnet(ref, peer), method="bt-peer-wire", outcome=outcome, reason=reason,
            name=name, size=size, digests=digests, level=level,
            bytes_from_endpoint=level is EvidenceLevel.SERVED, details=details,
            endpoint=endpoint, protocol_check=check)

    @staticmethod
    def _magnet(ref: TorrentReference, peer: PeerAddress | None = None) -> str:
        """The item's location: a magnet link, with ``x.pe`` (BEP 9) naming the peer."""
        parts = []
        if ref.btih:
            parts.append(f"xt=urn:btih:{ref.btih}")
        if ref.btmh:
            parts.append(f"xt=urn:btmh:1220{ref.btmh}")
        if peer is not None:
            parts.append(f"x.pe={_hostport(peer.host, peer.port)}")
        return "magnet:?" + "&".join(parts)


class _PeerTurn:
    """Whose turn it is to talk to one peer about one torrent, across the run's services.

    Clients such as Transmission accept one connection per address and torrent and close the
    second; they also drop a new connection that arrives before they have cleaned up the last
    one (Transmission does so on a 0.5 s pulse). Found with transmission-daemon when both the
    HTTP and the UDP tracker listed the same seeder: the second session was closed at the
    handshake. So sessions with one peer on one torrent run one at a time, ``GAP`` apart.
    """

    GAP = 1.5  # seconds between the end of one session and the start of the next

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.ended = 0.0

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        async with self.lock:
            wait = self.ended + self.GAP - time.monotonic()
            if self.ended and wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self.ended = time.monotonic()


def _peer_turn(ctx: CollectContext, peer: PeerAddress, info_hash: bytes) -> _PeerTurn:
    """The run-wide turn for sessions with ``peer`` on ``info_hash``.

    Kept on the run's context (one dict per run, one entry per contacted peer and torrent, so
    bounded by what the run contacts); taken before the connection slots, which are never held
    while waiting for it, so it cannot deadlock with them.
    """
    turns: dict[tuple[str, int, bytes], _PeerTurn] | None = getattr(ctx, "_bt_peer_turns",
                                                                     None)
    if turns is None:
        turns = {}
        ctx._bt_peer_turns = turns  # type: ignore[attr-defined]
    key = (peer.host, peer.port, info_hash)
    turn = turns.get(key)
    if turn is None:
        turn = turns[key] = _PeerTurn()
    return turn


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
