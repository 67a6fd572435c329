"""The one interface every bank file format implements.

Modelled on python-threatexchange's one-class-per-extension-point: a format is a
:class:`BankFormat` subclass in its own module under ``banks/formats``; the registry finds it
by its ``name``. Adding a format is adding one module.

A format streams: :meth:`BankFormat.parse` yields a :class:`BankEntry` per good record and a
:class:`LineProblem` per bad one, so one bad line never costs the good ones and a 10-million
line file never sits in memory. A file that cannot be used at all (missing, unreadable, wrong
header, not a file of this format) raises :class:`~netwarden.errors.InputError` instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from netwarden.errors import InputError

# Longest line a text format reads; longer lines are reported, never buffered whole.
MAX_LINE_BYTES = 64 * 1024


@dataclass(frozen=True)
class TorrentFile:
    """One file of a torrent (padding files left out)."""

    path: str
    length: int
    pieces_root: str | None = None  # v2 merkle root (hex) of the file's piece layer


@dataclass(frozen=True)
class TorrentMeta:
    """What a .torrent says about its content: enough to verify pieces received from a peer."""

    name: str
    piece_length: int
    total_size: int
    files: tuple[TorrentFile, ...]
    info_hash_v1: str | None  # hex, sha1 of the bencoded info dictionary
    info_hash_v2: str | None  # hex, sha256 of the bencoded info dictionary
    pieces: bytes = b""  # v1 piece SHA-1s, concatenated (20 bytes each)
    piece_layers: dict[str, bytes] = field(default_factory=dict)  # v2: pieces root → layer
    # The bencoded info dictionary exactly as in the .torrent (metadata, not content): peers
    # are asked for pieces by it, and BEP 9 metadata they send is compared with it.
    info: bytes | None = None

    @property
    def version(self) -> str:
        """``v1``, ``v2`` or ``hybrid``."""
        if self.info_hash_v1 and self.info_hash_v2:
            return "hybrid"
        return "v2" if self.info_hash_v2 else "v1"

    @property
    def piece_count(self) -> int:
        return len(self.pieces) // 20

    def piece_hash(self, index: int) -> bytes:
        """The v1 SHA-1 of piece ``index``."""
        if not 0 <= index < self.piece_count:
            raise IndexError(f"piece {index} out of range 0..{self.piece_count - 1}")
        return self.pieces[index * 20:(index + 1) * 20]


@dataclass(frozen=True)
class BankEntry:
    """One reference item: an id, optional title and rights holder, its digests (raw bytes).

    ``reference_id`` is ``None`` for formats whose items are nothing but a digest (``plain``):
    the digest's own text then serves as the reference id.
    """

    digests: dict[str, bytes]
    reference_id: str | None = None
    title: str | None = None
    rights_holder: str | None = None
    torrent: TorrentMeta | None = None
    line: int | None = None  # where in the source it came from (1-based), for messages


@dataclass(frozen=True)
class LineProblem:
    """A record that could not be used: where (file and line or part) and what is wrong."""

    source: str
    problem: str
    line: int | None = None
    where: str | None = None

    def __str__(self) -> str:
        place = self.source
        if self.line is not None:
            place += f":{self.line}"
        if self.where:
            place += f" ({self.where})"
        return f"{place}: {self.problem}"


class BankFormat(ABC):
    """A bank file format: a name, a one-line description and a streaming parser."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def parse(self, path: Path) -> Iterator[BankEntry | LineProblem]:
        """Yield entries and problems in file order; raise InputError if unusable."""


def open_regular_file(path: Path):  # type: ignore[no-untyped-def]
    """Open ``path`` for binary reading or raise InputError saying why it cannot be."""
    try:
        if path.is_dir():
            raise InputError(str(path), "is a directory, expected a file")
        return path.open("rb")
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    except PermissionError:
        raise InputError(str(path), "permission denied") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot be read ({exc.strerror or exc})") from None


def bounded_lines(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(line number, raw line without EOL) pairs; ``None`` for a line over MAX_LINE_BYTES.

    Why bytes: decoding is per line, so a wrongly encoded line is reported by number and
    the rest of the file still imports.
    """
    with open_regular_file(path) as handle:
        number = 0
        try:
            while True:
                raw = handle.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    return
                number += 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    # Drain the rest of the over-long line in bounded chunks.
                    while raw and not raw.endswith(b"\n"):
                        raw = handle.readline(MAX_LINE_BYTES)
                    yield number, None
                    continue
                yield number, raw.rstrip(b"\r\n")
        except OSError as exc:
            raise InputError(str(path), f"read failed after line {number} "
                                        f"({exc.strerror or exc})") from None


def sniff_text_encoding(path: Path) -> None:
    """Refuse UTF-16/32 and binary files up front: every line would be bad for one reason."""
    with open_regular_file(path) as handle:
        try:
            head = handle.read(4096)
        except OSError as exc:
            raise InputError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(str(path), "is UTF-16 (or UTF-32) encoded; convert it to UTF-8 "
                                    "(e.g. iconv -f UTF-16 -t UTF-8)")
    if b"\x00" in head:
        raise InputError(str(path), "contains NUL bytes: a binary file or UTF-16 without a "
                                    "byte-order mark, not a text bank file")


def decode_line(raw: bytes) -> str:
    """UTF-8 text of one line (a leading BOM dropped), or UnicodeDecodeError."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return raw.decode("utf-8")


def describe_decode_error(exc: UnicodeDecodeError) -> str:
    bad = exc.object[exc.start:exc.start + 1]
    return (f"not valid UTF-8 (byte 0x{bad.hex()} at column {exc.start + 1}); "
            "bank files must be UTF-8 or ASCII")
