"""``catalog``: a rights holder's CSV of reference items.

Header (first row) names the columns: ``reference_id`` is required, ``title`` and
``rights_holder`` are optional, and at least one digest column: the name of any algorithm the
bank index holds (``md5, sha1, sha256, ed2k, tth, btih, btmh, pdq`` and any registered in
:mod:`netwarden.algorithms`). Empty cells mean "not given". Unknown columns make the file
unusable (a misspelt ``sha-256`` would otherwise silently drop every SHA-256). A row with a
bad value (wrong length, not hex / base32, no digest at all, not UTF-8) is reported by line
number and skipped whole; the other rows import.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from netwarden.banks.digests import ALGORITHMS
from netwarden.banks.formats.base import (
    BankEntry,
    BankFormat,
    LineProblem,
    RecordError,
    csv_records,
    record_digest,
)
from netwarden.errors import InputError

TEXT_COLUMNS = ("reference_id", "title", "rights_holder")
MAX_FIELD_CHARS = 4096


class CatalogFormat(BankFormat):
    name = "catalog"
    description = "CSV: reference_id,title,rights_holder and any of md5,sha1,sha256,ed2k,tth,btih"

    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        source = str(path)
        columns: list[str] | None = None
        for item in csv_records(path, "CSV syntax"):
            if isinstance(item, LineProblem):
                yield item
                continue
            number, row = item
            if columns is None:
                columns = _check_header(source, row)
                continue
            try:
                yield _row(number, columns, row)
            except RecordError as exc:
                yield exc.at(source, number)
        if columns is None:
            raise InputError(source, "no header row (expected reference_id,title,...)")


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
        raise InputError(source, f"no digest column ({', '.join(ALGORITHMS)})", "line 1")
    return columns


def _row(number: int, columns: list[str], row: list[str]) -> BankEntry:
    """The entry of one data row; RecordError (the whole row is skipped) if any cell is bad."""
    if len(row) != len(columns):
        raise RecordError(f"{len(row)} fields, the header has {len(columns)}")
    values = {c: cell.strip() for c, cell in zip(columns, row, strict=True)}
    too_long = next((c for c, v in values.items() if len(v) > MAX_FIELD_CHARS), None)
    if too_long:
        raise RecordError(f"{too_long} longer than {MAX_FIELD_CHARS} characters")
    reference_id = values.get("reference_id", "")
    if not reference_id:
        raise RecordError("empty reference_id")
    digests = {name: record_digest(name, values[name], where=name)
               for name in ALGORITHMS if values.get(name)}  # in code order, as always
    if not digests:
        raise RecordError(f"reference {reference_id!r} has no digest")
    return BankEntry(digests=digests, reference_id=reference_id,
                     title=values.get("title") or None,
                     rights_holder=values.get("rights_holder") or None, line=number)
