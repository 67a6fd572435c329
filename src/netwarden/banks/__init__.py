"""Reference banks: sets of known items (digests, torrents) and the exact-digest index.

``BankStore(open_store(url))`` imports bank files (formats in ``banks/formats``) and answers
exact look-ups; see docs/banks.md.
"""

from __future__ import annotations

from netwarden.banks.formats import BankEntry, BankFormat, LineProblem, TorrentFile, TorrentMeta
from netwarden.banks.store import BankInfo, BankStore, ImportRecord, ImportReport, Reference

__all__ = [
    "BankEntry",
    "BankFormat",
    "BankInfo",
    "BankStore",
    "ImportRecord",
    "ImportReport",
    "LineProblem",
    "Reference",
    "TorrentFile",
    "TorrentMeta",
]
