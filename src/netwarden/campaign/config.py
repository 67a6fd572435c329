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
allow_wide = false                   # accept scope prefixes wider than /8 (default: refused)

[[operators]]                        # or list them one by one (both may be used)
scope = "operators/example.toml"

[[banks]]                            # optional: import these bank files before the audits
name = "films"
category = "film"
format = "catalog"
path = "banks/films.csv"
```

The file is validated as pydantic models that reject unknown tables and keys at every level
and loose types (``workers = "2"``). Every problem names the file and the key
(``InputError``); scope files are validated in full
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

from pydantic import Field, ValidationError

from netwarden.errors import InputError
from netwarden.scope import (
    Scope,
    StrictModel,
    load_scope,
    read_input_file,
    validation_problem,
)


class CampaignTable(StrictModel):
    """``[campaign]``."""

    name: str
    deadline: datetime | None = None
    workers: int = 2
    retries: int = 2
    out: str | None = None
    banks: list[str] = Field(default_factory=list)
    scopes: list[str] = Field(default_factory=list)
    allow_wide: bool = False  # accept scope prefixes wider than /8 (see scope.py)


class OperatorTable(StrictModel):
    """``[[operators]]``: one scope file."""

    scope: str


class BankFileTable(StrictModel):
    """``[[banks]]``: a bank file imported before the audits."""

    name: str
    category: str
    format: str
    path: str


class CampaignFile(StrictModel):
    """The whole ``campaign.toml``: unknown tables and keys are errors at every level."""

    campaign: CampaignTable
    operators: list[OperatorTable] = Field(default_factory=list)
    banks: list[BankFileTable] = Field(default_factory=list)


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
    allow_wide: bool = False

    def settings(self) -> dict[str, Any]:
        """What is stored with the campaign row (for status and reports)."""
        return {"workers": self.workers, "retries": self.retries, "banks": list(self.banks),
                "operators": len(self.operators), "allow_wide": self.allow_wide}


def scope_sha256(path: Path) -> str:
    """SHA-256 of the scope file's bytes: the job key (a changed scope is a new authorization)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_campaign(path: str | Path) -> Campaign:
    """Parse and validate ``campaign.toml`` and every scope file it names."""
    path = Path(path)
    source = str(path)
    text = read_input_file(path, source)  # bounded, regular files only (not /dev/zero)
    raw_bytes = text.encode("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(source, f"not a valid TOML file: {exc}") from None
    try:
        model = CampaignFile.model_validate(data)
    except ValidationError as exc:
        where, problem = validation_problem(exc, CampaignFile)
        if where == "campaign" and problem.startswith("is required"):
            problem = "the [campaign] table is missing"
        raise InputError(source, problem, where=where) from None
    table = model.campaign
    name = table.name.strip()
    if not name or len(name) > 200 or any(c in name for c in "/\\\n\r\t"):
        raise InputError(source, "must be 1-200 characters without slashes or line breaks",
                         where="campaign.name")
    deadline = table.deadline
    if deadline is not None and deadline.tzinfo is None:
        raise InputError(source, "must carry a time zone (e.g. 2026-12-01T00:00:00Z)",
                         where="campaign.deadline")
    workers = table.workers
    if not 1 <= workers <= 256:
        raise InputError(source, "must be between 1 and 256", where="campaign.workers")
    retries = table.retries
    if not 0 <= retries <= 10:
        raise InputError(source, "must be between 0 and 10", where="campaign.retries")
    base = path.resolve().parent
    out_dir = base / (table.out if table.out is not None else f"{name}-runs")
    for i, bank in enumerate(table.banks):
        if not bank:
            raise InputError(source, "must be a non-empty string", where=f"campaign.banks[{i}]")
    banks = tuple(table.banks)

    scope_paths: list[Path] = []
    for i, pattern in enumerate(table.scopes):
        if not pattern:
            raise InputError(source, "must be a non-empty string", where=f"campaign.scopes[{i}]")
        hits = sorted(glob.glob(str(base / pattern)))
        if not hits:
            raise InputError(source, f"no scope file matches {pattern!r}",
                             where=f"campaign.scopes[{i}]")
        scope_paths.extend(Path(h) for h in hits)
    for entry in model.operators:
        scope_paths.append(base / entry.scope)

    entries: list[OperatorEntry] = []
    seen: dict[str, Path] = {}
    for scope_path in dict.fromkeys(p.resolve() for p in scope_paths):
        if not scope_path.is_file():
            raise InputError(source, f"scope file {scope_path} does not exist",
                             where="operators/scopes")
        # raises ScopeError naming the scope file and key
        scope = load_scope(scope_path, allow_wide=table.allow_wide)
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
    for i, source_bank in enumerate(model.banks):
        bank_path = base / source_bank.path
        if not bank_path.is_file():
            raise InputError(source, f"bank file {bank_path} does not exist",
                             where=f"banks[{i}].path")
        bank_files.append(BankSource(source_bank.name, source_bank.category,
                                     source_bank.format, bank_path))
    return Campaign(source=path.resolve(), source_sha256=hashlib.sha256(raw_bytes).hexdigest(),
                    name=name, deadline=deadline.astimezone(UTC) if deadline else None,
                    workers=workers, retries=retries, out_dir=out_dir, banks=banks,
                    bank_files=tuple(bank_files), operators=tuple(entries),
                    allow_wide=table.allow_wide)
