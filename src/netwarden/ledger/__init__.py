"""The evidence ledger: one append-only RFC 6962/9162 Merkle tree per installation.

Every fact an audit establishes is a leaf (SHA-256(0x00 || RFC 8785 JSON)); signed checkpoints
(C2SP signed note, Ed25519) fix the tree's size and root; inclusion and consistency proofs let a
third party check any leaf offline with nothing but the operator's public key. See
``docs/evidence.md`` for the algorithm.
"""

from __future__ import annotations

from netwarden.ledger.clock import clock_info
from netwarden.ledger.merkle import (
    BadHashSizeError,
    IndexOutOfRangeError,
    ProofError,
    RootMismatchError,
    SizeOrderError,
    WrongProofSizeError,
    verify_consistency,
    verify_inclusion,
)
from netwarden.ledger.storage import LeafRef, Ledger, LedgerEntry, LedgerError, canonical

__all__ = [
    "BadHashSizeError",
    "IndexOutOfRangeError",
    "LeafRef",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "ProofError",
    "RootMismatchError",
    "SizeOrderError",
    "WrongProofSizeError",
    "canonical",
    "clock_info",
    "verify_consistency",
    "verify_inclusion",
]
