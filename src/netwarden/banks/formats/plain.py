"""``plain``: one MD5, SHA-1 or SHA-256 hex digest per line, the kind told by its length.

Blank lines and lines starting with ``#`` are ignored. Anything after the digest, separated by
white space, is kept as the title (the reference id stays the digest), so ``md5sum`` and
``sha256sum`` output (``HEX  name`` or ``HEX *name``) imports as is. Each bad line (wrong
length, not hex, not UTF-8, too long) is reported with its number; the rest still imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from netwarden.banks.formats.base import (
    BankEntry,
    BankFormat,
    LineProblem,
    digest_by_length,
    line_records,
)


class PlainFormat(BankFormat):
    name = "plain"
    description = "one md5/sha1/sha256 hex digest per line; # comments; optional title after"

    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        return line_records(path, _line)


def _line(text: str, number: int) -> BankEntry:
    token, _, rest = text.partition(" ")
    if "\t" in token:
        token, _, more = token.partition("\t")
        rest = f"{more} {rest}".strip()
    kind, raw_digest = digest_by_length(token)
    title = (rest.strip().removeprefix("*").strip() or None) if rest else None
    # A titled line gets a reference row (to keep the title); a bare digest needs none.
    return BankEntry(digests={kind: raw_digest}, title=title, line=number,
                     reference_id=raw_digest.hex() if title else None)
