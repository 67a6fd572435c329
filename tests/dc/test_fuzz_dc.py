"""Fuzzing the Direct Connect parsers a hostile hub or peer writes into (issue 14).

ADC lines, NMDC commands and the DC file lists (bzip2'd XML and the legacy MyList), driven by
hypothesis with bounded example counts so CI stays fast (``HYPOTHESIS_PROFILE=long`` by hand
for a longer run). The properties: a parser returns a value or raises its own error type
(``ProtocolError``, ``NmdcError``, ``FileListError``: all ``ValueError`` subclasses), never
anything else; what it returns stays within the limits passed and within the JSON safe-integer
domain, so it can be canonicalised for the ledger. Crash inputs found are kept below as
explicit regression examples.
"""

from __future__ import annotations

import bz2
import os
from xml.sax.saxutils import quoteattr

import pytest
import rfc8785
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netwarden.collect.bounds import MAX_WIRE_INT
from netwarden.collect.dc import adc_proto as ap
from netwarden.collect.dc import nmdc_proto as nmdc
from netwarden.collect.dc.filelist import (
    FileListError,
    parse_file_list,
    parse_files_xml,
    parse_mylist,
)

settings.register_profile("ci", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_DIGITS = ["0", "1", "9" * 23, "9007199254740993", "-1", "²", "٣", "1" * 5000, " 7 "]

# -- ADC ----------------------------------------------------------------------------------------

_ADC_PIECES = st.sampled_from([
    "BINF", "DINF", "EMSG", "FSCH", "UINF", "ISTA", "CSND", "HSUP", "IQUI", "ISID", "BSTA",
    "AAAA", "BBBB", "ABC2", " ", "  ", "\\s", "\\n", "\\\\", "\\", "\\x", "\n", "\x00",
    "NI", "SS", "CT", "SU", "ID", "I4", "AP", "VE", "SF", "DE", "+TCP4", "-NAT0", "TCP4,ADC0",
    "000", "222", "²²²", "٣٠٠", "file", "TTH/", "A" * 39, "é", "\udcff", *_DIGITS,
])
_ADC_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(_ADC_PIECES, max_size=40).map("".join),
    st.lists(st.one_of(_ADC_PIECES, st.text(max_size=6)), max_size=40).map("".join),
)


def _adc_line() -> st.SearchStrategy[bytes | str]:
    return st.one_of(
        st.binary(max_size=300),
        _ADC_TEXT,
        _ADC_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


def _check_message(msg: ap.Message) -> None:
    assert msg.type in ap.TYPES and len(msg.cmd) == 3
    assert len(msg.params) <= ap.MAX_PARAMS + 4
    assert all("\x00" not in p for p in msg.params)
    assert sum(len(p) for p in msg.params) <= ap.MAX_LINE
    if msg.type in "BDEF":
        assert msg.src is not None and len(msg.src) == 4
    if msg.type in "DE":
        assert msg.dst is not None and len(msg.dst) == 4
    # what the client derives from any message
    try:
        severity, code, text = ap.status(msg)
    except ap.ProtocolError:
        pass
    else:
        assert 0 <= severity <= 9 and 0 <= code <= 99 and isinstance(text, str)
    try:
        _kind, _ident, start, length = ap.snd_header(msg)
    except ap.ProtocolError:
        pass
    else:
        assert start >= 0 and length >= 0
    user = ap.UserInfo(msg.src or "AAAA")
    user.update(msg)
    details = user.as_details()
    assert details["share_size"] is None or 0 <= details["share_size"] <= MAX_WIRE_INT
    assert 0 <= user.client_type <= MAX_WIRE_INT
    rfc8785.dumps(details)  # a hostile INF never makes an observation impossible to record


@given(_adc_line())
@example(b"ISTA \xc2\xb2\xc2\xb2\xc2\xb2 x")  # "²²²".isdigit() but int("²") fails: was ValueError
@example("BINF AAAA SS99999999999999999999999 CT" + "9" * 30)  # was an un-canonicalisable INF
@example("BINF AAAA CT-5 SS-1")
@example("BINF AAAA " + "NIx " * (ap.MAX_PARAMS + 10))
@example("CSND file x 99999999999999999999 -1")
@example("BMSG AAAA tail\\")
@example(b"BINF AAAA NI" + b"x" * (ap.MAX_LINE + 1))
def test_adc_parse_raises_only_protocol_error_and_bounds(line: bytes | str) -> None:
    try:
        msg = ap.parse(line)
    except ap.ProtocolError as exc:
        assert str(exc)  # says what is wrong
        return
    _check_message(msg)


def test_adc_status_with_unicode_digits_is_a_protocol_error() -> None:
    with pytest.raises(ap.ProtocolError, match="3-digit"):
        ap.status(ap.parse("ISTA ²²² bad"))
    with pytest.raises(ap.ProtocolError, match="3-digit"):
        ap.status(ap.parse("ISTA ٣٠٠ bad"))
    assert ap.status(ap.parse("ISTA 222 fatal")) == (2, 22, "fatal")


def test_adc_inf_numbers_beyond_the_wire_domain_are_unknown() -> None:
    user = ap.UserInfo("AAAA")
    user.update(ap.parse("BINF AAAA SS9007199254740992 CT99999999999999999999 NIx"))
    assert user.share_size is None and user.client_type == 0
    user.update(ap.parse("BINF AAAA SS9007199254740991 CT4"))
    assert user.share_size == MAX_WIRE_INT and user.is_operator


@given(st.text(max_size=60))
@example("A" * 5000)
@example("A")
def test_adc_unb32_raises_only_protocol_error(text: str) -> None:
    try:
        data = ap.unb32(text)
    except ap.ProtocolError:
        return
    assert len(data) <= len(text) * 5 // 8 + 1


# -- NMDC ---------------------------------------------------------------------------------------

_NMDC_PIECES = st.sampled_from([
    "$MyINFO", "$ALL ", "$ConnectToMe", "$ADCSND", "$Lock", "$Key", "$NickList", "$OpList",
    "$$", "$", "|", " ", "<", ">", "M:A", "M:P", ",", "V:1", "<++ V:0.8,M:A,H:1/0/0,S:2>",
    "nick", "LAN(T3)\x01", "127.0.0.1:", "1412", "65536", "0", "S", "N", "R", ":", "Pk=",
    "&#36;", "&#124;", "&amp;", "\x00", "file", "TTH/", "ZL1", "\\s", *_DIGITS,
])
_NMDC_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(_NMDC_PIECES, max_size=40).map("".join),
    st.lists(st.one_of(_NMDC_PIECES, st.text(max_size=6)), max_size=40).map("".join),
)


@given(st.one_of(_NMDC_TEXT, st.binary(max_size=300)),
       st.sampled_from(["utf-8", "cp1251", "latin-1"]), st.integers(1, 50))
@example("$ALL nick desc<++ V:1,M:A>$ $LAN(T3)\x01$$" + "9" * 30 + "$", "utf-8", 5)
@example("$ALL nick d$ $$$" + "1" * 5000 + "$", "utf-8", 5)
@example("x 127.0.0.1:" + "9" * 5000, "utf-8", 5)  # int() digit limit: was ValueError
@example("x 127.0.0.1:²", "utf-8", 5)  # a Unicode digit: was ValueError
@example("file x 1 " + "9" * 5000, "utf-8", 5)
@example("$$".join(["n"] * 100), "utf-8", 3)
def test_nmdc_parsers_raise_only_nmdc_error_and_bound(raw: str | bytes, encoding: str,
                                                       limit: int) -> None:
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    wire = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    try:
        cmd = nmdc.parse(wire, encoding)
    except nmdc.NmdcError:
        pass
    else:
        assert "|" not in cmd.args and "\x00" not in cmd.args
        assert len(cmd.split(4)) <= 4
    try:
        info = nmdc.parse_myinfo(text)
    except nmdc.NmdcError:
        pass
    else:
        assert nmdc.valid_nick(info.nick)
        assert info.share_size is None or info.share_size >= 0
        assert 0 <= info.flag <= 0x10FFFF
        info.tag_fields()
        _ = info.mode, info.client
        # what the client copies into a UserInfo (nmdc_client._myinfo) must be recordable
        user = ap.UserInfo(info.nick, {"NI": info.nick})
        if info.share_size is not None:
            user.fields["SS"] = str(info.share_size)
        assert user.share_size is None or user.share_size <= MAX_WIRE_INT
        rfc8785.dumps(user.as_details())
    try:
        _target, host, port = nmdc.parse_ctm(text)
    except nmdc.NmdcError:
        pass
    else:
        assert 0 < port < 65536 and host
    try:
        _kind, _ident, start, length = nmdc.parse_adcsnd(text)
    except nmdc.NmdcError:
        pass
    else:
        assert start >= 0 and length >= 0
    nicks = nmdc.parse_nicklist(text, limit)
    assert len(nicks) <= limit and all(nmdc.valid_nick(n) for n in nicks)
    try:
        lock, _pk = nmdc.lock_of(wire)
    except nmdc.NmdcError:
        pass
    else:
        if len(lock) >= 3:
            key = nmdc.lock_to_key(lock)
            assert b"|" not in key and b"$" not in key and len(key) <= 10 * len(lock)


# -- DC file lists ------------------------------------------------------------------------------

_NAMES = st.one_of(st.sampled_from(["", ".", "..", "a/b", "a\\b", "film.avi", "Фильм.mkv",
                                    "x" * 300, "&", "<", '"', "\t", " "]),
                   st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20))
_SIZES = st.one_of(st.sampled_from([*_DIGITS, "", "0x10", "1e9", "12"]),
                   st.integers(-10, 2**64).map(str))
_TTHS = st.one_of(st.sampled_from(["A" * 39, "A" * 38, "a" * 39, "1" * 39, "", "Z" * 40]),
                  st.text(max_size=40))


def _attr(name: str, value: str | None) -> str:
    return "" if value is None else f" {name}={quoteattr(value)}"


@st.composite
def _hostile_xml(draw: st.DrawFn) -> tuple[bytes, int]:
    """A files.xml that is structured (FileListing/Directory/File) but hostile in its detail:
    bad names, sizes and TTHs, deep nesting, stray text, DTDs and entities, cut short."""
    parts: list[str] = []
    files = 0
    depth = 0
    for _ in range(draw(st.integers(0, 40))):
        what = draw(st.sampled_from(["file"] * 6 + ["open", "open", "close", "close", "junk"]))
        if what == "file":
            files += 1
            parts.append("<File" + _attr("Name", draw(st.none() | _NAMES))
                         + _attr("Size", draw(st.none() | _SIZES))
                         + _attr("TTH", draw(st.none() | _TTHS)) + "/>")
        elif what == "open":
            depth += 1
            parts.append("<Directory" + _attr("Name", draw(st.none() | _NAMES)) + ">")
        elif what == "close" and depth:
            depth -= 1
            parts.append("</Directory>")
        else:
            parts.append(draw(st.sampled_from([
                "text", "<!-- c -->", "<Other/>", "&amp;", "<![CDATA[x]]>", "<File>", "</x>",
                "&e;", "<?pi x?>"])))
    parts.extend(["</Directory>"] * depth)
    head = draw(st.sampled_from([
        "", "", "", "", '<?xml version="1.0" encoding="utf-8"?>',
        '<!DOCTYPE x [<!ENTITY e "eeeeeeeeee">]>', '<!DOCTYPE x SYSTEM "file:///etc/passwd">']))
    listing = ("<FileListing" + _attr("Base", draw(st.none() | st.sampled_from(
        ["/", "", "/share/", "//", "../..", "x" * 100]))) + _attr("CID", draw(st.none() | _TTHS))
        + ">")
    xml = (head + listing + "".join(parts) + "</FileListing>").encode("utf-8")
    if draw(st.integers(0, 3)) == 0:
        xml = xml[:draw(st.integers(0, len(xml)))]
    return xml, files


def _check_list(result: object, max_files: int, max_depth: int = 64) -> None:
    files = result.files  # type: ignore[attr-defined]
    assert len(files) <= max_files
    for f in files:
        assert f.size is None or 0 <= f.size <= MAX_WIRE_INT
        assert f.tth is None or ap.is_tth(f.tth)
        name = f.path.rsplit("/", 1)[-1]
        assert name and name not in (".", "..") and "\\" not in name
        # every step of a recorded path is a plain name: hostile directory names come escaped
        assert f.path.startswith("/")
        for step in f.path[1:].split("/"):
            assert step and step not in (".", "..") and not any(ord(c) < 32 for c in step), f.path
    rfc8785.dumps([{"path": f.path, "size": f.size, "tth": f.tth} for f in files])


@given(_hostile_xml(), st.integers(1, 30), st.integers(1, 10))
def test_structured_hostile_files_xml(doc: tuple[bytes, int], max_files: int,
                                      max_depth: int) -> None:
    xml, _ = doc
    file_elements = xml.count(b"<File") - xml.count(b"<FileListing")
    try:
        result = parse_files_xml(xml, max_files=max_files, max_depth=max_depth)
    except FileListError as exc:
        assert str(exc)
        return
    _check_list(result, max_files, max_depth)
    assert len(result.files) + result.bad_entries <= file_elements
    assert result.truncated is None or isinstance(result.truncated, str)


@given(_hostile_xml(), st.integers(1, 30))
def test_compressed_hostile_files_xml(doc: tuple[bytes, int], max_files: int) -> None:
    xml, _ = doc
    data = bz2.compress(xml)
    for blob in (data, data[:len(data) // 2], data + b"trailing"):
        try:
            result = parse_file_list(blob, limit=len(xml) + 10, max_files=max_files)
        except FileListError:
            continue
        _check_list(result, max_files)
        assert result.decompressed_bytes <= len(xml) + 10
    if len(xml) > 20:  # a limit below the decompressed size is always refused
        with pytest.raises(FileListError):
            parse_file_list(data, limit=len(xml) // 2)


@given(st.binary(max_size=400), st.integers(1, 30))
@example(b"BZh91AY&SY" + b"\x00" * 40, 5)
@example(bz2.compress(b"\x00" * 10_000), 5)
def test_raw_bytes_file_list(raw: bytes, max_files: int) -> None:
    for compressed in (True, False):
        try:
            result = parse_file_list(raw, compressed=compressed, limit=5_000,
                                     max_files=max_files)
        except FileListError:
            continue
        _check_list(result, max_files)


_MYLIST = st.lists(st.one_of(
    st.sampled_from(["\t", "\t" * 70, "|", "||", "Films", "a.avi|700", "b|-1", "c|" + "9" * 30,
                     "d|²", "..|5", "x/y|1", "\r\n", "\n", " "]),
    st.text(max_size=10)), max_size=60).map("".join)


@given(_MYLIST, st.integers(1, 30), st.sampled_from(["cp1251", "utf-8", "latin-1"]))
@example("\t" * 70 + "deep|1\n", 5, "cp1251")
@example("a|" + "9" * 5000 + "\n", 5, "cp1251")
def test_legacy_mylist(text: str, max_files: int, encoding: str) -> None:
    data = bz2.compress(text.encode(encoding, "replace"))
    try:
        result = parse_mylist(data, max_files=max_files, encoding=encoding)
    except FileListError:
        return
    _check_list(result, max_files)
    lines = text.encode(encoding, "replace").decode(encoding, "replace").splitlines()
    assert len(result.files) + result.bad_entries <= len(lines)
