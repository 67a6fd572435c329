#!/usr/bin/env python3
"""Keep the gettext catalogs of netwarden up to date (see docs/i18n.md).

    python scripts/i18n.py extract   # source strings -> src/netwarden/locale/netwarden.pot
    python scripts/i18n.py update    # .pot -> every <lang>/LC_MESSAGES/netwarden.po (merge)
    python scripts/i18n.py compile   # .po -> .mo (committed; tests/i18n checks they match)
    python scripts/i18n.py all       # the three in order

Why .mo files are committed rather than compiled at build time: setuptools has no compile
step of its own, a source checkout (PYTHONPATH=src, the tests, the device machine) must work
without a build, and the compiled catalogs are small. tests/i18n/test_catalogs.py fails when
a .mo differs from what its .po compiles to, so they cannot drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "netwarden"
LOCALE = PKG / "locale"
POT = LOCALE / "netwarden.pot"
KEYWORDS = ["-k", "N_", "-k", "_", "-k", "gettext", "-k", "ngettext:1,2", "-k", "pgettext:1c,2"]


def extract(out: Path = POT) -> None:
    """Extract every translatable string of the Python sources and templates into ``out``."""
    CommandLineInterface().run([
        "pybabel", "-q", "extract", "-F", str(LOCALE / "babel.cfg"), *KEYWORDS,
        "--no-location", "--sort-output", "--omit-header", "-o", str(out), str(PKG)])
    # the .pot is an intermediate (not committed): tests/i18n extracts afresh


def update() -> None:
    """Merge the extracted strings into every catalog; English translates to itself."""
    from babel.messages.pofile import read_po, write_po

    CommandLineInterface().run([
        "pybabel", "-q", "update", "-i", str(POT), "-d", str(LOCALE), "-D", "netwarden",
        "--no-fuzzy-matching", "--ignore-obsolete"])
    en = LOCALE / "en" / "LC_MESSAGES" / "netwarden.po"
    with en.open("rb") as fh:
        catalog = read_po(fh)
    for message in catalog:
        if message.id:
            message.string = message.id
    with en.open("wb") as fh:
        write_po(fh, catalog, width=100)


def compile_all() -> None:
    CommandLineInterface().run([
        "pybabel", "-q", "compile", "-d", str(LOCALE), "-D", "netwarden", "--use-fuzzy"])


def main(argv: list[str]) -> int:
    steps = {"extract": [extract], "update": [update], "compile": [compile_all],
             "all": [extract, update, compile_all]}
    if len(argv) != 1 or argv[0] not in steps:
        print(__doc__, file=sys.stderr)
        return 2
    for step in steps[argv[0]]:
        step()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
