"""Witness cosignatures (C2SP tlog-cosignature) and the witness protocol (C2SP tlog-witness):
the spec's vectors, every add-checkpoint rule, and two installations on loopback witnessing
each other, with a split view refused by the witness and reported by the log."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.cli import _load_commands, app
from netwarden.errors import InputError
from netwarden.ledger import Ledger, merkle
from netwarden.ledger.bundle import BundleError, export_bundle, verify_bundle
from netwarden.ledger.checkpoint import parse_checkpoint, sign_checkpoint
from netwarden.ledger.cosign import (
    CosignatureError,
    check_cosignatures,
    cosignature_timestamp,
    cosigner_key_id,
    init_witness_key,
    parse_cosigner_vkey,
    signed_message,
    verify_cosignature,
)
from netwarden.ledger.keys import init_key
from netwarden.ledger.select import finding_indices
from netwarden.ledger.tiles import TileSource, publish, verify_tiles
from netwarden.ledger.witness import (
    REFUSED_FILE,
    SIZE_TYPE,
    Witness,
    WitnessEndpoint,
    gather_cosignatures,
    request_body,
)
from netwarden.store import open_store
from realserver import free_port, serve

from .conftest import add_finding, filler

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "data" / "tlog-cosignature" /
                      "vectors.json").read_text())


def test_signed_message_is_the_spec_example() -> None:
    v = VECTORS["signed_message"]
    assert signed_message(v["body"].encode(), v["time"]) == v["message"].encode()


@pytest.mark.parametrize("case", VECTORS["timestamps"], ids=lambda c: str(c["time"]))
def test_timestamps_of_published_cosignatures(case: dict) -> None:
    assert cosignature_timestamp(base64.b64decode(case["blob"])) == case["time"]


@pytest.mark.parametrize("case", VECTORS["bad_timestamps"], ids=lambda c: c["why"])
def test_not_a_cosignature(case: dict) -> None:
    with pytest.raises(CosignatureError):
        cosignature_timestamp(base64.b64decode(case["blob"]))


@pytest.mark.parametrize("case", VECTORS["vkeys"], ids=lambda c: c["why"])
def test_cosigner_vkeys(case: dict) -> None:
    if case["ok"]:
        key = parse_cosigner_vkey(case["vkey"])
        assert key.vkey == case["vkey"]
    else:
        with pytest.raises(InputError):
            parse_cosigner_vkey(case["vkey"])


def test_cosign_and_verify(tmp_path: Path) -> None:
    signer = init_witness_key(tmp_path / "w", "witness.example/w1")
    pub = signer.public
    assert pub.key_id == cosigner_key_id("witness.example/w1", pub.public)
    import hashlib
    assert pub.key_id == hashlib.sha256(b"witness.example/w1\n\x04" + pub.public).digest()[:4]
    body = VECTORS["signed_message"]["body"].encode()
    line = signer.cosign(body, 1679315147)
    assert line.startswith("\u2014 witness.example/w1 ") and line.endswith("\n")
    blob = base64.b64decode(line.split(" ")[2])
    assert verify_cosignature(pub, body, blob) == 1679315147
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignature(pub, body.replace(b"20852163", b"20852164"), blob)
    with pytest.raises(CosignatureError, match="does not verify"):  # the time is signed too
        verify_cosignature(pub, body, blob[:4] + (1679315148).to_bytes(8, "big") + blob[12:])
    with pytest.raises(CosignatureError):
        signer.cosign(body, 0)
    with pytest.raises(InputError, match="exists already"):
        init_witness_key(tmp_path / "w", "again")


# -- the add-checkpoint rules, in process -----------------------------------------------------


@pytest.fixture
def setup(tmp_path: Path, ledger: Ledger):  # type: ignore[no-untyped-def]
    signer = init_witness_key(tmp_path / "wkeys", "witness.example/w1")
    witness = Witness(signer, [ledger.key.public], tmp_path / "wstate", clock=lambda: 1.7e9)
    return witness, signer.public


def _submit(witness: Witness, ledger: Ledger, note: str, old: int):  # type: ignore[no-untyped-def]
    size = parse_checkpoint(note).size
    proof = ledger.consistency_proof(old, size) if 0 < old < size else []
    return witness.add_checkpoint(request_body(old, proof, note))


def test_witness_rules(setup, ledger: Ledger, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    witness, wkey = setup
    ledger.append_many(filler(10))
    first = ledger.checkpoint().note
    ok = _submit(witness, ledger, first, 0)
    assert ok.status == 200
    cosigned = parse_checkpoint(first + ok.body.decode())
    assert [v[0] for v in check_cosignatures(cosigned, [wkey], now=1.7e9).valid] == [wkey.name]
    # stale old size: 409 with the size the witness holds
    again = _submit(witness, ledger, first, 0)
    assert (again.status, again.body, again.content_type) == (409, b"10\n", SIZE_TYPE)
    # the same checkpoint again, old = its size: cosigned again
    assert _submit(witness, ledger, first, 10).status == 200
    ledger.append_many(filler(7))
    second = ledger.checkpoint().note
    assert _submit(witness, ledger, second, 10).status == 200
    # state survives a restart
    assert Witness(witness.signer, [ledger.key.public], witness.state_dir).latest(
        ledger.key.name)[0] == 17
    # a wrong proof
    bad = witness.add_checkpoint(request_body(17, [b"\0" * 32], second))
    assert bad.status == 422 and b"equal sizes" in bad.body
    ledger.append_many(filler(3))
    third = ledger.checkpoint().note
    wrong = witness.add_checkpoint(request_body(17, [b"\0" * 32] * 3, third))
    assert wrong.status == 422 and b"not consistent" in wrong.body
    refused = [json.loads(x) for x in (witness.state_dir / REFUSED_FILE).read_text().splitlines()]
    assert refused[-1]["submitted"] == third and refused[-1]["latest_cosigned"] == second


def test_witness_refuses_malformed_and_unknown(setup, ledger: Ledger, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    witness, _ = setup
    ledger.append_many(filler(4))
    note = ledger.checkpoint().note
    assert witness.add_checkpoint(b"old 0\n" + note.encode()).status == 400  # no blank line
    assert witness.add_checkpoint(b"old 01\n\n" + note.encode()).status == 400
    assert witness.add_checkpoint(request_body(5, [], note)).status == 400  # old > size
    assert witness.add_checkpoint(b"old 0\nnot-base64!\n\n" + note.encode()).status == 400
    stranger = init_key(tmp_path / "k2", "other.example/log")
    assert witness.add_checkpoint(request_body(0, [], sign_checkpoint(
        stranger, 4, ledger.root(4)))).status == 404
    impostor = init_key(tmp_path / "k3", ledger.key.name)  # same origin, another key
    assert witness.add_checkpoint(request_body(0, [], sign_checkpoint(
        impostor, 4, ledger.root(4)))).status == 403
    body, _, line = note.rstrip("\n").rpartition("\n")
    prefix, blob = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[10] ^= 1  # inside the signature, not the key id: name and id still match the key
    broken = f"{body}\n{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
    assert witness.add_checkpoint(request_body(0, [], broken)).status == 403
    assert witness.add_checkpoint(request_body(0, [b"\0" * 32], note)).status == 422
    empty_wrong = sign_checkpoint(ledger.key, 0, b"\1" * 32)
    assert witness.add_checkpoint(request_body(0, [], empty_wrong)).status == 422
    assert witness.latest(ledger.key.name)[0] == 0  # nothing above was cosigned


def test_split_view_is_refused_and_recorded(setup, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    witness, _ = setup
    ledger.append_many(filler(8))
    honest = ledger.checkpoint().note
    assert _submit(witness, ledger, honest, 0).status == 200
    fork = sign_checkpoint(ledger.key, 8, merkle.leaf_hash(b"another tree"))
    answer = witness.add_checkpoint(request_body(8, [], fork))
    assert answer.status == 422 and b"split view" in answer.body
    record = json.loads((witness.state_dir / REFUSED_FILE).read_text().splitlines()[-1])
    assert (record["submitted"], record["latest_cosigned"]) == (fork, honest)
    assert witness.latest(ledger.key.name)[1] == ledger.root(8)


# -- two installations on loopback ------------------------------------------------------------


class Installation:
    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.key_dir = root / "keys"
        self.key = init_key(self.key_dir, f"{name}/log")
        self.store = open_store(f"sqlite:///{root / 'nw.sqlite'}")
        self.witness_state = root / "witness"
        self.witness_key = init_witness_key(self.witness_state, f"{name}/witness").public
        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"

    def ledger(self, witness_of: Installation) -> Ledger:
        return Ledger.open(self.store, self.key_dir, witnesses=[
            WitnessEndpoint(witness_of.url, witness_of.witness_key)])

    def serve_witness_for(self, log: Installation):  # type: ignore[no-untyped-def]
        argv = [sys.executable, "-c", "from netwarden.cli import main; main()", "ledger",
                "witness", "--log", log.key.public.vkey, "--state", str(self.witness_state),
                "--listen", f"127.0.0.1:{self.port}"]
        return serve(argv, "127.0.0.1", self.port, self.root / "witness.log", timeout=60)


@pytest.mark.slow
def test_two_installations_witness_each_other(tmp_path: Path) -> None:
    a = Installation(tmp_path / "a", "agency.example")
    b = Installation(tmp_path / "b", "operator.example")
    (tmp_path / "a").mkdir(exist_ok=True)
    with a.serve_witness_for(b), b.serve_witness_for(a):
        la, lb = a.ledger(witness_of=b), b.ledger(witness_of=a)
        la.append_many(filler(300))
        match_id = add_finding(la, "run-a")
        lb.append_many(filler(40))
        cpa, cpb = la.checkpoint(), lb.checkpoint()
        assert la.witness_problems == [] and lb.witness_problems == []
        # each checkpoint carries the other installation's cosignature
        for cp, w in ((cpa, b.witness_key), (cpb, a.witness_key)):
            valid = check_cosignatures(parse_checkpoint(cp.note), [w]).valid
            assert [v[0] for v in valid] == [w.name]
        # the tree grows: the witness asks for (409) and checks a consistency proof
        la.append_many(filler(20))
        cpa2 = la.checkpoint()
        assert la.witness_problems == []
        assert check_cosignatures(parse_checkpoint(cpa2.note), [b.witness_key]).valid
        assert json.loads((b.witness_state / "witness-state.json").read_text())[
            a.key.name]["size"] == cpa2.size

        # `ledger verify` of the database names the witness of the newest checkpoint
        notes = la.verify().notes
        assert any(f"cosigned by witness {b.witness_key.name}" in n for n in notes), notes

        # bundles carry the cosignatures and the witness keys; verification reports them
        out = tmp_path / "bundle.zip"
        export_bundle(la, finding_indices(la, match_id), out, reason="court", by="t",
                      what="finding")
        report = verify_bundle(out, quorum=1)
        assert any(line.startswith(f"cosigned by witness {b.witness_key.name}")
                   for line in report.cosignatures), report.cosignatures
        assert verify_bundle(out, witnesses=[b.witness_key], quorum=1).cosignatures
        with pytest.raises(BundleError, match="quorum is 1"):
            verify_bundle(out, witnesses=[a.witness_key], quorum=1)

        # the published tree's checkpoint carries it too, and `verify --tiles` reports it
        pub = tmp_path / "pub"
        publish(la, pub, la.latest_checkpoint().note)
        tiles = verify_tiles(TileSource(pub), [a.key.public], [b.witness_key], quorum=1)
        assert tiles.cosignatures and len(tiles.cosignatures.valid) == 1
        _load_commands(["ledger"])
        shown = CliRunner().invoke(app, ["ledger", "verify", "--tiles", str(pub), "--key",
                                         a.key.public.vkey, "--witness", b.witness_key.vkey,
                                         "--quorum", "1"])
        assert shown.exit_code == 0, shown.output
        assert f"cosigned by witness {b.witness_key.name}" in shown.output

        # split view: A signs a second checkpoint of the same size with another root
        size = la.latest_checkpoint().size
        fork = sign_checkpoint(la.key, size, merkle.leaf_hash(b"the tree shown to the court"))
        gathered = gather_cosignatures(fork, la.witnesses, la.consistency_proof)
        assert gathered.cosigned_by == []
        assert len(gathered.problems) == 1 and "HTTP 422" in gathered.problems[0]
        assert "split view" in gathered.problems[0]
        record = json.loads((b.witness_state / REFUSED_FILE).read_text().splitlines()[-1])
        assert record["submitted"] == fork
        assert parse_checkpoint(record["latest_cosigned"]).root == la.root(size)
        # a larger fork (not an extension of what the witness cosigned) is refused too
        lb_fork = sign_checkpoint(la.key, size + 5, merkle.leaf_hash(b"x"))
        more = gather_cosignatures(lb_fork, la.witnesses, lambda s1, s2: [b"\0" * 32] * 3)
        assert more.problems and "not consistent" in more.problems[0]
        # the CLI reports a refused cosignature with exit code 1
        la.append_many(filler(1))
        ok = CliRunner().invoke(app, ["ledger", "checkpoint", "--db", a.store.url, "--key-dir",
                                      str(a.key_dir), "--witness",
                                      f"{b.url} {b.witness_key.vkey}"])
        assert ok.exit_code == 0, ok.output
        assert b.witness_key.name in ok.output
    # witness gone: the checkpoint is still made, the problem reported
    la.append_many(filler(1))
    cp = la.checkpoint()
    assert cp.size == la.size and la.witness_problems
    assert "operator.example/witness" in la.witness_problems[0]


def test_client_takes_only_the_pinned_keys_line(tmp_path: Path) -> None:
    from netwarden.ledger.witness import _check_lines

    log = init_key(tmp_path / "log", "log.example/l")
    cp = parse_checkpoint(sign_checkpoint(log, 3, merkle.leaf_hash(b"r")))
    mine = init_witness_key(tmp_path / "w1", "witness.example/w")
    other = init_witness_key(tmp_path / "w2", "witness.example/w")  # same name, other key
    answer = other.cosign(cp.body, 1700000000) + mine.cosign(cp.body, 1700000001)
    line = _check_lines(answer, mine.public, cp)
    assert line == mine.cosign(cp.body, 1700000001)
    with pytest.raises(CosignatureError, match="no cosignature by"):
        _check_lines(other.cosign(cp.body, 1700000000), mine.public, cp)
    forged = mine.cosign(cp.body, 1700000001).replace("\u2014 ", "\u2014 ", 1)
    tampered = parse_checkpoint(sign_checkpoint(log, 4, merkle.leaf_hash(b"r")))
    with pytest.raises(CosignatureError, match="does not verify"):
        _check_lines(forged, mine.public, tampered)
    with pytest.raises(CosignatureError, match="not a signature line"):
        _check_lines("hello\n", mine.public, cp)


def test_witnesses_from_the_environment(store, key_dir: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    w1 = init_witness_key(tmp_path / "w1", "one.example/w").public
    w2 = init_witness_key(tmp_path / "w2", "two.example/w").public
    monkeypatch.setenv("NETWARDEN_WITNESSES",
                       f"http://127.0.0.1:1/ {w1.vkey},\nhttp://127.0.0.1:2 {w2.vkey}\n")
    ledger = Ledger.open(store, key_dir)
    assert [(w.url, w.key) for w in ledger.witnesses] == [("http://127.0.0.1:1/", w1),
                                                          ("http://127.0.0.1:2", w2)]
    monkeypatch.setenv("NETWARDEN_WITNESSES", f"127.0.0.1:1 {w1.vkey}")
    with pytest.raises(InputError, match="NETWARDEN_WITNESSES"):
        Ledger.open(store, key_dir)
    monkeypatch.setenv("NETWARDEN_WITNESSES", "http://127.0.0.1:1 " + w1.vkey.replace(
        "+", "+0", 1))
    with pytest.raises(InputError):
        Ledger.open(store, key_dir)
