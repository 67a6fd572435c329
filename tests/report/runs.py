"""A synthetic run (no network, no content): the records a report renders, with Cyrillic names
in UTF-8 and in cp1251 percent-escapes, long unbreakable names and full digests — what makes a
report hard to lay out on A4."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from netwarden.liability.assess import AssessmentReport
from netwarden.pipeline import RunResult, summarize
from netwarden.records import Endpoint, EvidenceLevel, Finding, Observation, Outcome, Refusal
from netwarden.scope import parse_scope

OBSERVED = datetime(2026, 12, 6, 12, 1, 38, 626357, tzinfo=UTC)
NAME_UTF8 = "Иван Васильевич меняет профессию.mkv"
NAME_CP1251 = "Брат 2 (2000).avi"
LONG_NAME = "x" * 40 + "_очень_длинное_имя_файла_без_пробелов_" + "9" * 60 + ".mkv"


def _digests(seed: str) -> dict[str, str]:
    data = seed.encode()
    return {"md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "tth": "TR3X77GJZQSRNCDJUU4BLJRF4QHQD35T4DR3WNA"}


def _finding(i: int, host: str, location: str, name: str, level: EvidenceLevel,
             attribution: dict[str, Any] | str, infrastructure: bool) -> Finding:
    leaves = {k: {"index": 10 * i + n, "leaf_hash": hashlib.sha256(f"{i}{k}".encode())
                  .hexdigest()} for n, k in enumerate(("observation", "match",
                                                       "verification", "attribution"))}
    return Finding(
        id=f"f{i:031d}", run_id="9a95556f27fa4bd79cecfc2fa0e5e464", check_id="2026-77-0042",
        operator="ООО «Пример Телеком»", category="film", bank="films",
        reference=f"FILM-{i:04d}", title="Иван Васильевич меняет профессию",
        match_method="exact", match_algorithm="sha256", match_distance=0,
        location=location, endpoint=f"http://{host}:8080", host=host, port=8080,
        protocol="http", name=name, size=250_000 + i, digests=_digests(f"item-{i}"),
        observed_at=OBSERVED + timedelta(minutes=i), evidence_level=level,
        verification={"result": "verified", "method": "full-content-digest",
                      "checked": "sha256 of all bytes received equals the reference",
                      "verified_at": (OBSERVED + timedelta(minutes=i, seconds=1)).isoformat()},
        attribution=attribution,
        assessment={"role": "mere_conduit", "primary": "ru",
                    "outcomes": {"ru": ["exempt", "injunction_exposure"],
                                 "us": ["not_exempt", "injunction_exposure"]}},
        operator_infrastructure=infrastructure, observation_id=f"o{i}", match_id=f"m{i}",
        verification_id=f"v{i}", ledger=leaves)


def synthetic_run(out: Path) -> RunResult:
    """A run of jurisdiction ``ru`` with served findings, leads, a problem and a refusal."""
    scope = parse_scope({
        "check": {"id": "2026-77-0042", "authorization": "Распоряжение № 17/2026 отдела «К»",
                  "not_before": datetime(2026, 11, 1, tzinfo=UTC),
                  "not_after": datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
                  "jurisdiction": "ru"},
        "operator": {"name": "ООО «Пример Телеком»", "asn": [64512],
                     "prefixes": ["127.77.0.0/16"], "infrastructure": ["127.77.0.10"]},
        "services": [{"url": "http://127.77.0.10:8080/"}, {"url": "http://127.77.1.1:8080/"}],
        "banks": {"use": ["films"]}})
    subscriber = {"status": "subscriber", "reason_code": "attributed", "reason": "one session",
                  "pseudonym": "ps1_dfa632035a1a16e4012c421ba4f630ef"}
    findings = [
        _finding(1, "127.77.1.1", "http://127.77.1.1:8080/share/" + quote(NAME_UTF8),
                 NAME_UTF8, EvidenceLevel.SERVED, subscriber, False),
        _finding(2, "127.77.0.10", "http://127.77.0.10:8080/films/"
                 + quote(NAME_CP1251.encode("cp1251")), NAME_CP1251, EvidenceLevel.SERVED,
                 {"status": "operator_host", "reason_code": "operator_host", "reason": "own"},
                 True),
        _finding(3, "127.77.1.1", "http://127.77.1.1:8080/share/" + quote(LONG_NAME),
                 LONG_NAME, EvidenceLevel.SERVED, subscriber, False),
        _finding(4, "127.77.1.3", "http://127.77.1.3:8080/" + quote("архив/кино.mkv"),
                 "кино.mkv", EvidenceLevel.CONTACTED,
                 {"status": "none", "reason_code": "no_session", "reason": "no session"},
                 False),
    ]
    problem = Observation(run_id="r", endpoint=Endpoint(protocol="http", host="127.77.1.1",
                                                        port=8080),
                          location="http://127.77.1.1:8080/" + quote("сломанный.mkv"),
                          method="http", outcome=Outcome.ERROR, reason="connection reset")
    refusal = Refusal(run_id="r", target="http://10.1.2.3/" + quote("чужой/" + "y" * 120),
                      found_in="http://127.77.1.1:8080/share/", reason="outside the prefixes")
    operators = [{"operator": "ООО «Пример Телеком»", "findings": 4, "served": 3,
                  "roles": {"mere_conduit": 3, "hosting": 1}, "jurisdictions": {
                      "ru": {"outcome": "exempt", "exposures": ["injunction_exposure"],
                             "provisional": True, "findings_by_outcome": {"exempt": 4},
                             "rules_fired": ["ru.gk1253_1.p2.exempt — ГК РФ ст. 1253.1 п. 2"],
                             "criminal_evidence_needed": [],
                             "would_change": ["repeat_infringer_policy = \"adopted_and_"
                                              "reasonably_implemented_everywhere\" → exempt"]},
                      "us": {"outcome": "not_exempt", "exposures": ["injunction_exposure"],
                             "provisional": False, "findings_by_outcome": {"not_exempt": 4},
                             "rules_fired": ["us.512.injunctions — 17 U.S.C. §512(a)–(d)"],
                             "criminal_evidence_needed": [], "would_change": []}}}]
    result = RunResult(
        run_id="9a95556f27fa4bd79cecfc2fa0e5e464", out_dir=out, scope=scope,
        started_at=OBSERVED - timedelta(minutes=1), finished_at=OBSERVED + timedelta(minutes=9),
        findings=findings, observations=12, outcomes={"ok": 11, "error": 1},
        refusals=[refusal], problems=[problem],
        checkpoint="netwarden-ledger-500363a8\n104\nmC14sOJAdSaOz1aIJwU99q+dWTRT9S4jj3mOPs8tEiE=\n",
        assessment=AssessmentReport("r", out, ["ru", "us"], "ru", [], operators,
                                    {"ООО «Пример Телеком»": "plain English text"}))
    result.summary = summarize(result)
    return result
