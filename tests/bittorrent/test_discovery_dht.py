"""Discovery over the DHT: BEP 51 samples of the in-scope nodes name a torrent no bank holds.

Real libtorrent DHT nodes on loopback (libtorrent answers ``sample_infohashes``) and real
libtorrent seeders announcing into that DHT; no tracker at all. The bank knows the film only
by its vPDQ signal and its catalog title. A subscriber seeds a rescaled copy in a torrent of
its own; another seeds an unrelated film under a confusingly similar release name and a file
that is not media. The audit must find the first (``served``, by content, piece-verified) and
nothing else, and must never query a DHT node outside the scope.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from pathlib import Path

import pytest

from netwarden.codec.bencode import encode
from netwarden.collect.bittorrent.dht import parse_response, sample_infohashes
from netwarden.ledger import Ledger
from netwarden.pipeline import run_audit
from netwarden.scope import Decision

from .conftest import make_scope
from .swarm import Seeder, free_port
from .test_dht import DHT_SETTINGS
from .test_discovery import bank_and_releases


def test_sample_response_parsing_is_bounded_and_drops_partial_hashes() -> None:
    a, b = bytes(range(20)), bytes(range(20, 40))
    raw = encode({"t": b"ab", "y": "r", "r": {"id": b"n" * 20, "samples": a + b + b"xyz",
                                                "num": 7, "interval": 21600}})
    response = parse_response(raw)
    assert response.samples == [a, b] and response.num == 7
    hostile = encode({"t": b"ab", "y": "r", "r": {"id": b"n" * 20, "samples": b"q" * 8000,
                                                    "num": -3}})
    response = parse_response(hostile)
    assert len(response.samples) == 400 and response.num is None


def test_sampling_never_queries_a_node_outside_the_scope() -> None:
    """A hostile in-scope node answers with a node outside the scope: refused, never asked."""
    inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inside.bind(("127.77.4.1", 0))
    outside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outside.bind(("127.88.4.2", 0))
    outside.settimeout(0.5)
    host, port = inside.getsockname()
    out_port = outside.getsockname()[1]
    sample = os.urandom(20)

    def answer() -> None:
        from netwarden.codec.bencode import decode

        inside.settimeout(5)
        data, addr = inside.recvfrom(8192)
        tid = decode(data)[b"t"]
        node = os.urandom(20) + socket.inet_aton("127.88.4.2") + out_port.to_bytes(2, "big")
        inside.sendto(encode({"t": tid, "y": "r", "r": {"id": os.urandom(20), "nodes": node,
                                                         "samples": sample, "num": 1}}), addr)

    def check(h: str, _p: int) -> Decision:
        return Decision(h.startswith("127.77."), "outside the authorized prefixes")

    import threading

    thread = threading.Thread(target=answer)
    thread.start()
    walk = asyncio.run(sample_infohashes([(host, port)], check, timeout=3))
    thread.join()
    assert list(walk.samples) == [sample] and walk.queries == 1
    assert walk.refused_nodes == [(("127.88.4.2", out_port), "outside the authorized prefixes")]
    with pytest.raises(TimeoutError):
        outside.recvfrom(8192)  # nothing was ever sent to it
    inside.close()
    outside.close()


@pytest.mark.slow
def test_a_rereleased_film_seeded_into_the_dht_is_found_by_content(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NETWARDEN_DB", raising=False)
    store, banks, (copy, decoy, iso) = bank_and_releases(tmp_path)

    nodes = [Seeder(f"127.77.3.{i + 1}", free_port(f"127.77.3.{i + 1}", socket.SOCK_DGRAM),
                    dht=True, extra=DHT_SETTINGS) for i in range(3)]
    try:
        for a in nodes:
            for b in nodes:
                if a is not b:
                    a.session.add_dht_node((b.host, b.port))
        handles = [nodes[1].seed(copy), nodes[2].seed(decoy), nodes[2].seed(iso)]
        nodes[1].wait_seeding()
        nodes[2].wait_seeding()
        wanted = {bytes.fromhex(t.btih) for t in (copy, decoy, iso)}  # type: ignore[arg-type]
        bootstrap = [(nodes[0].host, nodes[0].port)]
        deadline = time.monotonic() + 60
        while True:  # until every announce has landed on the DHT node the audit starts from
            for handle in handles:
                handle.force_dht_announce()
            time.sleep(0.3)
            walk = asyncio.run(sample_infohashes(bootstrap, lambda h, p: Decision(True, ""),
                                                 timeout=3))
            if wanted <= set(walk.samples) or time.monotonic() > deadline:
                break
        assert wanted <= set(walk.samples), "the seeders' DHT announces never landed"
        scope = make_scope([{"url": f"bittorrent://{nodes[0].host}:{nodes[0].port}",
                             "kind": "dht", "dht_timeout": 5}])
        result = run_audit(scope, tmp_path / "run", banks, ledger=Ledger.open(store),
                           store=store, banks=["films-vpdq"])
    finally:
        for node in nodes:
            node.close()
    served = [f for f in result.findings if f.evidence_level.value == "served"]
    assert [(f.host, f.bank) for f in served] == [("127.77.3.2", "films-vpdq")], \
        [(f.host, f.bank, f.evidence_level.value) for f in result.findings]
    assert not [f for f in result.findings if f.host == "127.77.3.3"]
    lines = [json.loads(x) for x in
             (tmp_path / "run" / "findings.jsonl").read_text(encoding="utf-8").splitlines()]
    finding = next(x for x in lines if x["host"] == "127.77.3.2")
    assert finding["match_method"] == "perceptual" and finding["match_algorithm"] == "vpdq"
    assert finding["verification"]["result"] == "verified"
    assert finding["location"].startswith(f"magnet:?xt=urn:btih:{copy.btih}")
    ledger = Ledger.open(store)
    sampled = [e.record() for e in ledger.entries("observation", run_id=result.run_id)
               if e.record().get("method") == "bt-discovery-dht-sample"]
    assert sampled and sampled[0]["details"]["unknown"] == 3
    assert sampled[0]["details"]["operator_tracker"] is False
    assert ledger.verify().ok
    store.close()
