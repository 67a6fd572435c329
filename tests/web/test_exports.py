"""Exports of a real run pass their own ecosystems' tools.

The seed run (conftest: a real audit of the loopback demo network) is exported by the
``netwarden export`` command into each format, and each file is read back by the tool its
users run: the OASIS ``stix2-validator``, PyMISP's ``MISPEvent.load_file``, Python's csv reader
(one row per finding) and ``netwarden bank import --format vics`` (the re-import finds every
exported digest). The schema-2 finding shape ("one finding per copy", a ``matches`` list) is
exported too, so the exporters work before and after that change.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from netwarden.export import ExportOptions, export_bytes
from netwarden.export.model import ExportSource, matches_of, track_of

from .conftest import Seed, copy_db

runner = CliRunner()


def _cli(*args: str) -> Any:
    from netwarden.cli import _load_commands, app

    _load_commands(list(args))
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


@pytest.fixture
def exported(seed: Seed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Each format of the seed run written by the CLI into a private copy of the installation."""
    monkeypatch.setenv("NETWARDEN_HOME", str(tmp_path / "home"))
    db = copy_db(seed, tmp_path / "nw.sqlite")
    out: dict[str, Any] = {"db": db, "files": {}, "results": {}}
    for fmt in ("stix", "misp", "csv", "vics"):
        path = tmp_path / f"export.{fmt}"
        r = _cli("export", str(seed.run_dir), "--format", fmt, "--out", str(path), "--db", db,
                 "--key-dir", str(seed.key_dir), "--json")
        assert r.exit_code == 0, r.output
        out["files"][fmt] = path
        out["results"][fmt] = json.loads(r.output.strip().splitlines()[-1])
    return out


def test_stix_bundle_is_valid_for_the_oasis_validator(seed: Seed, exported: dict) -> None:
    from stix2validator import ValidationOptions, validate_file

    path = exported["files"]["stix"]
    result = validate_file(str(path), ValidationOptions(version="2.1"))
    errors = [str(e) for o in result.object_results for e in o.errors]
    assert result.is_valid, errors
    bundle = json.loads(path.read_text(encoding="utf-8"))
    by_type: dict[str, list[dict]] = {}
    for obj in bundle["objects"]:
        by_type.setdefault(obj["type"], []).append(obj)
    assert len(by_type["observed-data"]) == len(seed.findings)
    assert len(by_type["sighting"]) == sum(len(matches_of(f)) for f in seed.findings)
    assert len(by_type["note"]) == len(seed.findings)
    assert len(by_type["grouping"]) == 1
    # the seed has CSAM findings: TLP:RED by default, on every object that can carry it
    assert [m["id"] for m in by_type["marking-definition"]] == [
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"]
    assert all(o.get("object_marking_refs") == [by_type["marking-definition"][0]["id"]]
               for t, objs in by_type.items() if t != "marking-definition" for o in objs)
    files = {f["hashes"]["SHA-256"]: f for f in by_type["file"]}
    for finding in seed.findings:
        f = files[finding["digests"]["sha256"]]
        assert f["hashes"]["MD5"] == finding["digests"]["md5"]
        assert f["hashes"]["x_tth"] == finding["digests"]["tth"]
        if "pdq" in finding["digests"]:
            assert f["hashes"]["x_pdq"] == finding["digests"]["pdq"]
    levels = {o["labels"][0] for o in by_type["observed-data"]}
    assert levels == {f"evidence-level:{f['evidence_level']}" for f in seed.findings}
    assert {a["value"] for a in by_type["ipv4-addr"]} == {f["host"] for f in seed.findings}
    # pseudonyms only, and only where the finding has one
    text = path.read_text(encoding="utf-8")
    pseudonyms = {f["attribution"].get("pseudonym") for f in seed.findings} - {None}
    assert pseudonyms and all(p in text for p in pseudonyms)


def test_stix_without_pseudonyms_and_stable_ids(seed: Seed) -> None:
    source = ExportSource(seed.findings, "run x", ["x"])
    first, used = export_bytes(source, "stix", ExportOptions(pseudonyms=False, tlp="amber"))
    again, _ = export_bytes(source, "stix", ExportOptions(pseudonyms=False, tlp="amber"))
    assert used.tlp == "amber"
    assert b"ps1_" not in first
    ids = [o["id"] for o in json.loads(first)["objects"]]
    assert ids == [o["id"] for o in json.loads(again)["objects"]]  # re-export updates, not doubles


def test_misp_event_loads_with_one_file_object_per_finding(seed: Seed, exported: dict) -> None:
    from pymisp import MISPEvent

    event = MISPEvent()
    event.load_file(str(exported["files"]["misp"]))
    files = [o for o in event.objects if o.name == "file"]
    assert len(files) == len(seed.findings)
    assert len([o for o in event.objects if o.name == "ip-port"]) == len(seed.findings)
    assert "tlp:red" in {t.name for t in event.tags}
    by_finding = {obj.comment.removeprefix("netwarden finding "): obj for obj in files}
    for finding in seed.findings:
        obj = by_finding[finding["id"]]
        attrs = {a.object_relation: a for a in obj.attributes}
        assert attrs["sha256"].value == finding["digests"]["sha256"]
        assert attrs["md5"].value == finding["digests"]["md5"]
        tags = {t.name for t in attrs["sha256"].tags}
        assert f'netwarden:evidence-level="{finding["evidence_level"]}"' in tags
        assert f'netwarden:category="{finding["category"]}"' in tags
        texts = [a.value for a in obj.attributes if a.type == "text"]
        assert f"ledger-leaf:{finding['ledger']['match']['leaf_hash']}" in texts
        assert obj.references and {r.relationship_type for r in obj.references} == {
            "observed-at", "downloaded-from"}


def test_csv_has_one_row_per_finding_and_documented_columns(seed: Seed, exported: dict
                                                           ) -> None:
    from netwarden.export.table import columns

    data = exported["files"]["csv"].read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert len(rows) == len(seed.findings)
    assert tuple(rows[0]) == columns()
    docs = (Path(__file__).parents[2] / "docs" / "exports.md").read_text(encoding="utf-8")
    assert all(f"`{c}`" in docs for c in columns()), "every CSV column is documented"
    by_id = {r["id"]: r for r in rows}
    for f in seed.findings:
        row = by_id[f["id"]]
        assert row["sha256"] == f["digests"]["sha256"]
        assert row["evidence_level"] == f["evidence_level"]
        assert row["match_leaf_hash"] == f["ledger"]["match"]["leaf_hash"]
        assert row["pseudonym"] == (f["attribution"].get("pseudonym") or "")


def test_csv_bom_and_formula_cells(seed: Seed) -> None:
    hostile = dict(seed.findings[0], name="=HYPERLINK(\"http://x\")", id="evil")
    source = ExportSource([hostile], "run x", ["x"])
    data, _ = export_bytes(source, "csv", ExportOptions(bom=True))
    assert data.startswith(b"\xef\xbb\xbf")
    row = next(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert row["name"] == "'=HYPERLINK(\"http://x\")"


def test_vics_reimports_with_bank_import(seed: Seed, exported: dict, tmp_path: Path) -> None:
    from netwarden.banks import BankStore
    from netwarden.store import open_store

    path = exported["files"]["vics"]
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["@odata.context"].endswith("$metadata#Media")
    csam = [f for f in seed.findings if track_of(f) == "csam"]
    assert csam and len(csam) < len(seed.findings)
    text = path.read_text(encoding="utf-8")
    for f in seed.findings:  # digests and categories only: no names, places or pseudonyms
        assert f["location"] not in text and f["host"] not in text
        assert (f["attribution"].get("pseudonym") or "-") not in text
    db = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    r = _cli("bank", "import", str(path), "--name", "reimported", "--category", "csam",
             "--format", "vics", "--db", db, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["bad"] == 0 and report["added"] > 0
    banks = BankStore(open_store(db))
    for f in csam:
        for algorithm in ("md5", "sha1", "sha256"):
            refs = banks.lookup(algorithm, f["digests"][algorithm])
            assert refs and refs[0].reference_id.startswith("vics:"), (algorithm, f["id"])
        if f.get("match_algorithm") == "pdq":
            assert banks.lookup("pdq", f["digests"]["pdq"]), "PDQ came back via AlternativeHashes"
    for f in seed.findings:
        if track_of(f) != "csam":
            assert not banks.lookup("sha256", f["digests"]["sha256"])


def test_each_export_is_a_ledger_leaf(seed: Seed, exported: dict) -> None:
    from netwarden.ledger import Ledger
    from netwarden.store import open_store

    store = open_store(exported["db"])
    ledger = Ledger.open(store, seed.key_dir, require_key=False)
    for fmt, result in exported["results"].items():
        entry = json.loads(ledger.entry(result["ledger_index"]))
        assert entry["record_type"] == "export" and entry["format"] == fmt
        data = exported["files"][fmt].read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["finding_ids"] == [f["id"] for f in seed.findings]
        assert entry["pseudonyms"] is True and entry["tlp"] == "red"
    store.close()


def _schema2(finding: dict[str, Any]) -> dict[str, Any]:
    """``finding`` in the "one finding per copy" shape, with a second match."""
    first = {"match_id": finding["id"], "bank": finding["bank"],
             "category": finding["category"], "reference": finding["reference"],
             "title": finding["title"], "method": finding["match_method"],
             "algorithm": finding["match_algorithm"], "distance": finding["match_distance"],
             "ledger": finding["ledger"]["match"]}
    second = dict(first, match_id="m2", bank="other-csam", category="csam",
                  reference="REF-2", ledger={"index": 9, "leaf_hash": "ab" * 32})
    return dict(finding, schema_version=2, track="csam", matches=[first, second])


def test_schema_2_findings_export_every_match(seed: Seed) -> None:
    from stix2validator import ValidationOptions, validate_string

    film = next(f for f in seed.findings if f["category"] == "film")
    v2 = _schema2(film)
    assert [m.reference for m in matches_of(v2)] == [film["reference"], "REF-2"]
    assert track_of(v2) == "csam" and track_of(film) == "copyright"
    source = ExportSource([v2], "run x", ["x"])
    stix, _ = export_bytes(source, "stix")
    assert validate_string(stix.decode(), ValidationOptions(version="2.1")).is_valid
    objects = json.loads(stix)["objects"]
    assert len([o for o in objects if o["type"] == "sighting"]) == 2
    assert {o["name"] for o in objects if o["type"] == "indicator"} == {
        f"{film['bank']}:{film['reference']}", "other-csam:REF-2"}
    data, used = export_bytes(source, "csv")
    assert used.tlp == "red"  # the track says CSAM
    row = next(csv.DictReader(io.StringIO(data.decode(), newline="")))
    assert row["reference"] == f"{film['reference']};REF-2"
    assert row["match_leaf_hash"].endswith(";" + "ab" * 32)
    vics, _ = export_bytes(source, "vics")
    assert len(json.loads(vics)["value"]) == 1


def test_web_export_page_and_api_record_the_user(site) -> None:  # type: ignore[no-untyped-def]
    from stix2validator import ValidationOptions, validate_string

    from netwarden.ledger import Ledger

    from .conftest import login

    client = site.client()
    login(client, "dave")  # the read-only auditor may export what it may view
    page = client.get("/exports")
    assert page.status_code == 200 and 'action="/api/v1/exports"' in page.text
    run_id = site.seed.findings[0]["run_id"]
    assert run_id in page.text
    r = client.get("/api/v1/exports", params={"format": "stix", "run_id": run_id})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/stix+json")
    assert "attachment" in r.headers["content-disposition"]
    assert validate_string(r.text, ValidationOptions(version="2.1")).is_valid
    leaf = int(r.headers["x-netwarden-ledger-index"])
    entry = json.loads(Ledger.open(site.store, require_key=False).entry(leaf))
    assert (entry["record_type"], entry["by"], entry["role"]) == ("export", "dave", "auditor")
    assert entry["sha256"] == hashlib.sha256(r.content).hexdigest()
    r = client.get("/api/v1/exports", params={"format": "csv", "run_id": run_id, "bom": "true",
                                              "pseudonyms": "false"})
    assert r.content.startswith(b"\xef\xbb\xbf") and b"ps1_" not in r.content
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
    assert len(rows) == len(site.seed.findings)
    assert client.get("/api/v1/exports", params={"format": "csv", "run_id": "nope"}
                      ).status_code == 404
    assert client.get("/api/v1/exports", params={"format": "csv", "campaign": "nope"}
                      ).status_code == 404
    assert client.get("/api/v1/exports", params={"format": "pdf", "run_id": run_id}
                      ).status_code == 422
    assert client.get("/api/v1/exports", params={"format": "csv"}).status_code == 422
    assert site.client().get("/api/v1/exports", params={"format": "csv", "run_id": run_id}
                             ).status_code == 401


def test_campaign_export_collects_its_runs(seed: Seed, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from netwarden.campaign.models import CampaignJobRow, CampaignRow
    from netwarden.store import open_store

    monkeypatch.setenv("NETWARDEN_HOME", str(tmp_path / "home"))
    db = copy_db(seed, tmp_path / "nw.sqlite")
    store = open_store(db)
    t = datetime.now(UTC)
    run_id = seed.findings[0]["run_id"]
    with store.session() as s:  # the rows the campaign coordinator keeps (campaign/state.py)
        s.add(CampaignRow(name="nationwide-2026", source="c.toml", source_sha256="0" * 64,
                          created_at=t, updated_at=t, status="finished", out_dir=str(tmp_path),
                          settings={}))
        s.flush()  # the jobs reference the campaign row
        s.add(CampaignJobRow(campaign="nationwide-2026", operator="Example Telecom (demo)",
                             scope_path="s.toml", scope_sha256="1" * 64, status="finished",
                             run_id=run_id))
        s.add(CampaignJobRow(campaign="nationwide-2026", operator="Pending Net",
                             scope_path="p.toml", scope_sha256="2" * 64, status="pending"))
    store.close()
    out = tmp_path / "campaign.csv"
    r = _cli("export", "--campaign", "nationwide-2026", "--format", "csv", "--out", str(out),
             "--db", db, "--key-dir", str(seed.key_dir), "--json")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert sorted(row["id"] for row in rows) == sorted(f["id"] for f in seed.findings)
    from netwarden.errors import InputError

    with pytest.raises(InputError, match="no campaign"):
        _cli("export", "--campaign", "nope", "--format", "csv", "--out", str(out), "--db", db)
    with pytest.raises(InputError, match="one of them"):
        _cli("export", str(seed.run_dir), "--campaign", "x", "--format", "csv", "--out",
             str(out), "--db", db)
    with pytest.raises(InputError, match="not one of"):
        _cli("export", str(seed.run_dir), "--format", "pdf", "--out", str(out), "--db", db)
