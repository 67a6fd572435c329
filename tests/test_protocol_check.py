"""A protocol's own check of the bytes it received is a typed ``Observation.protocol_check``
(issue 18): set by the BitTorrent and Direct Connect collectors, read by verify; ledger entries
of older runs, which said it in ``details.verified``, still read the same.

No network: the collectors' observation builders are called directly, and an older run is a
real ledger in a real SQLite store holding entries in the older form.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from netwarden.collect.base import CollectContext, Collector
from netwarden.collect.bittorrent import BitTorrentCollector
from netwarden.collect.bittorrent.peerwire import PeerContact, PieceResult
from netwarden.collect.bittorrent.tracker_http import PeerAddress
from netwarden.collect.references import TorrentReference
from netwarden.records import (
    Endpoint,
    EvidenceLevel,
    Match,
    Observation,
    Outcome,
    ProtocolCheck,
    Record,
    Refusal,
)
from netwarden.scope import Scope, parse_scope
from netwarden.verify import verify_match

PEER = "127.77.36.2"
BTIH = "c9e15763f722f23e98a29decdfae341b98d53056"


def _scope(services: list[dict[str, Any]]) -> Scope:
    now = datetime.now(UTC)
    return parse_scope({
        "check": {"id": "PC-1", "authorization": "test", "not_before": now - timedelta(hours=1),
                  "not_after": now + timedelta(hours=1), "jurisdiction": "ru"},
        "operator": {"name": "Test Telecom", "prefixes": ["127.77.36.0/24"]},
        "services": services}, "test-scope")


def _match(obs: Observation, algorithm: str, value: str) -> Match:
    return Match(run_id=obs.run_id, observation_id=obs.id, bank="films", category="film",
                 reference_id="ref-1", algorithm=algorithm, matched_value=value)


def _bittorrent_observation(pieces: list[PieceResult]) -> Observation:
    scope = _scope([{"url": f"bittorrent://{PEER}:6881"}])
    ctx = CollectContext(scope=scope, run_id="run-pc", limits=scope.limits)
    collector = BitTorrentCollector(scope.services[0], ctx)
    ref = TorrentReference("films", "film", "ref-1", "A film", BTIH, None)
    contact = PeerContact(PEER, 6881, peer_id="2d4c54303130302d" + "00" * 12, pieces=pieces)
    return collector._peer_observation(ref, {"btih": BTIH}, PeerAddress(PEER, 6881),
                                       "the service", contact)


def test_a_bittorrent_peer_that_served_a_verified_piece_carries_the_check() -> None:
    obs = _bittorrent_observation([PieceResult(3, 16384, 16384, "verified", "bt-piece-sha1")])
    check = obs.protocol_check
    assert check is not None and check.verdict == "verified"
    assert check.method == "bt-piece-sha1"
    assert check.words and check.words.startswith(f"piece 3 (16384 bytes) received from "
                                                  f"bittorrent://{PEER}:6881 matches")
    assert obs.level is EvidenceLevel.SERVED
    assert not {"verified", "verification", "verification_method"} & set(obs.details)
    entry = obs.entry()  # what the ledger leaf holds
    assert entry["protocol_check"] == {"verdict": "verified", "method": "bt-piece-sha1",
                                       "words": check.words}
    verification = verify_match(obs, _match(obs, "btih", BTIH))
    assert (verification.result, verification.method, verification.level) == (
        "verified", "bt-piece-sha1", EvidenceLevel.SERVED)
    assert verification.checked == check.words


def test_a_bittorrent_piece_that_does_not_hash_to_the_torrent_is_a_failed_check() -> None:
    obs = _bittorrent_observation([PieceResult(5, 16384, 16384, "failed", "bt-piece-sha1",
                                               "32768 bytes received do not match")])
    check = obs.protocol_check
    assert check is not None and check.verdict == "failed" and check.method == "bt-piece-sha1"
    assert obs.level is EvidenceLevel.CONTACTED and obs.reason == check.words
    verification = verify_match(obs, _match(obs, "btih", BTIH))
    assert verification.result == "not_attempted"
    assert verification.level is EvidenceLevel.CONTACTED


class _OlderFormCollector(Collector):
    """A collector that still passes its check the older way, as collect/dc/collector.py does
    (it is being split in parallel): the base's observation helper types it."""

    schemes = ("protocol-check-test",)

    async def collect(self) -> AsyncIterator[Observation | Refusal]:  # pragma: no cover
        yield self.observation(self.service.url, method="test")


def test_a_collector_states_its_check_typed_never_in_details() -> None:
    scope = _scope([{"url": f"adc://{PEER}:1511"}])
    ctx = CollectContext(scope=scope, run_id="run-pc", limits=scope.limits)
    collector = _OlderFormCollector(scope.services[0], ctx)
    words = "1048576 bytes at offset 0 of 4000000 received from alice hash to 1024 TTH leaves"
    with pytest.raises(ValueError, match="protocol_check"):
        collector.observation(
            f"adc://{PEER}:1511/alice/film.mkv", method="adc-segment", size=4_000_000,
            digests={"tth": "A" * 39}, level=EvidenceLevel.SERVED,
            details={"nick": "alice", "verified": True, "verification_method": "tth-segment",
                     "verification": words, "segment_start": 0})
    obs = collector.observation(
        f"adc://{PEER}:1511/alice/film.mkv", method="adc-segment", size=4_000_000,
        digests={"tth": "A" * 39}, level=EvidenceLevel.SERVED,
        details={"nick": "alice", "segment_start": 0},
        protocol_check=ProtocolCheck(verdict="verified", method="tth-segment", words=words))
    assert obs.entry()["protocol_check"] == {"verdict": "verified", "method": "tth-segment",
                                             "words": words}
    verification = verify_match(obs, _match(obs, "tth", "A" * 39))
    assert (verification.result, verification.method, verification.checked) == (
        "verified", "tth-segment", words)


OLD_DETAILS = [  # as the collectors wrote them before protocol_check
    ({"verified": True, "verification_method": "bt-piece-sha1",
      "verification": "piece 0 matches the torrent"},
     ProtocolCheck(verdict="verified", method="bt-piece-sha1",
                   words="piece 0 matches the torrent")),
    ({"verified": False, "verification_method": "bt-piece-sha1",
      "verification": "verification failed: piece 5"},
     ProtocolCheck(verdict="failed", method="bt-piece-sha1",
                   words="verification failed: piece 5")),
    ({"verified": False, "verification": "no piece verified: timeout"},
     ProtocolCheck(verdict="unverified", words="no piece verified: timeout")),
    ({"verified": False, "tth": "A" * 39}, ProtocolCheck(verdict="unverified")),
    ({"contact": {"stage": "done"}}, None),
]


class _OlderEntry(Record):
    """An entry exactly as an older netwarden wrote it (the ledger appends Records only)."""

    record_type: str = "observation"
    raw: dict[str, Any]

    def entry(self) -> dict[str, Any]:
        return self.raw


def _old_entry(details: dict[str, Any], level: str = "served",
               outcome: str = "ok") -> dict[str, Any]:
    obs = Observation(run_id="old-run", endpoint=Endpoint(protocol="bittorrent", host=PEER,
                                                          port=6881),
                      location=f"magnet:?xt=urn:btih:{BTIH}", method="bt-peer-wire",
                      digests={"btih": BTIH}, level=EvidenceLevel(level),
                      bytes_from_endpoint=level == "served", outcome=Outcome(outcome))
    entry = obs.entry()
    del entry["protocol_check"]  # the older form has no such key
    entry["details"] = details
    return entry


@pytest.mark.parametrize(("details", "expected"), OLD_DETAILS)
def test_an_older_ledger_entry_reads_its_check_from_details_verified(
        details: dict[str, Any], expected: ProtocolCheck | None) -> None:
    entry = _old_entry(details)
    obs = Observation.model_validate(json.loads(json.dumps(entry)))
    assert obs.protocol_check == expected
    assert obs.details == details  # the evidence is read as recorded
    verification = verify_match(obs, _match(obs, "btih", BTIH))
    assert verification.result == ("verified" if expected and expected.verdict == "verified"
                                   else "not_attempted")
    if expected is not None and expected.verdict == "verified":
        assert (verification.method, verification.checked) == (expected.method,
                                                               expected.words)


def test_a_report_made_again_reads_older_entries_of_its_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``report rerun`` (report/rerun.py) loads what could not be checked from the ledger: an
    older run's entries keep their protocol check."""
    from netwarden.ledger import Ledger
    from netwarden.ledger.keys import init_key
    from netwarden.pipeline import scope_digest
    from netwarden.report.rerun import load_run
    from netwarden.store import open_store
    from netwarden.store.models_runs import RunRow

    monkeypatch.setenv("NETWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NETWARDEN_DB", raising=False)
    store = open_store(f"sqlite:///{tmp_path / 'nw.sqlite'}")
    try:
        init_key()
        ledger = Ledger.open(store)
        scope = _scope([{"url": f"bittorrent://{PEER}:6881"}])
        failed = _old_entry({"verified": False, "verification_method": "bt-piece-sha1",
                             "verification": "verification failed: piece 5"},
                            level="contacted", outcome="error")
        ledger.append(_OlderEntry(raw=json.loads(json.dumps(failed))))
        started = datetime.now(UTC)
        with store.session() as session:
            session.add(RunRow(id="old-run", check_id="PC-1", operator="Test Telecom",
                               jurisdiction="ru", scope_sha256=scope_digest(scope),
                               out_dir=str(tmp_path / "run"), started_at=started,
                               status="finished"))
        run = tmp_path / "run"
        run.mkdir()
        (run / "findings.jsonl").write_text("")
        (run / "summary.json").write_text(json.dumps({
            "run_id": "old-run", "started_at": started.isoformat(),
            "finished_at": started.isoformat(), "observations": 1}))
        result = load_run(run, scope, store)
    finally:
        store.close()
    (problem,) = result.problems
    assert problem.protocol_check == ProtocolCheck(
        verdict="failed", method="bt-piece-sha1", words="verification failed: piece 5")
