"""The seams between the pipeline's stages and what they are given: one protocol per seam.

A stage names what it needs of a collaborator here, not the concrete class, so that a test can
hand it a small fake and a reader knows the whole contract from one screen:

- :class:`LedgerSink`: what the pipeline needs of the ledger (prepare, append in batches, read
  back, checkpoint); :class:`LeafAppender` the one method the writers of single leaves need.
  :class:`netwarden.ledger.Ledger` is the implementation.
- :class:`BankIndex`: what identification and the collectors need of the reference banks
  (exact look-up, perceptual matches, the collectors' read-only view).
  :class:`netwarden.banks.BankStore` is the implementation.
- :class:`Attributor`: who was behind an endpoint at a time.
  :class:`netwarden.attribute.Attributor` is the implementation.
- The collectors' seam is the :class:`netwarden.collect.base.Collector` ABC (one subclass per
  protocol, registered by scheme, yielding observations and refusals); it is not repeated
  here, because importing it loads every protocol module.

The protocols are checked statically (``mypy``), never probed at run time: a collaborator that
lacks a method is a type error, not a feature quietly switched off.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from netwarden.collect.references import ReferenceView
    from netwarden.ledger.storage import LeafRef, LedgerEntry, PreparedEntry
    from netwarden.records import Observation, Record

__all__ = ["Attribution", "Attributor", "BankIndex", "ExactIndex", "LeafAppender", "LedgerSink",
           "PerceptualReferenceLike", "ReferenceLike"]


# -- the ledger ------------------------------------------------------------------------------

class LeafAppender(Protocol):
    """Appends one record and says where it landed (durable on return)."""

    def append(self, record: Record) -> LeafRef: ...


class LedgerSink(LeafAppender, Protocol):
    """What an audit run needs of the ledger.

    The pipeline prepares each record (its leaf hash is known before it is durable: a match
    names its observation's leaf), appends whole chains in one transaction, and ends the run
    with a signed checkpoint; the assessment stage reads the run's observations back.
    """

    def prepare(self, record: Record) -> PreparedEntry: ...

    def append_many(self, entries: Sequence[Record | PreparedEntry]) -> list[LeafRef]: ...

    def entry(self, index: int) -> bytes: ...

    def entries(self, kind: str | Sequence[str] | None = None, *,
                record_id: str | Sequence[str] | None = None,
                run_id: str | Sequence[str] | None = None,
                match_id: str | None = None,
                indices: Sequence[int] | None = None,
                newest_first: bool = False,
                limit: int | None = None) -> list[LedgerEntry]: ...

    def checkpoint(self) -> object:
        """Sign and store a checkpoint of the tree; its ``str()`` is the signed note."""
        ...


# -- the banks -------------------------------------------------------------------------------

class ReferenceLike(Protocol):
    """A bank reference an exact look-up found (read-only)."""

    @property
    def bank(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def reference_id(self) -> str: ...
    @property
    def title(self) -> str | None: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def value(self) -> str: ...


class PerceptualReferenceLike(ReferenceLike, Protocol):
    """A bank reference within its bank's distance of an observation's perceptual hash."""

    @property
    def distance(self) -> int: ...


class ExactIndex(Protocol):
    """A batched exact look-up: references holding any of an observation's digests."""

    def lookup_many(self, digests: dict[str, str]) -> Sequence[ReferenceLike]: ...


class BankIndex(ExactIndex, Protocol):
    """What identification and the collectors need of the reference banks."""

    def perceptual_matches(self, observation: Observation, banks: Iterable[str] | None = None
                           ) -> Sequence[PerceptualReferenceLike]:
        """PDQ/vPDQ references near the observation (none when it has no perceptual hash)."""
        ...

    def references(self, names: Iterable[str] | None = None) -> ReferenceView | None:
        """The collectors' read-only view of the banks ``names`` (all when None); None when
        the index has nothing to offer collectors that ask by digest."""
        ...


# -- attribution -----------------------------------------------------------------------------

class Attribution(Protocol):
    """One answer of an :class:`Attributor`."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON object that goes into the finding and its ``attribution`` leaf."""
        ...


class Attributor(Protocol):
    """Who was behind ``ip``:``port`` at ``at`` (an aware datetime)."""

    def attribute(self, ip: str, port: int | None, at: datetime) -> Attribution: ...
