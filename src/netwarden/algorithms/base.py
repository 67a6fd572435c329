"""What one digest algorithm declares: the base class every algorithm module subclasses.

Why one class per algorithm (the model is python-threatexchange's ``SignalType``): a hash type
used to be described in eight places (the banks' codes, the digest engine's list, identify's
strength order, verify's full-content set, the notices' order and ACNS names, the HMA signal
names, the export names) and the copies drifted. A subclass of :class:`Algorithm` says all of
it once, and every consumer asks :mod:`netwarden.algorithms.registry`.

Nothing here may change a stored value: ``code`` is written to the bank index and the text
forms are what findings, ledgers and exports already hold.
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass
from typing import ClassVar, Protocol


class Kind(enum.Enum):
    """What an equal (or near) digest proves."""

    CONTENT = "content"  # digest of every byte of the content: equal digest, same bytes
    CONTAINER = "container"  # digest of a container's metadata (a torrent's info dictionary)
    PERCEPTUAL = "perceptual"  # similar pictures have near hashes: matched by distance


class TextForm(enum.Enum):
    """How a digest is written as text (findings, exports, bank files)."""

    HEX = "hex"  # lowercase hex
    BASE32 = "base32"  # RFC 4648, upper case, no padding (as DC clients print TTH)


class DigestError(ValueError):
    """A digest's text is not valid for its algorithm; the message says why in words."""


class Hasher(Protocol):
    """A streaming hasher as :mod:`hashlib` makes them."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


@dataclass(frozen=True)
class ExchangeNames:
    """What the exchange formats call a digest (exports, notices, the VICS import)."""

    stix: str  # key of a STIX 2.1 ``hashes`` dictionary (hash-algorithm-ov, else ``x_`` custom)
    misp_type: str  # MISP attribute type; ``text`` where MISP has none for this digest
    csv_column: str  # column of the CSV export
    acns: str | None = None  # ACNS 2.0 ``Hash@Type``; None: the name in upper case
    vics_field: str | None = None  # VICS media field (MD5, SHA1, SHA256)
    vics_alternative: str | None = None  # VICS ``AlternativeHashes`` HashName (PDQ)


_HEX = frozenset("0123456789abcdefABCDEF")


class Algorithm:
    """One digest algorithm. Subclass it in one module, set the class attributes, and give
    the module an ``ALGORITHM = YourClass()`` line: the registry finds it there.

    Override :meth:`parse` only for extra accepted spellings (a magnet link's base32 infohash)
    and :meth:`new_hasher` when the digest engine should compute the digest over every byte a
    collector receives.
    """

    name: ClassVar[str]  # findings' ``digests`` keys, bank columns, ``match_algorithm``
    # Integer code of the bank index (``bank_digests.algorithm``); never renumber. None: not
    # held in the exact index (a vPDQ is a list of frame hashes in its own table).
    code: ClassVar[int | None]
    kind: ClassVar[Kind]
    size: ClassVar[int | None]  # raw digest length in bytes; None: not a fixed-size digest
    text: ClassVar[TextForm] = TextForm.HEX
    # Strength: lower ranks first. Decides which of several matches of one reference is kept,
    # a finding's primary match, and the order notices list digests in (strongest first).
    rank: ClassVar[int]
    # Position in the exports' digest listing (CSV columns, STIX/MISP order); None: never
    # exported (``exchange`` is then ignored).
    listing: ClassVar[int | None] = None
    exchange: ClassVar[ExchangeNames | None] = None
    signal_types: ClassVar[tuple[str, ...]] = ()  # ThreatExchange / HMA signal type names
    plain_hex: ClassVar[bool] = False  # a bare hex line of its length in a ``plain`` bank
    threshold: ClassVar[int | None] = None  # default match distance (perceptual only)
    # librhash id (rhash.h ``enum rhash_ids``) when the engine's single librhash pass computes
    # it; see netwarden.digest._librhash
    librhash_id: ClassVar[int | None] = None

    @property
    def full_content(self) -> bool:
        """True when an equal digest of the bytes an endpoint sent proves the whole content."""
        return self.kind is Kind.CONTENT

    @property
    def perceptual(self) -> bool:
        """True when the algorithm is matched by distance, never by the exact index."""
        return self.kind is Kind.PERCEPTUAL

    @property
    def computed(self) -> bool:
        """True when the digest engine computes it over every streamed byte."""
        return self.librhash_id is not None or self.new_hasher() is not None

    def new_hasher(self) -> Hasher | None:
        """A fresh streaming hasher when the engine computes this digest with one, else None."""
        return None

    # -- text ⇄ raw ---------------------------------------------------------------------------
    def parse(self, text: str) -> bytes:
        """Raw bytes of a digest's ``text`` (case and surrounding space do not matter), or
        :class:`DigestError` saying what is wrong."""
        value = text.strip()
        if not value:
            raise DigestError(f"empty {self.name} value")
        if self.text is TextForm.BASE32:
            return self.parse_base32(value)
        return self.parse_hex(value)

    def format(self, raw: bytes) -> str:
        """The canonical text form of raw digest bytes."""
        if self.text is TextForm.BASE32:
            return base64.b32encode(raw).decode("ascii").rstrip("=")
        return raw.hex()

    def parse_hex(self, value: str) -> bytes:
        """``value`` (stripped) as exactly ``size`` bytes of hex."""
        size = self.size
        if size is None:
            raise DigestError(f"{self.name} has no fixed-size text form")
        if len(value) != size * 2:
            raise DigestError(f"{self.name} must be {size * 2} hex digits, got {len(value)}")
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        if len(raw) != size:  # fromhex also skips inner spaces: the length catches that
            bad = next((c for c in value if c not in _HEX), "?")
            raise DigestError(f"{self.name} is not hex (found {bad!r})")
        return raw

    def parse_base32(self, value: str, *, check_length: bool = True) -> bytes:
        """``value`` (stripped) as unpadded base32 of ``size`` bytes."""
        if check_length and self.size is not None:
            expected = -(-self.size * 8 // 5)
            if len(value) != expected:
                raise DigestError(
                    f"{self.name} must be {expected} base32 characters, got {len(value)}")
        upper = value.upper()
        try:
            return base64.b32decode(upper + "=" * (-len(upper) % 8))
        except (binascii.Error, ValueError):
            raise DigestError("not base32 (letters A-Z and digits 2-7)") from None

    # -- comparing ----------------------------------------------------------------------------
    def distance(self, a: bytes, b: bytes) -> int:
        """Hamming distance in bits between two raw digests of equal length."""
        if len(a) != len(b):
            raise DigestError(f"{self.name} digests of {len(a)} and {len(b)} bytes differ in "
                              "length")
        return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()

    def matches(self, a: bytes, b: bytes, threshold: int | None = None) -> bool:
        """Do two raw digests match? Equality for exact digests; for perceptual ones a Hamming
        distance within ``threshold`` (default: the algorithm's ``threshold``)."""
        if not self.perceptual:
            return a == b
        limit = self.threshold if threshold is None else threshold
        return self.distance(a, b) <= (limit or 0)

    def __repr__(self) -> str:
        return f"<algorithm {self.name} code={self.code} {self.kind.value}>"
