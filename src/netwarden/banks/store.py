"""The banks of a store behind one object: the facade most callers and tests use.

:class:`BankStore` composes the parts, each usable on its own:

* :class:`~netwarden.banks.importer.BankImporter` — bank file imports;
* :class:`~netwarden.banks.exact.DigestIndex` — exact digest look-ups;
* :class:`~netwarden.banks.catalog.BankCatalog` — what banks there are, their imports;
* :class:`~netwarden.banks.perceptual.PerceptualMatcher` — PDQ/vPDQ matching (loaded on first
  use, then told of every import made through this object);
* :class:`~netwarden.banks.view.BankReferenceView` — the read-only view collectors get.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from netwarden.banks.catalog import BankCatalog, BankInfo
from netwarden.banks.exact import DigestIndex, Reference
from netwarden.banks.importer import BankImporter, ImportReport
from netwarden.store.base import Store

if TYPE_CHECKING:
    from netwarden.banks.perceptual import PerceptualMatcher, PerceptualReference
    from netwarden.banks.view import BankReferenceView
    from netwarden.records import Observation

__all__ = ["BankStore"]


class BankStore:
    """Reference banks in an open :class:`~netwarden.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.importer = BankImporter(store)
        self.index = DigestIndex(store)
        self.catalog = BankCatalog(store)
        self._perceptual: PerceptualMatcher | None = None

    # ------------------------------------------------------------------ import

    def import_file(self, name: str, category: str, fmt: str, path: str | Path, *,
                    batch_size: int = 200_000, max_problems: int = 1000,
                    progress: Callable[[int], None] | None = None,
                    signal: str | None = None, negative: bool | None = None,
                    pdq_threshold: int | None = None, dihedral: bool | None = None,
                    vpdq: dict[str, float] | None = None) -> ImportReport:
        """Import a bank file: see :meth:`netwarden.banks.importer.BankImporter.import_file`."""
        return self.importer.import_file(
            name, category, fmt, path, batch_size=batch_size, max_problems=max_problems,
            progress=progress, signal=signal, negative=negative, pdq_threshold=pdq_threshold,
            dihedral=dihedral, vpdq=vpdq)

    # ------------------------------------------------------------------ look-up

    def lookup(self, algorithm_name: str, value: str) -> list[Reference]:
        """Every reference holding digest ``value`` of ``algorithm_name``; InputError if bad."""
        return self.index.lookup(algorithm_name, value)

    def lookup_many(self, digests: Mapping[str, str]) -> list[Reference]:
        """References matching any of an observation's digests (see :class:`DigestIndex`)."""
        return self.index.lookup_many(digests)

    def lookup_bulk(self, algorithm_name: str,
                    values: Iterable[str]) -> dict[str, list[Reference]]:
        """Batched look-up of many digests of one algorithm: canonical value → references."""
        return self.index.lookup_bulk(algorithm_name, values)

    def perceptual(self) -> PerceptualMatcher:
        """The perceptual matcher over every bank (built or loaded once, then kept current
        by the imports made through this object)."""
        from netwarden.banks.perceptual import PerceptualMatcher

        if self._perceptual is None:
            self._perceptual = PerceptualMatcher.open(self.index)
            self.importer.listener = self._perceptual
        return self._perceptual

    def perceptual_matches(self, observation: Observation, banks: Iterable[str] | None = None
                           ) -> list[PerceptualReference]:
        """Perceptual (PDQ, vPDQ) matches of an observation: see banks/perceptual.py."""
        return self.perceptual().matches(observation, banks)

    def references(self, names: Iterable[str] | None = None) -> BankReferenceView:
        """The read-only view collectors get of the banks ``names`` (all banks when None)."""
        from netwarden.banks.view import BankReferenceView

        return BankReferenceView(self.index, names)

    # ------------------------------------------------------------------ listing

    def list_banks(self) -> list[BankInfo]:
        """Every bank with its counts, by name."""
        return self.catalog.list_banks()

    def show(self, name: str) -> BankInfo:
        """One bank with its import history; InputError if there is no such bank."""
        return self.catalog.show(name)
