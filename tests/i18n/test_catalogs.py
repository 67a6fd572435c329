"""The gettext catalogs are complete and the committed ``.mo`` files are what the ``.po`` files
compile to (issue 16).

* Every string the sources and templates mark for translation (extracted afresh with Babel,
  as ``scripts/i18n.py extract`` does) has a translation in ``ru`` and in ``en``, with every
  plural form, none fuzzy.
* No template carries visible English text outside ``_()`` / ``{% trans %}``: a new heading
  typed straight into a template fails here, before anyone sees an English word on a Russian
  page.
* The compiled ``.mo`` of each language holds exactly the messages of its ``.po`` (they are
  committed, see scripts/i18n.py for why), and ``netwarden.i18n`` loads them.
"""

from __future__ import annotations

import gettext
import importlib.util
import re
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment

from netwarden import i18n

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "netwarden"
TEMPLATE_DIRS = [PKG / "report" / "templates", PKG / "web" / "templates"]


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("nw_i18n_script", ROOT / "scripts" / "i18n.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> dict[object, object]:
    pot = tmp_path_factory.mktemp("pot") / "netwarden.pot"
    _script().extract(pot)
    with pot.open("rb") as fh:
        catalog = read_po(fh)
    ids = {(m.id, m.context): m for m in catalog if m.id}
    assert len(ids) > 200, "extraction found too little: is the Babel map broken?"
    return ids


def _po(lang: str):  # type: ignore[no-untyped-def]
    with (i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "netwarden.po").open("rb") as fh:
        return read_po(fh)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_extracted_string_is_translated(extracted: dict, lang: str) -> None:  # type: ignore[type-arg]
    catalog = _po(lang)
    problems = []
    for msgid, context in extracted:
        message = catalog.get(msgid, context=context)
        if message is None:
            problems.append(f"missing: {msgid!r}")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            problems.append(f"untranslated: {msgid!r}")
        if message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        if isinstance(msgid, tuple):
            assert len(strings) == catalog.num_plurals, msgid
    assert not problems, (f"{lang} catalog is behind the sources; run "
                          f"`python scripts/i18n.py all` and translate:\n" + "\n".join(problems))


def test_russian_has_three_plural_forms() -> None:
    catalog = _po("ru")
    assert catalog.num_plurals == 3
    with i18n.use_language("ru"):
        assert [i18n.ngettext("finding", "findings", n) for n in (1, 3, 5, 11, 21, 22)] == [
            "находка", "находки", "находок", "находок", "находка", "находки"]


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_compiled_catalog_matches_its_source(lang: str, tmp_path: Path) -> None:
    mo = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "netwarden.mo"
    fresh = tmp_path / "fresh.mo"
    with fresh.open("wb") as fh:
        write_mo(fh, _po(lang))
    with mo.open("rb") as committed, fresh.open("rb") as compiled:
        have = gettext.GNUTranslations(committed)._catalog  # type: ignore[attr-defined]
        want = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
    stale = sorted(str(k) for k in set(have) ^ set(want)) + sorted(
        str(k) for k in set(have) & set(want) if have[k] != want[k])
    assert not stale, (f"{mo} is stale (run `python scripts/i18n.py compile`): {stale[:10]}")


# Visible text a template may carry untranslated: names of the product and of commands, units.
# names that stay as they are in every language: FIRST's TLP 2.0 labels are written in English
# in all languages, and format names are names
ALLOWED = {"netwarden", "API", "AS", "UTC", "d", "CSV", "TLP", "CLEAR", "GREEN", "AMBER", "RED",
           "STIX", "MISP", "VICS", "OpenCTI", "TAXII", "JSON", "CSAM"}
TAG = re.compile(r"<[^>]*>")


def _visible_words(source: str, env: Environment) -> list[str]:
    """English words of the text a browser shows: Jinja code becomes a placeholder, then
    tags (and the placeholders inside their attributes) are dropped."""
    parts = []
    for _, kind, value in env.lex(source):
        parts.append(value if kind == "data" else "\x00")
    text = TAG.sub(" ", "".join(parts))
    text = re.sub(r"&[a-z]+;|&#\d+;", " ", text)
    return [w for w in re.findall(r"[A-Za-z][A-Za-z'’-]+", text) if w not in ALLOWED]


@pytest.mark.parametrize("path", sorted(p for d in TEMPLATE_DIRS for p in d.glob("*.html")),
                         ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_no_template_text_outside_trans(path: Path) -> None:
    env = i18n.install(Environment(trim_blocks=True, lstrip_blocks=True))
    source = path.read_text(encoding="utf-8")
    inside_trans = re.sub(r"{%-?\s*trans\b.*?{%-?\s*endtrans\s*-?%}", "", source, flags=re.S)
    inside_trans = re.sub(r"<style>.*?</style>", "", inside_trans, flags=re.S)
    inside_trans = re.sub(r"<script[^>]*>.*?</script>", "", inside_trans, flags=re.S)
    words = _visible_words(inside_trans, env)
    assert not words, f"{path.name}: text outside _()/{{% trans %}}: {words}"


def test_the_scan_sees_an_untranslated_heading() -> None:
    """The template scan above must fail on a bare English heading (a test that cannot fail
    proves nothing)."""
    env = i18n.install(Environment())
    assert _visible_words("<h2>Findings by host</h2>{{ _('ok') }}", env) == [
        "Findings", "by", "host"]
    assert _visible_words("<h2>{{ _('Findings') }}</h2><b>{{ n }}</b> AS{{ asn }}", env) == []


def test_languages_and_negotiation() -> None:
    assert i18n.negotiate("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7") == "ru"
    assert i18n.negotiate("en-US,en;q=0.9,ru;q=0.8") == "en"
    assert i18n.negotiate("de-DE,ru;q=0.5") == "ru"
    assert i18n.negotiate("ru;q=0, en;q=0.1") == "en"
    assert i18n.negotiate("de, fr") is None and i18n.negotiate(None) is None
    assert i18n.normalize("ru_RU.UTF-8") == "ru" and i18n.normalize("xx") is None


def test_empty_message_is_not_the_catalog_header() -> None:
    with i18n.use_language("ru"):
        assert i18n.gettext("") == ""
        env = i18n.install(Environment(autoescape=True))
        assert env.from_string("[{{ _(x) }}]").render(x="") == "[]"


def test_names_and_times() -> None:
    from datetime import UTC, datetime

    assert i18n.display_name("/films/%D0%BD%D0%BE%D1%87%D1%8C.mkv") == "/films/ночь.mkv"
    assert i18n.display_name("/films/%ED%EE%F7%FC.mkv") == "/films/ночь.mkv"  # cp1251
    assert i18n.display_name("/100%25") == "/100%"
    moment = datetime(2026, 12, 31, 22, 30, 5, 123456, tzinfo=UTC)
    moscow = i18n.zone(None, "ru")
    with i18n.use_language("ru"):
        assert i18n.format_datetime(moment, moscow) == \
            "01.01.2027 01:30:05 (UTC+3; 31.12.2026 22:30:05 UTC)"
        assert i18n.format_datetime(moment) == "31.12.2026 22:30:05 UTC"
        assert i18n.format_date("2026-12-06T12:00:00Z") == "06.12.2026"
    with i18n.use_language("en"):
        assert i18n.format_datetime(moment, moscow) == \
            "2027-01-01 01:30:05 (UTC+3; 2026-12-31 22:30:05 UTC)"
