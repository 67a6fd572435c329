"""The scope's TLP marking (``[check] tlp``): validated at load, recorded in ``summary.json``
and used by the exports when the analyst gives no ``--tlp`` (issue 17: "marking definitions
(TLP) from the scope")."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwarden.errors import ScopeError
from netwarden.export import export_bytes
from netwarden.export.model import ExportSource
from netwarden.export.options import ExportOptions
from netwarden.scope import load_scope
from test_strict_input import BASE, write


def _with_tlp(value: str) -> str:
    return BASE.replace('jurisdiction = "ru"', f'jurisdiction = "ru"\ntlp = "{value}"', 1)


def test_scope_tlp_is_validated(tmp_path: Path) -> None:
    assert 'jurisdiction = "ru"' in BASE
    assert load_scope(write(tmp_path, BASE)).tlp is None
    assert load_scope(write(tmp_path, _with_tlp("GREEN"))).tlp == "green"
    with pytest.raises(ScopeError) as info:
        load_scope(write(tmp_path, _with_tlp("purple")))
    assert "check.tlp" in str(info.value) and "purple" in str(info.value)


def _source(tlp: str | None, track: str) -> ExportSource:
    finding = {"id": "f1", "track": track, "category": track, "bank": "b", "reference": "r",
               "match_method": "exact", "match_algorithm": "sha256", "match_distance": 0,
               "digests": {"sha256": "00" * 32}, "evidence_level": "served",
               "location": "ftp://127.77.0.10/x", "host": "127.77.0.10", "port": 21,
               "protocol": "ftp", "observed_at": "2026-12-06T00:00:00+00:00"}
    return ExportSource([finding], "run r1", ["r1"], {"run_id": "r1", "tlp": tlp})


@pytest.mark.parametrize(("scope_tlp", "track", "given", "used"), [
    ("green", "copyright", None, "green"),  # the scope's marking
    ("green", "csam", None, "green"),  # the authorizing body decided, even for CSAM
    (None, "csam", None, "red"),  # no marking: red for CSAM
    (None, "copyright", None, "amber"),  # else amber
    ("green", "copyright", "red", "red"),  # the analyst's --tlp wins
])
def test_exports_take_the_scope_tlp_unless_told(scope_tlp: str | None, track: str,
                                                given: str | None, used: str) -> None:
    _, options = export_bytes(_source(scope_tlp, track), "csv", ExportOptions(tlp=given))
    assert options.tlp == used
