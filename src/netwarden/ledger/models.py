"""SQLAlchemy tables of the ledger: leaves, stored subtree hashes, checkpoints, keys.

``ledger_nodes`` keeps the hash of every complete, aligned subtree ("node (level, index)
covers leaves [index·2^level, (index+1)·2^level)") for level >= 1; level 0 is the leaf hash in
``ledger_leaves``. Any subtree a proof needs is the fold of at most log2(n) of these, which is
what makes proof generation O(log n) reads at any size.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from netwarden.store.base import Base


class LeafRow(Base):
    """One ledger leaf: its index, RFC 6962 leaf hash and the canonical (RFC 8785) entry.

    Indexed for the look-ups that exist (bundle selection, web trail, reports): record type
    [+ id], run [+ type], match id where set. Each index is one more B-tree insert on every
    append, so none is kept "just in case" (see docs/perf-ledger.md); migration 0003 matches.
    """

    __tablename__ = "ledger_leaves"
    __table_args__ = (
        Index("ix_ledger_leaves_type_record", "record_type", "record_id"),
        Index("ix_ledger_leaves_run_type", "run_id", "record_type"),
        Index("ix_ledger_leaves_match_id", "match_id",
              sqlite_where=text("match_id IS NOT NULL"),
              postgresql_where=text("match_id IS NOT NULL")),
    )

    # INTEGER on SQLite: the rowid itself, so a leaf is one B-tree entry, not two
    idx: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                     primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    entry: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    record_type: Mapped[str] = mapped_column(String(40), nullable=False)
    record_id: Mapped[str | None] = mapped_column(String(80))
    run_id: Mapped[str | None] = mapped_column(String(80))
    match_id: Mapped[str | None] = mapped_column(String(80))


class NodeRow(Base):
    """Hash of the complete subtree (level, idx), level >= 1."""

    __tablename__ = "ledger_nodes"
    __table_args__: ClassVar[dict[str, bool]] = {"sqlite_with_rowid": False}

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class CheckpointRow(Base):
    """A signed checkpoint (C2SP signed note), optionally with an RFC 3161 timestamp token."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    key_id: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    tsa_url: Mapped[str | None] = mapped_column(String(400))
    tsa_token: Mapped[bytes | None] = mapped_column(LargeBinary)


class KeyRow(Base):
    """Public half of every signing key the ledger has used (rotation keeps old ones)."""

    __tablename__ = "ledger_keys"

    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
