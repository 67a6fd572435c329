"""Reference banks: sets of known items (digests, torrents) and the exact-digest index.

``BankStore(open_store(url))`` imports bank files (formats in ``banks/formats``) and answers
exact look-ups; see docs/banks.md. It is a facade over parts usable on their own:
``BankImporter`` (banks/importer.py), ``DigestIndex`` (banks/exact.py), ``BankCatalog``
(banks/catalog.py) and the perceptual matcher (banks/perceptual.py).
"""

from __future__ import annotations

from netwarden.banks.catalog import BankCatalog, BankInfo
from netwarden.banks.exact import DigestIndex, Reference
from netwarden.banks.formats import BankEntry, BankFormat, LineProblem, TorrentFile, TorrentMeta
from netwarden.banks.importer import BankImporter, ImportRecord, ImportReport
from netwarden.banks.store import BankStore

__all__ = [
    "BankCatalog",
    "BankEntry",
    "BankFormat",
    "BankImporter",
    "BankInfo",
    "BankStore",
    "DigestIndex",
    "ImportRecord",
    "ImportReport",
    "LineProblem",
    "Reference",
    "TorrentFile",
    "TorrentMeta",
]
