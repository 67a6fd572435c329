"""web application: users, sessions, review state, security events

Revision ID: 0007_web
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_web"
down_revision = "0006_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_sessions_user_name", "web_sessions", ["user_name"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "web_reviews",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("finding_id", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_web_reviews_finding_id", "web_reviews", ["finding_id"])
    op.create_table(
        "web_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("user_name", sa.String(64)),
        sa.Column("client", sa.String(64)),
        sa.Column("method", sa.String(8)),
        sa.Column("path", sa.String(300)),
        sa.Column("detail", sa.Text()),
    )
    for col in ("at", "kind", "user_name", "client"):
        op.create_index(f"ix_web_events_{col}", "web_events", [col])


def downgrade() -> None:
    for col in ("at", "kind", "user_name", "client"):
        op.drop_index(f"ix_web_events_{col}", "web_events")
    op.drop_table("web_events")
    op.drop_index("ix_web_reviews_finding_id", "web_reviews")
    op.drop_table("web_reviews")
    op.drop_index("ix_web_sessions_expires_at", "web_sessions")
    op.drop_index("ix_web_sessions_user_name", "web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("web_users")
