"""Fixtures: a fresh SQLite store with a ledger key, and a synthetic finding chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.records import (
    Endpoint,
    Match,
    Observation,
    Record,
    Run,
    RunEnd,
    Verification,
)
from netwarden.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'nw.sqlite'}")
    yield s
    s.close()


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    init_key(tmp_path / "keys", "test.netwarden/ledger")
    return tmp_path / "keys"


@pytest.fixture
def ledger(store: Store, key_dir: Path) -> Ledger:
    return Ledger.open(store, key_dir)


class Note(Record):
    """A synthetic leaf for the ledger's own tests: not a netwarden leaf type (the ledger takes
    any :class:`Record`; these tests need many small ones)."""

    record_type: Literal["note"] = "note"
    n: int = 0
    x: float | None = None


class Linked(Record):
    """A synthetic leaf that names a match (what the look-up by ``match_id`` finds)."""

    record_type: Literal["match"] = "match"
    match_id: str


def filler(n: int, run_id: str = "run-x") -> list[Note]:
    return [Note(run_id=run_id, n=i) for i in range(n)]


def add_finding(ledger: Ledger, run_id: str, operator: str = "Example Telecom") -> str:
    """Append a run record and one observation → match → verification chain; return match id."""
    ledger.append(Run(id=run_id, run_id=run_id, operator=operator, check_id="2026-77-0042",
                      authorization="test", jurisdiction="de", scope_sha256="00" * 32,
                      started_at="2026-01-01T00:00:00+00:00", software="netwarden test",
                      host="test", python="3", clock={}))
    obs = Observation(run_id=run_id, endpoint=Endpoint(protocol="ftp", host="127.77.0.10",
                                                       port=2121),
                      location="ftp://127.77.0.10:2121/a.bin", size=10,
                      digests={"sha256": "ab" * 32}, method="ftp-retr",
                      bytes_from_endpoint=True)
    obs_ref = ledger.append(obs)
    match = Match(run_id=run_id, observation_id=obs.id, observation_leaf=obs_ref.hex, bank="t",
                  category="film", reference_id="r1", algorithm="sha256", matched_value="ab" * 32)
    match_ref = ledger.append(match)
    ver = Verification(run_id=run_id, match_id=match.id, match_leaf=match_ref.hex,
                       method="full-content-digest", result="verified", level="served",
                       checked="sha256 of 10 bytes")
    ledger.append(ver)
    ledger.append(RunEnd(run_id=run_id, finished_at="2026-01-01T00:10:00+00:00",
                         observations=1, findings=1, refused=0))
    return match.id
