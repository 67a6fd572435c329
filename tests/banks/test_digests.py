"""Digest text ⇄ raw bytes for every algorithm a bank holds."""

from __future__ import annotations

import base64
import os

import pytest

from netwarden.banks.digests import ALGORITHMS, DigestError, format_digest, parse_digest


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_round_trip(name: str) -> None:
    raw = os.urandom(ALGORITHMS[name].size)
    text = format_digest(name, raw)
    assert parse_digest(name, text) == raw
    assert parse_digest(name, f"  {text.swapcase()} ") == raw


def test_tth_is_uppercase_base32_without_padding() -> None:
    raw = bytes(range(24))
    text = format_digest("tth", raw)
    assert len(text) == 39 and text == text.upper() and "=" not in text
    assert text == base64.b32encode(raw).decode().rstrip("=")


def test_magnet_forms() -> None:
    raw = os.urandom(20)
    assert parse_digest("btih", base64.b32encode(raw).decode()) == raw
    raw32 = os.urandom(32)
    assert parse_digest("btmh", "1220" + raw32.hex()) == raw32


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("md5", "abc", "32 hex digits, got 3"),
        ("sha1", "g" * 40, "not hex"),
        ("sha256", "a" * 63, "64 hex digits"),
        ("tth", "A" * 38, "39 base32 characters"),
        ("tth", "1" * 39, "not base32"),
        ("ed2k", "", "empty"),
        ("crc32", "00000000", "unknown digest algorithm"),
    ],
)
def test_bad_values_say_why(name: str, text: str, words: str) -> None:
    with pytest.raises(DigestError, match=words):
        parse_digest(name, text)
