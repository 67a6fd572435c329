"""web application: webhooks and their delivery log

Revision ID: 0009_web_webhooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_web_webhooks"
down_revision = "0008_web_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_webhooks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("events", sa.String(200), nullable=False),
        sa.Column("key_fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "web_webhook_deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("webhook_id", sa.String(32), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("event_key", sa.String(120), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("webhook_id", "event_key", name="uq_web_webhook_deliveries_event"),
    )
    op.create_index("ix_web_webhook_deliveries_webhook_id", "web_webhook_deliveries",
                    ["webhook_id"])
    op.create_index("ix_web_webhook_deliveries_status", "web_webhook_deliveries", ["status"])


def downgrade() -> None:
    op.drop_index("ix_web_webhook_deliveries_status", "web_webhook_deliveries")
    op.drop_index("ix_web_webhook_deliveries_webhook_id", "web_webhook_deliveries")
    op.drop_table("web_webhook_deliveries")
    op.drop_table("web_webhooks")
