"""``netwarden reveal``: needs a basis, shows the account, ledgers the reveal without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netwarden.attribute import Pseudonymizer
from netwarden.cli import _load_commands, app
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.store import open_store
from netwarden.testbed import DemoNetwork


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("NETWARDEN_HOME", str(home))
    monkeypatch.delenv("NETWARDEN_DB", raising=False)
    init_key()
    _load_commands([])
    return home


def test_reveal_records_basis_not_account(tmp_path: Path, home: Path) -> None:
    runner = CliRunner()
    with DemoNetwork(tmp_path / "net") as net:
        key = Pseudonymizer.from_file(net.workdir / "pseudonym.key")
        pseudonym = key.pseudonym("demo-subscriber-001")
        refused = runner.invoke(app, ["reveal", pseudonym, "--basis", "  ",
                                      "--scope", str(net.scope_path)])
        assert refused.exit_code != 0
        unknown = runner.invoke(app, ["reveal", key.pseudonym("nobody"), "--basis",
                                      "court order 1/2026", "--scope", str(net.scope_path)])
        assert unknown.exit_code != 0
        result = runner.invoke(app, ["reveal", pseudonym, "--basis", "court order 1/2026",
                                     "--scope", str(net.scope_path), "--by", "investigator",
                                     "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["account"] == "demo-subscriber-001"
    store = open_store()
    ledger = Ledger.open(store)
    entry = json.loads(ledger.entry(answer["ledger_index"]))
    assert entry["record_type"] == "subscriber_reveal"
    assert entry["basis"] == "court order 1/2026" and entry["by"] == "investigator"
    assert entry["pseudonym"] == pseudonym
    assert "demo-subscriber-001" not in json.dumps(entry)
    assert ledger.verify().ok
    store.close()
