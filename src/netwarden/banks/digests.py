"""The digest algorithms banks hold, and their text ⇄ raw-bytes forms: the banks' view of
:mod:`netwarden.algorithms`.

The index stores digests as raw bytes (half the size of hex, compared byte-wise) under the
small integer code each algorithm module declares. The codes are written to the database:
never renumber them.

Text forms follow what the tools of each network print: lowercase hex for md5, sha1, sha256,
ed2k, btih (v1 infohash) and btmh (v2 infohash, sha256); uppercase unpadded base32 for tth as
DC clients show it. Parsing is lenient about case and surrounding space; a btih is also
accepted in the 32-character base32 form magnet links use, a btmh in the ``1220``-prefixed
multihash form BEP 52 magnet links use (each algorithm module says what it accepts).

Why this module still exists: the bank code (store, view, batch, formats) imports these names.
Every one of them is a live view of the registry, so an algorithm registered later (a plug-in,
a test) is held, parsed and looked up like a built-in one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from netwarden.algorithms import DigestError, Kind
from netwarden.algorithms import registry as _registry
from netwarden.algorithms.base import Algorithm as _Declared
from netwarden.algorithms.base import TextForm


@dataclass(frozen=True)
class Algorithm:
    """An algorithm the bank index holds, as the bank code sees it (always a code and a size);
    ``declared`` is its full declaration in the registry."""

    name: str
    code: int
    size: int  # raw digest length in bytes
    base32: bool  # text form is base32 rather than hex
    declared: _Declared

    @classmethod
    def of(cls, declared: _Declared) -> Algorithm:
        assert declared.code is not None and declared.size is not None  # stored() only
        return cls(declared.name, declared.code, declared.size,
                   declared.text is TextForm.BASE32, declared)


__all__ = ["ALGORITHMS", "BY_CODE", "PERCEPTUAL", "PLAIN_BY_HEX_LENGTH", "Algorithm",
           "DigestError", "algorithm", "format_digest", "parse_digest"]

K = TypeVar("K")
V = TypeVar("V")


class _Live(Mapping[K, V]):
    """A read-only mapping recomputed from the registry at each use."""

    def __init__(self, build: Callable[[], dict[K, V]]) -> None:
        self._build = build
        self._cached: tuple[int, dict[K, V]] | None = None

    def _current(self) -> dict[K, V]:
        version = _registry.version()
        if self._cached is None or self._cached[0] != version:
            self._cached = (version, self._build())
        return self._cached[1]

    def __getitem__(self, key: K) -> V:
        return self._current()[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return repr(self._current())


# name → algorithm, of the algorithms the exact index holds (they have a code), in code order
ALGORITHMS: Mapping[str, Algorithm] = _Live(
    lambda: {a.name: Algorithm.of(a) for a in _registry.stored()})
BY_CODE: Mapping[int, Algorithm] = _Live(lambda: {a.code: a for a in ALGORITHMS.values()})
# Algorithms matched by Hamming distance (banks/perceptual.py), not by the exact index (a
# mapping: ``name in PERCEPTUAL`` is what callers ask).
PERCEPTUAL: Mapping[str, _Declared] = _Live(
    lambda: {a.name: a for a in _registry.of_kind(Kind.PERCEPTUAL)})
# A bare hex line of this many digits in a ``plain`` bank is this algorithm.
PLAIN_BY_HEX_LENGTH: Mapping[int, str] = _Live(_registry.plain_by_hex_length)


def algorithm(name: str) -> Algorithm:
    """The stored algorithm called ``name`` (case-insensitive); DigestError naming ``name``
    and the known ones when there is none."""
    found = _registry.get(name)
    held = ALGORITHMS.get(found.name)
    if held is None:
        raise DigestError(f"digest algorithm {name!r} is not held in the bank index "
                          f"(held: {', '.join(ALGORITHMS)})")
    return held


def parse_digest(name: str, text: str) -> bytes:
    """Raw bytes of the digest ``text`` of algorithm ``name``, or :class:`DigestError`."""
    algo = _registry.find(name)
    if algo is not None and algo.size is not None and len(text) == 2 * algo.size \
            and algo.text is TextForm.HEX:
        # Fast path for the common case (a bank import parses millions): exact-length hex
        # under a canonical name. fromhex skips inner white space, so the length check
        # sends anything odd down the full path below, which words the error.
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if len(raw) == algo.size:
            return raw
    return algorithm(name).declared.parse(text)


def format_digest(name: str, raw: bytes) -> str:
    """The canonical text form of a raw digest (lowercase hex, or uppercase base32 for tth)."""
    return algorithm(name).declared.format(raw)
