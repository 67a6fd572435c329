"""Options every exporter takes."""

from __future__ import annotations

from dataclasses import dataclass

from netwarden.errors import InputError
from netwarden.scope import TLP_LEVELS


@dataclass(frozen=True)
class ExportOptions:
    """``organisation``: the auditing body named as the author (STIX identity, MISP org).
    ``tlp``: the Traffic Light Protocol level marked on everything (default ``amber``; exports
    holding CSAM findings default to ``red``, see :func:`default_tlp`). ``pseudonyms``: include
    subscriber pseudonyms (never more). ``bom``: start the CSV with a UTF-8 byte-order mark,
    which spreadsheet programs need to read UTF-8."""

    organisation: str = "netwarden auditor"
    tlp: str | None = None
    pseudonyms: bool = True
    bom: bool = False

    def __post_init__(self) -> None:
        if self.tlp is not None and self.tlp not in TLP_LEVELS:
            raise InputError("--tlp", f"{self.tlp!r} is not one of {', '.join(TLP_LEVELS)}")
        if not self.organisation.strip() or len(self.organisation) > 200:
            raise InputError("--organisation", "must be 1-200 characters")


def resolve(options: ExportOptions, has_csam: bool, scope_tlp: str | None = None
            ) -> ExportOptions:
    """``options`` with the TLP level decided: the one given, else the scope's ``[check] tlp``
    (the authorizing body's marking, recorded in the run's ``summary.json``), else ``red`` for
    an export that holds CSAM findings (never to be passed on without the sender's say) and
    ``amber`` otherwise."""
    from dataclasses import replace

    if options.tlp is not None:
        return options
    if scope_tlp in TLP_LEVELS:
        return replace(options, tlp=scope_tlp)
    return replace(options, tlp="red" if has_csam else "amber")
