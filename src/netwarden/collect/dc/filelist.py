"""DC file lists: ``files.xml.bz2`` (XML, with TTHs) and legacy ``MyList.bz2`` (text, no TTHs).

A file list is written by the peer, so it is hostile input: the bzip2 stream is decompressed
incrementally with a cap on the output (a small bomb can expand to gigabytes), the XML is
parsed with defusedxml (no DTD, no entities, no external references) in streaming mode, and
the number of files and the directory depth are bounded. Anything beyond a bound ends the
parse with a recorded reason; what was read until then is kept.
"""

from __future__ import annotations

import bz2
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from netwarden.collect.base import unsafe_name_reason
from netwarden.collect.bounds import wire_int
from netwarden.collect.dc.adc_proto import is_tth

MAX_DECOMPRESSED = 256 * 1024**2  # bytes of one decompressed list
MAX_FILES = 1_000_000
MAX_DEPTH = 64
_CHUNK = 1 << 20


class FileListError(ValueError):
    """The list cannot be read at all (not bzip2, not XML, entities...); says why."""


@dataclass(frozen=True)
class ListedFile:
    """One file of a peer's list: its path in the share, size and TTH root (base32)."""

    path: str
    size: int | None
    tth: str | None


@dataclass
class FileList:
    """A parsed list: files, the peer's claims about itself and why it stopped early, if so."""

    files: list[ListedFile] = field(default_factory=list)
    cid: str | None = None
    generator: str | None = None
    base: str = "/"
    truncated: str | None = None
    bad_entries: int = 0  # File elements without a valid name/size/TTH
    unsafe_names: int = 0  # directory names recorded escaped (``..``, separators, controls)
    decompressed_bytes: int = 0


def decompress_bz2(data: bytes, limit: int = MAX_DECOMPRESSED) -> bytes:
    """Decompress a bzip2 stream to at most ``limit`` bytes; :class:`FileListError` beyond.

    ``BZ2Decompressor.decompress(max_length=...)`` never produces more than asked, so a bomb
    costs at most ``limit`` bytes of memory before it is refused.
    """
    dec = bz2.BZ2Decompressor()
    out = bytearray()
    pending = data
    try:
        while True:
            chunk = dec.decompress(pending, max_length=min(_CHUNK, limit + 1 - len(out)))
            pending = b""
            out += chunk
            if len(out) > limit:
                raise FileListError(f"decompresses to more than {limit} bytes "
                                    "(a bzip2 bomb or an oversized list); refused")
            if dec.eof or (dec.needs_input and not chunk):
                break
    except OSError as exc:  # bz2 reports corrupt data as OSError
        raise FileListError(f"not a valid bzip2 stream: {exc}") from None
    if not dec.eof:
        raise FileListError("bzip2 stream ends before its end marker (truncated)")
    return bytes(out)


def parse_files_xml(xml: bytes, max_files: int = MAX_FILES,
                    max_depth: int = MAX_DEPTH) -> FileList:
    """Parse a ``files.xml`` body (already decompressed) into a :class:`FileList`."""
    result = FileList(decompressed_bytes=len(xml))
    stack: list[str] = []
    try:
        for event, elem in iterparse(io.BytesIO(xml), events=("start", "end"),
                                     forbid_dtd=True, forbid_entities=True,
                                     forbid_external=True):
            tag = elem.tag
            if event == "start":
                if tag == "FileListing":
                    result.cid = elem.get("CID")
                    result.generator = elem.get("Generator")
                    result.base = _base(elem.get("Base") or "/", result)
                elif tag == "Directory":
                    stack.append(_directory(elem.get("Name") or "", result))
                    if len(stack) > max_depth:
                        result.truncated = f"directories nested deeper than {max_depth}"
                        break
                elif tag == "File":
                    if len(result.files) >= max_files:
                        result.truncated = f"more than {max_files} files listed"
                        break
                    listed = _file(elem.get("Name"), elem.get("Size"), elem.get("TTH"), stack,
                                   result.base, result)
                    if listed is None:
                        result.bad_entries += 1
                    else:
                        result.files.append(listed)
            else:
                if tag == "Directory" and stack:
                    stack.pop()
                elem.clear()  # keep memory flat however long the list
    except DefusedXmlException as exc:
        raise FileListError(f"forbidden XML construct ({type(exc).__name__}): DTDs and "
                            "entities are refused") from None
    except SyntaxError as exc:  # ParseError
        if not result.files:
            raise FileListError(f"not well-formed XML: {exc}") from None
        result.truncated = f"XML error after {len(result.files)} files: {exc}"
    return result


def _escaped(name: str) -> str:
    """Every byte of ``name`` percent-encoded: a record of what the list said that can never
    read as a path step (``..`` becomes ``%2E%2E``, ``a/b`` becomes ``%61%2F%62``)."""
    return "".join(f"%{b:02X}" for b in name.encode("utf-8", "surrogatepass")) or "%00"


def _directory(name: str, result: FileList) -> str:
    """A directory name of the list as a path component of recorded paths.

    The list is written by the peer: a directory called ``..``, ``a/../../b`` or with control
    characters would make a recorded path claim a place the share does not have (and read as
    traversal in reports). Such names are kept, escaped, and counted; the files under them are
    still listed, since a hostile name does not make the file any less shared.
    """
    if unsafe_name_reason(name) is None:
        return name
    result.unsafe_names += 1
    return _escaped(name)


def _base(base: str, result: FileList) -> str:
    """The list's ``Base`` (``/`` or ``/dir/sub/`` for a partial list), each step checked."""
    steps = base.strip("/").split("/") if base.strip("/") else []
    safe = [_directory(step, result) for step in steps]
    return "/" + "/".join(safe) + ("/" if safe else "")


def _file(name: str | None, size: str | None, tth: str | None, stack: list[str],
          base: str, result: FileList) -> ListedFile | None:
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        return None
    if any(ord(c) < 32 for c in name):  # kept (its TTH still identifies it), escaped, counted
        result.unsafe_names += 1
        name = _escaped(name)
    n = wire_int(size) if size is not None else None  # digits up to 2**53 - 1 (issue 14)
    if size is not None and n is None:
        return None
    root = tth if tth and is_tth(tth) else None
    prefix = base.rstrip("/")
    return ListedFile("/".join([prefix, *stack, name]) if stack or prefix
                      else "/" + name, n, root)


def parse_file_list(data: bytes, *, compressed: bool = True, limit: int = MAX_DECOMPRESSED,
                    max_files: int = MAX_FILES) -> FileList:
    """Decompress (when ``compressed``) and parse a ``files.xml[.bz2]`` list."""
    xml = decompress_bz2(data, limit) if compressed else data
    if len(xml) > limit:
        raise FileListError(f"list is longer than {limit} bytes; refused")
    return parse_files_xml(xml, max_files=max_files)


def parse_mylist(data: bytes, *, limit: int = MAX_DECOMPRESSED, max_files: int = MAX_FILES,
                 encoding: str = "cp1251") -> FileList:
    """Legacy NMDC ``MyList.bz2``: tab-indented lines ``name|size``; no TTHs.

    Only old clients send it; its entries carry no TTH, so they are leads by name only.
    """
    text = decompress_bz2(data, limit).decode(encoding, errors="replace")
    result = FileList(decompressed_bytes=len(text))
    stack: list[str] = []
    for line in _lines(text):
        depth = len(line) - len(line.lstrip("\t"))
        entry = line.strip("\t")
        if not entry or depth > MAX_DEPTH:
            result.bad_entries += 1
            continue
        del stack[depth:]
        if "|" in entry:
            name, _, size = entry.rpartition("|")
            if len(result.files) >= max_files:
                result.truncated = f"more than {max_files} files listed"
                break
            listed = _file(name, size.strip(), None, stack, "/", result)
            if listed is None:
                result.bad_entries += 1
            else:
                result.files.append(listed)
        else:
            stack.append(_directory(entry, result))
    return result


def _lines(text: str) -> Iterator[str]:
    for line in text.splitlines():
        if line.strip():
            yield line
