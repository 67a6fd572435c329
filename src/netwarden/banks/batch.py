"""One import transaction's entries, held compactly and split by what the database must tell.

Most entries of a big bank file are *bare*: one digest, no reference, no vPDQ (a ``plain``
line). Whether such an entry is added or a duplicate is simply whether its digest was new, so
the import only needs a count of new rows for them (:func:`~netwarden.banks.bulk.insert_counted`)
and keeps only the raw digest in memory (about 80 bytes a SHA-256 instead of 420 for a
``BankEntry``). Every other entry is kept whole and its digests go through
:func:`~netwarden.banks.bulk.insert_returning`, which says which keys were new.

The first entry of the file to bring a digest owns it (its reference, or none, goes on the
digest row), whichever kind it is: a bare digest that is also brought by a referenced entry of
the same batch is therefore resolved by arrival order (:meth:`ImportBatch.owners`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netwarden.banks.digests import ALGORITHMS
from netwarden.banks.formats import BankEntry


def _codes() -> dict[str, int]:
    """Algorithm name → bank-index code, from the registry (taken once per batch)."""
    return {name: algo.code for name, algo in ALGORITHMS.items() if algo.code is not None}


# Whole entries held per batch at most (bare digests: the import's batch_size, 200,000 by
# default): a catalog row or torrent costs kilobytes, a bare SHA-256 about 80 bytes.
MAX_OTHERS = 50_000
BARE = -1  # owner of a key brought first by a bare entry
_NONE_BEFORE: dict[int, int] = {}  # shared, never written: no bare entry came before

Key = tuple[int, bytes]


@dataclass
class ImportBatch:
    """Entries of one batch. ``identified_codes``: algorithms whose new keys must be known
    even for bare entries (PDQ, while a perceptual matcher in this process wants them)."""

    identified_codes: frozenset[int] = frozenset()
    bare: dict[int, list[bytes]] = field(default_factory=dict)  # algorithm code → raw digests
    others: list[BankEntry] = field(default_factory=list)
    # For each of ``others``: how many bare entries of each of its algorithms came before it.
    before: list[dict[int, int]] = field(default_factory=list)
    size: int = 0
    codes: dict[str, int] = field(default_factory=_codes)  # name → code (the registry's)

    def full(self, batch_size: int) -> bool:
        """Time to write: ``batch_size`` entries, or MAX_OTHERS whole entries, are held."""
        return self.size >= batch_size or len(self.others) >= MAX_OTHERS

    def add(self, entry: BankEntry) -> None:
        self.size += 1
        digests = entry.digests
        # Exactly BankEntry: a subclass (a VideoEntry's vPDQ) carries more than a digest.
        if entry.reference_id is None and len(digests) == 1 and type(entry) is BankEntry:
            [(name, raw)] = digests.items()
            code = self.codes[name]
            if code not in self.identified_codes:
                raws = self.bare.get(code)
                if raws is None:
                    raws = self.bare[code] = []
                raws.append(raw)
                return
        self.others.append(entry)
        bare = self.bare
        codes = self.codes
        self.before.append({code: len(bare.get(code, ())) for code in (codes[n] for n in digests)}
                           if bare else _NONE_BEFORE)

    def owners(self) -> tuple[dict[Key, int], dict[int, list[bytes]]]:
        """Who owns each key the ``others`` bring, and the bare digests nobody else brings.

        Returns (key → index in ``others`` or BARE, algorithm code → the bare digests to
        insert and count, sorted). A bare entry whose key an ``other`` also brings is left out
        of the second: it is added only if it owns the key and the key was new.
        """
        owner: dict[Key, int] = {}
        for j, entry in enumerate(self.others):
            for name, raw in entry.digests.items():
                owner.setdefault((self.codes[name], raw), j)
        counted: dict[int, list[bytes]] = {}
        for code, raws in self.bare.items():
            shared = {raw for (c, raw) in owner if c == code} if owner else set()
            if not shared:
                counted[code] = raws
                continue
            keep: list[bytes] = []
            first: dict[bytes, int] = {}
            for index, raw in enumerate(raws):
                if raw in shared:
                    first.setdefault(raw, index)
                else:
                    keep.append(raw)
            for raw, index in first.items():
                if index < self.before[owner[(code, raw)]].get(code, 0):
                    owner[(code, raw)] = BARE  # the bare line came first in the file
            counted[code] = keep
        for raws in counted.values():
            raws.sort()  # key order: each B-tree page is touched once per batch
        return owner, counted
