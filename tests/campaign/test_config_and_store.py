"""campaign.toml validation, the findings table, and the migrations on both back ends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from netwarden.campaign import load_campaign
from netwarden.errors import InputError
from netwarden.records import EvidenceLevel, Finding
from netwarden.store import open_store
from netwarden.store.models_findings import FindingRow, findings_of_runs, record_findings

SCOPE = """[check]
id = "C-{n}"
authorization = "Order 1/2026"
not_before = 2020-01-01T00:00:00Z
not_after = 2099-01-01T00:00:00Z
jurisdiction = "ru"
[operator]
name = "Operator {n}"
asn = [64512]
prefixes = ["127.9{n}.0.0/16"]
[[services]]
url = "ftp://127.9{n}.0.10/"
"""


def _scopes(tmp_path: Path, count: int = 2) -> list[Path]:
    paths = []
    for n in range(count):
        path = tmp_path / "scopes" / f"op{n}.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(SCOPE.format(n=n), encoding="utf-8")
        paths.append(path)
    return paths


def _campaign(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_campaign_file_with_globs_and_operators(tmp_path: Path) -> None:
    _scopes(tmp_path, 3)
    c = load_campaign(_campaign(tmp_path, '[campaign]\nname = "n1"\nworkers = 3\n'
                                'deadline = 2030-01-01T00:00:00Z\nscopes = ["scopes/op[01].toml"]'
                                '\n[[operators]]\nscope = "scopes/op2.toml"\n'))
    assert [o.operator for o in c.operators] == ["Operator 0", "Operator 1", "Operator 2"]
    assert c.workers == 3 and c.deadline is not None and c.deadline.tzinfo is not None
    assert c.out_dir == tmp_path / "n1-runs"
    assert len({o.scope_sha256 for o in c.operators}) == 3


@pytest.mark.parametrize(("text", "where", "problem"), [
    ('[campaign]\nworkers = 2\nscopes = ["scopes/*.toml"]\n', "campaign.name", "missing"),
    ('[campaign]\nname = "x"\nworkers = "two"\nscopes = ["scopes/*.toml"]\n',
     "campaign.workers", "must be an integer"),
    ('[campaign]\nname = "x"\nworkers = 0\nscopes = ["scopes/*.toml"]\n',
     "campaign.workers", "between"),
    ('[campaign]\nname = "x"\nscopes = ["nothing/*.toml"]\n', "campaign.scopes[0]",
     "no scope file matches"),
    ('[campaign]\nname = "x"\nwokers = 2\nscopes = ["scopes/*.toml"]\n', "campaign.wokers",
     "unknown key"),
    ('[campaign]\nname = "x"\n', "campaign", "no operator scope"),
    ('[campaign]\nname = "x"\ndeadline = 2030-01-01T00:00:00\nscopes = ["scopes/*.toml"]\n',
     "campaign.deadline", "time zone"),
    ('[campaign]\nname = "x"\n[[operators]]\nscope = "scopes/missing.toml"\n',
     "operators/scopes", "does not exist"),
    ('[campaign]\nname = "a/b"\nscopes = ["scopes/*.toml"]\n', "campaign.name", "slashes"),
    ('[campaign\nname = "x"\n', None, "not a valid TOML"),
])
def test_bad_campaign_files_name_file_key_and_problem(tmp_path: Path, text: str,
                                                      where: str | None, problem: str) -> None:
    _scopes(tmp_path)
    path = _campaign(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_campaign(path)
    assert err.value.source == str(path)
    assert err.value.where == where
    assert problem in err.value.problem


def test_a_bad_scope_is_reported_before_anything_runs(tmp_path: Path) -> None:
    paths = _scopes(tmp_path)
    paths[1].write_text(SCOPE.format(n=1).replace('authorization = "Order 1/2026"\n', ""),
                        encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_campaign(_campaign(tmp_path, '[campaign]\nname = "x"\nscopes = ["scopes/*"]\n'))
    assert str(paths[1]) in str(err.value) and "authorization" in str(err.value)


def _finding(n: int, run_id: str = "r" * 32, level: str = "served") -> Finding:
    return Finding(
        id=f"{n:032x}", run_id=run_id, check_id="C", operator="Op", category="film",
        bank="films", reference=f"FILM-{n}", title=None, match_method="exact",
        match_algorithm="sha256", match_distance=0, location=f"ftp://127.9.0.1:21/{n}",
        endpoint="ftp://127.9.0.1:21", host="127.9.0.1", port=21, protocol="ftp",
        name=f"{n}.bin", size=n, digests={"sha256": f"{n:064x}"},
        observed_at="2026-11-01T10:00:00+00:00", evidence_level=EvidenceLevel(level),
        verification="pending", operator_infrastructure=False, observation_id="o",
        match_id="m", verification_id=None,
        ledger={"match": {"index": 10 + n, "leaf_hash": "00" * 32}})


def test_migrations_and_findings_table_on_both_back_ends(db_url: str) -> None:
    store = open_store(db_url)
    try:
        tables = set(inspect(store.engine).get_table_names())
        assert {"findings", "campaigns", "campaign_jobs", "campaign_attempts", "runs",
                "ledger_bundles", "ledger_tail", "ledger_index"} <= tables
        findings = [_finding(n) for n in range(5)]
        assert record_findings(store, findings) == 5
        assert record_findings(store, findings[:3]) == 0  # idempotent: no duplicate
        changed = findings[0].model_copy(update={"assessment": {"role": "conduit"}})
        assert record_findings(store, [changed]) == 0
        with store.session() as session:
            rows = session.scalars(select(FindingRow).order_by(FindingRow.id)).all()
            assert len(rows) == 5
            assert rows[0].finding()["assessment"] == {"role": "conduit"}
            assert rows[1].leaf_index == 11 and rows[1].observed_at.year == 2026
        got = findings_of_runs(store, ["r" * 32])
        assert [f["reference"] for f in got] == [f"FILM-{n}" for n in range(5)]
        assert json.loads(findings[2].model_dump_json()) == got[2]
    finally:
        store.close()
    # migrate down past 0006 and up again on the same database
    from alembic import command
    from alembic.config import Config

    from netwarden.store.base import MIGRATIONS_DIR

    store = open_store(db_url, migrate=False)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with store.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0006_campaigns")
            command.downgrade(config, "-1")
        assert "findings" not in set(inspect(store.engine).get_table_names())
    finally:
        store.close()
    store = open_store(db_url)
    assert "campaign_jobs" in set(inspect(store.engine).get_table_names())
    store.close()
