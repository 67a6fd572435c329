"""The bounded line reader every log source uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwarden.attribute import base
from netwarden.attribute.radius import RadiusDetailSource


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_lines_are_split_bounded_and_numbered(tmp_path: Path, monkeypatch, block: int) -> None:
    monkeypatch.setattr(base, "MAX_LINE", 40)
    monkeypatch.setattr(base, "READ_BLOCK", block)
    path = tmp_path / "log"
    path.write_bytes(b"first\r\n" + b"y" * 100 + b"\nthird \xff\n\n" + b"z" * 45
                     + b"\nlast without newline")
    source = RadiusDetailSource(path)
    got = list(source.lines())
    assert got == [(1, "first\r"), (3, "third \ufffd"), (4, ""), (6, "last without newline")]
    assert [(p.line, p.problem.split()[0]) for p in source.problems] == [
        (2, "line"), (3, "bytes"), (5, "line")]
    assert source.lines_read == 6
