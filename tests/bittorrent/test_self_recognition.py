"""Leads need a third party: the auditor recognises itself in real opentracker's answers.

opentracker hands the requester back in its own peer list. An audit that announces every bank
infohash would otherwise "find" itself in every swarm (a ``listed`` finding with nobody but the
auditor in it) and refuse itself as an out-of-scope peer. Here, against real opentracker over
HTTP and UDP: an empty swarm is scraped and never joined (an observation, not a finding); a
swarm with one out-of-scope peer is joined, the auditor is listed back and recognised, and only
the third party is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from netwarden.codec.bencode import encode
from netwarden.collect.references import TorrentReference
from netwarden.identify import identify
from netwarden.records import Observation, Outcome, Refusal

from .conftest import make_scope, run_collectors
from .fakepeers import announce_from
from .swarm import opentracker

pytestmark = pytest.mark.slow

TRACKER = "127.77.0.20"
OUTSIDER = "127.88.0.1"  # outside the scope's 127.77.0.0/16


def _ref(name: str) -> TorrentReference:
    info = encode({"name": name, "piece length": 16384, "length": 16384,
                   "pieces": os.urandom(20)})
    return TorrentReference("films", "film", name, name, hashlib.sha1(info).hexdigest(), None,
                            info)


class _Index:
    """A one-reference-per-torrent exact index (a netwarden.seams.BankIndex without perceptual
    references or a collectors' view)."""

    def __init__(self, refs: list[TorrentReference]) -> None:
        self.refs = refs

    def lookup_many(self, digests: dict[str, str]) -> list[object]:
        from types import SimpleNamespace

        return [SimpleNamespace(bank=r.bank, category=r.category, reference_id=r.reference_id,
                                title=r.title, algorithm="btih", value=r.btih)
                for r in self.refs if digests.get("btih") == r.btih]

    def perceptual_matches(self, observation: object, banks: object = None) -> list[object]:
        return []

    def references(self, names: object = None) -> None:
        return None


def test_auditor_recognises_itself_in_opentracker_answers(tmp_path: Path) -> None:
    lonely, crowded = _ref("lonely"), _ref("crowded")
    with opentracker(tmp_path, [lonely.btih, crowded.btih], TRACKER) as port:
        announce_from(OUTSIDER, (TRACKER, port), bytes.fromhex(crowded.btih), 7001, left=5)
        scope = make_scope([
            {"url": f"http://{TRACKER}:{port}/announce", "kind": "bittorrent-tracker"},
            {"url": f"udp://{TRACKER}:{port}"}], infrastructure=(TRACKER,))
        records = asyncio.run(run_collectors(scope, [lonely, crowded]))
    tracker_obs = [r for r in records if isinstance(r, Observation)
                   and r.method.endswith("-announce")]
    assert len(tracker_obs) == 4, tracker_obs  # 2 torrents × (HTTP, UDP)
    index = _Index([lonely, crowded])
    for obs in tracker_obs:
        assert obs.outcome is Outcome.OK, obs.reason
        (entry,) = obs.details["announces"]
        assert entry["scrape"] is not None  # scraped first, on both transports
        if obs.digests["btih"] == lonely.btih:
            # the empty swarm: scraped, never joined, an observation and not a finding
            assert entry["announced"] is False and not entry["scrape"]["complete"]
            assert obs.details["third_parties"] == 0 and obs.details["peers"] == []
            assert identify(obs, index) == []
        else:
            # joined: opentracker lists us back; we know ourselves and count only the outsider
            assert entry["announced"] is True and entry["self_listed"] == 1, entry
            assert obs.details["third_parties"] == 1
            assert obs.details["peers"] == [f"{OUTSIDER}:7001"]
            assert [m.reference_id for m in identify(obs, index)] == ["crowded"]
    refused = [r.target for r in records if isinstance(r, Refusal)]
    assert sorted(refused) == [f"{OUTSIDER}:7001"] * 2, refused  # never ourselves
