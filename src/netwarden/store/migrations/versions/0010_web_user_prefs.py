"""web application: per-user preferences (the UI language)

Revision ID: 0010_web_user_prefs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_web_user_prefs"
down_revision = "0009_web_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_user_prefs",
        sa.Column("user_name", sa.String(64), primary_key=True),
        sa.Column("lang", sa.String(8), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("web_user_prefs")
