"""reference banks and the exact-digest index

Revision ID: 0002_banks
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0002_banks"
down_revision = '0001_runs'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
