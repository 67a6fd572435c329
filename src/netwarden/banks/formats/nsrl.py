"""``nsrl``: NIST NSRL RDS (the SQLite release, RDSv3) as a known-good *exclusion* set.

Reads the ``FILE`` table's ``md5``, ``sha1`` and ``sha256`` columns (the RDSv3 schema) through
SQLite opened read-only. Banks of this format are negative (allow-list) banks by default: a
file whose digest is in the NSRL is known software, and no perceptual match of it becomes a
finding. Rows are streamed (no whole-table read); a row with a malformed digest is reported.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from netwarden.banks.formats.base import (
    BankEntry,
    BankFormat,
    LineProblem,
    RecordError,
    open_regular_file,
    record_digest,
)
from netwarden.errors import InputError

COLUMNS = ("sha256", "sha1", "md5")


class NsrlFormat(BankFormat):
    name = "nsrl"
    description = "NIST NSRL RDSv3 SQLite (FILE table: md5, sha1, sha256); an allow-list"

    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        source = str(path)
        open_regular_file(path).close()
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        except sqlite3.Error as exc:
            raise InputError(source, f"cannot open as SQLite: {exc}") from None
        try:
            try:
                cols = {row[1].lower() for row in conn.execute("PRAGMA table_info(FILE)")}
            except sqlite3.DatabaseError as exc:
                raise InputError(source, f"not an SQLite database: {exc}") from None
            present = [c for c in COLUMNS if c in cols]
            if not present:
                raise InputError(source, "no FILE table with md5/sha1/sha256 columns "
                                         "(expected the NSRL RDSv3 schema)")
            query = f"SELECT {', '.join(present)} FROM FILE"
            for number, row in enumerate(conn.execute(query), start=1):
                digests: dict[str, bytes] = {}
                for name, value in zip(present, row, strict=True):
                    if not value:
                        continue
                    try:
                        digests[name] = record_digest(name, str(value), where=name)
                    except RecordError as exc:
                        yield exc.at(source, number)
                if digests:
                    yield BankEntry(digests=digests, line=number)
        finally:
            conn.close()
