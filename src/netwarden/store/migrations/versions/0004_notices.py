"""notices (outgoing and ingested) and their state history

Revision ID: 0004_notices
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_notices"
down_revision = "0003_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("run_id", sa.String(80)),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("jurisdiction", sa.String(8)),
        sa.Column("operator", sa.String(200)),
        sa.Column("recipient", sa.String(320)),
        sa.Column("notifier", sa.String(320)),
        sa.Column("subject", sa.Text()),
        sa.Column("finding_ids", sa.JSON()),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("missing", sa.JSON()),
        sa.Column("message", sa.LargeBinary()),
        sa.Column("message_sha256", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("deadline_at", sa.DateTime(timezone=True)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("smtp_outcome", sa.String(30)),
        sa.Column("smtp_code", sa.Integer()),
        sa.Column("smtp_message", sa.Text()),
        sa.Column("details", sa.JSON()),
        sa.Column("leaf_index", sa.Integer()),
        sa.Column("leaf_hash", sa.String(64)),
    )
    for column in ("direction", "run_id", "deadline_at", "state"):
        op.create_index(f"ix_notices_{column}", "notices", [column])
    op.create_table(
        "notice_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("notice_id", sa.String(40), sa.ForeignKey("notices.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("finding_id", sa.String(80)),
        sa.Column("detail", sa.JSON()),
        sa.Column("leaf_index", sa.Integer()),
        sa.Column("leaf_hash", sa.String(64)),
    )
    op.create_index("ix_notice_events_notice_id", "notice_events", ["notice_id"])


def downgrade() -> None:
    op.drop_index("ix_notice_events_notice_id", table_name="notice_events")
    op.drop_table("notice_events")
    for column in ("direction", "run_id", "deadline_at", "state"):
        op.drop_index(f"ix_notices_{column}", table_name="notices")
    op.drop_table("notices")
