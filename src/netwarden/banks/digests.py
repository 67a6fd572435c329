"""The digest algorithms banks hold, and their text ⇄ raw-bytes forms.

The index stores digests as raw bytes (half the size of hex, compared byte-wise) under a small
integer algorithm code. The codes are written to the database: never renumber them.

Text forms follow what the tools of each network print: lowercase hex for md5, sha1, sha256,
ed2k, btih (v1 infohash) and btmh (v2 infohash, sha256); uppercase unpadded base32 for tth as
DC clients show it. Parsing is lenient about case and surrounding space; a btih is also
accepted in the 32-character base32 form magnet links use, a btmh in the ``1220``-prefixed
multihash form BEP 52 magnet links use.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass


@dataclass(frozen=True)
class Algorithm:
    name: str
    code: int
    size: int  # raw digest length in bytes
    base32: bool = False  # text form is base32 rather than hex


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("md5", 1, 16),
        Algorithm("sha1", 2, 20),
        Algorithm("sha256", 3, 32),
        Algorithm("ed2k", 4, 16),
        Algorithm("tth", 5, 24, base32=True),
        Algorithm("btih", 6, 20),
        Algorithm("btmh", 7, 32),
        Algorithm("pdq", 8, 32),  # perceptual: matched by distance, never exactly
    )
}
BY_CODE: dict[int, Algorithm] = {a.code: a for a in ALGORITHMS.values()}
# Algorithms matched by Hamming distance (banks/perceptual.py), not by the exact index.
PERCEPTUAL = frozenset({"pdq"})

# A bare hex line of this many digits in a ``plain`` bank is this algorithm.
PLAIN_BY_HEX_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}

_HEX = frozenset("0123456789abcdefABCDEF")


class DigestError(ValueError):
    """A digest's text is not valid for its algorithm; the message says why in words."""


def algorithm(name: str) -> Algorithm:
    """The algorithm called ``name`` (case-insensitive)."""
    try:
        return ALGORITHMS[name.strip().lower()]
    except KeyError:
        known = ", ".join(ALGORITHMS)
        raise DigestError(f"unknown digest algorithm {name!r} (known: {known})") from None


def _b32decode(text: str) -> bytes:
    text = text.upper()
    padded = text + "=" * (-len(text) % 8)
    try:
        return base64.b32decode(padded)
    except (binascii.Error, ValueError):
        raise DigestError("not base32 (letters A-Z and digits 2-7)") from None


def parse_digest(name: str, text: str) -> bytes:
    """Raw bytes of the digest ``text`` of algorithm ``name``, or :class:`DigestError`."""
    algo = ALGORITHMS.get(name)
    if algo is not None and not algo.base32 and len(text) == 2 * algo.size:
        # Fast path for the common case (a bank import parses millions): exact-length hex
        # under a canonical name. fromhex skips inner white space, so the length check
        # sends anything odd down the full path below, which words the error.
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if len(raw) == algo.size:
            return raw
    algo = algorithm(name)
    value = text.strip()
    if not value:
        raise DigestError(f"empty {algo.name} value")
    if algo.base32:
        expected = -(-algo.size * 8 // 5)
        if len(value) != expected:
            raise DigestError(
                f"{algo.name} must be {expected} base32 characters, got {len(value)}")
        return _b32decode(value)
    if algo.name == "btih" and len(value) == 32:
        return _b32decode(value)
    if algo.name == "btmh" and len(value) == 68 and value[:4] == "1220":
        value = value[4:]
    if len(value) != algo.size * 2:
        raise DigestError(
            f"{algo.name} must be {algo.size * 2} hex digits, got {len(value)}")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != algo.size:  # fromhex also skips inner spaces: the length catches that
        bad = next((c for c in value if c not in _HEX), "?")
        raise DigestError(f"{algo.name} is not hex (found {bad!r})")
    return raw


def format_digest(name: str, raw: bytes) -> str:
    """The canonical text form of a raw digest (lowercase hex, or uppercase base32 for tth)."""
    algo = algorithm(name)
    if algo.base32:
        return base64.b32encode(raw).decode("ascii").rstrip("=")
    return raw.hex()
