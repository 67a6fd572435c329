"""reference banks and the exact-digest index

Revision ID: 0002_banks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_banks"
down_revision = '0001_runs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest_count", sa.BigInteger(), nullable=False),
        sa.Column("reference_count", sa.BigInteger(), nullable=False),
        sa.Column("algorithm_counts", sa.JSON(), nullable=False),
    )
    op.create_table(
        "bank_imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=True),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.Column("duplicates", sa.BigInteger(), nullable=False),
        sa.Column("bad", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_bank_imports_bank_id", "bank_imports", ["bank_id"])
    op.create_table(
        "bank_references",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("reference_id", sa.String(512), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("rights_holder", sa.Text(), nullable=True),
        sa.UniqueConstraint("bank_id", "reference_id", name="uq_bank_references_bank_ref"),
    )
    op.create_table(
        "bank_torrents",
        sa.Column("reference_pk", sa.Integer(),
                  sa.ForeignKey("bank_references.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("piece_length", sa.BigInteger(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.Column("info_hash_v1", sa.String(40), nullable=True),
        sa.Column("info_hash_v2", sa.String(64), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("pieces", sa.LargeBinary(), nullable=False),
        sa.Column("piece_layers", sa.LargeBinary(), nullable=False),
        sa.Column("info", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "bank_digests",
        sa.Column("algorithm", sa.SmallInteger(), nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("reference_pk", sa.Integer(),
                  sa.ForeignKey("bank_references.id", ondelete="CASCADE"), nullable=True),
        sa.PrimaryKeyConstraint("algorithm", "digest", "bank_id"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("bank_digests")
    op.drop_table("bank_torrents")
    op.drop_table("bank_references")
    op.drop_index("ix_bank_imports_bank_id", table_name="bank_imports")
    op.drop_table("bank_imports")
    op.drop_table("banks")
