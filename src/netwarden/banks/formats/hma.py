"""``hma`` and ``hma-csv``: ThreatExchange / Hasher-Matcher-Actioner hash files.

``hma`` (text), one signal per line, as ``threatexchange`` and HMA's file exchange write them::

    pdq 9d5e...64 hex digits... [title]
    vpdq ["hex,quality,timestamp", ...] [title]
    md5 0123...

A bare hash (no type) is accepted when the import names the type (``--signal pdq``); without
it a bare line is reported, never guessed (a 64-digit hex is a PDQ *or* a SHA-256). Blank
lines and ``#`` comments are skipped. Each bad line (unknown signal type, wrong length, not
hex, bad vPDQ JSON) is reported with its number; the rest imports.

``hma-csv``: an HMA/ThreatExchange CSV export. The header names the columns; the signal is
in ``signal_value`` (or ``signal``, ``hash``), its type in ``signal_type`` (or ``--signal``);
``content_id`` (or ``id``, ``reference_id``) and ``title`` (or ``name``) are used when present.
Export tools add columns of their own (timestamps, tags, bank names): those are ignored, and
the report says which.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from netwarden.banks.formats._signals import SignalError, entry_for
from netwarden.banks.formats.base import (
    BankEntry,
    BankFormat,
    LineProblem,
    csv_records,
    line_records,
)
from netwarden.errors import InputError

SIGNAL_COLUMNS = ("signal_value", "signal", "hash")
TYPE_COLUMNS = ("signal_type", "type")
ID_COLUMNS = ("content_id", "reference_id", "id")
TITLE_COLUMNS = ("title", "name")


class _SignalOption:
    """``--signal TYPE``: the type of bare hashes (set by the importer, see BankStore)."""

    signal: str | None = None

    def configure(self, *, signal: str | None = None, **_: object) -> None:
        self.signal = signal.strip().lower() if signal else None


class HmaTextFormat(_SignalOption, BankFormat):
    name = "hma"
    description = "ThreatExchange/HMA text: '<signal_type> <hash>' lines (bare with --signal)"

    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        return line_records(path, self._line)

    def _line(self, text: str, number: int) -> BankEntry:
        first, _, rest = text.partition(" ")
        rest = rest.strip()
        if not first.startswith("[") and all(c in "0123456789abcdefABCDEF" for c in first) \
                and len(first) >= 32:
            if not self.signal:
                raise SignalError("bare hash without a signal type: import with --signal "
                                  "TYPE (e.g. --signal pdq) or write '<type> <hash>'")
            signal_type, value, title = self.signal, first, rest
        elif first.startswith("["):  # a bare vPDQ signal
            if not self.signal:
                raise SignalError("bare vPDQ signal without a signal type: use --signal vpdq")
            signal_type, (value, title) = self.signal, _json_and_rest(text)
        else:
            signal_type = first
            if not rest:
                raise SignalError(f"signal type {first!r} without a hash")
            if rest.startswith("["):
                value, title = _json_and_rest(rest)
            else:
                value, _, title = rest.partition(" ")
        label = title.strip() or None
        entry = entry_for(signal_type, value, title=label, line=number)
        if label and entry.reference_id is None:  # keep the title: the hash is the id
            return entry_for(signal_type, value, title=label, line=number,
                             reference_id=value.strip().lower())
        return entry


def _json_and_rest(text: str) -> tuple[str, str]:
    try:
        _, end = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        raise SignalError(f"vPDQ signal is not a JSON list: {exc.msg}") from None
    return text[:end], text[end:]


class HmaCsvFormat(_SignalOption, BankFormat):
    name = "hma-csv"
    description = "HMA/ThreatExchange CSV export: signal_type,signal_value[,content_id,...]"

    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        source = str(path)
        records = csv_records(path, "bad CSV", header_error="not CSV")
        skipped: list[LineProblem] = []  # lines before the header that are not text
        for item in records:
            if isinstance(item, LineProblem):
                skipped.append(item)
                continue
            header = [h.strip().lower() for h in item[1]]
            break
        else:
            raise InputError(source, "empty file: expected a CSV header")
        signal_col = _pick(header, SIGNAL_COLUMNS)
        if signal_col is None:
            raise InputError(source, "no signal column in the header (expected one of "
                                     f"{', '.join(SIGNAL_COLUMNS)})", "line 1")
        type_col = _pick(header, TYPE_COLUMNS)
        if type_col is None and not self.signal:
            raise InputError(source, "no signal_type column: import with --signal TYPE",
                             "line 1")
        id_col, title_col = _pick(header, ID_COLUMNS), _pick(header, TITLE_COLUMNS)
        used = {c for c in (signal_col, type_col, id_col, title_col) if c is not None}
        ignored = [h for h in header if h and h not in used]
        if ignored:
            yield LineProblem(source, f"columns ignored (not used by netwarden): "
                                      f"{', '.join(ignored)}", 1, where="header")
        yield from skipped
        for item in records:
            if isinstance(item, LineProblem):
                yield item
                continue
            number, row = item
            if len(row) != len(header):
                yield LineProblem(source, f"{len(row)} fields, the header has {len(header)}",
                                  number)
                continue
            cells = dict(zip(header, (c.strip() for c in row), strict=True))
            signal_type = cells[type_col] if type_col else self.signal
            try:
                yield entry_for(signal_type or "", cells[signal_col],
                                reference_id=(cells[id_col] or None) if id_col else None,
                                title=(cells[title_col] or None) if title_col else None,
                                line=number)
            except SignalError as exc:
                yield exc.at(source, number, where=signal_col)


def _pick(header: list[str], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in header), None)
