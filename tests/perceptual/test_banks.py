"""Hash-sharing formats import, and identification finds transformed copies by distance while
allow-lists suppress known false positives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netwarden.banks import BankStore
from netwarden.digest.pdq import pdq_from_bytes
from netwarden.digest.perceptual import PerceptualDigest
from netwarden.identify import identify
from netwarden.records import Endpoint, Observation
from netwarden.store import open_store
from netwarden.testbed.network import drawing, encode, transform


@pytest.fixture
def banks(tmp_path: Path) -> BankStore:
    return BankStore(open_store(f"sqlite:///{tmp_path / 'db.sqlite'}"))


def _observation(data: bytes, name: str = "x.jpg") -> Observation:
    acc = PerceptualDigest(name)
    acc.update(data)
    out = acc.finish()
    return Observation(run_id="r", endpoint=Endpoint(protocol="http", host="127.0.0.1", port=1),
                       location=f"http://127.0.0.1/{name}", method="http-get", size=len(data),
                       digests=out.digests, details=out.details, bytes_from_endpoint=True)


def test_hma_text_and_perceptual_identification(tmp_path: Path, banks: BankStore) -> None:
    refs = {seed: pdq_from_bytes(encode(drawing(seed))).hex for seed in (101, 305, 11)}
    bank = tmp_path / "pdq.txt"
    bank.write_text("# comment\n" + "".join(f"pdq {h} drawing-{s}\n" for s, h in refs.items())
                    + "pdq 1234\nfoo abc\n" + "ab" * 32 + "\n", encoding="utf-8")
    report = banks.import_file("pics", "csam", "hma", bank)
    assert report.added == 3 and report.bad == 3
    assert any("--signal" in str(p) for p in report.problems)
    for seed, how in ((101, "resize50"), (305, "jpeg60"), (305, "crop5")):
        matches = identify(_observation(transform(drawing(seed), how)), banks)
        assert [(m.method, m.reference_id) for m in matches] == [("perceptual", refs[seed])]
        assert 0 <= matches[0].distance <= 31
    assert identify(_observation(encode(drawing(999))), banks) == []
    flipped = _observation(transform(drawing(11), "flip"))
    assert identify(flipped, banks) == []  # dihedral is off by default
    banks.import_file("pics", "csam", "hma", bank, dihedral=True)
    assert [m.reference_id for m in identify(flipped, BankStore(banks.store))] == [refs[11]]


def test_allow_list_suppresses_a_known_false_positive(tmp_path: Path, banks: BankStore
                                                      ) -> None:
    benign = encode(drawing(305))
    value = pdq_from_bytes(benign).hex
    near = f"{int(value, 16) ^ 0xF:064x}"
    (tmp_path / "bank.txt").write_text(f"pdq {near}\n", encoding="utf-8")
    banks.import_file("pics", "csam", "hma", tmp_path / "bank.txt")
    assert identify(_observation(benign), banks)  # the false positive, before the allow-list
    (tmp_path / "allow.txt").write_text(f"{value}\n", encoding="utf-8")
    banks.import_file("allow", "allow-list", "hma", tmp_path / "allow.txt", signal="pdq")
    assert identify(_observation(benign), BankStore(banks.store)) == []


def test_quality_gate(tmp_path: Path, banks: BankStore) -> None:
    from PIL import Image

    flat = encode(Image.new("RGB", (100, 100), (90, 90, 90)))
    (tmp_path / "b.txt").write_text(f"pdq {pdq_from_bytes(flat).hex}\n", encoding="utf-8")
    banks.import_file("pics", "csam", "hma", tmp_path / "b.txt")
    assert identify(_observation(flat, "flat.png"), banks) == []


def test_hma_csv(tmp_path: Path, banks: BankStore) -> None:
    value = pdq_from_bytes(encode(drawing(1))).hex
    path = tmp_path / "export.csv"
    path.write_text(f"signal_type,signal_value,content_id,updated\npdq,{value},C-1,2026\n"
                    "pdq,zz,C-2,2026\n", encoding="utf-8")
    report = banks.import_file("pics", "csam", "hma-csv", path)
    assert (report.added, report.bad) == (1, 1)
    assert any("updated" in note for note in report.notes)


def test_vics_with_unknown_fields_and_categories(tmp_path: Path, banks: BankStore) -> None:
    value = pdq_from_bytes(encode(drawing(2))).hex
    doc = {"odata.metadata": "x", "value": [
        {"MediaID": 1, "Category": 1, "MD5": "0" * 32, "PDQ": value, "Frobnicate": True},
        {"MediaID": 2, "Category": 0, "MD5": "1" * 32},
        {"MediaID": 3, "Category": 9, "MD5": "2" * 32},
        {"MediaID": 4, "Category": 2, "SHA1": "short"},
    ]}
    path = tmp_path / "vics.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    report = banks.import_file("vic", "csam", "vics", path)
    assert report.added == 2  # media 1: md5 + pdq under one reference id
    assert any("unknown VICS category 9" in str(p) for p in report.problems)
    assert any("frobnicate" in n for n in report.notes)
    assert any("non-pertinent" in n for n in report.notes)
    assert banks.lookup("md5", "0" * 32)[0].reference_id == "vics:1"


def test_ncmec_through_threatexchange_file_exchange(tmp_path: Path, banks: BankStore) -> None:
    value = pdq_from_bytes(encode(drawing(3))).hex
    signals = tmp_path / "signals.txt"
    signals.write_text(f"pdq {value}\nvideo_md5 {'a' * 32}\n", encoding="utf-8")
    config = tmp_path / "ncmec.json"
    config.write_text(json.dumps({"exchange": "file", "filename": str(signals)}))
    report = banks.import_file("ncmec", "csam", "ncmec", config)
    assert report.added == 2


def test_nsrl_is_an_allow_list(tmp_path: Path, banks: BankStore) -> None:
    import sqlite3

    db = tmp_path / "rds.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE FILE (sha256 TEXT, sha1 TEXT, md5 TEXT, file_name TEXT)")
        conn.execute("INSERT INTO FILE VALUES (?, ?, ?, ?)", ("c" * 64, "d" * 40, "e" * 32, "a"))
        conn.execute("INSERT INTO FILE VALUES (?, ?, ?, ?)", ("bad", None, None, "b"))
    report = banks.import_file("nsrl", "software", "nsrl", db)
    assert (report.added, report.bad) == (1, 1)
    assert banks.show("nsrl").name == "nsrl"
