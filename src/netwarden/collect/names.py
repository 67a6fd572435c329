"""Decoding names that arrive as bytes in an unknown encoding.

Russian FTP servers still serve names in cp1251 (and some in koi8-r); modern ones use UTF-8
(RFC 2640). UTF-8 is tried first because a cp1251 byte string is almost never valid UTF-8,
while every byte string is valid cp1251: the order makes the guess safe. The raw bytes are kept
next to the decoded name, so the guess never replaces the evidence.
"""

from __future__ import annotations

import codecs

DEFAULT_LEGACY_ENCODING = "cp1251"


def legacy_encoding(configured: str | None) -> str:
    """The fallback encoding to use: the service's ``encoding`` option if valid, else cp1251."""
    if configured:
        try:
            return codecs.lookup(configured).name
        except LookupError:
            pass
    return DEFAULT_LEGACY_ENCODING


def decode_name(raw: bytes, fallback: str = DEFAULT_LEGACY_ENCODING) -> tuple[str, str]:
    """``(name, encoding used)``: UTF-8 when the bytes are valid UTF-8, else ``fallback``.

    Bytes the fallback cannot map are replaced (U+FFFD); the caller keeps ``raw`` anyway.
    """
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode(fallback, errors="replace"), fallback
