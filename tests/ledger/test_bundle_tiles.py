"""`bundle verify --tiles`: a bundle checked against the operator's published tile tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.cli import _load_commands, app
from netwarden.ledger import Ledger
from netwarden.ledger.bundle import BundleError, export_bundle
from netwarden.ledger.select import finding_indices
from netwarden.store import Store, open_store

from .conftest import add_finding, filler


def test_bundle_against_the_published_tiles(ledger: Ledger, store: Store, key_dir: Path,
                                            tmp_path: Path) -> None:
    """`bundle verify --tiles`: the bundle's entries and checkpoint are part of the tree the
    operator publishes, with every proof computed from the published tiles."""
    from netwarden.ledger.bundle import check_against_tiles
    from netwarden.ledger.tiles import publish

    ledger.append_many(filler(300))
    match_id = add_finding(ledger, "run-t")
    early = tmp_path / "early"
    publish(ledger, early, ledger.checkpoint().note)  # published before the export
    out = tmp_path / "b.zip"
    export_bundle(ledger, finding_indices(ledger, match_id), out, reason="r", by="a",
                  what="finding")
    with pytest.raises(BundleError, match="publish it again first"):
        check_against_tiles(out, str(early))
    ledger.append_many(filler(40))
    pub = tmp_path / "pub"
    publish(ledger, pub, ledger.checkpoint().note)
    checks = check_against_tiles(out, str(pub))
    assert "is a prefix of the published tree of size" in checks[0]
    assert "6 entries included in the published tree" in checks[1]
    # another tree under the same key: the bundle is not part of it
    other = Ledger.open(open_store(f"sqlite:///{tmp_path / 'o.sqlite'}"), key_dir)
    other.append_many(filler(400))
    forked = tmp_path / "forked"
    publish(other, forked, other.checkpoint().note)
    with pytest.raises(BundleError, match="tiles: published tree does not contain the bundle"):
        check_against_tiles(out, str(forked))
    _load_commands(["bundle"])
    result = CliRunner().invoke(app, ["bundle", "verify", str(out), "--tiles", str(pub)])
    assert result.exit_code == 0, result.output
    assert "included in the published tree (proofs computed from tiles)" in result.output
    bad = CliRunner().invoke(app, ["bundle", "verify", str(out), "--tiles", str(forked)])
    assert bad.exit_code == 1 and "bundle REJECTED: tiles" in bad.output
