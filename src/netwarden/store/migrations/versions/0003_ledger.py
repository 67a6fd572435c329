"""the append-only Merkle ledger, checkpoints and keys

Revision ID: 0003_ledger
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0003_ledger"
down_revision = '0002_banks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
