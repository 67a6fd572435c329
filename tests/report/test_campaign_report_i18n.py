"""The campaign/operator report in Russian (issue 16): headings, table heads, conclusions and
chart titles translated, Cyrillic names decoded, times without microseconds; printed on A4
with nothing past the right margin."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from netwarden.report.campaign import ReportData, render_html
from netwarden.report.html import write_pdf

from .test_run_report_i18n import CYRILLIC, NEUTRAL, _parse, _poppler, _words


def _data() -> ReportData:
    finding = {"operator": "ООО «Пример Телеком»", "evidence_level": "served",
               "category": "film", "protocol": "http", "host": "127.77.1.1", "port": 8080,
               "bank": "films", "reference": "FILM-0001", "name": "%D0%BD%D0%BE%D1%87%D1%8C.mkv",
               "size": 1000, "digests": {"sha256": "ab" * 32}, "match_distance": 0,
               "observed_at": "2026-12-06T12:01:38.626357+00:00",
               "attribution": {"status": "subscriber", "pseudonym": "ps1_x"},
               "operator_infrastructure": False,
               "ledger": {"observation": {"index": 3}, "match": {"index": 4},
                          "verification": {"index": 5}},
               "assessment": {"primary": "ru", "outcomes": {"ru": ["exempt"]}}}
    lead = {**finding, "evidence_level": "listed", "reference": "FILM-0002"}
    return ReportData(
        title="Кампания 2026", operator=None,
        campaign={"source": "/c/campaign.toml", "deadline": datetime(2026, 12, 31, tzinfo=UTC),
                  "status": "finished"},
        jobs=[{"operator": "ООО «Пример Телеком»", "status": "finished", "attempts": 2,
               "run_id": "r1"}],
        interrupted=[{"operator": "ООО «Пример Телеком»", "attempt": 1, "status": "interrupted",
                      "run_id": "r0", "interrupted_leaf": 9, "error": "worker died"}],
        findings=[finding, lead], notices=[], generated_at="2026-12-07T09:00:00+00:00")


def test_campaign_report_in_russian() -> None:
    html = render_html(_data(), lang="ru")
    page = _parse(html)
    assert page.lang == "ru"
    english = [h for h in page.heads if h and not CYRILLIC.search(h) and not NEUTRAL.match(h)]
    assert not english, english
    text = " ".join(" ".join(page.text).split())
    assert "Выводы" in text and "1 подтверждённый случай распространения" in text
    assert "Ещё 1 сведение для проверки не считается распространением" in text
    assert "1 попытка проверки прервана" in text
    assert "07.12.2026 12:00:00 (UTC+3; 09:00:00 UTC)" in text
    assert "ночь.mkv" in text
    for title in ("Находки по категориям", "Находки по протоколам", "Уровни доказанности"):
        assert title in html  # chart titles (SVG text)
    english_default = render_html(_data(), lang="en")
    assert "Findings by category" in english_default and 'lang="en"' in english_default


def test_campaign_report_prints_on_a4(tmp_path: Path) -> None:
    _poppler()
    pdf = write_pdf(render_html(_data(), lang="ru"), tmp_path / "report.pdf")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    assert "(A4)" in info
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    over = [(p, w) for p, x, width, w in _words(pdf) if x > width - 9 / 25.4 * 72]
    assert not over, over[:5]
    for n in range(1, pages + 1):
        text = subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert f"Стр. {n} из {pages}" in text and "Кампания 2026" in text
