"""Parsers for FTP directory listings: MLSD (RFC 3659) and LIST in unix and DOS/IIS formats.

They work on raw bytes, because names on the wire are bytes in whatever encoding the server
uses (UTF-8, cp1251, ...): the collector decodes names separately and keeps the raw bytes as
evidence. A line that cannot be parsed yields ``None`` rather than an exception: a server's
listing is untrusted input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from netwarden.collect.bounds import wire_int

# A listing line longer than this is not an entry (PATH_MAX is 4096 bytes; facts add little):
# it is dropped as unparsed, so one hostile line cannot become a megabyte-long name.
MAX_LINE_BYTES = 8192

EntryType = Literal["file", "dir", "link", "other"]


@dataclass(frozen=True)
class ListEntry:
    """One entry of a directory listing, its name still in the server's bytes."""

    raw_name: bytes
    type: EntryType
    size: int | None = None
    modified: str | None = None  # as the server wrote it (MLSD: YYYYMMDDHHMMSS, LIST: text)
    link_target: bytes | None = None
    facts: dict[str, str] | None = None


def mlsd_facts(line: bytes) -> tuple[dict[str, str], bytes] | None:
    """The facts (lower-case names) and the name of one MLSD line, or None when malformed.

    Why separate from :func:`parse_mlsd_line`: the ``cdir`` line is not an entry, but its
    ``unique`` fact identifies the listed directory itself (loop detection needs it).
    """
    line = line.rstrip(b"\r\n")
    if b" " not in line or len(line) > MAX_LINE_BYTES:
        return None
    fact_part, _, name = line.partition(b" ")
    facts: dict[str, str] = {}
    for fact in fact_part.split(b";"):
        if b"=" in fact:
            key, _, value = fact.partition(b"=")
            facts[key.decode("ascii", "replace").lower()] = value.decode("ascii", "replace")
    return facts, name


def parse_mlsd_line(line: bytes) -> ListEntry | None:
    """``type=file;size=12;modify=20260101120000; name`` → entry; ``cdir``/``pdir`` → None."""
    parsed = mlsd_facts(line)
    if parsed is None:
        return None
    facts, name = parsed
    kind = facts.get("type", "").lower()
    if kind in ("cdir", "pdir") or not name:
        return None
    entry_type: EntryType
    if kind == "dir":
        entry_type = "dir"
    elif kind == "file":
        entry_type = "file"
    elif kind.startswith("os.unix=slink") or kind.startswith("os.unix=symlink"):
        entry_type = "link"
    else:
        entry_type = "other"
    size = _int(facts.get("size"))
    return ListEntry(raw_name=name, type=entry_type, size=size, modified=facts.get("modify"),
                     facts=facts)


# drwxr-xr-x   2 user  group   4096 Jan  1 12:00 name   (also "Jan  1  2024")
_UNIX = re.compile(
    rb"^(?P<perm>[-dlbcpsD?][-rwxsStTlL+.@]{9}[+.@]?)\s+(?:\d+\s+)?"
    rb"(?:(?P<owner>\S+)\s+)?(?:(?P<group>\S+)\s+)?(?P<size>\d+)\s+"
    rb"(?P<date>[A-Za-z]{3}\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4}))\s(?P<name>.*)$"
)
# 01-31-24  12:00PM       <DIR>          name      /  01-31-2024  12:00       1234 name
_DOS = re.compile(
    rb"^(?P<date>\d{1,2}-\d{1,2}-\d{2,4})\s+(?P<time>\d{1,2}:\d{2}(?:[AaPp][Mm])?)\s+"
    rb"(?:(?P<dir><DIR>)|(?P<size>\d+))\s+(?P<name>.*)$"
)


def parse_list_line(line: bytes) -> ListEntry | None:
    """One line of ``LIST`` output in unix (``ls -l``) or DOS/IIS format → entry, else None."""
    line = line.rstrip(b"\r\n")
    if not line or len(line) > MAX_LINE_BYTES or line.lower().startswith(b"total "):
        return None
    match = _UNIX.match(line)
    if match:
        perm = match.group("perm")
        name = match.group("name")
        target = None
        kind = perm[:1]
        entry_type: EntryType
        if kind == b"d":
            entry_type = "dir"
        elif kind == b"-":
            entry_type = "file"
        elif kind == b"l":
            entry_type = "link"
            if b" -> " in name:
                name, _, target = name.partition(b" -> ")
        else:
            entry_type = "other"
        if name in (b".", b".."):
            return None
        return ListEntry(raw_name=name, type=entry_type, size=_int(match.group("size")),
                         modified=match.group("date").decode("ascii", "replace"),
                         link_target=target)
    match = _DOS.match(line)
    if match:
        name = match.group("name")
        if name in (b".", b".."):
            return None
        is_dir = match.group("dir") is not None
        stamp = (match.group("date") + b" " + match.group("time")).decode("ascii", "replace")
        return ListEntry(raw_name=name, type="dir" if is_dir else "file",
                         size=None if is_dir else _int(match.group("size")), modified=stamp)
    return None


def _int(text: str | bytes | None) -> int | None:
    """A listed size: digits up to 2**53 - 1, else unknown (a 23-digit size is a lie, and it
    could not be stored in the ledger's canonical JSON)."""
    return wire_int(text)
