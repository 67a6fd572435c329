"""The CLI speaks ``--lang`` / ``$NETWARDEN_LANG`` (issue 16): errors and summaries in Russian
when asked, English otherwise; a run's report prints to an A4 PDF from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from netwarden import i18n
from netwarden.cli._ui import summary_tables

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None, home: Path) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    full = {k: v for k, v in os.environ.items() if k != "NETWARDEN_LANG"}
    full.update({"NETWARDEN_HOME": str(home), "PYTHONPATH": str(ROOT / "src"), **(env or {})})
    return subprocess.run([sys.executable, "-m", "netwarden", *args], capture_output=True,
                          text=True, timeout=120, env=full)


def test_errors_follow_the_language(tmp_path: Path) -> None:
    english = _cli("report", home=tmp_path)
    assert english.returncode == 2
    assert "error: report: give --campaign NAME" in english.stderr
    russian = _cli("--lang", "ru", "report", home=tmp_path)
    assert russian.returncode == 2
    assert "ошибка: report: укажите --campaign ИМЯ" in russian.stderr, russian.stderr
    from_env = _cli("report", env={"NETWARDEN_LANG": "ru_RU.UTF-8"}, home=tmp_path)
    assert "ошибка: report: укажите --campaign" in from_env.stderr
    # --lang wins over the environment
    both = _cli("--lang", "en", "report", env={"NETWARDEN_LANG": "ru"}, home=tmp_path)
    assert "error: report: give --campaign" in both.stderr
    bad = _cli("--lang", "xx", "report", home=tmp_path)
    assert bad.returncode == 2 and "--lang" in bad.stderr


def test_summary_tables_in_russian() -> None:
    summary = {"by_category": {"film": {"served": 2, "contacted": 1, "listed": 0}},
               "by_host": {}, "observations": 12, "outcomes": {"ok": 11, "error": 1},
               "refused": 1, "findings": 3, "distribution": 2, "infrastructure_findings": 1}
    console = Console(record=True, width=140)
    with i18n.use_language("ru"):
        for table in summary_tables(summary):
            console.print(table)
    text = console.export_text()
    for words in ("Находки по категориям", "Находки по узлам", "передача подтверждена",
                  "подтверждённое распространение (передача)", "результат ошибка", "(нет)"):
        assert words in text, words
    assert "Findings" not in text and "served" not in text


def test_run_report_prints_to_pdf(tmp_path: Path) -> None:
    from netwarden.report.html import render_report
    from report.runs import synthetic_run  # tests/report/runs.py

    run = tmp_path / "run"
    run.mkdir()
    (run / "report.html").write_text(render_report(synthetic_run(run), lang="ru"),
                                     encoding="utf-8")
    done = _cli("report", "--run", str(run), "--pdf", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (run / "report.pdf").read_bytes().startswith(b"%PDF")
    missing = _cli("--lang", "ru", "report", "--run", str(tmp_path), "--pdf", home=tmp_path)
    assert missing.returncode == 2 and "нет report.html" in missing.stderr


def test_other_commands_speak_the_language(tmp_path: Path) -> None:
    """ledger, bank, key and bundle print their summaries and errors in the chosen language;
    digests, paths and names stay as they are (they are evidence and machine input)."""
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    expected = {
        "ru": {"ledger": ("записей: 0  корень: ", "контрольных точек: 0", "журнал ЦЕЛОСТЕН"),
               "bank": ("банк", "категория", "эталоны", "хеш-значения", "алгоритмы"),
               "key": "ошибка: {keys}: ключ журнала отсутствует; сначала выполните "
                      "`netwarden key init`",
               "missing": "ошибка: {missing}: файл не найден",
               "junk": "пакет ОТКЛОНЁН: "},
        "en": {"ledger": ("leaves: 0  root: ", "checkpoints: 0", "ledger OK"),
               "bank": ("bank", "category", "references", "digests", "algorithms"),
               "key": "error: {keys}: no ledger key; run `netwarden key init` first",
               "missing": "error: {missing}: no such file",
               "junk": "bundle REJECTED: "},
    }
    empty_root = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    for lang, words in expected.items():
        home = tmp_path / lang
        env = {"NETWARDEN_LANG": lang}
        verified = _cli("ledger", "verify", env=env, home=home)
        assert verified.returncode == 0, verified.stderr
        for text in words["ledger"]:
            assert text in verified.stdout, (lang, text, verified.stdout)
        assert empty_root in verified.stdout  # the digest is the same in every language
        banks = _cli("bank", "list", env=env, home=home)
        assert banks.returncode == 0, banks.stderr
        assert all(w in banks.stdout for w in words["bank"]), (lang, banks.stdout)
        key = _cli("key", "show", env=env, home=home)
        assert key.returncode == 2
        assert str(words["key"]).format(keys=home / "keys" / "ledger.key") in key.stderr, \
            key.stderr
        missing = _cli("bundle", "verify", str(tmp_path / "none.zip"), env=env, home=home)
        assert missing.returncode == 2
        assert str(words["missing"]).format(missing=tmp_path / "none.zip") in missing.stderr, \
            missing.stderr
        rejected = _cli("bundle", "verify", str(junk), env=env, home=home)
        assert rejected.returncode == 1 and str(words["junk"]) in rejected.stderr, \
            rejected.stderr
    # --json stays language-neutral: the same keys in Russian as in English
    ru_json = _cli("--lang", "ru", "ledger", "verify", "--json", home=tmp_path / "ru")
    en_json = _cli("ledger", "verify", "--json", home=tmp_path / "ru")
    assert ru_json.returncode == 0 and en_json.returncode == 0
    ru_report, en_report = json.loads(ru_json.stdout), json.loads(en_json.stdout)
    ru_report.pop("seconds"), en_report.pop("seconds")
    assert ru_report == en_report and ru_report["root"] == empty_root
