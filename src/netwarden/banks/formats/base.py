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

import csv
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from netwarden.banks.digests import PLAIN_BY_HEX_LENGTH, DigestError, parse_digest
from netwarden.errors import InputError

# Longest line a text format reads; longer lines are reported, never buffered whole.
MAX_LINE_BYTES = 64 * 1024
BOM = b"\xef\xbb\xbf"  # UTF-8 byte-order mark, dropped where a line starts with it


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


@dataclass(frozen=True, init=False)
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

    def __init__(self, digests: dict[str, bytes], reference_id: str | None = None,
                 title: str | None = None, rights_holder: str | None = None,
                 torrent: TorrentMeta | None = None, line: int | None = None) -> None:
        # The generated frozen __init__ (one object.__setattr__ per field) cost 2 µs, a third
        # of parsing a plain line, and an import makes one per line: fill __dict__ at once.
        self.__dict__.update(digests=digests, reference_id=reference_id, title=title,
                             rights_holder=rights_holder, torrent=torrent, line=line)


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
    return raw.removeprefix(BOM).decode("utf-8")


def describe_decode_error(exc: UnicodeDecodeError) -> str:
    bad = exc.object[exc.start:exc.start + 1]
    return (f"not valid UTF-8 (byte 0x{bad.hex()} at column {exc.start + 1}); "
            "bank files must be UTF-8 or ASCII")


# ------------------------------------------------------------------ shared record checks
#
# Every text format reads lines the same way and says what is wrong with a record the same
# way (file, line, optional column, the problem in words). These helpers are that one way, so
# a message cannot drift between formats and a fix reaches all of them.


class RecordError(ValueError):
    """One record is unusable: ``problem`` says why, ``where`` names the column or key.

    Format code raises it; :meth:`at` (or :func:`line_records`) turns it into the
    :class:`LineProblem` naming the file and line, so no format words that part itself.
    """

    def __init__(self, problem: str, where: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.where = where

    def at(self, source: str, line: int | None, where: str | None = None) -> LineProblem:
        """The problem as reported: in ``source`` at ``line`` (``where`` overrides)."""
        return LineProblem(source, self.problem, line, where=where or self.where)


def record_digest(algorithm: str, text: str, where: str | None = None) -> bytes:
    """Raw bytes of one digest field of a record; RecordError (``where``) if it is invalid.

    The words are :func:`~netwarden.banks.digests.parse_digest`'s (algorithm, expected hex
    length or base32, the offending character); case and surrounding space do not matter.
    """
    try:
        return parse_digest(algorithm, text)
    except DigestError as exc:
        raise RecordError(str(exc), where) from None


def digest_by_length(token: str) -> tuple[str, bytes]:
    """(algorithm, raw) of a bare hex digest whose length tells the algorithm (md5/sha1/sha256:
    the algorithms that declare ``plain_hex``).

    Why by length: ``plain`` lines carry no type; 32, 40 and 64 hex digits are unambiguous
    among the exact digests. RecordError for any other length or a non-hex digit.
    """
    kind = PLAIN_BY_HEX_LENGTH.get(len(token))
    if kind is None:
        lengths = ", ".join(f"{n} ({name})" for n, name in PLAIN_BY_HEX_LENGTH.items())
        raise RecordError(f"digest of {len(token)} characters; expected hex of {lengths}")
    return kind, record_digest(kind, token)


def text_lines(path: Path, *, comments: bool = False) -> Iterator[tuple[int, str] | LineProblem]:
    """(line number, text without EOL) of a UTF-8 bank file; a LineProblem for a line that is
    not text (not UTF-8, or longer than MAX_LINE_BYTES: such a line is never held whole).

    UTF-16 and binary files are refused whole (InputError) before the first line, and so is a
    read that fails half-way, naming the last line read. With ``comments``, blank lines and
    ``#`` comments are skipped before decoding (a comment in another encoding is still a
    comment) and the text is stripped. Why bytes first: decoding is per line, so a wrongly
    encoded line is reported by number and the rest of the file still imports; a bad line's
    column counts from the start of the line as it is in the file.
    """
    sniff_text_encoding(path)
    source = str(path)
    with open_regular_file(path) as handle:
        readline = handle.readline
        number = 0
        try:
            while raw := readline(MAX_LINE_BYTES + 1):
                number += 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    while raw and not raw.endswith(b"\n"):  # drain it in bounded chunks
                        raw = readline(MAX_LINE_BYTES)
                    yield LineProblem(source, f"line longer than {MAX_LINE_BYTES} bytes", number)
                    continue
                raw = raw.rstrip(b"\r\n")
                if comments:
                    stripped = (raw.removeprefix(BOM) if number == 1 else raw).strip()
                    if not stripped or stripped.startswith(b"#"):
                        continue
                try:
                    text = decode_line(raw)
                except UnicodeDecodeError as exc:
                    yield LineProblem(source, describe_decode_error(exc), number)
                    continue
                if comments:
                    text = text.strip()
                    if not text or text.startswith("#"):
                        continue
                yield number, text
        except OSError as exc:
            raise InputError(source, f"read failed after line {number} "
                                     f"({exc.strerror or exc})") from None


def line_records(path: Path, parse_line: Callable[[str, int], BankEntry]
                 ) -> Iterator[BankEntry | LineProblem]:
    """Entries of a one-record-per-line text format: ``parse_line(text, number)`` per line.

    Blank lines and comments are skipped; a line that is not text, or whose ``parse_line``
    raises RecordError, becomes a LineProblem with the file and line number, and the rest of
    the file still imports.
    """
    source = str(path)
    for item in text_lines(path, comments=True):
        if isinstance(item, LineProblem):
            yield item
            continue
        number, text = item
        try:
            yield parse_line(text, number)
        except RecordError as exc:
            yield exc.at(source, number)


def csv_records(path: Path, syntax: str, *, header_error: str | None = None
                ) -> Iterator[LineProblem | tuple[int, list[str]]]:
    """Non-blank rows of a CSV bank file (RFC 4180, strict) with the line each ends on.

    Lines that are not text come as LineProblems (before the row after them), and so does a
    row that is not CSV, worded ``"{syntax}: {csv's message}"``. With ``header_error``, a
    row that is not CSV before the first good one makes the file unusable instead
    (InputError ``"{header_error}: ..."``): a format that cannot trust its header.
    """
    source = str(path)
    pending: list[LineProblem] = []
    last = [0]  # number of the last text line the reader took (only the last: memory bound)

    def lines() -> Iterator[str]:
        for item in text_lines(path):
            if isinstance(item, LineProblem):
                pending.append(item)
                continue
            last[0] = item[0]
            yield item[1]

    reader = csv.reader(lines(), strict=True)
    seen_row = False
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if header_error and not seen_row:
                raise InputError(source, f"{header_error}: {exc}") from None
            yield from pending
            pending.clear()
            yield LineProblem(source, f"{syntax}: {exc}", last[0] or None)
            continue
        yield from pending
        pending.clear()
        if any(cell.strip() for cell in row):
            seen_row = True
            yield last[0], row
    yield from pending
