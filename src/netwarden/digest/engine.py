"""The streaming digest engine: one pass, every exact digest, flat memory.

See the package docstring (:mod:`netwarden.digest`) for what is computed and why librhash.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from netwarden.algorithms import registry
from netwarden.algorithms.base import Algorithm, Hasher
from netwarden.digest import _librhash as rh
from netwarden.errors import InputError

CHUNK_SIZE = 1 << 20  # bytes read per call: big enough to amortise Python, small enough for L2
ED2K_CHUNK = 9_728_000  # eDonkey chunk; librhash appends MD4("") at exact multiples, like rhash
TTH_LEAF = 1024  # THEX leaf size used by DC/ADC clients

_NAMED = ("md5", "sha1", "sha256", "ed2k", "tth")  # DigestResult's own fields; others: extra

Progress = Callable[[int], None]


def computed_algorithms() -> tuple[str, ...]:
    """Names of the digests the engine computes, as :meth:`DigestResult.as_dict` lists them:
    every registered algorithm that declares a librhash id or a streaming hasher."""
    return tuple(a.name for a in _plan()[0])


_plan_cache: tuple[int, tuple[tuple[Algorithm, ...], int, tuple[Algorithm, ...]]] | None = None


def _plan() -> tuple[tuple[Algorithm, ...], int, tuple[Algorithm, ...]]:
    """(algorithms computed, in result order; librhash mask; those with their own hasher)."""
    global _plan_cache
    version = registry.version()
    if _plan_cache is None or _plan_cache[0] != version:
        computed = registry.computed()
        named = [a for name in _NAMED for a in computed if a.name == name]
        ordered = (*named, *(a for a in computed if a.name not in _NAMED))
        mask = 0
        for a in ordered:
            mask |= a.librhash_id or 0
        hashed = tuple(a for a in ordered if a.librhash_id is None)
        _plan_cache = (version, (ordered, mask, hashed))
    return _plan_cache[1]


class SizeLimitExceeded(InputError):
    """A stream was longer than the ``max_size`` its caller allowed; nothing was finalised."""

    def __init__(self, source: str, limit: int) -> None:
        self.limit = limit
        super().__init__(source, f"larger than the limit of {limit} bytes; not digested")


@dataclass(frozen=True)
class DigestResult:
    """Digests of one byte stream.

    Hex digests are lowercase; ``tth`` is base32 (RFC 4648 alphabet, upper case, no padding),
    the form DC++/ADC clients and magnet links use. ``pieces`` holds the raw 20-byte SHA-1 of
    each BitTorrent v1 piece when a piece length was given, else ``None``.
    """

    size: int
    md5: str
    sha1: str
    sha256: str
    ed2k: str | None = None
    tth: str | None = None
    pieces: tuple[bytes, ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str | int]:
        """``{"size", "md5", "sha1", "sha256", "ed2k", "tth"}`` plus ``extra``; no pieces."""
        out: dict[str, str | int] = {"size": self.size, "md5": self.md5, "sha1": self.sha1,
                                     "sha256": self.sha256}
        if self.ed2k is not None:
            out["ed2k"] = self.ed2k
        if self.tth is not None:
            out["tth"] = self.tth
        out.update(self.extra)
        return out


def _byte_view(data: bytes | bytearray | memoryview) -> memoryview:
    view = data if isinstance(data, memoryview) else memoryview(data)
    if view.ndim != 1 or view.format not in ("B", "b", "c"):
        view = view.cast("B")
    return view


class MultiDigest:
    """MD5, SHA-1, SHA-256, ED2K and TTH (and optionally BitTorrent v1 piece SHA-1s) of a stream,
    and any other registered algorithm that declares a streaming hasher (netwarden.algorithms).

    ``update`` may be called with chunks of any size, split anywhere: the result depends only on
    the concatenated bytes. Nothing is kept but hash states (and one 20-byte digest per piece).
    ``update`` costs about 7 ms per MiB of CPU with the GIL released; asyncio code should call
    it through ``asyncio.to_thread`` so that the loop stays responsive and other cores help.
    One instance is not meant to be fed from several threads at once.
    """

    def __init__(self, piece_length: int | None = None) -> None:
        if piece_length is not None and (
                isinstance(piece_length, bool) or not isinstance(piece_length, int)
                or piece_length <= 0):
            raise ValueError(f"piece_length must be a positive integer, got {piece_length!r}")
        self._algorithms, mask, hashed = _plan()
        self._ctx = rh.Context(mask)
        self._hashers: list[tuple[Algorithm, Hasher]] = []
        for algorithm in hashed:
            hasher = algorithm.new_hasher()
            assert hasher is not None  # computed(): a librhash id or a hasher
            self._hashers.append((algorithm, hasher))
        self._size = 0
        self._piece_length = piece_length
        self._piece = hashlib.sha1() if piece_length else None
        self._piece_fill = 0
        self._pieces: list[bytes] = []
        self._result: DigestResult | None = None

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed the next bytes of the stream (the GIL is released while librhash hashes)."""
        if self._result is not None:
            raise RuntimeError("MultiDigest.update() after finalize()")
        view = _byte_view(data)
        n = view.nbytes
        if n == 0:
            return
        self._ctx.update(data if isinstance(data, bytes) else view)
        for _algorithm, hasher in self._hashers:
            hasher.update(view)
        if self._piece is not None:
            self._update_pieces(view)
        self._size += n

    def _update_pieces(self, view: memoryview) -> None:
        # Piece boundaries are absolute offsets: feed hashlib piece-aligned slices, so at most
        # one piece's hash state is open and no bytes are buffered.
        assert self._piece is not None and self._piece_length is not None
        offset, n = 0, view.nbytes
        while offset < n:
            take = min(self._piece_length - self._piece_fill, n - offset)
            self._piece.update(view[offset:offset + take])
            self._piece_fill += take
            offset += take
            if self._piece_fill == self._piece_length:
                self._pieces.append(self._piece.digest())
                self._piece = hashlib.sha1()
                self._piece_fill = 0

    def finalize(self) -> DigestResult:
        """The digests of everything fed; idempotent, and no further ``update`` is allowed."""
        if self._result is not None:
            return self._result
        raw = self._ctx.finish(tuple(a.librhash_id for a in self._algorithms
                                     if a.librhash_id is not None))
        own = {a.name: hasher.digest() for a, hasher in self._hashers}
        values = {a.name: a.format(raw[a.librhash_id] if a.librhash_id is not None
                                   else own[a.name])
                  for a in self._algorithms}
        pieces: tuple[bytes, ...] | None = None
        if self._piece is not None:
            if self._piece_fill:
                self._pieces.append(self._piece.digest())
            pieces = tuple(self._pieces)
            self._piece = None
        self._result = DigestResult(
            size=self._size,
            md5=values.pop("md5"),
            sha1=values.pop("sha1"),
            sha256=values.pop("sha256"),
            ed2k=values.pop("ed2k", None),
            tth=values.pop("tth", None),
            pieces=pieces,
            extra=values,
        )
        return self._result


class Readable(Protocol):
    """Anything with ``read(n) -> bytes`` (files, sockets' makefile, HTTP response streams)."""

    def read(self, n: int = -1, /) -> bytes: ...


def hash_stream(readable: Readable, piece_length: int | None = None, *,
                max_size: int | None = None, source: str = "stream",
                progress: Progress | None = None,
                chunk_size: int = CHUNK_SIZE) -> DigestResult:
    """Digest ``readable`` to its end, reading ``chunk_size`` bytes at a time.

    Uses ``readinto`` into one reused buffer when the object has it (no per-chunk allocation).
    ``max_size`` bounds the read: a longer stream raises :class:`SizeLimitExceeded` after at
    most ``max_size + 1`` bytes. Read errors become :class:`InputError` naming ``source``.
    ``progress`` is called with the byte count of each chunk.
    """
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    engine = MultiDigest(piece_length)
    readinto = getattr(readable, "readinto", None)
    buf = bytearray(chunk_size) if readinto is not None else None
    view = memoryview(buf) if buf is not None else None
    while True:
        want = chunk_size
        if max_size is not None:
            want = min(want, max_size - engine.size + 1)
        try:
            if readinto is not None:
                assert view is not None
                got = readinto(view[:want])
                chunk: bytes | memoryview | None = None if got is None else view[:got]
            else:
                chunk = readable.read(want)
        except OSError as exc:
            raise InputError(source, f"read failed after {engine.size} bytes: "
                                     f"{exc.strerror or exc}") from exc
        if chunk is None:  # non-blocking stream with nothing ready: not supported
            raise InputError(source, "stream returned no data (non-blocking streams are not "
                                     "supported by hash_stream)")
        if isinstance(chunk, str):
            raise InputError(source, "is a text stream; open it in binary mode")
        if not chunk:
            break
        if max_size is not None and engine.size + len(chunk) > max_size:
            raise SizeLimitExceeded(source, max_size)
        engine.update(chunk)
        if progress is not None:
            progress(len(chunk))
    return engine.finalize()


def _open_problem(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied (cannot read the file)"
    return f"cannot open: {exc.strerror or exc}"


def hash_file(path: str | os.PathLike[str], piece_length: int | None = None, *,
              max_size: int | None = None, progress: Progress | None = None) -> DigestResult:
    """Digest one regular file; errors are :class:`InputError` naming the file.

    Devices, FIFOs and directories are refused (a FIFO or ``/dev/zero`` would never end). A file
    whose size changes while it is read is refused too: its digest would describe no file.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except OSError as exc:
        raise InputError(name, _open_problem(exc)) from exc
    if stat.S_ISDIR(st.st_mode):
        raise InputError(name, "is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(name, "is not a regular file (device, FIFO or socket); not read")
    if max_size is not None and st.st_size > max_size:
        raise SizeLimitExceeded(name, max_size)
    try:
        fh = open(name, "rb", buffering=0)  # noqa: SIM115 - closed below, errors mapped
    except OSError as exc:
        raise InputError(name, _open_problem(exc)) from exc
    with fh:
        try:
            result = hash_stream(fh, piece_length, max_size=st.st_size, source=name,
                                 progress=progress)
        except SizeLimitExceeded as exc:
            raise InputError(name, f"grew while being read (beyond the {st.st_size} bytes it "
                                   "had at the start); digest discarded") from exc
    if result.size != st.st_size:
        raise InputError(name, f"changed size while being read ({st.st_size} bytes at the "
                               f"start, {result.size} read); digest discarded")
    return result


def hash_files(paths: Iterable[str | os.PathLike[str]], piece_length: int | None = None, *,
               workers: int | None = None, max_size: int | None = None,
               progress: Progress | None = None,
               ) -> Iterator[tuple[Path, DigestResult | InputError]]:
    """Digest many files on ``workers`` threads (default: one per CPU), yielding in input order.

    Threads suffice because librhash and hashlib release the GIL while they hash. At most
    ``2 * workers`` files are in flight, so memory stays ``O(workers)`` whatever the list size.
    A file that cannot be read yields its :class:`InputError` instead of a result.
    """
    n_workers = max(1, workers or os.cpu_count() or 1)

    def one(path: Path) -> DigestResult | InputError:
        try:
            return hash_file(path, piece_length, max_size=max_size, progress=progress)
        except InputError as exc:
            return exc

    pending: deque[tuple[Path, Future[DigestResult | InputError]]] = deque()
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="digest") as pool:
        for raw in paths:
            path = Path(raw)
            pending.append((path, pool.submit(one, path)))
            if len(pending) >= 2 * n_workers:
                done_path, fut = pending.popleft()
                yield done_path, fut.result()
        while pending:
            done_path, fut = pending.popleft()
            yield done_path, fut.result()
