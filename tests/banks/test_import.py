"""Bank import on both back ends (SQLite and a real PostgreSQL server): exact added/duplicate
counts at the edges of the bulk-insert path, re-imports, and what a failure half-way keeps.

The import writes bare digests with ``INSERT OR IGNORE`` / ``COPY`` and counts (see
``banks/bulk.py``) and everything else with ``RETURNING``; these tests pin that both ways
classify every entry as the one-row-at-a-time definition would, on both databases.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from netwarden.banks import BankStore
from netwarden.banks.formats import _REGISTRY as FORMATS
from netwarden.banks.formats import BankEntry, BankFormat, LineProblem, available_formats
from netwarden.banks.formats.plain import PlainFormat
from netwarden.banks.models import BankDigest, BankReference
from netwarden.errors import InputError
from netwarden.store import open_store


def sha256s(n: int, seed: bytes = b"") -> list[str]:
    return [hashlib.sha256(seed + i.to_bytes(4, "big")).hexdigest() for i in range(n)]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'netwarden.sqlite'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def banks(store_url: str) -> Iterator[BankStore]:
    store = open_store(store_url)
    try:
        yield BankStore(store)
    finally:
        store.close()


def reopened(banks: BankStore) -> BankStore:
    """A second store on the same database: sees only what was committed."""
    return BankStore(open_store(banks.store.url))


def digest_rows(banks: BankStore) -> int:
    with banks.store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(BankDigest)).scalar_one()


def test_duplicates_inside_and_across_batches_and_reimport(banks: BankStore,
                                                           tmp_path: Path) -> None:
    values = sha256s(25)
    md5 = hashlib.md5(b"x").hexdigest()
    # batch_size=10: repeats inside the first batch (lines 2, 4), a repeat of batch 1 in
    # batch 3 (values[0] again), an MD5 twice in the last batch.
    lines = [values[0], values[0], values[1], values[1].upper(), *values[2:], values[0], md5,
             md5]
    path = write(tmp_path / "bank.txt", lines)
    first = banks.import_file("films", "films", "plain", path, batch_size=10)
    assert (first.added, first.duplicates, first.bad) == (26, 4, 0)
    again = banks.import_file("films", "films", "plain", path, batch_size=7)
    assert (again.added, again.duplicates, again.bad) == (0, 30, 0)
    other = reopened(banks)
    try:
        info = other.show("films")
        assert (info.digests, info.references) == (26, 26)
        assert info.algorithms == {"md5": 1, "sha256": 25}
        assert [(i.added, i.duplicates, i.bad) for i in info.imports] == [(26, 4, 0), (0, 30, 0)]
        assert set(other.lookup_bulk("sha256", values)) == set(values)
        assert [r.reference_id for r in other.lookup("md5", md5)] == [md5]
    finally:
        other.store.close()
    assert digest_rows(banks) == 26


def test_default_batch_and_overlapping_files(banks: BankStore, tmp_path: Path) -> None:
    values = sha256s(3000)
    a = banks.import_file("films", "films", "plain", write(tmp_path / "a.txt", values[:2000]))
    b = banks.import_file("films", "films", "plain", write(tmp_path / "b.txt", values[1000:]))
    assert (a.added, a.duplicates) == (2000, 0)
    assert (b.added, b.duplicates) == (1000, 1000)
    assert banks.show("films").digests == 3000 == digest_rows(banks)


def test_bare_and_titled_lines_of_one_digest(banks: BankStore, tmp_path: Path) -> None:
    """The first line to bring a digest owns it, bare or titled, in one batch or two."""
    x, y = sha256s(2, b"own")
    path = write(tmp_path / "bank.txt", [x, f"{x} film-x.mkv", f"{y} film-y.mkv", y])
    report = banks.import_file("films", "films", "plain", path)
    # x: the bare line owns the digest (no title); its titled line adds a reference row.
    # y: the titled line owns it; the bare line after it is a duplicate.
    assert (report.added, report.duplicates) == (3, 1)
    [hit_x] = banks.lookup("sha256", x)
    [hit_y] = banks.lookup("sha256", y)
    assert (hit_x.reference_id, hit_x.title) == (x, None)
    assert (hit_y.reference_id, hit_y.title) == (y, "film-y.mkv")
    info = banks.show("films")
    assert (info.digests, info.references) == (2, 3)
    split = banks.import_file("split", "films", "plain", path, batch_size=1)
    assert (split.added, split.duplicates) == (3, 1)
    assert banks.lookup("sha256", y)[1].title == "film-y.mkv"


def test_catalog_references_and_new_digests(banks: BankStore, tmp_path: Path) -> None:
    md5 = [hashlib.md5(bytes([i])).hexdigest() for i in range(6)]
    sha1 = hashlib.sha1(b"one").hexdigest()
    path = tmp_path / "c.csv"
    path.write_text("reference_id,title,md5\n" + "".join(
        f"F-{i},Film {i},{md5[i]}\n" for i in range(5)) + f"F-0,Film 0 again,{md5[0]}\n")
    first = banks.import_file("studio", "films", "catalog", path, batch_size=2)
    assert (first.added, first.duplicates) == (5, 1)
    # F-0 again with a new digest: added (new digest row); F-5 new; F-1 unchanged: duplicate.
    path.write_text(f"reference_id,md5,sha1\nF-0,{md5[0]},{sha1}\nF-5,{md5[5]},\n"
                    f"F-1,{md5[1]},\n")
    again = banks.import_file("studio", "films", "catalog", path)
    assert (again.added, again.duplicates) == (2, 1)
    [hit] = banks.lookup("sha1", sha1)
    assert (hit.reference_id, hit.title) == ("F-0", "Film 0")
    info = banks.show("studio")
    assert (info.references, info.digests) == (6, 7)
    with banks.store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(BankReference)).scalar_one() == 6


def test_bad_line_after_good_lines(banks: BankStore, tmp_path: Path) -> None:
    values = sha256s(12)
    path = write(tmp_path / "bank.txt", [*values[:7], "not-a-digest", *values[7:]])
    report = banks.import_file("films", "films", "plain", path, batch_size=3)
    assert (report.added, report.duplicates, report.bad) == (12, 0, 1)
    [problem] = report.problems
    assert str(problem) == (f"{path}:8: digest of 12 characters; expected hex of 32 (md5), "
                            "40 (sha1), 64 (sha256)")
    assert banks.show("films").imports[-1].bad == 1


class _FailsHalfWay(BankFormat):
    """``plain`` whose read fails after line 7, as a disk error would (see text_lines)."""

    name = "test-fails-half-way"
    description = "plain, failing after line 7"

    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        for item in PlainFormat().parse(path):
            if item.line is not None and item.line > 7:
                raise InputError(str(path), "read failed after line 7 (Input/output error)")
            yield item


def test_failure_half_way_keeps_what_was_committed(banks: BankStore, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    available_formats()  # fills the registry, then the failing format joins it
    monkeypatch.setitem(FORMATS, _FailsHalfWay.name, _FailsHalfWay)
    values = sha256s(10)
    path = write(tmp_path / "bank.txt", values)
    with pytest.raises(InputError, match=r"bank\.txt: read failed after line 7"):
        banks.import_file("films", "films", _FailsHalfWay.name, path, batch_size=3)
    other = reopened(banks)
    try:
        # Batches 1-2 (lines 1-6) were committed; line 7 was in the batch being read.
        assert set(other.lookup_bulk("sha256", values)) == set(values[:6])
        info = other.show("films")
        assert info.digests == 6
        assert [(i.added, i.duplicates, i.bad) for i in info.imports] == [(6, 0, 0)]
    finally:
        other.store.close()
    # The full file afterwards adds exactly what is missing.
    report = banks.import_file("films", "films", "plain", path)
    assert (report.added, report.duplicates) == (4, 6)


def test_a_failing_batch_writes_nothing(banks: BankStore, tmp_path: Path) -> None:
    """The bulk inserts run on the DBAPI connection inside the batch's transaction: an error at
    the batch's last statement (the bank's counts) rolls them back with the rest, and the
    import's record counts only what was committed."""
    values = sha256s(10)
    path = write(tmp_path / "bank.txt", values)
    engine = banks.store.engine

    def fail_counts_update(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE BANKS"):
            raise RuntimeError("disk full")

    event.listen(engine, "before_cursor_execute", fail_counts_update)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            banks.import_file("films", "films", "plain", path)
    finally:
        event.remove(engine, "before_cursor_execute", fail_counts_update)
    assert digest_rows(banks) == 0
    assert banks.show("films").digests == 0
    report = banks.import_file("films", "films", "plain", path)
    assert (report.added, report.duplicates) == (10, 0)
    assert digest_rows(banks) == 10
    assert [(i.added, i.duplicates) for i in banks.show("films").imports] == [(0, 0), (10, 0)]


def test_new_pdq_reaches_a_loaded_matcher(banks: BankStore, tmp_path: Path) -> None:
    """With the perceptual matcher loaded, bare PDQ hashes still reach it (no rebuild)."""
    from netwarden.digest.pdq import pdq_from_bytes
    from netwarden.testbed.network import drawing, encode

    first, second = (pdq_from_bytes(encode(drawing(seed))).hex for seed in (101, 305))
    write(tmp_path / "one.txt", [first])
    banks.import_file("pics", "csam", "hma", tmp_path / "one.txt", signal="pdq")
    matcher = banks.perceptual()
    write(tmp_path / "two.txt", [first, second, second])
    report = banks.import_file("pics", "csam", "hma", tmp_path / "two.txt", signal="pdq")
    assert (report.added, report.duplicates) == (1, 2)
    assert banks.perceptual() is matcher
    assert len(matcher._extra) == 1 and matcher._extra[0][2] == -1  # bare: no reference
