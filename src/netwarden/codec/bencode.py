"""Bencode (BEP 3) for untrusted input: .torrent files, tracker replies, peer extension messages.

Why hand-written rather than a PyPI package: the decoders on PyPI recurse (a few thousand ``l``
bytes blow Python's stack), accept unbounded integers (``i<1 MB of digits>e`` costs quadratic
time to convert) and give no byte offset on errors. Everything here is bounded up front:

* ``max_size``   total input length, checked before any parsing;
* ``max_depth``  nesting of lists/dicts; the decoder is iterative, never recursive;
* ``max_int_digits`` digits of one integer (and of a string-length prefix).

Every failure is a :class:`BencodeError` carrying the byte ``offset`` where it was found; no
other exception escapes :func:`decode` whatever the bytes (this is fuzzed in the tests).

Decoded types: ``int``, ``bytes``, ``list`` and ``dict[bytes, ...]``. Strings stay bytes
because bencode strings are bytes (piece hashes, compact peer lists); callers decode text.

``strict=True`` (the default) also enforces the canonical form BEP 3 requires: dictionary keys
sorted as raw bytes, no leading zeros, no ``-0``. Canonical form matters when the bytes are
hashed (an infohash); :func:`decode_with_spans` gives the exact raw bytes of top-level
values so a hash never depends on re-encoding.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_INT_DIGITS",
    "DEFAULT_MAX_SIZE",
    "BencodeError",
    "decode",
    "decode_prefix",
    "decode_with_spans",
    "encode",
]

DEFAULT_MAX_SIZE = 64 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_INT_DIGITS = 64

_DIGITS = frozenset(b"0123456789")
_INT, _LIST, _DICT, _END = ord("i"), ord("l"), ord("d"), ord("e")


class BencodeError(ValueError):
    """Input that is not (acceptable) bencode; ``offset`` is the byte where the problem is."""

    def __init__(self, problem: str, offset: int) -> None:
        self.problem = problem
        self.offset = offset
        super().__init__(f"bencode: {problem} at byte {offset}")


def _read_int(data: bytes, start: int, end_byte: int, max_digits: int, strict: bool,
              what: str, allow_negative: bool) -> tuple[int, int]:
    """Parse digits from ``start`` up to the ``end_byte`` terminator; return (value, next)."""
    n = len(data)
    limit = start + max_digits + (1 if allow_negative else 0)
    stop = data.find(end_byte, start, min(n, limit + 1))
    if stop < 0:
        scanned = data[start:min(n, limit)]
        for i, byte in enumerate(scanned):
            if byte not in _DIGITS and not (i == 0 and allow_negative and byte == 0x2D):
                raise BencodeError(f"non-digit {bytes([byte])!r} in {what}", start + i)
        if n <= limit:
            raise BencodeError(f"truncated {what}", n)
        raise BencodeError(f"{what} longer than {max_digits} digits", start)
    text = data[start:stop]
    negative = allow_negative and text[:1] == b"-"
    digits = text[1:] if negative else text
    if not digits:
        raise BencodeError(f"empty {what}", start)
    for i, byte in enumerate(digits):
        if byte not in _DIGITS:
            raise BencodeError(f"non-digit {bytes([byte])!r} in {what}",
                               start + i + (1 if negative else 0))
    if strict and len(digits) > 1 and digits[0] == 0x30:
        raise BencodeError(f"leading zero in {what}", start)
    if strict and negative and digits == b"0":
        raise BencodeError(f"negative zero in {what}", start)
    value = int(digits)
    return (-value if negative else value), stop + 1


class _Frame:
    __slots__ = ("container", "key", "last_key", "start")

    def __init__(self, container: list[Any] | dict[bytes, Any], start: int) -> None:
        self.container = container
        self.key: bytes | None = None
        self.last_key: bytes | None = None
        self.start = start


def decode_prefix(data: bytes | bytearray | memoryview, *, start: int = 0,
                  max_size: int = DEFAULT_MAX_SIZE, max_depth: int = DEFAULT_MAX_DEPTH,
                  max_int_digits: int = DEFAULT_MAX_INT_DIGITS,
                  strict: bool = True) -> tuple[Any, int]:
    """Decode one value starting at ``start``; return it and the offset just after it.

    Trailing bytes are allowed (peer messages append raw data after a bencoded header).
    """
    data = bytes(data)
    n = len(data)
    if n > max_size:
        raise BencodeError(f"input of {n} bytes exceeds the limit of {max_size}", max_size)
    if start >= n:
        raise BencodeError("empty input" if n == 0 else "truncated input", n)
    stack: list[_Frame] = []
    pos = start
    while True:
        if pos >= n:
            where = f" (unclosed container from byte {stack[-1].start})" if stack else ""
            raise BencodeError(f"truncated input{where}", n)
        byte = data[pos]
        top = stack[-1] if stack else None
        value: Any
        if byte == _END:
            if top is None:
                raise BencodeError("unexpected end marker 'e'", pos)
            if isinstance(top.container, dict) and top.key is not None:
                raise BencodeError(f"dictionary key {top.key[:40]!r} has no value", pos)
            stack.pop()
            value = top.container
            pos += 1
        elif top is not None and isinstance(top.container, dict) and top.key is None:
            # Expecting a key: must be a byte string.
            if byte not in _DIGITS:
                raise BencodeError("dictionary key is not a byte string", pos)
            length, pos = _read_int(data, pos, 0x3A, max_int_digits, strict, "string length",
                                    False)
            if pos + length > n:
                raise BencodeError("truncated string", n)
            key = data[pos:pos + length]
            if top.last_key is not None:
                if key == top.last_key or key in top.container:
                    raise BencodeError(f"duplicate dictionary key {key[:40]!r}", pos - 1)
                if strict and key < top.last_key:
                    raise BencodeError(f"dictionary key {key[:40]!r} out of order", pos - 1)
            top.key = key
            top.last_key = key
            pos += length
            continue
        elif byte == _INT:
            value, pos = _read_int(data, pos + 1, _END, max_int_digits, strict, "integer", True)
        elif byte in _DIGITS:
            length, pos = _read_int(data, pos, 0x3A, max_int_digits, strict, "string length",
                                    False)
            if pos + length > n:
                raise BencodeError("truncated string", n)
            value = data[pos:pos + length]
            pos += length
        elif byte in (_LIST, _DICT):
            if len(stack) >= max_depth:
                raise BencodeError(f"nesting deeper than {max_depth}", pos)
            stack.append(_Frame([] if byte == _LIST else {}, pos))
            pos += 1
            continue
        else:
            raise BencodeError(f"unexpected byte {bytes([byte])!r}", pos)
        # A complete value: attach it to its parent, or return it.
        if not stack:
            return value, pos
        parent = stack[-1]
        if isinstance(parent.container, list):
            parent.container.append(value)
        else:
            assert parent.key is not None
            parent.container[parent.key] = value
            parent.key = None


def decode(data: bytes | bytearray | memoryview, **limits: Any) -> Any:
    """Decode exactly one value; trailing bytes are an error. See :func:`decode_prefix`."""
    value, end = decode_prefix(data, **limits)
    if end != len(data):
        raise BencodeError(f"{len(data) - end} trailing bytes after the value", end)
    return value


def decode_with_spans(data: bytes | bytearray | memoryview,
                      **limits: Any) -> tuple[dict[bytes, Any], dict[bytes, bytes]]:
    """Decode a top-level dictionary and also return the raw bytes of each of its values.

    Why: an infohash is the hash of the ``info`` value *as it appears in the file*; re-encoding
    a decoded, non-canonical dictionary would give another hash.
    """
    data = bytes(data)
    value = decode(data, **limits)
    if not isinstance(value, dict):
        raise BencodeError("top-level value is not a dictionary", 0)
    # Walk the top level again; each value is re-parsed only to find its end (already valid).
    relaxed = {**limits, "strict": False}
    spans: dict[bytes, bytes] = {}
    pos = 1
    while data[pos] != _END:
        key, pos = decode_prefix(data, start=pos, **relaxed)
        _, end = decode_prefix(data, start=pos, **relaxed)
        spans[key] = data[pos:end]
        pos = end
    return value, spans


def _encode_key(key: Any) -> bytes:
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, bytes | bytearray | memoryview):
        return bytes(key)
    raise TypeError(f"bencode dictionary keys must be bytes or str, not {type(key).__name__}")


def encode(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> bytes:
    """Encode ``value`` canonically (dictionary keys sorted as raw bytes).

    Accepts int (not bool), bytes-like, str (as UTF-8), list/tuple and mappings with bytes or
    str keys. Raises ``TypeError`` for anything else and ``ValueError`` for duplicate keys
    (``"a"`` and ``b"a"``) or nesting beyond ``max_depth`` (a cycle included).
    """
    out: list[bytes] = []
    # Iterative: a stack of pending items; bytes objects on it are literal output.
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, _Literal):
            out.append(item.raw)
        elif isinstance(item, bool):
            raise TypeError("bencode has no booleans; use 0 or 1")
        elif isinstance(item, int):
            out.append(b"i%de" % item)
        elif isinstance(item, bytes | bytearray | memoryview):
            raw = bytes(item)
            out.append(b"%d:" % len(raw))
            out.append(raw)
        elif isinstance(item, str):
            raw = item.encode("utf-8")
            out.append(b"%d:" % len(raw))
            out.append(raw)
        elif isinstance(item, list | tuple):
            if depth >= max_depth:
                raise ValueError(f"nesting deeper than {max_depth}")
            out.append(b"l")
            stack.append((_END_LITERAL, depth))
            stack.extend((child, depth + 1) for child in reversed(item))
        elif isinstance(item, Mapping):
            if depth >= max_depth:
                raise ValueError(f"nesting deeper than {max_depth}")
            pairs = sorted(((_encode_key(k), v) for k, v in item.items()), key=_first)
            for (a, _), (b, _) in itertools.pairwise(pairs):
                if a == b:
                    raise ValueError(f"duplicate dictionary key {a!r}")
            out.append(b"d")
            stack.append((_END_LITERAL, depth))
            for key, child in reversed(pairs):
                stack.append((child, depth + 1))
                stack.append((_Literal(b"%d:%s" % (len(key), key)), depth))
        else:
            raise TypeError(f"cannot bencode {type(item).__name__}")
    return b"".join(out)


def _first(pair: tuple[bytes, Any]) -> bytes:
    return pair[0]


class _Literal:
    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


_END_LITERAL = _Literal(b"e")
