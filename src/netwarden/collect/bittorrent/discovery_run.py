"""One tracker's or one DHT's discovery pass (see :mod:`.discover` for what and why).

Two sources of torrents the bank does not know: a tracker's full scrape (``run``) and the
in-scope DHT nodes' BEP 51 samples (``run_dht``). Both end in the same place: in-scope peers of
the unknown torrent, its metadata (BEP 9), a candidate chosen by release name, a download of
that file whose every piece is checked against the torrent, and identification by content.

Kept apart from :mod:`.collector` so that looking for bank torrents and looking for what the
bank knows only by content stay two readable pieces; this one uses the collector's scope
checks, slots, peer limits and record constructors, and never anything else.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from netwarden.collect.bittorrent.discover import (
    DEFAULT_BYTES,
    MAX_SCRAPE_BYTES,
    Candidate,
    FileAssembler,
    SwarmCounts,
    choose,
    full_scrape_url,
    parse_full_scrape,
    pieces_for,
)
from netwarden.collect.bittorrent.metainfo import Metainfo
from netwarden.collect.bittorrent.peerwire import PeerLimits, PeerSession
from netwarden.collect.bittorrent.tracker_http import PeerAddress, TrackerError, fetch_bounded
from netwarden.collect.references import TorrentReference
from netwarden.records import (
    Endpoint,
    EvidenceLevel,
    Observation,
    Outcome,
    ProtocolCheck,
    Refusal,
)

if TYPE_CHECKING:
    from netwarden.collect.bittorrent.collector import BitTorrentCollector

PEERS_PER_CANDIDATE = 3  # in-scope peers tried for one torrent before giving up on it


def _option(collector: BitTorrentCollector, name: str, default: float) -> float:
    """A discovery option (checked at scope load by ``BitTorrentOptions``), or its default."""
    return float(collector.service.options.get(name, default))


class _RunBudget:
    """Bytes discovery may still download in this run, over every tracker (kept on the run's
    context so that two trackers of one operator share it)."""

    def __init__(self, total: int) -> None:
        self.left = total


class Discovery:
    """Full scrape → candidates → in-order verified download → a served observation."""

    def __init__(self, collector: BitTorrentCollector, refs: list[TorrentReference]) -> None:
        self.c = collector
        self.known: set[bytes] = set()
        for ref in refs:
            if ref.btih:
                self.known.add(bytes.fromhex(ref.btih))
            if ref.btmh:
                self.known.add(bytes.fromhex(ref.btmh)[:20])
        view = collector.ctx.references
        self.titles: list[str] = list(view.titles()) if view is not None else []
        self.max_candidates = int(_option(collector, "discover_candidates", 20))
        self.bytes_per_candidate = int(_option(collector, "discover_bytes", DEFAULT_BYTES))
        total = int(_option(collector, "discover_total_bytes", 512 * 1024 * 1024))
        budget = getattr(collector.ctx, "_bt_discovery_budget", None)
        if budget is None:
            budget = _RunBudget(total)
            collector.ctx._bt_discovery_budget = budget  # type: ignore[attr-defined]
        self.budget: _RunBudget = budget
        self.min_score = _option(collector, "discover_min_score", 0.6)
        # where the torrent came from, in every discovery record: a tracker (and whether the
        # operator runs it, which the liability assessment weighs) or the DHT (nobody's)
        self.source: dict[str, Any] = (
            {"dht_bootstrap": collector.service.url, "operator_tracker": False}
            if collector.kind == "dht" else
            {"tracker": collector.service.url, "operator_tracker": collector.infrastructure})
        timeout = _option(collector, "discover_timeout", 120.0)
        base = collector.peer_limits
        self.limits = PeerLimits(connect_timeout=base.connect_timeout,
                                 read_timeout=base.read_timeout,
                                 unchoke_timeout=base.unchoke_timeout,
                                 session_timeout=timeout,
                                 max_messages=max(base.max_messages,
                                                  self.bytes_per_candidate // 8192 + 1000))

    async def run(self) -> AsyncIterator[Observation | Refusal]:
        c = self.c
        url = full_scrape_url(c.service.url)
        if url is None:
            yield c.observation(c.service.url, method="bt-discovery-full-scrape",
                                outcome=Outcome.SKIPPED, reason="the announce URL has no "
                                "scrape form (BEP 48); discovery needs a full scrape")
            return
        decision = c.ctx.check(c.service.host, c.service.port)
        if not decision:
            yield c.refusal(url, "scope", decision.reason)
            return
        try:
            async with c.ctx.slot(c.service.host):
                raw = await fetch_bounded(url, c.peer_limits.read_timeout, MAX_SCRAPE_BYTES,
                                          c.limits)
            swarms = parse_full_scrape(raw)
        except TrackerError as exc:
            # Many trackers refuse a full scrape: discovery is then not possible here, which
            # says nothing about the tracker itself (its bank-torrent answers stand).
            yield c.observation(url, method="bt-discovery-full-scrape",
                                outcome=Outcome.SKIPPED,
                                reason=f"full scrape failed: {exc}; discovery skipped")
            return
        unknown = sorted(((h, n) for h, n in swarms.items()
                          if h not in self.known and n.complete > 0),
                         key=lambda hn: (-hn[1].complete, hn[0]))
        yield c.observation(url, method="bt-discovery-full-scrape", details={
            "tracker": c.service.url, "operator_tracker": c.infrastructure,
            "torrents": len(swarms), "bank_torrents": len(swarms.keys() & self.known),
            "unknown_seeded": len(unknown), "examined_at_most": self.max_candidates,
            "response_bytes": len(raw), "response_sha256": hashlib.sha256(raw).hexdigest()})
        for info_hash, counts in unknown[:self.max_candidates]:
            if self.budget.left <= 0:
                yield c.observation(url, method="bt-discovery", outcome=Outcome.SKIPPED,
                                    reason="the run's discovery byte budget is spent "
                                    "(discover_total_bytes)")
                return
            async for record in self._one(info_hash, counts):
                yield record

    async def run_dht(self) -> AsyncIterator[Observation | Refusal]:
        """BEP 51 samples of the in-scope DHT → unknown torrents → their peers (BEP 5) → the
        same candidate choice, verified download and identification as a tracker's."""
        from netwarden.collect.bittorrent.dht import get_peers, sample_infohashes

        c = self.c
        bootstrap = [(c.service.host, c.service.port)]
        max_queries = int(c.service.options.get("dht_max_queries", 200))
        timeout = float(c.service.options.get("dht_timeout", 20.0))
        walk = await sample_infohashes(bootstrap, c.ctx.check, max_queries=max_queries,
                                       timeout=timeout)
        for node, reason in walk.refused_nodes:
            yield c.refusal(f"{node[0]}:{node[1]}", f"DHT node list from {c.service.url} "
                            "(sample_infohashes)", reason)
        sampled = set(walk.samples)
        unknown = sorted(sampled - self.known, key=lambda h: (-walk.samples[h], h))
        yield c.observation(c.service.url, method="bt-discovery-dht-sample", details={
            **self.source, "bank_torrents": len(sampled & self.known),
            "unknown": len(unknown), "examined_at_most": self.max_candidates,
            "walk": walk.summary()})
        for info_hash in unknown[:self.max_candidates]:
            if self.budget.left <= 0:
                yield c.observation(c.service.url, method="bt-discovery",
                                    outcome=Outcome.SKIPPED,
                                    reason="the run's discovery byte budget is spent "
                                    "(discover_total_bytes)")
                return
            peers_walk = await get_peers(info_hash, bootstrap, c.ctx.check,
                                         max_queries=max_queries, timeout=timeout)
            for node, reason in peers_walk.refused_nodes:
                yield c.refusal(f"{node[0]}:{node[1]}", f"DHT node list from "
                                f"{c.service.url} (discovery)", reason)
            listed = [p for p in dict.fromkeys(peers_walk.peers) if not c._me.is_self(p)]
            async for record in self._from_peers(info_hash, None, listed,
                                                 f"DHT get_peers from {c.service.url} "
                                                 "(discovery)"):
                yield record

    async def _one(self, info_hash: bytes, counts: SwarmCounts
                   ) -> AsyncIterator[Observation | Refusal]:
        c = self.c
        magnet = f"magnet:?xt=urn:btih:{info_hash.hex()}"
        try:
            async with c.ctx.slot(c.service.host):
                result, _, _ = await c._tracker_exchange(info_hash,
                                                         c.peer_limits.read_timeout)
        except TrackerError as exc:
            yield c.observation(magnet, method="bt-discovery", outcome=Outcome.ERROR,
                                reason=f"announce failed: {exc}")
            return
        listed = [] if result is None else [p for p in dict.fromkeys(result.peers)
                                            if not c._me.is_self(p)]  # never ourselves
        async for record in self._from_peers(info_hash, counts, listed,
                                             f"{c.service.url} announce (discovery)"):
            yield record

    async def _from_peers(self, info_hash: bytes, counts: SwarmCounts | None,
                          listed: list[PeerAddress], found_in: str
                          ) -> AsyncIterator[Observation | Refusal]:
        """Screen the peers a source named for ``info_hash``, then try them in turn."""
        c = self.c
        magnet = f"magnet:?xt=urn:btih:{info_hash.hex()}"
        peers: list[PeerAddress] = []
        for item in c._screen(listed, found_in, {}):
            if isinstance(item, tuple):
                peers.append(item[0])
            else:
                yield item
        if not peers:
            yield c.observation(magnet, method="bt-discovery", outcome=Outcome.SKIPPED,
                                reason="no in-scope peer other than us", details={
                                    "swarm": counts.__dict__ if counts else None})
            return
        for peer in peers[:PEERS_PER_CANDIDATE]:
            record, done = await self._download(info_hash, counts, peer)
            yield record
            if done:
                return

    async def _download(self, info_hash: bytes, counts: SwarmCounts | None, peer: PeerAddress
                        ) -> tuple[Observation | Refusal, bool]:
        """One session with ``peer``: metadata, choice, download. ``done`` is True when the
        torrent needs no other peer (identified, or not a candidate)."""
        c = self.c
        decision = c.ctx.check(peer.host, peer.port)  # again, right before connecting
        if not decision:
            return c.refusal(f"{peer.host}:{peer.port}", "discovery", decision.reason), False
        chosen: dict[str, Any] = {}

        def plan(meta: Metainfo, raw: bytes | None) -> list[int] | None:
            cap = min(self.bytes_per_candidate, self.budget.left)
            candidate, why = choose(meta, raw, self.titles, cap, self.min_score)
            chosen["why"], chosen["meta"] = why, meta
            if candidate is None:
                return None
            chosen["candidate"] = candidate
            chosen["assembler"] = FileAssembler(meta, candidate.target)
            self.budget.left -= candidate.target.length
            return pieces_for(meta, candidate.target)

        def sink(spec: Any, data: bytes) -> None:
            chosen["assembler"](spec, data)

        endpoint = Endpoint(protocol="bittorrent", host=peer.host, port=peer.port)
        async with c.ctx.slot(peer.host):
            session = PeerSession(peer.host, peer.port, info_hash, None, self.limits,
                                  rng=c.rng, peer_id=c.peer_id,
                                  expected_btih=info_hash.hex(), plan=plan, sink=sink)
            contact = await session.run()
        meta: Metainfo | None = chosen.get("meta")
        candidate: Candidate | None = chosen.get("candidate")
        assembler: FileAssembler | None = chosen.get("assembler")
        details: dict[str, Any] = {
            "discovery": {**self.source, "swarm": counts.__dict__ if counts else None,
                          "decision": chosen.get("why"),
                          "candidate": candidate.as_dict() if candidate else None},
            "contact": contact.as_dict()}
        name = candidate.target.path if candidate else (meta.name if meta else None)
        location = f"magnet:?xt=urn:btih:{info_hash.hex()}&x.pe={peer.host}:{peer.port}"
        if meta is None:
            return c.observation(location, method="bt-discovery", outcome=Outcome.ERROR,
                                 reason=contact.error or "no info dictionary", details=details,
                                 level=EvidenceLevel.CONTACTED if contact.handshaken
                                 else EvidenceLevel.LISTED, endpoint=endpoint), False
        if candidate is None or assembler is None:
            return c.observation(location, method="bt-discovery", outcome=Outcome.SKIPPED,
                                 reason=f"not a candidate: {chosen.get('why')}", name=name,
                                 size=meta.total_length, details=details,
                                 level=EvidenceLevel.CONTACTED, endpoint=endpoint), True
        if not assembler.complete or contact.failed:
            self.budget.left += candidate.target.length - assembler.received
            reason = contact.error or "the file was not received whole"
            bad = contact.failed[0] if contact.failed else None
            check = ProtocolCheck(verdict="failed" if bad else "unverified",
                                  method=bad.method if bad else None, words=reason)
            return c.observation(location, method="bt-discovery", outcome=Outcome.ERROR,
                                 reason=f"download for identification stopped: {reason}",
                                 name=name, size=candidate.target.length, details=details,
                                 level=EvidenceLevel.CONTACTED, endpoint=endpoint,
                                 protocol_check=check), False
        digests, perceptual = await asyncio.to_thread(assembler.finish)
        digests.update(perceptual.digests)
        details.update(perceptual.details)
        methods = sorted({p.method or "bt-piece" for p in contact.verified})
        details["pieces_verified"] = assembler.pieces
        check = ProtocolCheck(
            verdict="verified", method="+".join(methods),
            words=(f"all {len(assembler.pieces)} pieces ({assembler.pieces[0]}–"
                   f"{assembler.pieces[-1]}) covering {candidate.target.path} "
                   f"({candidate.target.length} bytes) were received from {endpoint} "
                   f"and each matched the torrent's piece hash "
                   f"({', '.join(methods)}); infohash {info_hash.hex()} is the SHA-1 "
                   "of the info dictionary the peer sent"))
        return c.observation(location, method="bt-discovery", name=name,
                             size=candidate.target.length, digests=digests,
                             level=EvidenceLevel.SERVED, bytes_from_endpoint=True,
                             details=details, endpoint=endpoint, protocol_check=check), True

