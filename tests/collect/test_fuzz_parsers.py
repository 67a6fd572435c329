"""Fuzzing the listing parsers a hostile server writes into (issue 14).

Hypothesis with bounded example counts, so CI stays fast (``HYPOTHESIS_PROFILE=long`` by hand
for a longer run). The properties: a parser never raises on any bytes, every number it returns
is within the JSON safe-integer domain, and what it returns can be canonicalised for the ledger.
Crash inputs found are kept below as explicit regression examples.
"""

from __future__ import annotations

import os

import rfc8785
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netwarden.collect.bounds import MAX_WIRE_INT, wire_int
from netwarden.collect.ftp_list import MAX_LINE_BYTES, parse_list_line, parse_mlsd_line
from netwarden.collect.html_index import index_links

settings.register_profile("ci", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# pieces that steer random bytes towards the shapes the parsers look for
_PIECES = st.sampled_from([
    b"-rw-r--r--", b"drwxr-xr-x", b"lrwxrwxrwx", b" ", b"  ", b"1", b"ftp", b"Jan", b"01",
    b"12:00", b"2024", b"->", b"..", b"/", b"\x00", b"\r", b"<DIR>", b"01-31-24", b"12:00PM",
    b"type=file;", b"type=dir;", b"type=cdir;", b"size=", b"unique=", b"modify=", b";",
    b"=", b"9" * 23, b"9007199254740993", b"\xd0\xa4", b"\xff",
])
_LINES = st.one_of(st.binary(max_size=300),
                   st.lists(_PIECES, max_size=30).map(b"".join),
                   st.lists(st.one_of(_PIECES, st.binary(max_size=8)), max_size=40)
                   .map(b"".join))


def _check_entry(entry: object) -> None:
    if entry is None:
        return
    size = entry.size  # type: ignore[attr-defined]
    assert size is None or 0 <= size <= MAX_WIRE_INT
    assert entry.type in ("file", "dir", "link", "other")  # type: ignore[attr-defined]
    rfc8785.dumps({"size": size, "name_hex": entry.raw_name.hex(),  # type: ignore[attr-defined]
                   "modified": entry.modified})  # type: ignore[attr-defined]


@given(_LINES)
@example(b"-rw-r--r--   1 ftp  ftp  12345678901234567890123 Jan 01  2024 liar23.bin")
@example(b"01-31-24  12:00PM  99999999999999999999999999 dos.bin")
@example(b"type=file;size=9007199254740993; huge.bin")
@example(b"-rw-r--r-- 1 a b " + b"1" * 5000 + b" Jan 01 2024 x")  # int() digit limit
@example(b"-rw-r--r-- 1 ftp ftp 10 Jan 01 2024 " + b"n" * (MAX_LINE_BYTES + 1))
def test_list_and_mlsd_parsers_never_raise_and_bound_numbers(line: bytes) -> None:
    _check_entry(parse_list_line(line))
    _check_entry(parse_mlsd_line(line))


def test_a_23_digit_size_is_unknown_not_a_number() -> None:
    entry = parse_list_line(b"-rw-r--r--   1 ftp  ftp  12345678901234567890123 Jan 01  2024 x")
    assert entry is not None and entry.raw_name == b"x" and entry.size is None
    entry = parse_mlsd_line(b"type=file;size=9007199254740991; y")
    assert entry is not None and entry.size == MAX_WIRE_INT
    assert parse_mlsd_line(b"type=file;size=9007199254740992; y").size is None  # type: ignore


@given(st.one_of(st.text(max_size=40), st.binary(max_size=40)))
@example("9007199254740993")
@example("٣")  # a Unicode digit: not a wire number
@example(" -1")
def test_wire_int_is_digits_within_the_safe_domain(text: str | bytes) -> None:
    value = wire_int(text)
    assert value is None or 0 <= value <= MAX_WIRE_INT
    if value is not None:
        raw = text.decode("latin-1") if isinstance(text, bytes) else text
        assert raw.strip().isascii() and raw.strip().isdigit()


_HTML = st.lists(st.one_of(
    st.sampled_from(['<a href="', '">', "</a>", "<a href=", "<A HREF='", "'>", "&#", "&amp;",
                     "..%2F", "../", "?C=N;O=D", "<!--", "-->", "<script>", "</script>", "<",
                     ">", '"', "\x00", "&#x110000;", "&#0;", "<base href=x>"]),
    st.text(max_size=20)), max_size=60).map("".join)


@given(_HTML, st.integers(min_value=1, max_value=50))
@example('<a href="&#x110000;">', 5)
@example("<a href=" + "x" * 1000, 5)
def test_index_parser_never_raises_and_bounds_links(html: str, max_links: int) -> None:
    links, cut = index_links(html, max_links)
    assert len(links) <= max_links
    assert len(set(links)) == len(links)
    assert isinstance(cut, bool)
    rfc8785.dumps({"links": links})
