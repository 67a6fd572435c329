"""BankStore against a real SQLite database: import, idempotency, look-ups, listing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from netwarden.banks import BankStore
from netwarden.banks.models import Bank
from netwarden.errors import InputError
from netwarden.store import Base, open_store

from .conftest import lt, make_content, make_torrent

BANK_TABLES = {"banks", "bank_imports", "bank_references", "bank_torrents", "bank_digests"}


def digests(n: int, algorithm: str = "sha256", seed: bytes = b"") -> list[str]:
    return [hashlib.new(algorithm, seed + i.to_bytes(4, "big")).hexdigest() for i in range(n)]


def write_plain(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_migration_matches_models(db_url: str) -> None:
    store = open_store(db_url)
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    store.close()
    mine = [d for d in diffs if any(t in repr(d) for t in BANK_TABLES)]
    assert mine == []


def test_plain_import_is_idempotent_across_batches(banks: BankStore, tmp_path: Path) -> None:
    values = digests(10) + digests(5, "md5") + digests(3, "sha1")
    # Duplicates inside the file, also across batch boundaries (batch_size=4).
    path = write_plain(tmp_path / "bank.txt", [*values, values[0], values[11], "nothex"])
    first = banks.import_file("films", "films", "plain", path, batch_size=4)
    assert (first.added, first.duplicates, first.bad) == (18, 2, 1)
    assert first.problems[0].line == 21
    again = banks.import_file("films", "films", "plain", path, batch_size=7)
    assert (again.added, again.duplicates, again.bad) == (0, 20, 1)
    info = banks.show("films")
    assert (info.digests, info.references) == (18, 18)
    assert info.algorithms == {"md5": 5, "sha1": 3, "sha256": 10}
    assert [(i.added, i.duplicates) for i in info.imports] == [(18, 2), (0, 20)]
    assert info.imports[0].source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_lookups(banks: BankStore, tmp_path: Path) -> None:
    values = digests(50)
    banks.import_file("films", "films", "plain", write_plain(tmp_path / "a.txt", values))
    banks.import_file("other", "csam-standin", "plain",
                      write_plain(tmp_path / "b.txt", values[:2] + digests(1, "md5")))
    hit = banks.lookup("sha256", values[10].upper())
    assert [(r.bank, r.category, r.reference_id, r.algorithm, r.value) for r in hit] == [
        ("films", "films", values[10], "sha256", values[10])]
    both = banks.lookup("sha256", values[0])
    assert [(r.bank, r.category) for r in both] == [("films", "films"),
                                                     ("other", "csam-standin")]
    assert banks.lookup("sha256", digests(1, seed=b"miss")[0]) == []
    with pytest.raises(InputError, match="64 hex digits"):
        banks.lookup("sha256", "abc")
    many = banks.lookup_many({"sha256": values[1], "md5": digests(1, "md5")[0],
                              "sha1": "0" * 40, "size": "12", "tth": "garbage"})
    assert sorted((r.bank, r.algorithm) for r in many) == [
        ("films", "sha256"), ("other", "md5"), ("other", "sha256")]
    queries = [*values[:30], *digests(30, seed=b"miss"), "junk"]
    bulk = banks.lookup_bulk("sha256", queries)
    assert set(bulk) == set(values[:30])
    assert len(bulk[values[0]]) == 2


def test_catalog_references(banks: BankStore, tmp_path: Path) -> None:
    md5, sha256 = hashlib.md5(b"x").hexdigest(), hashlib.sha256(b"x").hexdigest()
    tth = "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"
    path = tmp_path / "c.csv"
    path.write_text(f"reference_id,title,rights_holder,md5,sha256,tth\n"
                    f"F-1,Film One,Studio,{md5},{sha256},{tth}\nF-2,Bad,,{md5[:5]},,\n")
    report = banks.import_file("studio", "films", "catalog", path)
    assert (report.added, report.bad) == (1, 1)
    for algorithm, value in (("md5", md5), ("sha256", sha256), ("tth", tth.lower())):
        [ref] = banks.lookup(algorithm, value)
        assert (ref.reference_id, ref.title, ref.rights_holder) == ("F-1", "Film One", "Studio")
    assert banks.lookup("tth", tth)[0].value == tth
    # Same reference re-imported with one more digest: the entry counts as added.
    path.write_text(f"reference_id,md5,sha1\nF-1,{md5},{hashlib.sha1(b'x').hexdigest()}\n")
    again = banks.import_file("studio", "films", "catalog", path)
    assert (again.added, again.duplicates) == (1, 0)
    assert banks.show("studio").references == 1
    assert banks.lookup("sha1", hashlib.sha1(b"x").hexdigest())[0].reference_id == "F-1"


def test_torrent_references_carry_details(banks: BankStore, tmp_path: Path) -> None:
    make_content(tmp_path / "content", {"a.bin": 100_000, "d/b.bin": 20_000})
    data = make_torrent(tmp_path / "content", "hybrid")
    info = lt.torrent_info(data)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x.torrent").write_bytes(data)
    (tmp_path / "t" / "broken.torrent").write_bytes(data[:100])
    report = banks.import_file("torrents", "films", "torrent", tmp_path / "t")
    assert (report.added, report.bad) == (1, 1)
    [by_v1] = banks.lookup("btih", str(info.info_hashes().v1))
    [by_v2] = banks.lookup_many({"btmh": str(info.info_hashes().v2)})
    assert by_v1.reference_id == by_v2.reference_id == str(info.info_hashes().v1)
    meta = by_v2.torrent
    assert meta is not None and meta.version == "hybrid" and by_v1.title == info.name()
    assert meta.piece_length == info.piece_length()
    assert [meta.piece_hash(i) for i in range(meta.piece_count)] == [
        info.hash_for_piece(i) for i in range(info.num_pieces())]
    assert sorted(f.path for f in meta.files) == ["content/a.bin", "content/d/b.bin"]
    assert len(meta.piece_layers) == 2  # both files are longer than one piece
    again = banks.import_file("torrents", "films", "torrent", tmp_path / "t" / "x.torrent")
    assert (again.added, again.duplicates) == (0, 1)


def test_bad_names_categories_and_conflicts(banks: BankStore, tmp_path: Path) -> None:
    path = write_plain(tmp_path / "a.txt", digests(2))
    for name, category in (("", "films"), ("Films", "films"), ("ok", "has space"),
                           ("ok", "-films"), ("a" * 65, "films")):
        with pytest.raises(InputError, match="is not a valid"):
            banks.import_file(name, category, "plain", path)
    banks.import_file("films", "films", "plain", path)
    with pytest.raises(InputError, match="holds category 'films'"):
        banks.import_file("films", "music", "plain", path)
    with pytest.raises(InputError, match="no such bank"):
        banks.show("nothing")


def test_unusable_file_creates_no_bank(banks: BankStore, tmp_path: Path) -> None:
    utf16 = tmp_path / "u.txt"
    utf16.write_bytes("\n".join(digests(2)).encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16"):
        banks.import_file("films", "films", "plain", utf16)
    with pytest.raises(InputError, match="no such file"):
        banks.import_file("films", "films", "plain", tmp_path / "none.txt")
    all_bad = write_plain(tmp_path / "bad.txt", ["xyz", "0" * 31])
    report = banks.import_file("films", "films", "plain", all_bad)
    assert (report.added, report.bad) == (0, 2)
    assert banks.list_banks() == []


def test_many_entries_and_in_chunks(banks: BankStore, tmp_path: Path) -> None:
    values = [os.urandom(16).hex() for _ in range(12_000)]
    banks.import_file("big", "films", "plain", write_plain(tmp_path / "big.txt", values),
                      batch_size=5000)
    assert banks.list_banks()[0].digests == 12_000
    found = banks.lookup_bulk("md5", values[::2] + [os.urandom(16).hex() for _ in range(100)])
    assert len(found) == 6000
    with banks.store.session() as session:
        assert session.query(Bank).one().digest_count == 12_000


def test_parts_work_on_their_own(db_url: str, tmp_path: Path) -> None:
    """The facade's parts (importer, exact index, catalog) each work with nothing but the
    store, and the exact index answers every statement shape it prepares: one algorithm,
    several algorithms, and batched IN lists padded to a power of two."""
    from netwarden.banks import BankCatalog, BankImporter, DigestIndex

    store = open_store(db_url)
    try:
        sha, md5 = digests(40), digests(3, "md5")
        report = BankImporter(store).import_file(
            "films", "films", "plain", write_plain(tmp_path / "a.txt", sha + md5))
        assert (report.added, report.duplicates) == (43, 0)
        index = DigestIndex(store)
        assert [r.value for r in index.lookup("sha256", sha[0].upper())] == [sha[0]]
        both = index.lookup_many({"sha256": sha[1], "md5": md5[0], "size": "12"})
        assert sorted(r.algorithm for r in both) == ["md5", "sha256"]
        assert index.lookup_many({"sha256": digests(1, seed=b"absent")[0]}) == []
        for n in (1, 17, 40):  # IN lists of 16, 32 and 64 values
            wanted = [*sha[:n], "not hex", digests(1, seed=b"absent")[0]]
            assert sorted(index.lookup_bulk("sha256", wanted)) == sorted(sha[:n])
        info = BankCatalog(store).show("films")
        assert (info.digests, [i.added for i in info.imports]) == (43, [43])
        assert [b.name for b in BankCatalog(store).list_banks()] == ["films"]
    finally:
        store.close()
