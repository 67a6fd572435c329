"""Parsers under fuzzing (hypothesis, bounded example counts) and TTH verification checks.

The fuzz properties: any input ends in a parsed value or the module's own error type, never
another exception; encode → parse round-trips. TTH checks cross-check the hand-written THEX
tree against librhash on real random data.
"""

from __future__ import annotations

import bz2
import contextlib
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden.collect.dc import adc_proto as ap
from netwarden.collect.dc import nmdc_proto as nmdc
from netwarden.collect.dc.filelist import (
    FileListError,
    decompress_bz2,
    parse_file_list,
    parse_files_xml,
    parse_mylist,
)
from netwarden.collect.dc.tth_verify import (
    LeafSet,
    SegmentVerifier,
    TthError,
    block_size,
    check_leaves,
    merkle_root,
    split_leaves,
    tth_of,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
param = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@FUZZ
@given(st.binary(max_size=300))
def test_adc_parse_never_crashes(raw: bytes) -> None:
    with contextlib.suppress(ap.ProtocolError):
        ap.parse(raw)


@FUZZ
@given(st.sampled_from("BDEFHICU"), st.from_regex(r"\A[A-Z][A-Z0-9]{2}\Z"),
       st.lists(param.filter(lambda p: "\x00" not in p and p), max_size=6))
def test_adc_roundtrip(kind: str, cmd: str, params: list[str]) -> None:
    msg = ap.Message(kind, cmd, tuple(params), src="AAAA" if kind in "BDEF" else None,
                     dst="BBBB" if kind in "DE" else None,
                     features=("+TCP4",) if kind == "F" else (),
                     cid="A" * 39 if kind == "U" else None)
    assert ap.parse(msg.encode()) == msg


@FUZZ
@given(st.binary(max_size=300))
def test_nmdc_parsers_never_crash(raw: bytes) -> None:
    for fn in (lambda: nmdc.parse(raw.replace(b"|", b""), "cp1251"),
               lambda: nmdc.parse_myinfo(raw.decode("latin-1")),
               lambda: nmdc.parse_ctm(raw.decode("latin-1")),
               lambda: nmdc.parse_adcsnd(raw.decode("latin-1")),
               lambda: nmdc.lock_of(raw)):
        with contextlib.suppress(nmdc.NmdcError):
            fn()
    if len(raw) >= 3:
        key = nmdc.lock_to_key(raw)
        assert b"|" not in key and b"$" not in key  # escaped per the protocol


@FUZZ
@given(st.binary(max_size=400))
def test_file_list_parser_never_crashes(raw: bytes) -> None:
    for data, compressed in ((raw, False), (bz2.compress(raw), True), (raw, True)):
        with contextlib.suppress(FileListError):
            parse_file_list(data, compressed=compressed, limit=10_000)
    with contextlib.suppress(FileListError):
        parse_mylist(bz2.compress(raw), limit=10_000)


@FUZZ
@given(st.lists(st.tuples(param, st.integers(-5, 10**12), st.booleans()), max_size=20))
def test_file_list_of_generated_entries(entries: list[tuple[str, int, bool]]) -> None:
    from xml.sax.saxutils import quoteattr
    rows = "".join(f"<File Name={quoteattr(n)} Size=\"{s}\""
                   f"{' TTH=' + quoteattr('A' * 39) if t else ''}/>" for n, s, t in entries
                   if all(c.isprintable() for c in n))
    xml = f'<FileListing Base="/"><Directory Name="d">{rows}</Directory></FileListing>'
    result = parse_files_xml(xml.encode())
    assert len(result.files) + result.bad_entries <= len(entries)
    for f in result.files:
        assert f.path.startswith("/d/") and (f.size is None or f.size >= 0)


def test_bz2_cap_and_truncation() -> None:
    with pytest.raises(FileListError, match="bzip2 bomb"):
        decompress_bz2(bz2.compress(b"\0" * 3_000_000), limit=1_000_000)
    with pytest.raises(FileListError, match="truncated"):
        decompress_bz2(bz2.compress(os.urandom(5000))[:-10])
    with pytest.raises(FileListError, match="not a valid bzip2"):
        decompress_bz2(b"BZh9 not really")


def test_hundred_thousand_entries_bounded_by_max_files() -> None:
    rows = "".join(f'<File Name="f{i}" Size="{i}" TTH="{"A" * 39}"/>' for i in range(100_000))
    xml = f"<FileListing><Directory Name='x'>{rows}</Directory></FileListing>".encode()
    full = parse_files_xml(xml)
    assert len(full.files) == 100_000 and full.truncated is None
    capped = parse_files_xml(xml, max_files=1000)
    assert len(capped.files) == 1000 and "more than 1000" in (capped.truncated or "")


def test_mylist_legacy_format() -> None:
    text = "Films\r\n\tA film.avi|700\r\n\tSub\r\n\t\tb.mkv|5\r\nroot.txt|1\r\n"
    result = parse_mylist(bz2.compress(text.encode("cp1251")))
    assert [(f.path, f.size, f.tth) for f in result.files] == [
        ("/Films/A film.avi", 700, None), ("/Films/Sub/b.mkv", 5, None), ("/root.txt", 1, None)]


# -- NMDC recorded exchanges (written per the NMDC protocol documentation) --------------------

def test_nmdc_myinfo_and_ctm_as_clients_send_them() -> None:
    info = nmdc.parse_myinfo("$ALL erin films &#36;cheap<++ V:0.868,M:A,H:1/0/2,S:5>$ $LAN(T3)"
                           "\x01$e@x$2297229$")
    assert (info.nick, info.description, info.share_size, info.mode) == (
        "erin", "films $cheap", 2297229, "A")
    assert info.client == "++ 0.868" and info.flag == 1
    assert nmdc.parse_ctm("Auditor 127.77.6.21:4000") == ("Auditor", "127.77.6.21", 4000)
    assert nmdc.parse_ctm("Auditor 127.77.6.21:4000S")[2] == 4000
    assert nmdc.parse_adcsnd("file TTH/AAAA 0 1024") == ("file", "TTH/AAAA", 0, 1024)
    for bad in ("Auditor", "Auditor host:99999", "Auditor :1"):
        with pytest.raises(nmdc.NmdcError):
            nmdc.parse_ctm(bad)


def test_lock_to_key_known_vector() -> None:
    # A key worked by hand from the algorithm; the e2e test checks it against eiskaltdcpp.
    lock = b"ABCDEFGH"
    raw = [lock[0] ^ lock[-1] ^ lock[-2] ^ 5] + [lock[i] ^ lock[i - 1] for i in range(1, 8)]
    swapped = [((b << 4) | (b >> 4)) & 0xFF for b in raw]
    assert nmdc.lock_to_key(lock) == bytes(swapped)  # no byte needs escaping here
    assert nmdc.lock_to_key(b"\x05\x00\x00") .startswith(b"/%DCN000%/")


# -- TTH verification ---------------------------------------------------------------------

def _leaves(data: bytes, block: int) -> list[bytes]:
    return [tth_of(data[i:i + block]) for i in range(0, max(len(data), 1), block)]


@pytest.mark.parametrize("size", [1, 1024, 1025, 300_000, 3 * 1024 * 1024 + 123])
def test_leaves_hash_to_librhash_root(size: int) -> None:
    data = os.urandom(size)
    block = 1024
    while -(-size // block) > 512:
        block *= 2
    leaves = _leaves(data, block)
    assert merkle_root(leaves) == tth_of(data)  # our tree agrees with librhash's THEX
    root = ap.b32(tth_of(data))
    got = check_leaves(root, size, b"".join(leaves))
    assert got.block == block == block_size(size, len(leaves))
    start, length = got.segment(1 << 20)
    v = SegmentVerifier(got, start, length)
    for i in range(start, start + length, 7777):  # odd chunking
        v.update(data[i:min(i + 7777, start + length)])
    assert v.finish() == -(-length // block)


def test_tampered_leaves_segment_and_short_read_fail() -> None:
    data = os.urandom(200_000)
    leaves = _leaves(data, 1024 * 4)
    root = ap.b32(tth_of(data))
    bad = list(leaves)
    bad[3] = os.urandom(24)
    with pytest.raises(TthError, match="wrong leaf stream"):
        check_leaves(root, len(data), b"".join(bad))
    with pytest.raises(TthError, match="whole number"):
        split_leaves(b"".join(leaves)[:-1])
    good = check_leaves(root, len(data), b"".join(leaves))
    v = SegmentVerifier(good, 0, 8192)
    with pytest.raises(TthError, match="do not match"):
        v.update(data[:4096] + bytes(4096))
    v = SegmentVerifier(good, 0, 8192)
    v.update(data[:5000])
    with pytest.raises(TthError, match="short"):
        v.finish()
    with pytest.raises(TthError, match="not aligned"):
        SegmentVerifier(good, 100, 4096)
    with pytest.raises(TthError, match="more bytes"):
        SegmentVerifier(good, 0, 4096).update(data[:5000])
    with pytest.raises(TthError):
        block_size(10, 5)
    assert LeafSet(root, len(data), tuple(leaves), 4096).segment(10) == (0, 4096)


def test_hostile_directory_names_are_recorded_escaped_and_counted() -> None:
    """A peer's list cannot make a recorded path climb out of its share or hide a step."""
    xml = (b'<?xml version="1.0" encoding="utf-8"?><FileListing Version="1" Base="/../x/">'
           b'<Directory Name=".."><Directory Name="a/../../b"><Directory Name="">'
           b'<File Name="film.avi" Size="10" TTH="' + b"A" * 39 + b'"/></Directory></Directory>'
           b'</Directory><Directory Name="ok"><File Name="f" Size="1"/></Directory></FileListing>')
    listing = parse_files_xml(xml)
    paths = [f.path for f in listing.files]
    assert paths == ["/%2E%2E/x/%2E%2E/%61%2F%2E%2E%2F%2E%2E%2F%62/%00/film.avi",
                     "/%2E%2E/x/ok/f"]
    assert listing.unsafe_names == 4  # Base "..", "..", "a/../../b", ""
    tabbed = parse_files_xml(b"<FileListing><File Name=\"a&#9;b\" Size=\"1\"/></FileListing>")
    assert [f.path for f in tabbed.files] == ["/%61%09%62"] and tabbed.unsafe_names == 1
    mylist = parse_mylist(bz2.compress("..\n\tfilm.avi|10\n".encode("cp1251")))
    assert [f.path for f in mylist.files] == ["/%2E%2E/film.avi"] and mylist.unsafe_names == 1
