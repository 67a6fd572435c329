"""Bank file formats: good records, every kind of bad record, unusable files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from netwarden.banks.formats import (
    BankEntry,
    BankFormat,
    LineProblem,
    available_formats,
    get_format,
)
from netwarden.banks.formats.base import MAX_LINE_BYTES
from netwarden.banks.formats.torrent import MAX_TORRENT_BYTES, parse_torrent
from netwarden.codec.bencode import decode, encode
from netwarden.errors import InputError
from unprivileged import as_unprivileged, unreadable_file

from .conftest import lt, make_content, make_torrent

MD5 = hashlib.md5(b"a").hexdigest()
SHA1 = hashlib.sha1(b"a").hexdigest()
SHA256 = hashlib.sha256(b"a").hexdigest()


def parse(fmt: str, path: Path) -> tuple[list[BankEntry], list[LineProblem]]:
    items = list(get_format(fmt).parse(path))
    return ([i for i in items if isinstance(i, BankEntry)],
            [i for i in items if isinstance(i, LineProblem)])


def test_registry_lists_formats_and_rejects_unknown() -> None:
    assert {"plain", "catalog", "torrent"} <= set(available_formats())
    assert isinstance(get_format("plain"), BankFormat)
    assert {"vics", "hma", "nsrl"} <= set(available_formats())
    with pytest.raises(InputError, match="unknown bank format 'stix-bundle'"):
        get_format("stix-bundle")


# ------------------------------------------------------------------ plain


def test_plain_detects_kind_and_skips_comments(tmp_path: Path) -> None:
    path = tmp_path / "bank.txt"
    path.write_bytes(
        f"\ufeff# reference bank\n\n{MD5}\r\n  {SHA1.upper()}  \n{SHA256}  film.mkv\n"
        f"{SHA256} *other name.mkv\n# \xff not decoded\n".encode() + b"# \xff\xfe\n")
    entries, problems = parse("plain", path)
    assert problems == []
    assert [list(e.digests) for e in entries] == [["md5"], ["sha1"], ["sha256"], ["sha256"]]
    assert entries[1].digests["sha1"] == bytes.fromhex(SHA1)
    assert [e.line for e in entries] == [3, 4, 5, 6]
    assert entries[2].title == "film.mkv" and entries[3].title == "other name.mkv"
    assert entries[0].reference_id is None and entries[2].reference_id == SHA256


def test_plain_reports_bad_lines_by_number_and_keeps_good(tmp_path: Path) -> None:
    path = tmp_path / "bank.txt"
    path.write_bytes(b"\n".join([
        MD5.encode(),
        MD5[:-1].encode(),                       # 2: wrong length
        b"z" * 40,                               # 3: not hex
        "ж".encode("cp1251") * 32,               # 4: wrong encoding (cp1251)
        b"x" * (MAX_LINE_BYTES + 10),            # 5: over-long line
        SHA256.encode(),
    ]) + b"\n")
    entries, problems = parse("plain", path)
    assert len(entries) == 2 and entries[1].line == 6
    assert [p.line for p in problems] == [2, 3, 4, 5]
    assert "31 characters" in problems[0].problem
    assert "not hex" in problems[1].problem
    assert "not valid UTF-8" in problems[2].problem and "column 1" in problems[2].problem
    assert "longer than" in problems[3].problem
    assert str(problems[0]).startswith(f"{path}:2: ")


def test_plain_refuses_utf16_and_binary_files(tmp_path: Path) -> None:
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes(f"{MD5}\n".encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16"):
        parse("plain", utf16)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(os.urandom(100) + b"\x00")
    with pytest.raises(InputError, match="NUL bytes"):
        parse("plain", binary)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        parse("plain", tmp_path / "missing.txt")
    with pytest.raises(InputError, match="is a directory"):
        parse("catalog", tmp_path)
    (tmp_path / "missing.txt").write_text(MD5)
    with pytest.raises(InputError, match="cannot be read"):
        parse("plain", tmp_path / "missing.txt" / "below")
    assert parse("plain", tmp_path / "missing.txt")  # readable: the formats are imported now
    with unreadable_file(MD5.encode()) as locked:
        error = as_unprivileged(lambda: parse("plain", locked))
    assert error is not None and error[0] == "InputError", error
    assert "permission denied" in error[1], error


# ------------------------------------------------------------------ catalog

TTH = "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"


def test_catalog_any_subset_of_digest_columns(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(
        "reference_id,title,rights_holder,md5,tth,btih\n"
        f'F-1,"Film, the first",Studio A,{MD5},{TTH},\n'
        f"F-2,Film 2,,,,{SHA1}\n", encoding="utf-8")
    entries, problems = parse("catalog", path)
    assert problems == []
    assert entries[0].reference_id == "F-1" and entries[0].title == "Film, the first"
    assert entries[0].rights_holder == "Studio A"
    assert set(entries[0].digests) == {"md5", "tth"}
    assert entries[1].digests == {"btih": bytes.fromhex(SHA1)} and entries[1].rights_holder is None


def test_catalog_bad_rows_are_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes("\n".join([
        "reference_id,title,md5,sha256,tth",
        f"A,ok,{MD5},,",
        f"B,short md5,{MD5[:-2]},,",             # 3
        f"C,bad tth,,,{TTH[:-1]}1",              # 4: '1' is not base32
        "D,no digest,,,",                        # 5
        f",no id,{MD5},,",                       # 6
        "E,too,few",                             # 7
        f"G,{SHA256}",                           # 8: wrong field count
        f"F,ok too,,{SHA256},",
    ]).encode() + "\nH,Фильм,".encode("cp1251") + f"{MD5},,\n".encode())  # 10: cp1251
    entries, problems = parse("catalog", path)
    assert [e.reference_id for e in entries] == ["A", "F"]
    assert [p.line for p in problems] == [3, 4, 5, 6, 7, 8, 10]
    assert problems[0].where == "md5" and "32 hex digits" in problems[0].problem
    assert problems[1].where == "tth" and "base32" in problems[1].problem
    assert "no digest" in problems[2].problem
    assert "empty reference_id" in problems[3].problem
    assert "fields" in problems[4].problem
    assert "not valid UTF-8" in problems[6].problem


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("reference_id,title,sha-256", "unknown column"),
        ("title,md5", "no reference_id"),
        ("reference_id,title", "no digest column"),
        ("reference_id,md5,md5", "named twice"),
    ],
)
def test_catalog_bad_header_makes_file_unusable(tmp_path: Path, header: str, words: str) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(f"{header}\nX,{MD5}\n")
    with pytest.raises(InputError, match=words):
        parse("catalog", path)


def test_catalog_empty_file_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(InputError, match="no header"):
        parse("catalog", path)


# ------------------------------------------------------------------ shared record checks


SHORT = "md5 must be 32 hex digits, got 31"
PLAIN_SHORT = "digest of 31 characters; expected hex of 32 (md5), 40 (sha1), 64 (sha256)"


@pytest.mark.parametrize(
    ("fmt", "signal", "text", "where", "short"),
    [
        ("plain", None, f"# c\n{MD5[:-1]}g\n{MD5[:-1]}\n", None, PLAIN_SHORT),
        ("hma", None, f"# c\nmd5 {MD5[:-1]}g\nmd5 {MD5[:-1]}\n", None, SHORT),
        ("hma-csv", "md5", f"signal_value\n{MD5[:-1]}g\n{MD5[:-1]}\n", "signal_value", SHORT),
        ("catalog", None, f"reference_id,md5\nA,{MD5[:-1]}g\nB,{MD5[:-1]}\n", "md5", SHORT),
    ],
)
def test_formats_word_bad_digests_alike(tmp_path: Path, fmt: str, signal: str | None,
                                        text: str, where: str | None, short: str) -> None:
    """One helper (formats/base.py) checks a digest field for every text format: the same
    bad value reads the same, with the file and the line (and the column where there is one).
    Only ``plain`` words a wrong length its own way: there the length tells the algorithm."""
    path = tmp_path / "bank.txt"
    path.write_text(text)
    bank_format = get_format(fmt)
    if signal:
        bank_format.configure(signal=signal)
    problems = [p for p in bank_format.parse(path) if isinstance(p, LineProblem)]
    column = f" ({where})" if where else ""
    assert [str(p) for p in problems] == [f"{path}:2{column}: md5 is not hex (found 'g')",
                                          f"{path}:3{column}: {short}"]


def test_comments_are_skipped_undecoded_and_columns_count_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bank.txt"
    path.write_bytes(b"# \xff a comment in latin-1\n  " + MD5.encode() + b"\xff\n")
    for fmt in ("plain", "hma"):
        problems = [p for p in get_format(fmt).parse(path) if isinstance(p, LineProblem)]
        assert [(p.line, p.problem) for p in problems] == [
            (2, "not valid UTF-8 (byte 0xff at column 35); bank files must be UTF-8 or ASCII")]


# ------------------------------------------------------------------ torrent


@pytest.mark.parametrize("kind", ["v1", "hybrid", "v2"])
@pytest.mark.parametrize("multi", [False, True])
def test_torrent_matches_libtorrent(tmp_path: Path, kind: str, multi: bool) -> None:
    sizes = {"a.bin": 70_000, "sub/b.bin": 5000, "sub/c.bin": 0} if multi else {"f.bin": 50_000}
    make_content(tmp_path / "content", sizes)
    target = tmp_path / "content" if multi else tmp_path / "content" / "f.bin"
    data = make_torrent(target, kind)
    info = lt.torrent_info(data)
    hashes = info.info_hashes()
    meta = parse_torrent(data)
    assert meta.version == kind
    assert meta.info_hash_v1 == (str(hashes.v1) if hashes.has_v1() else None)
    assert meta.info_hash_v2 == (str(hashes.v2) if hashes.has_v2() else None)
    assert meta.name == info.name()
    assert meta.piece_length == info.piece_length()
    assert meta.total_size == sum(sizes.values())
    files = info.layout()
    expected = sorted((files.file_path(i).replace(os.sep, "/"), files.file_size(i))
                      for i in range(files.num_files())
                      if not files.file_flags(i) & lt.file_storage.flag_pad_file)
    assert sorted((f.path, f.length) for f in meta.files) == expected
    if kind != "v2":
        assert meta.piece_count == info.num_pieces()
        assert [meta.piece_hash(i) for i in range(meta.piece_count)] == [
            info.hash_for_piece(i) for i in range(info.num_pieces())]
    else:
        big = [f for f in meta.files if f.length > meta.piece_length]
        assert {f.pieces_root for f in big} == set(meta.piece_layers)


def test_torrent_directory_reports_bad_ones_and_keeps_good(tmp_path: Path) -> None:
    make_content(tmp_path / "content", {"a.bin": 40_000})
    good = make_torrent(tmp_path / "content" / "a.bin", "hybrid")
    folder = tmp_path / "torrents"
    (folder / "deeper").mkdir(parents=True)
    (folder / "1-good.torrent").write_bytes(good)
    (folder / "2-truncated.torrent").write_bytes(good[:-30])
    (folder / "3-text.torrent").write_bytes(b"hello, not bencode")
    (folder / "4-empty.torrent").write_bytes(b"")
    root = decode(good)
    no_info = encode({k: v for k, v in root.items() if k != b"info"})
    (folder / "deeper" / "5-noinfo.torrent").write_bytes(no_info)
    (folder / "ignored.txt").write_text("not a torrent")
    entries, problems = parse("torrent", folder)
    assert len(entries) == 1 and entries[0].torrent is not None
    assert set(entries[0].digests) == {"btih", "btmh"}
    by_name = {Path(p.source).name: p for p in problems}
    assert set(by_name) == {"2-truncated.torrent", "3-text.torrent", "4-empty.torrent",
                            "5-noinfo.torrent"}
    assert "truncated" in by_name["2-truncated.torrent"].problem
    assert "not bencode" in by_name["3-text.torrent"].problem
    assert "empty file" in by_name["4-empty.torrent"].problem
    assert by_name["5-noinfo.torrent"].where == "info"


def _mutated(data: bytes, **changes: object) -> bytes:
    root = decode(data)
    info = dict(root[b"info"])
    for key, value in changes.items():
        k = key.replace("_", " ").encode()
        if value is None:
            info.pop(k, None)
        else:
            info[k] = value
    root[b"info"] = info
    return encode(root)


@pytest.mark.parametrize(
    ("changes", "where", "words"),
    [
        ({"pieces": b"x" * 19}, "info.pieces", "20-byte"),
        ({"pieces": b"x" * 20}, "info.pieces", "piece hashes for"),
        ({"piece_length": 0}, "info.piece length", "integer"),
        ({"piece_length": b"16384"}, "info.piece length", "integer"),
        ({"name": 5}, "info.name", "byte string"),
        ({"length": -1}, "info.length", "integer"),
        ({"pieces": None}, "info", "no v1 pieces"),
        ({"length": None}, "info.files", "neither length nor"),
    ],
)
def test_malformed_v1_torrents(tmp_path: Path, changes: dict[str, object], where: str,
                               words: str) -> None:
    make_content(tmp_path / "c", {"f.bin": 50_000})
    path = tmp_path / "bad.torrent"
    path.write_bytes(_mutated(make_torrent(tmp_path / "c" / "f.bin", "v1"), **changes))
    entries, problems = parse("torrent", tmp_path)
    assert entries == []
    assert problems[0].where == where and words in problems[0].problem


def test_malformed_v2_torrents(tmp_path: Path) -> None:
    make_content(tmp_path / "c", {"f.bin": 50_000})
    data = make_torrent(tmp_path / "c" / "f.bin", "hybrid")
    root = decode(data)
    cases = {
        "layers": encode({**root, b"piece layers": {}}),
        "meta": _mutated(data, meta_version=3),
        "plen": _mutated(data, piece_length=1000, pieces=b"x" * 20 * 50),
        "tree": _mutated(data, file_tree={b"f.bin": {b"": {b"length": 50_000}}}),
        "mismatch": _mutated(data, length=49_999),
    }
    for name, raw in cases.items():
        (tmp_path / f"{name}.torrent").write_bytes(raw)
    _, problems = parse("torrent", tmp_path)
    by_name = {Path(p.source).stem: p for p in problems}
    assert "missing" in by_name["layers"].problem
    assert "meta version" in by_name["meta"].problem
    assert "power of two" in by_name["plen"].problem
    assert "pieces root" in by_name["tree"].problem
    assert "disagree" in by_name["mismatch"].problem


def test_single_bad_torrent_and_empty_directory_are_unusable(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no \.torrent files"):
        parse("torrent", tmp_path)
    empty = tmp_path / "empty.torrent"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        parse("torrent", empty)
    big = tmp_path / "big.torrent"
    with big.open("wb") as handle:
        handle.truncate(MAX_TORRENT_BYTES + 1)
    with pytest.raises(InputError, match="larger than"):
        parse("torrent", big)
