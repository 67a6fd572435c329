"""``campaign.toml``: which operator scopes a campaign audits, with which banks, by when.

```toml
[campaign]
name = "nationwide-2026-11"          # the key under which progress is kept (resume)
deadline = 2026-12-01T00:00:00Z      # no new audit starts after it (optional)
workers = 2                          # parallel audits (local executor, or Ray tasks)
retries = 2                          # extra attempts for an audit whose worker died
out = "runs"                         # run directories, relative to this file
banks = ["films", "csam-standin"]    # shared banks (default: each scope's [banks] use)
scopes = ["regions/*.toml"]          # globs of scope files, relative to this file

[[operators]]                        # or list them one by one (both may be used)
scope = "operators/example.toml"

[[banks]]                            # optional: import these bank files before the audits
name = "films"
category = "film"
format = "catalog"
path = "banks/films.csv"
```

Every problem names the file and the key (``InputError``); scope files are validated in full
before anything runs, so a typo in operator 40 does not surface after 39 audits.
"""

from __future__ import annotations

import glob
import hashlib
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netwarden.errors import InputError
from netwarden.scope import Scope, load_scope

_CAMPAIGN_KEYS = {"name", "deadline", "workers", "retries", "out", "banks", "scopes"}
_BANK_KEYS = {"name", "category", "format", "path"}


@dataclass(frozen=True)
class BankSource:
    """A bank file to import before the audits (idempotent: known digests are skipped)."""

    name: str
    category: str
    format: str
    path: Path


@dataclass(frozen=True)
class OperatorEntry:
    """One operator scope of the campaign, validated."""

    scope_path: Path
    scope: Scope
    scope_sha256: str

    @property
    def operator(self) -> str:
        return self.scope.operator_name


@dataclass(frozen=True)
class Campaign:
    """A parsed ``campaign.toml``."""

    source: Path
    source_sha256: str
    name: str
    deadline: datetime | None
    workers: int
    retries: int
    out_dir: Path
    banks: tuple[str, ...]
    bank_files: tuple[BankSource, ...]
    operators: tuple[OperatorEntry, ...] = field(default_factory=tuple)

    def settings(self) -> dict[str, Any]:
        """What is stored with the campaign row (for status and reports)."""
        return {"workers": self.workers, "retries": self.retries, "banks": list(self.banks),
                "operators": len(self.operators)}


def _get(table: dict[str, Any], key: str, kind: type | tuple[type, ...], source: str,
         prefix: str, default: Any = ..., ) -> Any:
    if key not in table:
        if default is ...:
            raise InputError(source, "required key is missing", where=f"{prefix}.{key}")
        return default
    value = table[key]
    if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputError(source, f"must be {names}, got {type(value).__name__} {value!r}",
                         where=f"{prefix}.{key}")
    return value


def _strings(table: dict[str, Any], key: str, source: str, prefix: str) -> list[str]:
    value = _get(table, key, list, source, prefix, [])
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise InputError(source, "must be a non-empty string", where=f"{prefix}.{key}[{i}]")
    return list(value)


def _unknown(table: dict[str, Any], allowed: set[str], source: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise InputError(source, f"unknown key (allowed: {', '.join(sorted(allowed))})",
                             where=f"{prefix}.{key}")


def scope_sha256(path: Path) -> str:
    """SHA-256 of the scope file's bytes: the job key (a changed scope is a new authorization)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_campaign(path: str | Path) -> Campaign:
    """Parse and validate ``campaign.toml`` and every scope file it names."""
    path = Path(path)
    source = str(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise InputError(source, f"cannot read the campaign file: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(source, f"not a valid TOML file: {exc}") from None
    for key in data:
        if key not in ("campaign", "operators", "banks"):
            raise InputError(source, "unknown table (allowed: campaign, operators, banks)",
                             where=key)
    table = data.get("campaign")
    if not isinstance(table, dict):
        raise InputError(source, "the [campaign] table is missing", where="campaign")
    _unknown(table, _CAMPAIGN_KEYS, source, "campaign")
    name = _get(table, "name", str, source, "campaign").strip()
    if not name or len(name) > 200 or any(c in name for c in "/\\\n\r\t"):
        raise InputError(source, "must be 1-200 characters without slashes or line breaks",
                         where="campaign.name")
    deadline = _get(table, "deadline", datetime, source, "campaign", None)
    if deadline is not None and deadline.tzinfo is None:
        raise InputError(source, "must carry a time zone (e.g. 2026-12-01T00:00:00Z)",
                         where="campaign.deadline")
    workers = _get(table, "workers", int, source, "campaign", 2)
    if not 1 <= workers <= 256:
        raise InputError(source, "must be between 1 and 256", where="campaign.workers")
    retries = _get(table, "retries", int, source, "campaign", 2)
    if not 0 <= retries <= 10:
        raise InputError(source, "must be between 0 and 10", where="campaign.retries")
    base = path.resolve().parent
    out_dir = base / _get(table, "out", str, source, "campaign", f"{name}-runs")
    banks = tuple(_strings(table, "banks", source, "campaign"))

    scope_paths: list[Path] = []
    for i, pattern in enumerate(_strings(table, "scopes", source, "campaign")):
        hits = sorted(glob.glob(str(base / pattern)))
        if not hits:
            raise InputError(source, f"no scope file matches {pattern!r}",
                             where=f"campaign.scopes[{i}]")
        scope_paths.extend(Path(h) for h in hits)
    operators = data.get("operators", [])
    if not isinstance(operators, list):
        raise InputError(source, "must be an array of tables ([[operators]])", where="operators")
    for i, entry in enumerate(operators):
        prefix = f"operators[{i}]"
        if not isinstance(entry, dict):
            raise InputError(source, "must be a table", where=prefix)
        _unknown(entry, {"scope"}, source, prefix)
        scope_paths.append(base / _get(entry, "scope", str, source, prefix))

    entries: list[OperatorEntry] = []
    seen: dict[str, Path] = {}
    for scope_path in dict.fromkeys(p.resolve() for p in scope_paths):
        if not scope_path.is_file():
            raise InputError(source, f"scope file {scope_path} does not exist",
                             where="operators/scopes")
        scope = load_scope(scope_path)  # raises ScopeError naming the scope file and key
        digest = scope_sha256(scope_path)
        if digest in seen:
            raise InputError(source, f"scope files {seen[digest]} and {scope_path} are "
                             "identical", where="operators/scopes")
        seen[digest] = scope_path
        entries.append(OperatorEntry(scope_path, scope, digest))
    if not entries:
        raise InputError(source, "no operator scope: add [campaign] scopes or [[operators]]",
                         where="campaign")

    bank_files: list[BankSource] = []
    bank_tables = data.get("banks", [])
    if not isinstance(bank_tables, list):
        raise InputError(source, "must be an array of tables ([[banks]])", where="banks")
    for i, entry in enumerate(bank_tables):
        prefix = f"banks[{i}]"
        if not isinstance(entry, dict):
            raise InputError(source, "must be a table", where=prefix)
        _unknown(entry, _BANK_KEYS, source, prefix)
        bank_path = base / _get(entry, "path", str, source, prefix)
        if not bank_path.is_file():
            raise InputError(source, f"bank file {bank_path} does not exist",
                             where=f"{prefix}.path")
        bank_files.append(BankSource(_get(entry, "name", str, source, prefix),
                                     _get(entry, "category", str, source, prefix),
                                     _get(entry, "format", str, source, prefix), bank_path))
    return Campaign(source=path.resolve(), source_sha256=hashlib.sha256(raw_bytes).hexdigest(),
                    name=name, deadline=deadline.astimezone(UTC) if deadline else None,
                    workers=workers, retries=retries, out_dir=out_dir, banks=banks,
                    bank_files=tuple(bank_files), operators=tuple(entries))
