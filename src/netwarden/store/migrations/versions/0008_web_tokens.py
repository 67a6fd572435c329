"""web application: API tokens for scripts

Revision ID: 0008_web_tokens
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_web_tokens"
down_revision = "0007_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("note", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_web_api_tokens_user_name", "web_api_tokens", ["user_name"])


def downgrade() -> None:
    op.drop_index("ix_web_api_tokens_user_name", "web_api_tokens")
    op.drop_table("web_api_tokens")
