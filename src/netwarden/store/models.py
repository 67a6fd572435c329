"""Import every model module so that ``Base.metadata`` is complete (Alembic, tests)."""

from __future__ import annotations

import importlib
import importlib.util

from netwarden.store.base import Base

_MODEL_MODULES = (
    "netwarden.banks.models",
    "netwarden.ledger.models",
    "netwarden.store.models_runs",
    "netwarden.notices.models",
    "netwarden.store.models_findings",
    "netwarden.campaign.models",
    "netwarden.web.models",
)


def load_all() -> type[Base]:
    """Import the model modules that exist and return the shared base."""
    for name in _MODEL_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    return Base
