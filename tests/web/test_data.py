"""The web app reads findings from the ``findings`` table (paged and filtered in SQL), on both
back ends; a run without rows in the table (made before it existed) still shows from its
``findings.jsonl``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, update

from netwarden.store.models_findings import FindingRow
from netwarden.store.models_runs import RunRow
from netwarden.web.data import FindingsSource

from .conftest import BOTH_BACKENDS, Site, login

pytestmark = BOTH_BACKENDS


def test_findings_come_from_the_table_paged_and_filtered(site: Site, tmp_path: Path) -> None:
    seed = site.seed
    # the run directory is gone: everything must still come from the table
    with site.store.session() as s:
        s.execute(update(RunRow).values(out_dir=str(tmp_path / "moved-away")))
    source = FindingsSource(site.store)
    n = len(seed.findings)
    total, page = source.findings(limit=1000)
    assert total == n and {f["id"] for f in page} == {f["id"] for f in seed.findings}
    stamps = [datetime.fromisoformat(f["observed_at"]) for f in page]
    assert stamps == sorted(stamps, reverse=True)  # newest observation first
    # pages partition the result in SQL order
    seen: list[str] = []
    for offset in range(0, n, 3):
        t, chunk = source.findings(limit=3, offset=offset)
        assert t == n and 0 < len(chunk) <= 3
        seen.extend(f["id"] for f in chunk)
    assert seen == [f["id"] for f in page]
    assert source.findings(limit=3, offset=n)[1] == []
    for level in ("listed", "contacted", "served"):
        want = {f["id"] for f in seed.findings if f["evidence_level"] == level}
        t, items = source.findings(level=level, limit=1000)
        assert t == len(want) and {f["id"] for f in items} == want
        assert source.count(level=level) == len(want)
    f = seed.subscriber_finding()
    t, items = source.findings(operator=f["operator"], category=f["category"],
                               run_id=f["run_id"], limit=1000)
    assert f["id"] in {x["id"] for x in items}
    assert t == sum(1 for x in seed.findings if x["category"] == f["category"])
    assert source.findings(operator="nobody")[0] == 0
    assert source.finding(f["id"]) == f
    assert source.finding("no-such-id") is None
    ops = source.operators()
    assert [o.name for o in ops] == [f["operator"]]
    assert ops[0].findings == n and ops[0].runs == 1
    assert ops[0].infrastructure == sum(1 for x in seed.findings
                                        if x["operator_infrastructure"])
    assert ops[0].infrastructure > 0
    assert source.counts("protocol") == {p: sum(1 for x in seed.findings if x["protocol"] == p)
                                         for p in {x["protocol"] for x in seed.findings}}
    assert source.unreviewed(limit=5)[0] == n
    client = site.client()
    login(client, "alice")
    body = client.get("/api/v1/findings", params={"limit": 2, "offset": 1}).json()
    assert body["total"] == n and [i["id"] for i in body["items"]] == seen[1:3]
    assert client.get(f"/findings/{f['id']}").status_code == 200


def test_a_run_without_table_rows_is_read_from_its_directory(site: Site) -> None:
    f = site.seed.findings[0]
    with site.store.session() as s:
        s.execute(delete(FindingRow))
    source = FindingsSource(site.store)
    total, page = source.findings(limit=1000)
    assert total == len(site.seed.findings)
    assert {x["id"] for x in page} == {x["id"] for x in site.seed.findings}
    assert source.finding(f["id"]) == json.loads(json.dumps(f))
    assert source.unreviewed(limit=0)[0] == total
    assert source.bad_lines == 0
