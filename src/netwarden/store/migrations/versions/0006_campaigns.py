"""findings (one row per finding) and campaigns, their jobs and attempts

Revision ID: 0006_campaigns
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_campaigns"
down_revision = "0005_perceptual"
branch_labels = None
depends_on = None

_FINDING_INDEXES = ("run_id", "operator", "category", "evidence_level", "host", "observed_at",
                    "reference")


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("check_id", sa.String(200), nullable=False),
        sa.Column("operator", sa.String(200), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("evidence_level", sa.String(16), nullable=False),
        sa.Column("protocol", sa.String(32), nullable=False),
        sa.Column("host", sa.String(64), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bank", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("leaf_index", sa.Integer()),
        sa.Column("data", sa.Text(), nullable=False),
    )
    for column in _FINDING_INDEXES:
        op.create_index(f"ix_findings_{column}", "findings", [column])
    op.create_index("ix_findings_operator_level", "findings", ["operator", "evidence_level"])

    op.create_table(
        "campaigns",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("out_dir", sa.Text(), nullable=False),
        sa.Column("settings", sa.JSON()),
    )
    op.create_table(
        "campaign_jobs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("campaign", sa.String(200), sa.ForeignKey("campaigns.name"), nullable=False),
        sa.Column("operator", sa.String(200), nullable=False),
        sa.Column("scope_path", sa.Text(), nullable=False),
        sa.Column("scope_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("out_dir", sa.Text()),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
        sa.Column("services", sa.Integer(), nullable=False),
        sa.Column("services_done", sa.Integer(), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("served", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.UniqueConstraint("campaign", "scope_sha256", name="uq_campaign_jobs_scope"),
    )
    for column in ("campaign", "operator", "status"):
        op.create_index(f"ix_campaign_jobs_{column}", "campaign_jobs", [column])
    op.create_table(
        "campaign_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("campaign_jobs.id"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("executor", sa.String(16), nullable=False),
        sa.Column("worker", sa.String(200)),
        sa.Column("run_id", sa.String(32)),
        sa.Column("out_dir", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text()),
        sa.Column("interrupted_leaf", sa.Integer()),
    )
    op.create_index("ix_campaign_attempts_job_id", "campaign_attempts", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_campaign_attempts_job_id", table_name="campaign_attempts")
    op.drop_table("campaign_attempts")
    for column in ("campaign", "operator", "status"):
        op.drop_index(f"ix_campaign_jobs_{column}", table_name="campaign_jobs")
    op.drop_table("campaign_jobs")
    op.drop_table("campaigns")
    op.drop_index("ix_findings_operator_level", table_name="findings")
    for column in _FINDING_INDEXES:
        op.drop_index(f"ix_findings_{column}", table_name="findings")
    op.drop_table("findings")
