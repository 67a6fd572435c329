"""VICS 2.0 import: the ``#Cases`` shape (cases, each with ``Media``) beside ``#Media``, and PDQ
given in ``AlternativeHashes``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netwarden.banks import BankStore
from netwarden.digest.pdq import pdq_from_bytes
from netwarden.store import open_store
from netwarden.testbed.network import drawing, encode

CASES = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Cases"


@pytest.fixture
def banks(tmp_path: Path) -> BankStore:
    return BankStore(open_store(f"sqlite:///{tmp_path / 'db.sqlite'}"))


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "vics.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_cases_shape_with_alternative_pdq(tmp_path: Path, banks: BankStore) -> None:
    pdq = pdq_from_bytes(encode(drawing(7))).hex
    doc = {"@odata.context": CASES, "value": [
        {"CaseID": "c1", "Media": [
            {"MediaID": 10, "Category": 1, "MD5": "A" * 32, "SHA1": "b" * 40,
             "AlternativeHashes": [{"HashName": "PhotoDNA", "HashValue": "AAAA"},
                                   {"HashName": "PDQ", "HashValue": pdq}]},
            {"MediaID": 11, "Category": 0, "MD5": "c" * 32}]},
        {"CaseID": "c2", "Media": [
            {"MediaID": 12, "Category": 2, "SHA256": "d" * 64,
             "AlternativeHashes": [{"HashName": "pdq", "HashValue": "not-hex"}]}]},
        {"CaseID": "c3"},
    ]}
    report = banks.import_file("vic", "csam", "vics", _write(tmp_path, doc))
    assert report.added == 4  # md5, sha1, pdq of media 10; sha256 of media 12
    assert banks.lookup("md5", "a" * 32)[0].reference_id == "vics:10"
    assert banks.lookup("pdq", pdq)[0].reference_id == "vics:10"
    assert banks.lookup("sha256", "d" * 64)[0].reference_id == "vics:12"
    assert not banks.lookup("md5", "c" * 32)  # category 0 is not imported
    problems = [str(p) for p in report.problems]
    assert any("value[1].Media[0].AlternativeHashes[0]" in p for p in problems), problems
    assert any("value[2]" in p and "no 'Media'" in p for p in problems), problems
    assert any("'PhotoDNA' not imported" in n for n in report.notes), report.notes


def test_cases_recognised_without_context(tmp_path: Path, banks: BankStore) -> None:
    doc = {"value": [{"CaseID": 1, "Media": [{"MediaID": 1, "Category": 3, "MD5": "e" * 32}]}]}
    report = banks.import_file("vic", "csam", "vics", _write(tmp_path, doc))
    assert report.added == 1 and banks.lookup("md5", "e" * 32)


def test_media_shape_still_reads(tmp_path: Path, banks: BankStore) -> None:
    doc = {"@odata.context": CASES.replace("#Cases", "#Media"),
           "value": [{"MediaID": 5, "Category": 1, "SHA1": "f" * 40, "MediaSize": 9}]}
    report = banks.import_file("vic", "csam", "vics", _write(tmp_path, doc))
    assert report.added == 1 and not report.notes
