"""One interface for every notice format (ACNS 2.0, DSA art. 16, Russian hosting notice).

Why one abstract class: sending, tracking and the ledger do not care about the format; each
format only knows how to render a notice from findings and which elements its law or schema
requires. ``missing()`` is what decides whether a notice can give the recipient knowledge
(an incomplete notice is still sendable, but the assessment will not count it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from netwarden.algorithms import registry
from netwarden.errors import InputError


@dataclass(frozen=True)
class Party:
    """Notifier or recipient: who, how to reach them."""

    entity: str = ""
    contact: str = ""
    address: str = ""
    phone: str = ""
    email: str = ""
    signature: str = ""  # "/s/ name" or similar: the notifier's electronic signature
    on_behalf_of: str = ""  # the rightholder, when an agent notifies

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str, where: str) -> Party:
        known = set(cls.__dataclass_fields__)
        for key, value in table.items():
            if key not in known:
                raise InputError(source, f"unknown key (known: {', '.join(sorted(known))})",
                                 f"{where}.{key}")
            if not isinstance(value, str):
                raise InputError(source, "must be a string", f"{where}.{key}")
        return cls(**dict(table))


@dataclass(frozen=True)
class NoticeInput:
    """Everything a format needs to render one notice."""

    notice_id: str
    created_at: datetime
    findings: Sequence[Mapping[str, Any]]  # findings.jsonl objects
    notifier: Party
    recipient: Party
    deadline_at: datetime | None = None
    check_id: str = ""
    authorization: str = ""


@dataclass(frozen=True)
class Rendered:
    """A rendered notice: the mail's subject and text, attachments, and what is missing."""

    subject: str
    text: str
    attachments: tuple[tuple[str, str, bytes], ...] = ()  # (filename, mime type, bytes)
    missing: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.missing


class NoticeFormat(ABC):
    """A notice format. Subclasses set the class attributes and implement ``render``."""

    name: ClassVar[str]
    title: ClassVar[str]
    jurisdiction: ClassVar[str]
    categories: ClassVar[tuple[str, ...]] = ("copyright", "csam")  # content kinds it covers
    grouping: ClassVar[bool] = True  # may cover several findings of one operator

    def check_input(self, data: NoticeInput) -> None:
        """Refuse findings this format is not made for (an InputError naming them)."""
        from netwarden.liability.facts import finding_track

        if not data.findings:
            raise InputError(self.name, "a notice needs at least one finding")
        for f in data.findings:
            kind = finding_track(f)
            if kind not in self.categories:
                raise InputError(str(f.get("id")), f"a {self.title} covers "
                                 f"{' and '.join(self.categories)} only, not {kind} "
                                 f"(category {f.get('category')!r})", "category")

    @abstractmethod
    def render(self, data: NoticeInput) -> Rendered:
        """The notice as mail text and attachments, with the required elements it lacks."""


def hashes(finding: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(algorithm, value) of a finding's exact digests, strongest first.

    The order and the set are the algorithm registry's (each module's ``rank``): sha256,
    btmh, sha1, btih, tth, ed2k, md5 — the order identify ranks matches in. Perceptual hashes
    are not listed: a notice names the copy by digests that identify it exactly.
    """
    digests = finding.get("digests") or {}
    return [(a.name, digests[a.name]) for a in registry.by_strength()
            if not a.perceptual and digests.get(a.name)]


def acns_hash_type(algorithm: str) -> str:
    """The ACNS 2.0 ``Hash@Type`` of a digest (its module's ``exchange.acns``; else its name
    in upper case)."""
    found = registry.find(algorithm)
    names = found.exchange if found is not None else None
    return names.acns if names is not None and names.acns else algorithm.upper()


def utc(value: Any) -> str:
    """An ISO 8601 UTC time with a Z suffix (what ACNS and people both read)."""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return text.replace("+00:00", "Z")
