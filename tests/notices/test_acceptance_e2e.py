"""The issue's acceptance test, end to end on the real testbed.

An operator whose own FTP store serves bank content is assessed differently from subscribers
sharing among themselves; a notice delivered to a real SMTP server on loopback, followed by a
re-check with the real FTP collector, changes the assessment depending on whether the content
was removed.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from netwarden.banks import BankStore
from netwarden.ledger import Ledger
from netwarden.ledger.keys import init_key
from netwarden.liability.assess import assess_run
from netwarden.notices.formats.base import Party
from netwarden.notices.outgoing import send_notices
from netwarden.notices.recheck import recheck
from netwarden.notices.send import SmtpSettings
from netwarden.notices.tracking import notice_facts
from netwarden.pipeline import run_audit
from netwarden.scope import load_scope
from netwarden.store import open_store
from netwarden.testbed import DemoNetwork

from .smtp_servers import Recorder, smtp_server

pytestmark = pytest.mark.slow

NOTIFIER = Party(entity="Kinokompaniya STV", contact="Rights desk", address="Moscow",
                 email="rights@example.test", signature="/s/ Rights Desk",
                 on_behalf_of="Kinokompaniya STV")
RECIPIENT = Party(entity="Example Telecom (demo)", email="abuse@example.test")


def _by_id(report_findings: list[dict]) -> dict[str, dict]:
    return {f["id"]: f for f in report_findings}


def test_store_vs_conduit_and_notice_recheck_changes_assessment(tmp_path: Path, home: Path
                                                                ) -> None:
    store = open_store()
    init_key()
    ledger = Ledger.open(store)
    banks = BankStore(store)
    out = tmp_path / "run"
    handler = Recorder()
    with DemoNetwork(tmp_path / "net") as net, smtp_server(handler) as port:
        for name, category, fmt, path in net.banks:
            banks.import_file(name, category, fmt, path)
        scope = load_scope(net.scope_path)
        result = run_audit(scope, out, banks, ledger=ledger, store=store,
                           banks=[b[0] for b in net.banks])
        served = [f for f in result.findings if f.evidence_level.value == "served"]
        store_films = [f for f in served if f.operator_infrastructure and f.category == "film"]
        conduit = [f for f in served if not f.operator_infrastructure]
        assert len(store_films) >= 2 and conduit

        # 1. Before any notice: the operator's store and the subscribers' shares differ.
        before = _by_id(assess_run(out, [], ledger=ledger).findings)
        for f in store_films:
            a = before[f.id]
            assert a["role"] == "hosting"
            ru = a["results"]["ru"]
            assert ru["outcome"] == "exempt" and ru["provisional"]
            # who put the files on the operator's own store decides: staff → liable
            assert any(c["fact"] == "staff_uploaded_or_curated" and c["if"] is True
                       and c["outcome"] == "liable" for c in ru["would_change"])
            assert "injunction_exposure" in ru["exposures"]
        for f in conduit:
            a = before[f.id]
            assert a["role"] == "mere_conduit"
            if f.track == "csam":  # its own legal track: no copyright safe harbour decides it
                ru = a["results"]["ru"]
                assert ru["outcome"] == "no_civil_rule" and ru["exposures"] == ["blocking_duty"]
                assert not any("1253.1" in r["citation"] or "512" in r["citation"]
                               for j in ("ru", "us") for r in a["results"][j]["rules_fired"])
                continue
            for j in ("ru", "eu"):
                assert a["results"][j]["outcome"] == "exempt"
                assert not a["results"][j]["provisional"]
            # US: §512(a) needs a repeat-infringer policy, which nobody declared
            us = a["results"]["us"]
            assert us["outcome"] == "not_exempt" and us["provisional"]
        lines = [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines()]
        assert all(isinstance(x["assessment"], dict) and x["assessment"]["leaf"]
                   for x in lines)
        summary = json.loads((out / "assessment.json").read_text())
        op = summary["operators"][0]
        assert op["roles"]["hosting"] == len([f for f in result.findings
                                              if f.operator_infrastructure])
        assert "EXEMPT" in op["text"] and "conduit" in op["text"]

        # 2. Notices to the operator, one per store film, delivered to a real SMTP server.
        sent = send_notices(store, out, fmt="ru_hosting", notifier=NOTIFIER,
                            recipient=RECIPIENT,
                            smtp=SmtpSettings(host="127.88.0.25", port=port, starttls=False,
                                              timeout=5, total_timeout=20),
                            ledger=ledger, finding_ids=[f.id for f in store_films],
                            group=False, deadline=timedelta(0))
        assert [s.state for s in sent] == ["sent"] * len(store_films), [s.delivery for s in sent]
        assert all(s.delivery and s.delivery.code == 250 and "NW0001" in s.delivery.message
                   for s in sent)
        assert len(handler.messages) == len(store_films)
        mail = email.message_from_bytes(handler.messages[0], policy=email.policy.default)
        assert "1253.1" in mail.get_body(("plain",)).get_content()

        # 3. The provider removes one film from its store and leaves the others.
        removed, kept = store_films[0], store_films[1:]
        plant = next(p for p in net.plants if p.location == removed.location)
        os.remove(os.fsencode(tmp_path / "net" / "served" / plant.host) + plant.raw_path)

        results = {r.finding_id: r for r in recheck(store, scope, out, ledger=ledger)}
        assert results[removed.id].result == "removed"
        for f in kept:
            assert results[f.id].result == "still_available", results[f.id].reason

    # 4. The re-check feeds the assessment: knowledge + response.
    after = _by_id(assess_run(out, notice_facts(store), ledger=ledger).findings)
    gone = after[removed.id]["results"]["ru"]
    assert gone["outcome"] == "exempt"
    assert any(r["id"] == "ru.gk1253_1.p3.removed" for r in gone["rules_fired"])
    assert after[removed.id]["knowledge"]["ru"]["response"]["value"] == "removed"
    for f in kept:
        still = after[f.id]["results"]["ru"]
        assert still["outcome"] == "not_exempt"
        assert any(r["id"] == "ru.gk1253_1.p3.not_removed" for r in still["rules_fired"])
        # the ru_hosting format gives no knowledge under the DSA: EU unchanged
        assert after[f.id]["results"]["eu"]["outcome"] == before[f.id]["results"]["eu"][
            "outcome"]
    # subscribers' shares were not noticed: still exempt
    for f in conduit:
        assert after[f.id]["results"]["ru"]["outcome"] == (
            "exempt" if f.track == "copyright" else "no_civil_rule")
    verdict = ledger.verify()
    assert verdict.ok, verdict.problems
    store.close()
