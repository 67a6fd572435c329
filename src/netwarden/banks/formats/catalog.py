"""``catalog``: a rights holder's CSV of reference items.

Header (first row) names the columns: ``reference_id`` is required, ``title`` and
``rights_holder`` are optional, and at least one of the digest columns ``md5, sha1, sha256,
ed2k, tth, btih`` (``btmh`` too). Empty cells mean "not given". Unknown columns make the file
unusable (a misspelt ``sha-256`` would otherwise silently drop every SHA-256). A row with a
bad value (wrong length, not hex / base32, no digest at all, not UTF-8) is reported by line
number and skipped whole; the other rows import.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from netwarden.banks.digests import ALGORITHMS, DigestError, parse_digest
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
from netwarden.errors import InputError

TEXT_COLUMNS = ("reference_id", "title", "rights_holder")
MAX_FIELD_CHARS = 4096


class CatalogFormat(BankFormat):
    name = "catalog"
    description = "CSV: reference_id,title,rights_holder and any of md5,sha1,sha256,ed2k,tth,btih"

    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        sniff_text_encoding(path)
        source = str(path)
        pending: list[LineProblem] = []
        numbers: list[int] = []

        def text_lines() -> Iterator[str]:
            for number, raw in bounded_lines(path):
                if raw is None:
                    pending.append(LineProblem(source, f"line longer than {MAX_LINE_BYTES} "
                                                       "bytes", number))
                    continue
                try:
                    text = decode_line(raw)
                except UnicodeDecodeError as exc:
                    pending.append(LineProblem(source, describe_decode_error(exc), number))
                    continue
                numbers.append(number)
                yield text

        reader = csv.reader(text_lines(), strict=True)
        header: list[str] | None = None
        columns: list[str] = []
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield from _drain(pending)
                yield LineProblem(source, f"CSV syntax: {exc}", numbers[-1] if numbers else None)
                continue
            yield from _drain(pending)
            number = numbers[-1] if numbers else 0
            if header is None:
                if not any(cell.strip() for cell in row):
                    continue
                header = row
                columns = _check_header(source, row)
                continue
            if not any(cell.strip() for cell in row):
                continue
            yield _row(source, number, columns, row)
        yield from _drain(pending)
        if header is None:
            raise InputError(source, "no header row (expected reference_id,title,...)")


def _drain(pending: list[LineProblem]) -> Iterator[LineProblem]:
    while pending:
        yield pending.pop(0)


def _check_header(source: str, row: list[str]) -> list[str]:
    columns = [cell.strip().lower() for cell in row]
    unknown = [c for c in columns if c not in TEXT_COLUMNS and c not in ALGORITHMS]
    if unknown:
        raise InputError(source, f"unknown column(s) {', '.join(map(repr, unknown))}; known: "
                                 f"{', '.join((*TEXT_COLUMNS, *ALGORITHMS))}", "line 1")
    if len(set(columns)) != len(columns):
        raise InputError(source, "a column is named twice", "line 1")
    if "reference_id" not in columns:
        raise InputError(source, "no reference_id column", "line 1")
    if not any(c in ALGORITHMS for c in columns):
        raise InputError(source, "no digest column (md5, sha1, sha256, ed2k, tth, btih)",
                         "line 1")
    return columns


def _row(source: str, number: int, columns: list[str], row: list[str]) -> BankEntry | LineProblem:
    if len(row) != len(columns):
        return LineProblem(source, f"{len(row)} fields, the header has {len(columns)}", number)
    values = {c: cell.strip() for c, cell in zip(columns, row, strict=True)}
    too_long = next((c for c, v in values.items() if len(v) > MAX_FIELD_CHARS), None)
    if too_long:
        return LineProblem(source, f"{too_long} longer than {MAX_FIELD_CHARS} characters",
                           number)
    reference_id = values.get("reference_id", "")
    if not reference_id:
        return LineProblem(source, "empty reference_id", number)
    digests: dict[str, bytes] = {}
    for name in ALGORITHMS:
        text = values.get(name)
        if not text:
            continue
        try:
            digests[name] = parse_digest(name, text)
        except DigestError as exc:
            return LineProblem(source, str(exc), number, where=name)
    if not digests:
        return LineProblem(source, f"reference {reference_id!r} has no digest", number)
    return BankEntry(digests=digests, reference_id=reference_id,
                     title=values.get("title") or None,
                     rights_holder=values.get("rights_holder") or None, line=number)
