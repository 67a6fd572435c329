"""clock_info() reports this machine's real clock source and sync state."""

from __future__ import annotations

import json
from pathlib import Path

from netwarden.ledger import clock_info


def test_clock_info_reads_the_kernel() -> None:
    info = clock_info()
    json.dumps(info)  # goes into run metadata as JSON
    source = Path("/sys/devices/system/clocksource/clocksource0/current_clocksource")
    if source.exists():
        assert info["clock_source"] == source.read_text().strip()
        assert info["clock_source"] in info["available_clock_sources"]
    kernel = info["kernel"]
    assert "error" in kernel or (isinstance(kernel["synchronized"], bool)
                                 and kernel["state"].startswith("TIME_"))
    assert info["read_at"].endswith("+00:00")
