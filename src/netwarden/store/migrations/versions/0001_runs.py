"""runs and their metadata (pipeline)

Revision ID: 0001_runs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_runs"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("check_id", sa.String(200), nullable=False, index=True),
        sa.Column("operator", sa.String(200), nullable=False, index=True),
        sa.Column("jurisdiction", sa.String(8), nullable=False),
        sa.Column("scope_sha256", sa.String(64), nullable=False),
        sa.Column("out_dir", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("served", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("runs")
