"""The run report as a Russian inspection record, and its A4 print (issue 16).

With ``NETWARDEN_LANG=ru`` the page says ``lang="ru"``, every heading and table head is
Russian, dates are ``dd.mm.yyyy`` in the check's time zone (Moscow for ``ru``) with UTC beside
them and no microseconds, and Cyrillic names read as Cyrillic (UTF-8 and cp1251 escapes) while
the exact location stays visible as recorded. The PDF is printed by WeasyPrint from the same
page and checked with poppler: every page is A4, nothing crosses the right margin (word boxes
from ``pdftotext -bbox``, ink in the margin strip from ``pdftoppm``), every page's footer names
the run and its page number, and every full digest is in the text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from netwarden.report.html import render_report, write_pdf

from .runs import LONG_NAME, NAME_CP1251, NAME_UTF8, synthetic_run

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
# table heads that are identifiers, not words: digest algorithms, jurisdictions
NEUTRAL = re.compile(r"^(md5|sha1|sha256|tth|ed2k|btih|pdq|[A-Z]{2}|[\d.]+)$")


class _Heads(HTMLParser):
    """Text of every h1-h3 and th, and the visible text (no style/title attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.heads: list[str] = []
        self.text: list[str] = []
        self._stack: list[str] = []
        self._buf: list[str] = []
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = dict(attrs).get("lang")
        if tag in ("h1", "h2", "h3", "th"):
            self._buf = []
        self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3", "th"):
            self.heads.append(" ".join("".join(self._buf).split()))
        while self._stack and self._stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if "style" in self._stack or "svg" in self._stack:
            return
        self._buf.append(data)
        self.text.append(data)


def _parse(html: str) -> _Heads:
    parser = _Heads()
    parser.feed(html)
    return parser


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    return synthetic_run(tmp_path / "run")


def test_russian_report_is_a_russian_record(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NETWARDEN_LANG", "ru")
    html = render_report(run)
    page = _parse(html)
    assert page.lang == "ru"
    assert page.heads, "no headings"
    english = [h for h in page.heads if h and not CYRILLIC.search(h) and not NEUTRAL.match(h)]
    assert not english, f"headings or table heads not in Russian: {english}"
    for title in ("Протокол проверки", "Основание и реквизиты проверки", "Что проверялось",
                  "Что обнаружено", "Доказательства", "Установление принадлежности",
                  "Правовая оценка", "Рассмотрение и утверждение", "Подписи"):
        assert title in html, title
    text = " ".join(" ".join(page.text).split())
    # dates dd.mm.yyyy, Moscow time with UTC beside it, never microseconds, never ISO on screen
    assert "06.12.2026 15:02:38 (UTC+3; 12:02:38 UTC)" in text
    assert "01.11.2026 03:00:00 (UTC+3; 00:00:00 UTC)" in text
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", text), "microseconds on the page"
    assert not re.search(r"\b20\d\d-[01]\d-[0-3]\d\b", text), "ISO date on the page"
    # Cyrillic names read as Cyrillic, whether escaped as UTF-8 or as cp1251
    assert f"/share/{NAME_UTF8}" in text
    assert f"/films/{NAME_CP1251}" in text
    assert "/архив/кино.mkv" in text and "сломанный.mkv" in text and "чужой/" in text
    # ... and the exact recorded location stays on the record
    assert "%D0%98%D0%B2%D0%B0%D0%BD" in text
    # the record's parts: basis, distinct copies, full digests and leaf indexes, pseudonyms,
    # citations, review status, blank signature fields, run id
    assert "Распоряжение № 17/2026 отдела «К»" in text
    assert "различных копий — 3" in text
    for f in run.findings[:3]:
        assert f.digests["sha256"] in text and f.digests["md5"] in text
        assert f"#{f.ledger['match']['index']}" in text
    assert "ps1_dfa632035a1a16e4012c421ba4f630ef" in text
    assert "ГК РФ ст. 1253.1 п. 2" in text and "освобождён от ответственности" in text
    assert "На момент составления протокола находки не рассматривались" in text
    assert html.count('class="sign-hint"') >= 8
    assert "plain English text" not in text  # the English-only assessment prose stays out
    assert text.count(run.run_id) >= 1 and run.run_id in html.split("</style>")[0]
    # identifiers stay language-neutral
    assert 'class="lvl served"' in html


def test_english_stays_the_default(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("NETWARDEN_LANG", raising=False)
    html = render_report(run)
    page = _parse(html)
    assert page.lang == "en"
    assert "Who is responsible" in html and "Verified distribution" in html
    russian = [h for h in page.heads
               if CYRILLIC.search(h) and "Пример" not in h and "Иван" not in h]
    assert not russian, russian
    text = " ".join(" ".join(page.text).split())
    assert "2026-12-06 15:02:38 (UTC+3; 12:02:38 UTC)" in text
    assert f"/share/{NAME_UTF8}" in text


def test_review_status_is_shown_with_names_and_times(run) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    f = run.findings[0]
    reviews = {f.id: [
        {"kind": "review", "decision": "confirmed", "user_name": "alice", "role": "analyst",
         "at": datetime(2026, 12, 7, 9, 30, tzinfo=UTC)},
        {"kind": "signoff", "decision": "approved", "user_name": "bob", "role": "supervisor",
         "at": datetime(2026, 12, 7, 10, 0, 5, 123, tzinfo=UTC)}]}
    text = " ".join(" ".join(_parse(render_report(run, lang="ru", reviews=reviews)).text)
                    .split())
    assert "подтверждено — alice (аналитик), 07.12.2026 12:30:00 (UTC+3; 09:30:00 UTC)" in text
    assert "утверждено — bob (руководитель), 07.12.2026 13:00:05 (UTC+3; 10:00:05 UTC)" in text
    assert "ещё нет" in text  # the findings nobody reviewed


def _poppler() -> None:
    for tool in ("pdftoppm", "pdftotext", "pdfinfo"):
        if shutil.which(tool) is None:
            pytest.fail(f"poppler's {tool} is required (apt-get install -y poppler-utils)")


def _words(pdf: Path) -> list[tuple[int, float, float, str]]:
    """(page, xMax, page width, word) of every word, from pdftotext -bbox."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True,
                         text=True, check=True).stdout
    words, page, width = [], 0, 0.0
    for line in out.splitlines():
        if m := re.search(r'<page width="([\d.]+)"', line):
            page, width = page + 1, float(m.group(1))
        elif m := re.search(r'xMax="([\d.]+)"[^>]*>([^<]*)</word>', line):
            words.append((page, float(m.group(1)), width, m.group(2)))
    return words


def test_pdf_prints_on_a4_with_nothing_cut(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    _poppler()
    pdf = write_pdf(render_report(run, lang="ru"), tmp_path / "report.pdf")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 2
    assert "(A4)" in info, info
    # every page is A4: 595.3 x 841.9 pt at 50 dpi is 414 x 585 pixels (poppler rounds up)
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "p")],
                   check=True)
    images = sorted(tmp_path.glob("p-*.png"))
    assert len(images) == pages
    for path in images:
        with Image.open(path) as im:
            assert (im.width, im.height) == (414, 585), (path.name, im.size)
            # the right margin is 12 mm: its outer 9 mm carry no ink on any page
            gray = im.convert("L")
            strip = gray.crop((im.width - round(9 / 25.4 * 50), 0, im.width, im.height))
            assert strip.getextrema()[0] > 200, f"ink in the right margin of {path.name}"
    # no word of the text crosses the right margin (12 mm = 34 pt; 3 mm of slack)
    words = _words(pdf)
    over = [(p, w) for p, x, width, w in words if x > width - (12 - 3) / 25.4 * 72]
    assert not over, f"text past the right margin: {over[:5]}"
    # every page's footer: the run id and "Стр. N из M"
    for n in range(1, pages + 1):
        text = subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), "-layout", str(pdf),
                               "-"], capture_output=True, text=True, check=True).stdout
        assert run.run_id in text, f"run id missing on page {n}"
        assert f"Стр. {n} из {pages}" in text, f"page number missing on page {n}"
    # full digests and the long Cyrillic name survive whole (wrapped lines joined)
    flat = "".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True,
                                  text=True, check=True).stdout.split())
    for f in run.findings:
        assert f.digests["sha256"] in flat, f.reference
    assert LONG_NAME.replace(" ", "") in flat
    assert "Протоколпроверки№2026-77-0042" in flat
