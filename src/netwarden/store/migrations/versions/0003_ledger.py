"""the append-only Merkle ledger, checkpoints and keys

Revision ID: 0003_ledger
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003_ledger"
down_revision = '0002_banks'
branch_labels = None
depends_on = None


# On SQLite ``INTEGER PRIMARY KEY`` makes ``idx`` the rowid itself: one B-tree for the leaves
# instead of a rowid table plus a unique index on idx (BIGINT is not a rowid alias).
LEAF_INDEX = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Secondary indexes, only those the bundle selection and the web/report queries use (see
# docs/perf-ledger.md): every extra index is one more B-tree insert per appended leaf, and a
# random key (record ids are uuid4) costs a page write per leaf once the index outgrows the
# batch. No index on leaf_hash: nothing looks leaves up by hash.
LEAF_INDEXES = {
    "ix_ledger_leaves_type_record": (["record_type", "record_id"], None),
    "ix_ledger_leaves_run_type": (["run_id", "record_type"], None),
    "ix_ledger_leaves_match_id": (["match_id"], "match_id IS NOT NULL"),
}


def upgrade() -> None:
    op.create_table(
        "ledger_leaves",
        sa.Column("idx", LEAF_INDEX, primary_key=True, autoincrement=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("record_type", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(80)),
        sa.Column("run_id", sa.String(80)),
        sa.Column("match_id", sa.String(80)),
    )
    for name, (columns, where) in LEAF_INDEXES.items():
        kw: dict[str, Any] = {} if where is None else {"sqlite_where": sa.text(where),
                                       "postgresql_where": sa.text(where)}
        op.create_index(name, "ledger_leaves", columns, **kw)
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tsa_url", sa.String(400)),
        sa.Column("tsa_token", sa.LargeBinary()),
    )
    op.create_table(
        "ledger_keys",
        sa.Column("key_id", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("ledger_keys")
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_nodes")
    for name in LEAF_INDEXES:
        op.drop_index(name, "ledger_leaves")
    op.drop_table("ledger_leaves")
