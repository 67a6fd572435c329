"""SQLAlchemy tables of the ledger: leaves in blocks of 256, subtree hashes, checkpoints, keys.

Leaves are stored the way C2SP tlog-tiles publishes them, so a batch append writes O(1) rows
per 256 leaves instead of a row (and three index entries) per leaf (docs/perf-ledger.md):

* ``ledger_bundles``: one row per full, aligned block of 256 leaves: its entries (an entry
  bundle), its 256 leaf hashes (the level-0 hash tile) and the hashes of its inner subtrees,
  levels 1..7 (so a proof reads them instead of re-hashing a tile);
* ``ledger_tail``: the leaves after the last full block (fewer than 256), one row each, so a
  single durable append writes one small row; when the block fills, its rows become a bundle;
* ``ledger_nodes``: the hash of every complete, aligned subtree of level >= 8 ("node (level,
  index) covers leaves [index·2^level, (index+1)·2^level)"), and of level 1..7 inside the
  tail; any subtree a proof needs is the fold of at most log2(n) stored hashes;
* ``ledger_index``: the look-up columns (record type, id, run, match id) per leaf, derived
  from the entry bytes and brought up to date when a look-up needs it, not on append (see
  :meth:`netwarden.ledger.storage.Ledger.entries`).
"""

from __future__ import annotations

from datetime import datetime

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

# INTEGER on SQLite: the rowid itself, so a row is one B-tree entry, not two
ROWID = BigInteger().with_variant(Integer(), "sqlite")


class BundleRow(Base):
    """256 leaves [idx·256, idx·256 + 256): entries, leaf hashes and inner subtree hashes.

    ``entries`` is each entry as a big-endian uint32 length and its bytes (C2SP bundles use
    uint16, which would cap an entry at 64 KiB; publishing re-encodes); ``hashes`` the 256 leaf
    hashes (the C2SP level-0 tile); ``subtrees`` the hashes of levels 1..7, level by level.
    """

    __tablename__ = "ledger_bundles"

    idx: Mapped[int] = mapped_column(ROWID, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    subtrees: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    entries: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class TailRow(Base):
    """A leaf after the last full block: index, RFC 6962 leaf hash, canonical entry."""

    __tablename__ = "ledger_tail"

    idx: Mapped[int] = mapped_column(ROWID, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    entry: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class IndexRow(Base):
    """Look-up columns of leaf ``idx``, read from its entry (see module docstring).

    Indexed for the look-ups that exist (bundle selection, web trail, reports): record type
    [+ id], run [+ type], match id where set; migration 0011 matches.
    """

    __tablename__ = "ledger_index"
    __table_args__ = (
        Index("ix_ledger_index_type_record", "record_type", "record_id"),
        Index("ix_ledger_index_run_type", "run_id", "record_type"),
        Index("ix_ledger_index_match_id", "match_id",
              sqlite_where=text("match_id IS NOT NULL"),
              postgresql_where=text("match_id IS NOT NULL")),
    )

    idx: Mapped[int] = mapped_column(ROWID, primary_key=True, autoincrement=False)
    record_type: Mapped[str] = mapped_column(String(40), nullable=False)
    record_id: Mapped[str | None] = mapped_column(String(80))
    run_id: Mapped[str | None] = mapped_column(String(80))
    match_id: Mapped[str | None] = mapped_column(String(80))


class NodeRow(Base):
    """Hash of the complete subtree (level, idx): level >= 8, or 1..7 inside the tail."""

    __tablename__ = "ledger_nodes"
    __table_args__ = ({"sqlite_with_rowid": False},)

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
