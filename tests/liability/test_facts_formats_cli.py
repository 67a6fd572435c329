"""Role facts from observation details, the three notice formats' required elements, and the
CLI commands (assess, notice send --draft/list/show) on a small synthetic run directory."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from defusedxml import ElementTree as SafeET
from typer.testing import CliRunner

from netwarden.liability.facts import evidence_facts
from netwarden.notices.formats import get_format
from netwarden.notices.formats.base import NoticeInput, Party
from netwarden.records import EvidenceLevel, Finding

NS = "{http://www.acns.net/ACNS}"


def _finding(i: int, host: str, infra: bool, category: str = "film") -> Finding:
    return Finding(
        id=f"f{i}", run_id="r1", check_id="C1", operator="Example Telecom", category=category,
        bank="films", reference=f"FILM-{i}", title="Брат 2", match_method="exact",
        match_algorithm="sha256", match_distance=0, location=f"ftp://{host}:21/x{i}.mkv",
        endpoint=f"ftp://{host}:21", host=host, port=21, protocol="ftp", name=f"x{i}.mkv",
        size=10, digests={"sha256": f"{i:02d}" * 32}, observed_at=datetime.now(UTC),
        evidence_level=EvidenceLevel.SERVED,
        verification={"result": "verified", "method": "full-content-digest", "checked": "x",
                      "verified_at": datetime.now(UTC).isoformat()},
        operator_infrastructure=infra, observation_id=f"o{i}", match_id=f"f{i}",
        verification_id=f"v{i}")


def test_roles_from_hub_and_tracker_details() -> None:
    sub = _finding(1, "127.77.1.1", False).model_dump(mode="json")
    hub = "adc://127.77.0.20:411"
    staff = evidence_facts(sub, {"hub": hub, "operator": True, "nick": "admin"},
                           ["127.77.0.20"])
    assert staff["role"].value == "active_participant" and "staff" in staff["role"].basis
    user = evidence_facts(sub, {"hub": hub, "operator": False}, ["127.77.0.20"],
                          {hub: {"bank_links_in_topic_or_messages": ["TTH1"]}})
    assert user["role"].value == "operator_sharing_service"
    assert user["operator_promotes_infringing_use"].value is True
    foreign = evidence_facts(sub, {"hub": "adc://127.77.5.5:411", "operator": True}, [])
    assert foreign["role"].value == "mere_conduit"
    # an operator host seeding verified pieces: the item is on operator infrastructure, but
    # participation needs the seed's question answered (was an employee involved?)
    seeder = evidence_facts(_finding(2, "127.77.0.10", True).model_dump(mode="json"),
                            {"found_in": "tracker", "operator_tracker": True})
    assert seeder["role"].value == "hosting"
    assert seeder["staff_uploaded_or_curated"].value is None
    tracked = evidence_facts(sub, {"found_in": "t", "operator_tracker": True})
    assert tracked["role"].value == "operator_sharing_service"
    # the same details on a lead establish no role at all
    lead = {**sub, "evidence_level": "listed"}
    for details in ({"hub": hub, "operator": True, "nick": "admin"},
                    {"found_in": "t", "operator_tracker": True}, {"tracker": "http://t/a"}):
        assert evidence_facts(lead, details, ["127.77.0.20"])["role"].value is None
    infra_lead = {**_finding(3, "127.77.0.10", True).model_dump(mode="json"),
                  "evidence_level": "listed"}
    facts = evidence_facts(infra_lead, {"tracker": "http://127.77.0.10/announce",
                                        "operator_tracker": True}, ["127.77.0.10"])
    assert facts["role"].value is None and facts["evidence_level"].value == "listed"


def _input(findings: list[Finding], notifier: Party) -> NoticeInput:
    return NoticeInput("n1", datetime.now(UTC), [f.model_dump(mode="json") for f in findings],
                       notifier, Party(entity="Example Telecom", email="abuse@example.test"))


FULL = Party(entity="Rights Ltd", email="r@example.test", signature="/s/ R",
             address="Moscow", on_behalf_of="Kinokompaniya STV")


def test_acns_xml_has_the_schema_elements() -> None:
    rendered = get_format("acns").render(_input([_finding(1, "127.77.1.1", False),
                                                 _finding(2, "127.77.1.2", False)], FULL))
    assert rendered.complete and len(rendered.attachments) == 2
    root = SafeET.fromstring(rendered.attachments[0][2])
    assert root.tag == f"{NS}Infringement"
    assert [c.tag.removeprefix(NS) for c in root] == [
        "Case", "Complainant", "Service_Provider", "Source", "Content", "Notes"]
    assert root.find(f"{NS}Source/{NS}IP_Address").text == "127.77.1.1"
    assert root.find(f"{NS}Source/{NS}TimeStamp").text.endswith("Z")
    assert root.find(f"{NS}Content/{NS}Item/{NS}Hash").get("Type") == "SHA256"
    unsigned = get_format("acns").render(_input([_finding(1, "127.77.1.1", False)],
                                                Party(entity="X", email="x@example.test")))
    assert not unsigned.complete and "signature" in unsigned.missing[0]


def test_dsa_elements_and_anonymous_csam_notice() -> None:
    text = get_format("dsa").render(_input([_finding(1, "127.77.1.1", False)], FULL)).text
    for element in ("(a) Why", "(b) Exact electronic location", "(c) Notifier", "(d)"):
        assert element in text
    anonymous = get_format("dsa").render(_input([_finding(1, "127.77.1.1", False, "csam")],
                                                Party()))
    assert anonymous.complete  # art. 16(2)(c): CSAM notices may be anonymous
    named_missing = get_format("dsa").render(_input([_finding(1, "127.77.1.1", False)],
                                                    Party()))
    assert not named_missing.complete


def test_ru_notice_names_rightholder_and_address_and_refuses_csam() -> None:
    from netwarden.errors import InputError

    r = get_format("ru_hosting").render(_input([_finding(1, "127.77.0.10", True)], FULL))
    assert "Kinokompaniya STV" in r.text and "127.77.0.10" in r.text and r.complete
    with pytest.raises(InputError, match="copyright only"):
        get_format("ru_hosting").render(_input([_finding(1, "127.77.0.10", True, "csam")],
                                               FULL))


def test_cli_assess_and_draft_notices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netwarden.cli import app
    from netwarden.ledger.keys import init_key

    monkeypatch.setenv("NETWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NETWARDEN_DB", raising=False)
    init_key()
    import netwarden.cli.notice  # noqa: F401  (registers the commands)

    run = tmp_path / "run"
    run.mkdir()
    findings = [_finding(1, "127.77.0.10", True), _finding(2, "127.77.1.1", False)]
    (run / "findings.jsonl").write_text("".join(f.model_dump_json() + "\n" for f in findings))
    (run / "summary.json").write_text(json.dumps({"run_id": "r1", "jurisdiction": "ru"}))
    facts = tmp_path / "facts.toml"
    facts.write_text('[operator]\nrepeat_infringer_policy = "adopted_and_reasonably_'
                     'implemented"\nbasis = "policy published at example.test/abuse"\n')
    runner = CliRunner()
    out = runner.invoke(app, ["assess", str(run), "--facts", str(facts), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    outcomes = {f["id"]: f["outcomes"] for f in doc["findings"]}
    assert outcomes["f2"]["us"][0] == "exempt"  # conduit + declared policy
    lines = [json.loads(x) for x in (run / "findings.jsonl").read_text().splitlines()]
    assert lines[0]["assessment"]["role"] == "hosting"
    assert lines[1]["assessment"]["facts"]["repeat_infringer_policy"]["basis"].startswith(
        "declared")
    config = tmp_path / "notice.toml"
    config.write_text('[notifier]\nentity = "Rights Ltd"\nemail = "r@example.test"\n'
                      'signature = "/s/ R"\n[recipient]\nentity = "Example Telecom"\n'
                      'email = "abuse@example.test"\n')
    sent = runner.invoke(app, ["notice", "send", str(run), "--format", "dsa", "--config",
                               str(config), "--draft", "--json"])
    assert sent.exit_code == 0, sent.output
    notice_id = json.loads(sent.output)[0]["id"]
    # the text form prints one line per notice from the same SentNotice
    again = runner.invoke(app, ["notice", "send", str(run), "--format", "dsa", "--config",
                                str(config), "--draft"])
    assert again.exit_code == 0, again.output
    assert re.fullmatch(r"[0-9a-f]{32} dsa 2 finding\(s\): draft\n", again.output), again.output
    listed = runner.invoke(app, ["notice", "list", "--json"])
    assert json.loads(listed.output)[0]["state"] == "draft"
    shown = runner.invoke(app, ["notice", "show", notice_id, "--message"])
    assert "Article 16" in shown.output
    bad = runner.invoke(app, ["assess", str(tmp_path / "nope")])
    assert bad.exit_code != 0
