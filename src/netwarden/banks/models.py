"""Database tables of the reference banks and the exact-digest index.

``bank_digests`` is the index every audit looks up: one row per (algorithm, digest, bank),
the digest as raw bytes under a small-integer algorithm code (see ``banks/digests.py``). Its
primary key *is* the lookup key and, in SQLite, the table is ``WITHOUT ROWID``: the rows live
in the key's B-tree, so an entry costs one key (~40 bytes for a SHA-256) instead of a row plus
a separate index. ``plain`` entries have no ``bank_references`` row at all (the digest is the
reference), which keeps a bank of 10 million bare hashes at about one B-tree entry each.

Counts are kept on the ``banks`` row because counting a 10-million-row index is a full scan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from netwarden.store.base import Base


class Bank(Base):
    """A named set of references of one category (``films``, ``csam-standin``...)."""

    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    digest_count: Mapped[int] = mapped_column(BigInteger, default=0)
    reference_count: Mapped[int] = mapped_column(BigInteger, default=0)
    algorithm_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # An allow-list (known-good or known false positives): its hits suppress perceptual matches.
    negative: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Per-bank matching settings: {"pdq_threshold": 31, "vpdq": {...}} (None: defaults).
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class BankImport(Base):
    """One import of a file into a bank: provenance of the bank's content."""

    __tablename__ = "bank_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    format: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    added: Mapped[int] = mapped_column(BigInteger)
    duplicates: Mapped[int] = mapped_column(BigInteger)
    bad: Mapped[int] = mapped_column(BigInteger)


class BankReference(Base):
    """A reference item with an identity of its own (catalog row, torrent)."""

    __tablename__ = "bank_references"
    __table_args__ = (UniqueConstraint("bank_id", "reference_id",
                                       name="uq_bank_references_bank_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    reference_id: Mapped[str] = mapped_column(String(512))
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    rights_holder: Mapped[str | None] = mapped_column(Text, nullable=True)


class BankTorrent(Base):
    """What a banked .torrent says about its content (for piece verification later)."""

    __tablename__ = "bank_torrents"

    reference_pk: Mapped[int] = mapped_column(
        ForeignKey("bank_references.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    piece_length: Mapped[int] = mapped_column(BigInteger)
    total_size: Mapped[int] = mapped_column(BigInteger)
    info_hash_v1: Mapped[str | None] = mapped_column(String(40), nullable=True)
    info_hash_v2: Mapped[str | None] = mapped_column(String(64), nullable=True)
    files: Mapped[list[Any]] = mapped_column(JSON)
    pieces: Mapped[bytes] = mapped_column(LargeBinary)
    piece_layers: Mapped[bytes] = mapped_column(LargeBinary)  # bencoded {root: layer}
    info: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # bencoded info dict


class BankDigest(Base):
    """The exact index: (algorithm, digest, bank) → optional reference row."""

    __tablename__ = "bank_digests"
    __table_args__ = ({"sqlite_with_rowid": False},)  # a tuple: SQLAlchemy types it as Any

    algorithm: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"),
                                         primary_key=True)
    reference_pk: Mapped[int | None] = mapped_column(
        ForeignKey("bank_references.id", ondelete="CASCADE"), nullable=True)


class BankVpdq(Base):
    """A video reference's vPDQ: the frame features as the signal string threatexchange uses."""

    __tablename__ = "bank_vpdq"
    __table_args__ = (UniqueConstraint("bank_id", "signal_sha256",
                                       name="uq_bank_vpdq_bank_signal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    reference_pk: Mapped[int] = mapped_column(
        ForeignKey("bank_references.id", ondelete="CASCADE"))
    signal_sha256: Mapped[str] = mapped_column(String(64))
    frames: Mapped[int] = mapped_column(Integer)
    signal: Mapped[str] = mapped_column(Text)  # JSON list of "hex,quality,timestamp"
