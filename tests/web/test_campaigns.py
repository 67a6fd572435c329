"""The campaign dashboard: campaigns, their operators and progress, from the campaign tables
that ``netwarden campaign run`` keeps (rows written here as the coordinator writes them), on
both back ends; page and API agree, markup in names is escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from netwarden.campaign.models import CampaignAttemptRow, CampaignJobRow, CampaignRow

from .conftest import BOTH_BACKENDS, Site, login

pytestmark = BOTH_BACKENDS

NAME = "nationwide-<b>2026</b>"


def _campaign(site: Site) -> None:
    f = site.seed.findings[0]
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    with site.store.session() as s:
        s.add(CampaignRow(name=NAME, source="/c/campaign.toml", source_sha256="a" * 64,
                          deadline=now + timedelta(days=10), created_at=now, updated_at=now,
                          status="running", out_dir="/c/runs", settings={"workers": 2}))
        s.flush()
        jobs = [
            CampaignJobRow(campaign=NAME, operator=f["operator"], scope_path="/c/a.toml",
                           scope_sha256="1" * 64, status="finished", attempts=1,
                           run_id=f["run_id"], services=4, services_done=4, observations=30,
                           findings=len(site.seed.findings), served=5, started_at=now,
                           finished_at=now + timedelta(minutes=3)),
            CampaignJobRow(campaign=NAME, operator="Second <i>ISP</i>", scope_path="/c/b.toml",
                           scope_sha256="2" * 64, status="running", attempts=2, services=5,
                           services_done=2, observations=7, findings=1, served=0,
                           started_at=now),
            CampaignJobRow(campaign=NAME, operator="Third ISP", scope_path="/c/c.toml",
                           scope_sha256="3" * 64, status="failed", attempts=3, services=2,
                           services_done=0, error="worker died (signal 9)")]
        s.add_all(jobs)
        s.flush()
        s.add_all([
            CampaignAttemptRow(job_id=jobs[1].id, attempt=1, status="interrupted",
                               executor="local", worker="host:1", out_dir="/c/runs/b",
                               started_at=now, finished_at=now, interrupted_leaf=7),
            CampaignAttemptRow(job_id=jobs[1].id, attempt=2, status="running",
                               executor="local", worker="host:2", out_dir="/c/runs/b",
                               started_at=now),
            CampaignAttemptRow(job_id=jobs[2].id, attempt=3, status="failed", executor="ray",
                               out_dir="/c/runs/c", started_at=now, finished_at=now,
                               error="worker died")])


def test_campaign_dashboard_shows_operators_and_progress(site: Site) -> None:
    client = site.client()
    login(client, "dave")
    empty = client.get("/campaigns")
    assert empty.status_code == 200 and "No campaigns yet" in empty.text
    assert client.get("/api/v1/campaigns").json() == []
    _campaign(site)

    listed = client.get("/api/v1/campaigns").json()
    assert len(listed) == 1
    c = listed[0]
    assert c["name"] == NAME and c["status"] == "running"
    assert c["jobs"] == 3 and c["jobs_finished"] == 1 and c["jobs_planned"] == 3
    assert c["jobs_by_status"] == {"finished": 1, "running": 1, "failed": 1}
    assert (c["services"], c["services_done"]) == (11, 6)
    assert c["findings"] == len(site.seed.findings) + 1 and c["served"] == 5
    assert c["interrupted_attempts"] == 2
    assert datetime.fromisoformat(c["deadline"]) == datetime(2026, 11, 30, 12, tzinfo=UTC)

    page = client.get("/campaigns")
    assert page.status_code == 200
    assert "1 of 3" in page.text and "<b>2026</b>" not in page.text
    assert "nationwide-&lt;b&gt;2026&lt;/b&gt;" in page.text

    detail = client.get(f"/campaigns/{quote(NAME, safe='')}")
    assert detail.status_code == 200
    text = detail.text
    assert "<i>ISP</i>" not in text and "Second &lt;i&gt;ISP&lt;/i&gt;" in text
    assert "worker died (signal 9)" in text and "2 / 5" in text
    assert f"/findings?run_id={site.seed.findings[0]['run_id']}" in text
    api = client.get(f"/api/v1/campaigns/{quote(NAME, safe='')}").json()
    assert [(j["operator"], j["status"]) for j in api["jobs"]] == [
        (site.seed.findings[0]["operator"], "finished"), ("Second <i>ISP</i>", "running"),
        ("Third ISP", "failed")]
    assert client.get("/campaigns/no-such").status_code == 404
    assert client.get("/api/v1/campaigns/no-such").status_code == 404
    anonymous = site.client()
    assert anonymous.get("/api/v1/campaigns").status_code == 401
    assert anonymous.get("/campaigns").status_code == 303
