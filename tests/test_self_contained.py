"""A clone alone passes its tests: nothing under ``tests/`` or ``benchmarks/`` reads files from
beside the repository (the workspace's ``../shared``). Test data lives in ``tests/data/`` with
its licence and provenance.

A grep, not an import hook: the ways a test reaches outside (``../shared``, an absolute
``/work/shared``, a path joined from a ``"shared"`` component) are all visible in the source.

"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PENDING: set[Path] = set()  # directories still allowed to read ../shared (none now)

# "../shared", "/work/shared", "shared/vectors", or a path component "shared" joined with `/`
OUTSIDE = re.compile(r"""\.\./shared|/work/shared|shared/vectors"""
                     r"""|/\s*["']shared["']|["']shared["']\s*/""")


def offending_lines(text: str) -> list[str]:
    """The lines of ``text`` that reach for files outside the repository."""
    return [line.strip() for line in text.splitlines() if OUTSIDE.search(line)]


def test_pattern_catches_the_known_ways_out() -> None:
    """The grep finds what the PDQ and Merkle tests used to do, and spares ordinary words."""
    assert offending_lines('VECTORS = Path(__file__).parents[3] / "shared" / "vectors"')
    assert offending_lines('VECTORS = Path("/work/shared/vectors/pdq")')
    assert offending_lines("open('../shared/vectors/rfc6962/inclusion/x.json')")
    assert not offending_lines("wait_shared(hub, clients)  # a shared public address")
    assert not offending_lines('reason = "shared_address_without_port"')


def test_no_test_or_benchmark_reads_outside_the_repository() -> None:
    found = []
    for folder in (ROOT / "tests", ROOT / "benchmarks"):
        for path in sorted(folder.rglob("*.py")):
            if path == Path(__file__).resolve() or any(p in path.parents for p in PENDING):
                continue
            found += [f"{path.relative_to(ROOT)}: {line}"
                      for line in offending_lines(path.read_text(encoding="utf-8"))]
    assert not found, "tests must read their data from tests/data/:\n" + "\n".join(found)
