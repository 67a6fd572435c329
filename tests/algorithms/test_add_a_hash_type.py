"""Adding a hash type is adding one module: a test-only algorithm, declared here and registered
through the public registry, flows through a catalog bank import, the digest engine, identify,
verify, notices and the STIX/MISP/CSV exports without any other module being edited.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwarden.algorithms import Algorithm, ExchangeNames, Hasher, Kind, register, unregister
from netwarden.banks import BankStore
from netwarden.digest import hash_file
from netwarden.export import ExportSource, export_bytes
from netwarden.identify import identify
from netwarden.notices.formats.base import hashes
from netwarden.records import Endpoint, EvidenceLevel, Observation
from netwarden.store import open_store
from netwarden.verify import verify_match


class Sha3_256(Algorithm):
    """What a newcomer writes in src/netwarden/algorithms/sha3_256.py (docs/architecture.md)."""

    name = "sha3_256"
    code = 250  # test-only: far from the built-in codes
    kind = Kind.CONTENT
    size = 32
    rank = 15  # between sha256 and btmh
    listing = 50
    exchange = ExchangeNames(stix="SHA3-256", misp_type="sha3-256", csv_column="sha3_256",
                             acns="SHA3-256")

    def new_hasher(self) -> Hasher:
        return hashlib.sha3_256()


@pytest.fixture
def sha3() -> Iterator[Algorithm]:
    algorithm = register(Sha3_256())
    yield algorithm
    unregister("sha3_256")


@pytest.fixture
def banks(tmp_path: Path) -> Iterator[BankStore]:
    store = open_store(f"sqlite:///{tmp_path / 'netwarden.sqlite'}")
    yield BankStore(store)
    store.close()


def test_a_registered_algorithm_flows_end_to_end(sha3: Algorithm, banks: BankStore,
                                                 tmp_path: Path) -> None:
    content = tmp_path / "item.bin"
    content.write_bytes(b"synthetic test content " * 1000)
    expected = hashlib.sha3_256(content.read_bytes()).hexdigest()

    # the digest engine computes it in the same streaming pass as the built-in digests
    result = hash_file(content)
    digests = {k: str(v) for k, v in result.as_dict().items()}
    assert digests["sha3_256"] == expected
    assert digests["sha256"] == hashlib.sha256(content.read_bytes()).hexdigest()

    # a catalog CSV column named after it imports into the exact index (a bad value is
    # refused with the algorithm's own words)
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("reference_id,title,sha3_256\n"
                       f"film-1,A film,{expected.upper()}\n"
                       "film-2,Another,abc\n", encoding="utf-8")
    report = banks.import_file("films", "films", "catalog", catalog)
    assert report.added == 1
    assert any("sha3_256 must be 64 hex digits, got 3" in str(p) for p in report.problems)

    # identify matches an observation of the file on it, verify calls it full-content
    observation = Observation(run_id="run-1", endpoint=Endpoint(protocol="ftp",
                                                               host="127.0.0.1", port=21),
                              location="ftp://127.0.0.1:21/item.bin", name="item.bin",
                              size=result.size, digests={"sha3_256": expected},
                              level=EvidenceLevel.SERVED, bytes_from_endpoint=True,
                              method="ftp-retr")
    [match] = identify(observation, banks)
    assert (match.algorithm, match.reference_id, match.matched_value) == (
        "sha3_256", "film-1", expected)
    verification = verify_match(observation, match)
    assert verification.result == "verified" and verification.method == "full-content-digest"

    # notices list it by strength (after sha256), exports by its declared names
    finding = {"id": "f-1", "run_id": "run-1", "check_id": "c-1", "operator": "Op",
               "category": "films", "bank": "films", "reference": "film-1", "title": "A film",
               "match_method": "exact", "match_algorithm": "sha3_256", "match_distance": 0,
               "evidence_level": "served", "location": observation.location,
               "protocol": "ftp", "host": "127.0.0.1", "port": 21, "name": "item.bin",
               "size": result.size, "observed_at": "2026-01-01T00:00:00Z",
               "digests": {"sha256": digests["sha256"], "sha3_256": expected}}
    assert [a for a, _ in hashes(finding)] == ["sha256", "sha3_256"]
    source = ExportSource(findings=[finding], label="run run-1", run_ids=["run-1"])

    stix = json.loads(export_bytes(source, "stix")[0])
    [file_object] = [o for o in stix["objects"] if o["type"] == "file"]
    assert file_object["hashes"]["SHA3-256"] == expected
    assert any(o.get("pattern") == f"[file:hashes.'SHA3-256' = '{expected}']"
               for o in stix["objects"])

    misp = json.loads(export_bytes(source, "misp")[0])
    attributes = [a for o in misp["Object"] for a in o["Attribute"]]
    assert ("sha3-256", expected) in {(a["type"], a["value"]) for a in attributes}

    table = export_bytes(source, "csv")[0].decode("utf-8")
    [row] = list(csv.DictReader(io.StringIO(table, newline="")))
    assert row["sha3_256"] == expected and row["sha256"] == digests["sha256"]


def test_unregistered_it_is_gone_everywhere(tmp_path: Path) -> None:
    from netwarden.digest import computed_algorithms
    from netwarden.export.table import columns

    assert "sha3_256" not in computed_algorithms()
    assert "sha3_256" not in columns()
