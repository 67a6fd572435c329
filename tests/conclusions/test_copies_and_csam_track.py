"""Issue 12 end to end: one finding per copy, and CSAM on its own legal track with its routes.

A real FTP server (pyftpdlib) on the operator's store and on a subscriber host serves a
synthetic image whose MD5 is in one CSAM hash list, its SHA-1 in another and its PDQ in a
third, and a synthetic "film" whose MD5 and SHA-256 are in a film list. The audit must make one
finding per copy (with every match listed and every match still a ledger leaf), count copies in
summary.json, judge the CSAM copies by CSAM law only, and each jurisdiction's CSAM route must
reach a real SMTP server and give the knowledge its rules read.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from netwarden.banks import BankStore
from netwarden.digest.pdq import pdq_from_bytes
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.ledger.select import finding_indices, run_dir_indices
from netwarden.liability.assess import assess_run
from netwarden.notices.formats import route_for
from netwarden.notices.formats.base import Party
from netwarden.notices.outgoing import send_notices
from netwarden.notices.send import SmtpSettings
from netwarden.notices.tracking import notice_facts
from netwarden.pipeline import run_audit
from netwarden.report.html import render_report
from netwarden.scope import parse_scope
from netwarden.store import open_store
from netwarden.testbed.servers import serve_ftp
from notices.smtp_servers import Recorder, smtp_server
from perceptual.synthetic import photo

pytestmark = pytest.mark.slow

STORE, SUB = "127.77.12.10", "127.77.12.21"  # the operator's FTP store; a subscriber's
COPYRIGHT_LAW = re.compile(r"1253\.1|ГК РФ|17 U\.S\.C|§\s*512|Ziggo|Fung|copyright",
                           re.IGNORECASE)
NOTIFIER = Party(entity="Hotline Example", contact="Analyst desk", address="1 Test St",
                 phone="+1 555 0100", email="hotline@example.test")
PROVIDER = Party(entity="Example Telecom", email="abuse@example.test")


def _image() -> bytes:
    out = io.BytesIO()
    photo(4242).save(out, format="PNG")
    return out.getvalue()


def test_one_finding_per_copy_and_csam_routes(tmp_path: Path, home: Path) -> None:
    image, film = _image(), hashlib.sha256(b"seed").digest() * 4000  # synthetic bytes only
    pdq = pdq_from_bytes(image)
    assert pdq.quality >= 50
    (tmp_path / "md5.txt").write_text(hashlib.md5(image).hexdigest() + "\n")
    (tmp_path / "sha1.txt").write_text(hashlib.sha1(image).hexdigest() + "\n")
    (tmp_path / "pdq.txt").write_text(f"pdq {pdq.hex} drawing-4242\n")
    (tmp_path / "films.txt").write_text(f"{hashlib.md5(film).hexdigest()}\n"
                                        f"{hashlib.sha256(film).hexdigest()}\n")
    for host in (STORE, SUB):
        root = tmp_path / host
        (root / "pics").mkdir(parents=True)
        (root / "pics" / "IMG_7.png").write_bytes(image)
        (root / "film.mkv").write_bytes(film)
    store = open_store()
    init_key()
    ledger = Ledger.open(store)
    banks = BankStore(store)
    banks.import_file("csam-md5", "csam", "plain", tmp_path / "md5.txt")
    banks.import_file("hotline-sha1", "csam", "plain", tmp_path / "sha1.txt")
    banks.import_file("csam-pdq", "csam", "hma", tmp_path / "pdq.txt")
    banks.import_file("films", "film", "plain", tmp_path / "films.txt")
    now = datetime.now(UTC)
    servers = [serve_ftp(tmp_path / h, h) for h in (STORE, SUB)]
    try:
        scope = parse_scope({
            "check": {"id": "I-12", "authorization": "test", "jurisdiction": "ru",
                      "not_before": now - timedelta(hours=1),
                      "not_after": now + timedelta(hours=1)},
            "operator": {"name": "Example Telecom", "prefixes": ["127.77.12.0/24"],
                         "infrastructure": [STORE]},
            "services": [{"url": s.url} for s in servers]}, "scope")
        out = tmp_path / "run"
        result = run_audit(scope, out, banks, ledger=ledger, store=store,
                           banks=["csam-md5", "hotline-sha1", "csam-pdq", "films"])
    finally:
        for s in servers:
            s.stop()

    # -- one finding per copy ------------------------------------------------------------------
    lines = [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines()]
    assert len(lines) == 4, [(x["location"], x["bank"]) for x in lines]  # 2 copies × 2 hosts
    assert all(x["schema_version"] == 2 and x["id"] == x["observation_id"] for x in lines), [
        (x["schema_version"], x["id"], x["observation_id"]) for x in lines]
    pics = [x for x in lines if x["name"] == "IMG_7.png"]
    assert len(pics) == 2
    for x in pics:
        assert x["track"] == "csam" and x["evidence_level"] == "served"
        assert [(m["bank"], m["method"], m["algorithm"]) for m in x["matches"]] == [
            ("hotline-sha1", "exact", "sha1"), ("csam-md5", "exact", "md5"),
            ("csam-pdq", "perceptual", "pdq")]
        assert (x["bank"], x["match_method"]) == ("hotline-sha1", "exact")  # the primary
        assert len({m["ledger"]["index"] for m in x["matches"]}) == 3  # each match provable
        assert x["matches"][0]["ledger"] == x["ledger"]["match"]
        for m in x["matches"]:  # the leaf is the match record it names
            entry = json.loads(ledger.entry(m["ledger"]["index"]))
            assert entry["record_type"] == "match" and entry["id"] == m["match_id"]
        # a bundle of the copy (by its finding id, or of the whole run) proves every match
        for chosen in (finding_indices(ledger, x["id"]), run_dir_indices(ledger, out)):
            assert {m["ledger"]["index"] for m in x["matches"]} <= chosen
    films = [x for x in lines if x["name"] == "film.mkv"]
    assert [len(x["matches"]) for x in films] == [2, 2] and {x["track"] for x in films} == {
        "copyright"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["findings"] == 4 and summary["distribution"] == 4
    assert summary["matches"] == 10
    assert summary["by_track"]["csam"]["served"] == 2
    assert summary["by_category"]["csam"]["served"] == 2
    html = (out / "report.html").read_text(encoding="utf-8")
    # the report headlines CSAM first, on its own track, one row per copy
    assert 'id="csam-track"' in html
    assert html.index("CSAM — its own legal track: 2 verified copies") < html.index(
        "Verified distribution, copyright track (2)")
    assert html.count('IMG_7.png"') == 2  # one row (one title attribute) per copy
    # every copy's evidence names all of its matches; the Russian record says the same (issue 16)
    for x in lines:
        assert f"{x['matches'][-1]['bank']}/{x['matches'][-1]['reference']}" in html
    ru = render_report(result, lang="ru")
    (tmp_path / "report.ru.html").write_text(ru, encoding="utf-8")
    assert 'id="csam-track"' in ru and ru.index(
        "Материалы сексуального насилия над детьми (CSAM) — отдельное правовое направление: "
        "2 подтверждённые копии") < ru.index(
        "Подтверждённое распространение, направление авторского права (2)")
    assert "Все совпадения этой копии (3)" in ru and "Все совпадения этой копии (2)" in ru
    assert "ст. 242.1 УК РФ" in ru and "its own legal track" not in ru
    assert ru.count('IMG_7.png"') == 2
    # the assessment section judges the CSAM copies on their own track in Russian too
    assert "Направление CSAM: находок — 2, из них подтверждённых — 2" in ru
    assert "Направление авторского права" in ru

    # -- the CSAM track: never copyright law -------------------------------------------------
    report = assess_run(out, [], ledger=ledger)
    items = {i["id"]: i for i in report.findings}
    for x in pics:
        a = items[x["id"]]
        assert a["track"] == "csam"
        for j, r in a["results"].items():
            assert r["track"] == "csam"
            assert not any(COPYRIGHT_LAW.search(f["citation"]) for f in r["rules_fired"]), j
        ru = a["results"]["ru"]
        assert ru["outcome"] == "no_civil_rule" and "blocking_duty" in ru["exposures"]
    store_pic = items[next(x["id"] for x in pics if x["host"] == STORE)]
    assert store_pic["role"] == "hosting"
    assert "removal_duty" in store_pic["results"]["ru"]["exposures"]
    assert any("242.1" in f["citation"] for f in store_pic["results"]["ru"]["rules_fired"])
    assert store_pic["evidence_needed"] and "employee" in store_pic["evidence_needed"][0]
    op = report.operators[0]
    assert op["csam_findings"] == 2 and set(op["csam"]) == {"ru", "eu", "us"}
    assert op["text"].index("CSAM TRACK") < op["text"].index("COPYRIGHT TRACK")

    # -- the routes: copyright formats refuse CSAM, each CSAM route is delivered -------------
    with smtp_server(handler := Recorder()) as port:
        smtp = SmtpSettings(host="127.88.0.25", port=port, starttls=False, timeout=5,
                            total_timeout=20)
        ids = [x["id"] for x in pics]
        for fmt in ("ru_hosting", "acns"):
            with pytest.raises(Exception, match="no finding to notify"):
                send_notices(store, out, fmt=fmt, notifier=NOTIFIER, recipient=PROVIDER,
                             smtp=smtp, ledger=ledger, finding_ids=ids)
        sent = {}
        for j in ("ru", "eu", "us"):
            fmt = route_for(j, "csam")
            (notice,) = send_notices(store, out, fmt=fmt, notifier=NOTIFIER,
                                     recipient=PROVIDER, smtp=smtp, ledger=ledger,
                                     finding_ids=ids)
            assert notice.state == "sent" and notice.complete, notice.missing
            assert set(notice.finding_ids) == set(ids)
            sent[fmt] = notice
    assert set(sent) == {"ru_csam", "dsa", "us_cybertipline"}
    texts = [email.message_from_bytes(m, policy=email.policy.default) for m in handler.messages]
    bodies = {m["Subject"]: m for m in texts}
    ru_mail = next(m for s, m in bodies.items() if "15.1" in s)
    assert "15.1" in ru_mail.get_body(("plain",)).get_content()
    assert "1253.1" not in ru_mail.get_body(("plain",)).get_content()
    us_mail = next(m for s, m in bodies.items() if "CyberTipline" in s)
    draft = json.loads(next(p for p in us_mail.iter_attachments()
                            if p.get_filename() == "cybertipline-draft.json").get_content())
    assert {i["involved_individual"]["ip_address"] for i in draft["incidents"]} == {STORE, SUB}
    assert all(i["historical_reference"]["time_zone"] == "UTC" and
               i["depictions"]["included"] is False for i in draft["incidents"])
    for m in texts:  # hashes only: never a byte of the material
        raw = m.as_bytes()
        assert image[:64] not in raw and image[-64:] not in raw

    # -- the routes' knowledge feeds the CSAM rules ------------------------------------------
    after = {i["id"]: i for i in assess_run(out, notice_facts(store), ledger=ledger).findings}
    for x in pics:
        us = after[x["id"]]["results"]["us"]
        assert {"report_duty", "preservation_duty"} <= set(us["exposures"])
        assert after[x["id"]]["knowledge"]["us"]["actual_knowledge"]["value"] is True
    eu_store = after[store_pic["id"]]["results"]["eu"]
    assert "removal_duty" in eu_store["exposures"]
    assert after[store_pic["id"]]["knowledge"]["ru"]["actual_knowledge"]["value"] is True
    # the films were never noticed by a CSAM route: no knowledge on their track
    for x in films:
        assert after[x["id"]]["knowledge"]["us"]["actual_knowledge"]["value"] is False
    assert ledger.verify().ok
    store.close()
