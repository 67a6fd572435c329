"""C2SP tlog-tiles: the layout against the spec's examples, proofs from tiles, publishing, and
verifying a published tree from a directory and from a plain HTTP server on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.cli import _load_commands, app
from netwarden.errors import InputError
from netwarden.ledger import Ledger, merkle
from netwarden.ledger.checkpoint import sign_checkpoint
from netwarden.ledger.keys import init_key
from netwarden.ledger.tiles import (
    TileError,
    TileSource,
    decode_bundle,
    encode_bundle,
    encode_index,
    entries_path,
    iter_published,
    parse_path,
    publish,
    tile_path,
    tiles_of,
    verify_tiles,
)
from netwarden.store import open_store
from realserver import free_port, serve

from .conftest import filler

SPEC = json.loads((Path(__file__).resolve().parents[1] / "data" / "tlog-tiles" /
                   "paths.json").read_text())


@pytest.mark.parametrize("case", SPEC["valid"], ids=lambda c: c["path"])
def test_valid_paths_round_trip(case: dict) -> None:
    level, n, width = case["level"], case["n"], case["width"]
    made = entries_path(n, width) if level is None else tile_path(level, n, width)
    assert made == case["path"]
    assert parse_path(case["path"]) == (level, n, width)


@pytest.mark.parametrize("case", SPEC["invalid"], ids=lambda c: c["path"])
def test_invalid_paths_are_refused(case: dict) -> None:
    with pytest.raises(TileError):
        parse_path(case["path"])


def test_index_encoding_examples() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000"
    assert encode_index(1_000_000) == "x001/x000/000"
    with pytest.raises(TileError):
        encode_index(-1)


@pytest.mark.parametrize("case", SPEC["layouts"], ids=lambda c: str(c["size"]))
def test_tile_layout_matches_the_spec(case: dict) -> None:
    full: dict[str, int] = {}
    partial: dict[str, int] = {}
    for level, _, width in tiles_of(case["size"]):
        if width == 256:
            full[str(level)] = full.get(str(level), 0) + 1
        else:
            assert str(level) not in partial, "one partial tile per level at most"
            partial[str(level)] = width
    assert {k: v for k, v in full.items() if v} == {k: v for k, v in case["full"].items() if v}
    assert partial == case["partial"]


@pytest.mark.parametrize("case", SPEC["bundles"], ids=lambda c: c["bundle_hex"] or "empty")
def test_entry_bundle_format(case: dict) -> None:
    entries = [bytes.fromhex(e) for e in case["entries_hex"]]
    assert encode_bundle(entries) == bytes.fromhex(case["bundle_hex"])
    assert decode_bundle(bytes.fromhex(case["bundle_hex"]), case["width"]) == entries


@pytest.mark.parametrize("case", SPEC["bad_bundles"], ids=lambda c: c["why"])
def test_bad_entry_bundles_are_refused(case: dict) -> None:
    with pytest.raises(TileError):
        decode_bundle(bytes.fromhex(case["bundle_hex"]), case["width"])


def test_entry_over_uint16_is_refused() -> None:
    with pytest.raises(TileError, match="uint16"):
        encode_bundle([b"x" * 65536])


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ledger, Path]:
    """A ledger of 70,000 leaves (the spec's layout example), published once."""
    tmp = tmp_path_factory.mktemp("tiles")
    init_key(tmp / "keys", "example.org/log")
    store = open_store(f"sqlite:///{tmp / 'nw.sqlite'}")
    ledger = Ledger.open(store, tmp / "keys")
    ledger.append_many(filler(70_000))
    publish(ledger, tmp / "pub", ledger.checkpoint().note)
    return ledger, tmp / "pub"


def test_published_files_are_exactly_the_spec_layout(big: tuple[Ledger, Path]) -> None:
    ledger, pub = big
    want = {"checkpoint"} | {tile_path(lv, n, w) for lv, n, w in tiles_of(70_000)} | {
        entries_path(n, w) for lv, n, w in tiles_of(70_000) if lv == 0}
    assert set(iter_published(pub)) == want
    assert "tile/0/273.p/112" in want and "tile/2/000.p/1" in want
    assert (pub / "tile/1/000").stat().st_size == 8192
    assert (pub / "tile/1/001.p/17").stat().st_size == 17 * 32
    # level 0 holds leaf hashes; a level-1 hash is the root of a full level-0 tile
    assert (pub / "tile/0/000").read_bytes()[32:64] == ledger.leaf_range(1, 2)[0][0]
    assert (pub / "tile/1/000").read_bytes()[:32] == ledger.root(256)
    entries = decode_bundle((pub / "tile/entries/273.p/112").read_bytes(), 112)
    assert entries[0] == ledger.entry(273 * 256)


@pytest.mark.parametrize(("index", "size"), [(0, 1), (0, 70_000), (69_999, 70_000),
                                             (65_535, 65_536), (300, 70_000), (5, 257),
                                             (256, 257), (1234, 51_207)])
def test_inclusion_proofs_from_tiles(big: tuple[Ledger, Path], index: int, size: int) -> None:
    ledger, pub = big
    source = TileSource(pub)
    proof = source.inclusion_proof(index, size)
    assert proof == ledger.inclusion_proof(index, size)
    assert merkle.verify_inclusion(source.leaf_hash(index, size), index, size, proof,
                                   ledger.root(size))


@pytest.mark.parametrize(("size1", "size2"), [(1, 70_000), (256, 70_000), (1000, 65_536),
                                              (65_536, 70_000), (69_999, 70_000), (7, 7)])
def test_consistency_proofs_from_tiles(big: tuple[Ledger, Path], size1: int, size2: int) -> None:
    ledger, pub = big
    proof = TileSource(pub).consistency_proof(size1, size2)
    assert proof == ledger.consistency_proof(size1, size2)
    assert merkle.verify_consistency(size1, size2, proof, ledger.root(size1), ledger.root(size2))


def test_verify_published_tree(big: tuple[Ledger, Path]) -> None:
    ledger, pub = big
    report = verify_tiles(TileSource(pub), [ledger.key.public])
    assert (report.size, report.entries, report.root) == (70_000, 70_000, ledger.root())


def _copy(pub: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(pub, dest)
    return dest


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda p: _flip(p / "tile/entries/005", 40), r"leaf 128\d: its entry"),
    (lambda p: _flip(p / "tile/0/005", 64), "leaf 1282"),
    (lambda p: _flip(p / "tile/1/000", 0), r"tile \(0, 0\) hashes to"),
    (lambda p: _flip(p / "tile/2/000.p/1", 0), r"tile \(1, 0\) hashes to"),
    (lambda p: _flip(p / "tile/1/001.p/17", 0), r"tile \(0, 256\) hashes to"),
    (lambda p: (p / "tile/entries/005").unlink(), "missing"),
    (lambda p: (p / "tile/0/273.p/112").write_bytes(b"\0" * 32 * 111), "tile is 3552 bytes"),
    (lambda p: _flip(p / "checkpoint", 20), "checkpoint"),
])
def test_tampered_tiles_are_found(big: tuple[Ledger, Path], tmp_path: Path, edit, message) -> None:  # type: ignore[no-untyped-def]
    ledger, pub = big
    copy = _copy(pub, tmp_path / "pub")
    edit(copy)
    with pytest.raises(TileError, match=message):
        verify_tiles(TileSource(copy), [ledger.key.public])


def test_signed_root_that_the_tiles_do_not_have(big: tuple[Ledger, Path], tmp_path: Path) -> None:
    ledger, pub = big
    copy = _copy(pub, tmp_path / "pub")
    (copy / "checkpoint").write_text(sign_checkpoint(ledger.key, 70_000, b"\1" * 32))
    with pytest.raises(TileError, match="tiles' tree of size 70000 has root"):
        verify_tiles(TileSource(copy), [ledger.key.public])


def test_wrong_key_is_refused(big: tuple[Ledger, Path], tmp_path: Path) -> None:
    other = init_key(tmp_path / "k2", "example.org/log")
    with pytest.raises(TileError, match="not signed by any given log key"):
        verify_tiles(TileSource(big[1]), [other.public])


def test_publish_syncs_only_new_tiles_and_refuses_a_fork(ledger: Ledger, tmp_path: Path,
                                                         key_dir: Path) -> None:
    pub = tmp_path / "pub"
    ledger.append_many(filler(600))
    first = publish(ledger, pub, ledger.checkpoint().note)
    assert (first.tiles_written, first.bundles_written) == (3 + 1, 3)  # level 0: 2 full + .p/88
    ledger.append_many(filler(10))
    second = publish(ledger, pub, ledger.checkpoint().note)
    # only the partial level-0 tile grows (88 -> 98) and the level-1 tile is rewritten
    assert (second.tiles_written, second.bundles_written) == (2, 1)
    assert (pub / "tile/0/002.p/98").exists() and (pub / "tile/0/002.p/88").exists()
    assert verify_tiles(TileSource(pub), [ledger.key.public]).size == 610
    # another tree under the same origin (a fork) must not overwrite what was published
    other_store = open_store(f"sqlite:///{tmp_path / 'other.sqlite'}")
    other = Ledger.open(other_store, key_dir)
    other.append_many(filler(700))
    with pytest.raises(TileError, match="not a prefix"):
        publish(other, pub, other.checkpoint().note)
    with pytest.raises(TileError, match="roll it back"):
        small = Ledger.open(open_store(f"sqlite:///{tmp_path / 's.sqlite'}"), key_dir)
        small.append_many(filler(3))
        publish(small, pub, small.checkpoint().note)
    assert verify_tiles(TileSource(pub), [ledger.key.public]).size == 610


@pytest.mark.slow
def test_cli_publish_and_verify_over_plain_http(ledger: Ledger, store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`ledger publish` then `ledger verify --tiles http://...` against python's http.server."""
    ledger.append_many(filler(1000))
    _load_commands(["ledger"])
    runner = CliRunner()
    pub = tmp_path / "pub"
    env = {"NETWARDEN_HOME": str(tmp_path)}
    result = runner.invoke(app, ["ledger", "publish", str(pub), "--db", store.url,
                                 "--key-dir", str(ledger.key_dir)], env=env)
    assert result.exit_code == 0, result.output
    assert "published size 1000" in result.output
    vkey = ledger.key.public.vkey
    port = free_port("127.0.0.1")
    log = tmp_path / "http.log"
    with serve([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                "--directory", str(pub)], "127.0.0.1", port, log):
        url = f"http://127.0.0.1:{port}/"
        ok = runner.invoke(app, ["ledger", "verify", "--tiles", url, "--key", vkey, "--json"])
        assert ok.exit_code == 0, ok.output
        report = json.loads(ok.output)
        assert (report["ok"], report["size"], report["entries"]) == (True, 1000, 1000)
        assert report["root"] == ledger.root(1000).hex()
        # a proof computed from the served tiles verifies against the served checkpoint
        with TileSource(url) as source:
            cp = source.checkpoint()
            proof = source.inclusion_proof(777, cp.size)
            assert source.fetches >= 2
            assert merkle.verify_inclusion(source.leaf_hash(777, cp.size), 777, cp.size, proof,
                                           cp.root)
        _flip(pub / "tile/entries/001", 100)
        bad = runner.invoke(app, ["ledger", "verify", "--tiles", url, "--key", vkey])
        assert bad.exit_code == 1
        assert "tiles BROKEN: leaf 2" in bad.output
    no_key = runner.invoke(app, ["ledger", "verify", "--tiles", str(pub)])
    assert isinstance(no_key.exception, InputError)  # main() turns it into exit code 2
    assert "needs the log's verifier key" in str(no_key.exception)


def test_publish_command_runs_as_a_program(tmp_path: Path) -> None:
    """The console entry point knows the command (guards the lazy command loading)."""
    out = subprocess.run([sys.executable, "-c", "from netwarden.cli import main; main()",
                          "ledger", "publish", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "tlog-tiles" in out.stdout


@pytest.mark.slow
def test_verify_from_nginx_with_gzip_and_a_prefix(ledger: Ledger, tmp_path: Path) -> None:
    """The tree published under a URL prefix of a real nginx that gzips entry bundles, as the
    spec recommends; the client must undo the compression and count decoded bytes."""
    import os
    import shutil

    from realserver import missing

    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        missing("nginx is not installed (apt-get install -y nginx-light)")
    ledger.append_many(filler(600))
    publish(ledger, tmp_path / "www" / "logs" / "agency", ledger.checkpoint().note)
    port = free_port("127.0.0.1")
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    default_type application/octet-stream;
    gzip on;
    gzip_min_length 1;
    gzip_types application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {tmp_path}/www;
    }}
}}
""", encoding="utf-8")
    with serve([nginx, "-c", str(conf), "-p", str(tmp_path)], "127.0.0.1", port,
               tmp_path / "error.log"):
        import httpx

        url = f"http://127.0.0.1:{port}/logs/agency"
        r = httpx.get(f"{url}/tile/entries/000", headers={"Accept-Encoding": "gzip"})
        assert r.headers.get("content-encoding") == "gzip"  # the server really compressed
        with TileSource(url) as source:
            report = verify_tiles(source, [ledger.key.public])
        assert (report.size, report.entries, report.root) == (600, 600, ledger.root(600))
        assert report.bytes_hashed == sum(len(e.data) for e in ledger.entries())
