"""Evidence bundles verify offline and are refused after any change, naming the failed check."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import rfc8785
from typer.testing import CliRunner

from netwarden.cli import _load_commands, app
from netwarden.ledger import Ledger
from netwarden.ledger.bundle import BundleError, export_bundle, verify_bundle, write_zip
from netwarden.ledger.keys import init_key
from netwarden.ledger.select import finding_indices, operator_indices, run_dir_indices
from netwarden.store import Store

from .conftest import add_finding, filler


@pytest.fixture
def bundle(ledger: Ledger, tmp_path: Path) -> tuple[Path, str]:
    ledger.append_many(filler(5))
    match_id = add_finding(ledger, "run-1")
    ledger.checkpoint()
    add_finding(ledger, "run-2", operator="Other ISP")
    ledger.append_many(filler(9))
    ledger.checkpoint()
    out = tmp_path / "b.zip"
    export_bundle(ledger, finding_indices(ledger, match_id), out, reason="court order 1",
                  by="auditor", what=f"finding {match_id}")
    return out, match_id


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rewrite(path: Path, members: dict[str, bytes]) -> None:
    path.write_bytes(write_zip(sorted(members.items())))


def _manifest(members: dict[str, bytes]) -> dict:
    return json.loads(members["manifest.json"])


def _set_manifest(members: dict[str, bytes], manifest: dict) -> None:
    members["manifest.json"] = rfc8785.dumps(manifest)


def test_bundle_verifies_and_records_custody(bundle: tuple[Path, str], ledger: Ledger) -> None:
    path, _match_id = bundle
    report = verify_bundle(path)
    # run record, observation, match, verification, run_end, custody
    assert report.entries == 6
    assert report.earlier_checkpoints == 2
    members = _members(path)
    manifest = _manifest(members)
    custody = json.loads(members[f"entries/{manifest['custody_index']:012d}.json"])
    assert custody["who"] == "auditor" and custody["why"] == "court order 1"
    assert custody["at"][-6] in "+-"  # time zone offset present
    assert ledger.verify().ok
    types = {e["record_type"] for e in manifest["entries"]}
    assert types == {"run", "observation", "match", "verification", "run_end", "custody_export"}


def test_every_byte_matters(bundle: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = bundle
    blob = path.read_bytes()
    positions = sorted(set(range(0, len(blob), max(1, len(blob) // 300))) |
                       set(range(len(blob) - 120, len(blob))) | set(range(0, 64)))
    bad = tmp_path / "flip.zip"
    for pos in positions:
        changed = bytearray(blob)
        changed[pos] ^= 0x01
        bad.write_bytes(bytes(changed))
        with pytest.raises(BundleError):
            verify_bundle(bad)
    for cut in (0, 10, len(blob) // 2, len(blob) - 1):
        bad.write_bytes(blob[:cut])
        with pytest.raises(BundleError, match="container"):
            verify_bundle(bad)
    bad.write_bytes(blob + b"\0")
    with pytest.raises(BundleError, match="container"):
        verify_bundle(bad)


def test_wrong_key(bundle: tuple[Path, str], tmp_path: Path) -> None:
    path, _ = bundle
    other = init_key(tmp_path / "other", "test.netwarden/ledger").public
    with pytest.raises(BundleError, match=r"^key:"):
        verify_bundle(path, pinned=other)
    members = _members(path)
    members["keys.txt"] = (other.vkey + "\n").encode()  # swap in an impostor's key
    _rewrite(path, members)
    with pytest.raises(BundleError, match=r"^key:"):
        verify_bundle(path)


def test_rollback(bundle: tuple[Path, str]) -> None:
    path, _ = bundle
    members = _members(path)
    manifest = _manifest(members)
    # present the oldest checkpoint as the newest: validly signed, but smaller
    oldest = manifest["earlier_checkpoints"][0]
    newest = members["checkpoint.txt"]
    members["checkpoint.txt"], members[oldest["file"]] = members[oldest["file"]], newest
    manifest["checkpoint"]["size"] = oldest["size"]
    manifest["checkpoint"]["root"] = oldest["root"]
    for e in manifest["entries"]:
        e["inclusion_proof"] = []
    _set_manifest(members, manifest)
    _rewrite(path, members)
    with pytest.raises(BundleError) as err:
        verify_bundle(path)
    assert err.value.check in {"rollback", "inclusion proof"}
    # with proofs valid for the small tree only the rollback check can refuse it
    manifest["entries"] = []
    _set_manifest(members, manifest)
    _rewrite(path, members)
    with pytest.raises(BundleError, match="has no entries"):
        verify_bundle(path)


def test_rollback_check_itself(bundle: tuple[Path, str], ledger: Ledger) -> None:
    path, _ = bundle
    members = _members(path)
    manifest = _manifest(members)
    big = ledger.latest_checkpoint()
    assert big is not None
    members["checkpoints/99999999.txt"] = big.note.encode()
    small = manifest["earlier_checkpoints"][0]
    # the newest is kept, an earlier one claims a *larger* size: a rollback of the newest
    ledger.append_many(filler(3))
    larger = ledger.checkpoint()
    members["checkpoints/99999999.txt"] = larger.note.encode()
    manifest["earlier_checkpoints"].append({"file": "checkpoints/99999999.txt",
                                            "size": larger.size, "root": larger.root.hex(),
                                            "consistency_proof": []})
    _set_manifest(members, manifest)
    _rewrite(path, members)
    with pytest.raises(BundleError, match=r"^rollback:"):
        verify_bundle(path)
    assert small["size"] < larger.size


def test_duplicate_leaves(bundle: tuple[Path, str]) -> None:
    path, _ = bundle
    members = _members(path)
    manifest = _manifest(members)
    manifest["entries"].append(dict(manifest["entries"][0]))
    _set_manifest(members, manifest)
    _rewrite(path, members)
    with pytest.raises(BundleError, match=r"^duplicate leaf:"):
        verify_bundle(path)


@pytest.mark.parametrize("change", ["extra", "missing", "altered"])
def test_bad_inclusion_proofs(bundle: tuple[Path, str], change: str) -> None:
    path, _ = bundle
    members = _members(path)
    manifest = _manifest(members)
    proof = manifest["entries"][1]["inclusion_proof"]
    if change == "extra":
        proof.append("00" * 32)
    elif change == "missing":
        proof.pop()
    else:
        proof[0] = "11" * 32
    _set_manifest(members, manifest)
    _rewrite(path, members)
    with pytest.raises(BundleError, match=r"^inclusion proof:"):
        verify_bundle(path)


def test_bad_consistency_proof(bundle: tuple[Path, str]) -> None:
    path, _ = bundle
    members = _members(path)
    manifest = _manifest(members)
    manifest["earlier_checkpoints"][0]["consistency_proof"].append("00" * 32)
    _set_manifest(members, manifest)
    _rewrite(path, members)
    with pytest.raises(BundleError, match=r"^consistency proof:"):
        verify_bundle(path)


def test_changed_entry_with_recomputed_manifest(bundle: tuple[Path, str]) -> None:
    path, _ = bundle
    members = _members(path)
    manifest = _manifest(members)
    name = manifest["entries"][2]["file"]
    entry = json.loads(members[name])
    entry["forged"] = True
    members[name] = rfc8785.dumps(entry)
    _rewrite(path, members)
    with pytest.raises(BundleError, match=r"^leaf hash:"):
        verify_bundle(path)


def test_selection_by_operator_and_run_dir(ledger: Ledger, tmp_path: Path) -> None:
    a = add_finding(ledger, "run-a", operator="Example Telecom")
    b = add_finding(ledger, "run-b", operator="Example Telecom")
    add_finding(ledger, "run-c", operator="Other ISP")
    by_op = operator_indices(ledger, "Example Telecom")
    assert by_op == finding_indices(ledger, a) | finding_indices(ledger, b)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "findings.jsonl").write_text(
        json.dumps({"match_id": a, "observation_id": "o", "verification_id": "v",
                    "run_id": "run-a"}) + "\n")
    assert run_dir_indices(ledger, run_dir) == finding_indices(ledger, a)


def test_cli_export_and_verify(ledger: Ledger, store: Store, key_dir: Path,
                               tmp_path: Path) -> None:
    _load_commands()
    match_id = add_finding(ledger, "run-z")
    runner = CliRunner()
    out = tmp_path / "cli.zip"
    res = runner.invoke(app, ["bundle", "export", "--finding", match_id, "--out", str(out),
                              "--reason", "notice to provider", "--by", "Analyst A",
                              "--db", store.url, "--key-dir", str(key_dir)])
    assert res.exit_code == 0, res.output
    ok = runner.invoke(app, ["bundle", "verify", str(out)])
    assert ok.exit_code == 0 and "bundle VERIFIED" in ok.output, ok.output
    blob = bytearray(out.read_bytes())
    blob[len(blob) // 3] ^= 0x20
    out.write_bytes(bytes(blob))
    bad = runner.invoke(app, ["bundle", "verify", str(out)])
    assert bad.exit_code == 1 and "REJECTED" in bad.output
    unknown = runner.invoke(app, ["bundle", "export", "--finding", "nope", "--out",
                                  str(tmp_path / "x.zip"), "--reason", "r", "--db", store.url,
                                  "--key-dir", str(key_dir)])
    assert unknown.exit_code != 0


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "junk.zip"
    path.write_bytes(io.BytesIO(b"PK\x03\x04 not really").getvalue())
    with pytest.raises(BundleError, match=r"^container:"):
        verify_bundle(path)


def test_each_broken_condition_has_its_own_error_class(bundle: tuple[Path, str]) -> None:
    """The typed problems (ledger/bundle.py) name the condition by class and by ``check``,
    and every one is a BundleError, so callers that catch BundleError are unchanged."""
    from netwarden.ledger import bundle as nb

    path, _ = bundle
    members = _members(path)
    manifest = _manifest(members)
    entry = manifest["entries"][0]
    members[entry["file"]] = members[entry["file"]].replace(b"}", b' }', 1)  # one byte more
    _set_manifest(members, manifest)
    _rewrite(path, members)
    with pytest.raises(nb.LeafHashMismatch) as info:
        verify_bundle(path)
    assert isinstance(info.value, BundleError) and info.value.check == "leaf hash"
    assert str(info.value).startswith("leaf hash: entry ")
    for problem in (nb.ContainerError, nb.ManifestError, nb.KeyProblem, nb.SignatureError,
                    nb.InclusionProofError, nb.ConsistencyProofError, nb.RollbackError,
                    nb.CustodyError, nb.ReadmeAlteredError, nb.CosignatureProblem,
                    nb.TimestampError, nb.TilesError, nb.DuplicateLeafError,
                    nb.ReferenceMismatch, nb.WitnessKeyError, nb.CheckpointFormatError):
        assert issubclass(problem, BundleError)
        assert str(problem("x")) == f"{problem.name}: x"
    assert str(nb.NotCanonicalError("is not JSON", check="entry 3")) == "entry 3: is not JSON"
