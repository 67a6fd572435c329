"""perceptual banks: negative (allow-list) banks, per-bank match settings, vPDQ references

Revision ID: 0005_perceptual

PDQ hashes live in ``bank_digests`` like every other digest (algorithm code 8, 32 raw bytes);
what is new is per-bank: ``negative`` (an allow-list that suppresses perceptual matches) and
``settings`` (JSON: ``pdq_threshold``, vPDQ thresholds), and the ``bank_vpdq`` table holding a
video reference's frame hashes (vPDQ is a list of frames, not one digest).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_perceptual"
down_revision = "0004_notices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("banks") as batch:
        batch.add_column(sa.Column("negative", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("settings", sa.JSON(), nullable=True))
    op.create_table(
        "bank_vpdq",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("reference_pk", sa.Integer(),
                  sa.ForeignKey("bank_references.id", ondelete="CASCADE"), nullable=False),
        sa.Column("signal_sha256", sa.String(64), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("signal", sa.Text(), nullable=False),
        sa.UniqueConstraint("bank_id", "signal_sha256", name="uq_bank_vpdq_bank_signal"),
    )


def downgrade() -> None:
    op.drop_table("bank_vpdq")
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("settings")
        batch.drop_column("negative")
