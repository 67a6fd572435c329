from __future__ import annotations

from pathlib import Path

import pytest

from netwarden.attribute import Attributor, Pseudonymizer, open_index
from netwarden.attribute.base import LogSource

KEY = b"k" * 32


@pytest.fixture
def pseudonymizer() -> Pseudonymizer:
    return Pseudonymizer(KEY)


@pytest.fixture
def make_attributor(tmp_path: Path, pseudonymizer: Pseudonymizer):
    """Build an Attributor over the given sources (indexed into tmp_path/cache)."""
    def build(*sources: LogSource, nat: tuple[LogSource, ...] = (), skew: float = 2.0,
              **kwargs) -> Attributor:
        cache = tmp_path / "cache"
        return Attributor(sessions=[open_index(s, cache) for s in sources],
                          nat_logs=[open_index(s, cache) for s in nat],
                          pseudonymizer=pseudonymizer, clock_skew=skew, **kwargs)
    return build
