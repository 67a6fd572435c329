"""Small stand-ins shared by the audit tests (importable: ``tests/`` is on the path, as for
``realserver`` and ``pgserver``)."""

from __future__ import annotations

import hashlib
from typing import Any

from netwarden.banks.exact import Reference
from netwarden.records import Observation


class OneReference:
    """A bank index (netwarden.seams.BankIndex) of one reference: ``data``'s SHA-256; nothing
    perceptual, nothing for collectors that ask by digest."""

    def __init__(self, data: bytes) -> None:
        self.ref = Reference("films", "film", "ref-1", "planted", "sha256",
                             hashlib.sha256(data).hexdigest())

    def lookup_many(self, digests: dict[str, str]) -> list[Reference]:
        return [self.ref] if digests.get("sha256") == self.ref.value else []

    def perceptual_matches(self, observation: Observation, banks: Any = None) -> list[Any]:
        return []

    def references(self, names: Any = None) -> None:
        return None
