"""Bencode codec: known answers, every error path, and hypothesis round-trip / fuzz tests."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netwarden.codec.bencode import (
    BencodeError,
    decode,
    decode_prefix,
    decode_with_spans,
    encode,
)

bvalues = st.recursive(
    st.integers() | st.binary(max_size=40),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.binary(max_size=10), children, max_size=5),
    max_leaves=30,
)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"i0e", 0),
        (b"i-42e", -42),
        (b"0:", b""),
        (b"4:spam", b"spam"),
        (b"le", []),
        (b"de", {}),
        (b"l4:spami42ee", [b"spam", 42]),
        (b"d3:bar4:spam3:fooi42ee", {b"bar": b"spam", b"foo": 42}),
        (b"d1:ad1:bl1:ceee", {b"a": {b"b": [b"c"]}}),
    ],
)
def test_known_answers(raw: bytes, value: object) -> None:
    assert decode(raw) == value
    assert encode(value) == raw


@pytest.mark.parametrize(
    ("raw", "offset", "words"),
    [
        (b"", 0, "empty input"),
        (b"i", 1, "truncated integer"),
        (b"i12", 3, "truncated integer"),
        (b"ie", 1, "empty integer"),
        (b"i-e", 1, "empty integer"),
        (b"i03e", 1, "leading zero"),
        (b"i-0e", 1, "negative zero"),
        (b"i1x2e", 2, "non-digit"),
        (b"i12x", 3, "non-digit"),
        (b"5:abc", 5, "truncated string"),
        (b"03:abc", 0, "leading zero in string length"),
        (b"3abc", 1, "non-digit"),
        (b"l4:spam", 7, "unclosed container from byte 0"),
        (b"d3:foo", 6, "truncated input"),
        (b"d3:fooe", 6, "has no value"),
        (b"di1ei2ee", 1, "not a byte string"),
        (b"d3:fooi1e3:bari2ee", 10, "out of order"),
        (b"d3:fooi1e3:fooi2ee", 10, "duplicate"),
        (b"e", 0, "unexpected end marker"),
        (b"x", 0, "unexpected byte"),
        (b"i1ei2e", 3, "trailing bytes"),
    ],
)
def test_errors_name_problem_and_offset(raw: bytes, offset: int, words: str) -> None:
    with pytest.raises(BencodeError) as info:
        decode(raw)
    assert words in info.value.problem
    assert info.value.offset == offset
    assert f"at byte {offset}" in str(info.value)


def test_lenient_mode_accepts_noncanonical_but_never_duplicates() -> None:
    assert decode(b"d3:fooi1e3:bari2ee", strict=False) == {b"foo": 1, b"bar": 2}
    assert decode(b"i03e", strict=False) == 3
    with pytest.raises(BencodeError, match="duplicate"):
        decode(b"d3:fooi1e3:bari2e3:fooi3ee", strict=False)


def test_depth_limit_without_recursion() -> None:
    # Far beyond Python's recursion limit: must be a clean error, not RecursionError.
    deep = b"l" * 200_000 + b"e" * 200_000
    with pytest.raises(BencodeError, match="nesting deeper than 64") as info:
        decode(deep, max_size=len(deep))
    assert info.value.offset == 64
    assert decode(b"l" * 64 + b"e" * 64) is not None
    assert decode(b"l" * 100 + b"e" * 100, max_depth=100) is not None


def test_integer_digit_limit_is_checked_before_conversion() -> None:
    huge = b"i" + b"9" * 1_000_000 + b"e"
    with pytest.raises(BencodeError, match="longer than 64 digits"):
        decode(huge)
    with pytest.raises(BencodeError, match="longer than 64 digits"):
        decode(b"9" * 100 + b":")
    assert decode(b"i" + b"9" * 64 + b"e") == int("9" * 64)
    assert decode(b"i-" + b"9" * 64 + b"e") == -int("9" * 64)


def test_total_size_limit() -> None:
    with pytest.raises(BencodeError, match="exceeds the limit"):
        decode(b"10:0123456789", max_size=12)
    assert decode(b"10:0123456789", max_size=13) == b"0123456789"


def test_string_length_cannot_overrun() -> None:
    with pytest.raises(BencodeError, match="truncated string"):
        decode(b"999999999:x")


def test_decode_prefix_returns_end_for_trailing_data() -> None:
    # ut_metadata (BEP 9) messages: a bencoded dict followed by raw piece bytes.
    value, end = decode_prefix(b"d8:msg_typei1e5:piecei0eeRAWDATA")
    assert value == {b"msg_type": 1, b"piece": 0}
    assert end == len(b"d8:msg_typei1e5:piecei0ee")


def test_spans_give_exact_raw_bytes_even_when_not_canonical() -> None:
    raw = b"d4:infod1:bi1e1:ai2ee1:xi5ee"  # info keys out of order
    value, spans = decode_with_spans(raw, strict=False)
    assert value[b"info"] == {b"b": 1, b"a": 2}
    assert spans[b"info"] == b"d1:bi1e1:ai2ee"
    assert encode(value[b"info"]) != spans[b"info"]
    with pytest.raises(BencodeError, match="not a dictionary"):
        decode_with_spans(b"li1ee")


def test_encode_rejects_what_bencode_cannot_say() -> None:
    with pytest.raises(TypeError):
        encode(True)
    with pytest.raises(TypeError):
        encode(1.5)
    with pytest.raises(TypeError):
        encode({1: 2})
    with pytest.raises(ValueError, match="duplicate"):
        encode({"a": 1, b"a": 2})
    cyclic: list[object] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="nesting"):
        encode(cyclic)
    assert encode({"b": "x", "a": (1, 2)}) == b"d1:ali1ei2ee1:b1:xe"


@given(bvalues)
@settings(max_examples=300, deadline=None)
def test_round_trip(value: object) -> None:
    raw = encode(value)
    assert decode(raw) == value
    assert encode(decode(raw)) == raw


@given(bvalues, st.data())
@settings(max_examples=200, deadline=None)
def test_every_truncation_is_a_bencode_error(value: object, data: st.DataObject) -> None:
    raw = encode(value)
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(BencodeError) as info:
        decode(raw[:cut])
    assert 0 <= info.value.offset <= len(raw)


@given(st.binary(max_size=300))
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_bytes_never_raise_anything_else(raw: bytes) -> None:
    for strict in (True, False):
        try:
            decode(raw, strict=strict, max_depth=8, max_int_digits=8)
        except BencodeError as exc:
            assert 0 <= exc.offset <= len(raw)


@given(bvalues, st.data())
@settings(max_examples=300, deadline=None)
def test_mutated_encodings_never_raise_anything_else(value: object, data: st.DataObject) -> None:
    raw = bytearray(encode(value))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        i = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[i] = data.draw(st.sampled_from(b"ield0123456789:-x\x00"))
    with contextlib.suppress(BencodeError):
        decode(bytes(raw))
