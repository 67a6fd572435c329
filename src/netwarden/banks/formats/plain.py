"""``plain``: one MD5, SHA-1 or SHA-256 hex digest per line, the kind told by its length.

Blank lines and lines starting with ``#`` are ignored. Anything after the digest, separated by
white space, is kept as the title (the reference id stays the digest), so ``md5sum`` and
``sha256sum`` output (``HEX  name`` or ``HEX *name``) imports as is. Each bad line (wrong
length, not hex, not UTF-8, too long) is reported with its number; the rest still imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from netwarden.banks.digests import PLAIN_BY_HEX_LENGTH, DigestError, parse_digest
from netwarden.banks.formats.base import (
    MAX_LINE_BYTES,
    BankEntry,
    BankFormat,
    LineProblem,
    bounded_lines,
    decode_line,
    describe_decode_error,
    sniff_text_encoding,
)

_LENGTHS = ", ".join(f"{n} ({name})" for n, name in PLAIN_BY_HEX_LENGTH.items())


class PlainFormat(BankFormat):
    name = "plain"
    description = "one md5/sha1/sha256 hex digest per line; # comments; optional title after"

    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        sniff_text_encoding(path)
        source = str(path)
        for number, raw in bounded_lines(path):
            if raw is None:
                yield LineProblem(source, f"line longer than {MAX_LINE_BYTES} bytes", number)
                continue
            stripped = raw.removeprefix(b"\xef\xbb\xbf").strip() if number == 1 else raw.strip()
            if not stripped or stripped.startswith(b"#"):
                continue
            try:
                text = decode_line(stripped).strip()
            except UnicodeDecodeError as exc:
                yield LineProblem(source, describe_decode_error(exc), number)
                continue
            token, _, rest = text.partition(" ")
            if "\t" in token:
                token, _, more = token.partition("\t")
                rest = f"{more} {rest}".strip()
            kind = PLAIN_BY_HEX_LENGTH.get(len(token))
            if kind is None:
                yield LineProblem(source, f"digest of {len(token)} characters; expected "
                                          f"hex of {_LENGTHS}", number)
                continue
            try:
                raw_digest = parse_digest(kind, token)
            except DigestError as exc:
                yield LineProblem(source, str(exc), number)
                continue
            title = rest.strip().removeprefix("*").strip() or None
            # A titled line gets a reference row (to keep the title); a bare digest needs none.
            yield BankEntry(digests={kind: raw_digest}, title=title, line=number,
                            reference_id=raw_digest.hex() if title else None)
