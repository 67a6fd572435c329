"""hash_stream / hash_file / hash_files: bounded reads and clear errors for bad input."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from digest_helpers import synthetic

from netwarden.digest import (
    LibRHashMissing,
    MultiDigest,
    SizeLimitExceeded,
    hash_file,
    hash_files,
    hash_stream,
)
from netwarden.digest import _librhash as rh
from netwarden.errors import InputError
from unprivileged import as_unprivileged, unreadable_file


def _expected(data: bytes, piece_length: int | None = None) -> object:
    engine = MultiDigest(piece_length)
    engine.update(data)
    return engine.finalize()


class ReadOnly:
    """A stream with only ``read`` (no ``readinto``), returning short reads like a socket."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._pos, self._step = data, 0, step

    def read(self, n: int = -1) -> bytes:
        n = min(n, self._step)
        out = self._data[self._pos:self._pos + n]
        self._pos += len(out)
        return out


class FailsAfter(io.RawIOBase):
    """A stream whose read fails part-way, as a reset connection or a bad disk would."""

    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        if self._left <= 0:
            raise ConnectionResetError(104, "Connection reset by peer")
        n = min(len(b), self._left)
        b[:n] = b"\x01" * n
        self._left -= n
        return n


def test_stream_with_readinto_and_with_read_only() -> None:
    data = synthetic(3 * 1024 * 1024 + 17, seed=5)
    want = _expected(data, 65_536)
    assert hash_stream(io.BytesIO(data), 65_536) == want
    assert hash_stream(ReadOnly(data, 4099), 65_536, chunk_size=10_000) == want


def test_progress_reports_every_byte() -> None:
    seen: list[int] = []
    hash_stream(io.BytesIO(synthetic(2_500_000)), progress=seen.append)
    assert sum(seen) == 2_500_000


def test_max_size_bounds_the_read() -> None:
    data = synthetic(5000)
    assert hash_stream(io.BytesIO(data), max_size=5000).size == 5000
    stream = io.BytesIO(data)
    with pytest.raises(SizeLimitExceeded, match="limit of 4999 bytes") as info:
        hash_stream(stream, max_size=4999, source="ftp://127.77.0.10/big.bin")
    assert info.value.source == "ftp://127.77.0.10/big.bin"
    assert stream.tell() <= 5000  # never read more than max_size + 1


def test_read_error_names_the_source() -> None:
    with pytest.raises(InputError, match=r"http://127\.77\.1\.2/x: read failed after 3000"):
        hash_stream(FailsAfter(3000), source="http://127.77.1.2/x", chunk_size=1000)


def test_text_stream_is_refused() -> None:
    with pytest.raises(InputError, match="text stream"):
        hash_stream(io.StringIO("abc"))  # type: ignore[arg-type]


def test_missing_directory_and_fifo_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file") as info:
        hash_file(tmp_path / "absent.bin")
    assert info.value.source == str(tmp_path / "absent.bin")
    with pytest.raises(InputError, match="is a directory"):
        hash_file(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        hash_file(fifo)  # would block forever if it were opened


def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    readable = tmp_path / "readable.bin"
    readable.write_bytes(b"x")
    assert hash_file(readable).size == 1  # the digest engine is loaded before the fork
    with unreadable_file(b"x") as path:
        error = as_unprivileged(lambda: hash_file(path))
    assert error is not None and error[0] == "InputError", error
    assert "permission denied" in error[1], error


def test_file_larger_than_max_size(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(synthetic(10_000))
    with pytest.raises(SizeLimitExceeded):
        hash_file(path, max_size=9_999)
    assert hash_file(path, max_size=10_000).size == 10_000


def test_hash_files_keeps_order_and_reports_errors(tmp_path: Path) -> None:
    paths = []
    for i in range(7):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(synthetic(300_000 + i, seed=i))
        paths.append(p)
    paths.insert(3, tmp_path / "missing.bin")
    results = list(hash_files(paths, piece_length=16_384, workers=2))
    assert [p for p, _ in results] == paths
    for path, result in results:
        if path.name == "missing.bin":
            assert isinstance(result, InputError) and "no such file" in str(result)
        else:
            assert result == _expected(path.read_bytes(), 16_384)


def test_missing_librhash_names_the_library_and_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rh, "_lib", None)
    monkeypatch.setattr(rh, "_LIBRARY_NAMES", ("libdoes-not-exist-rhash.so.9",))
    monkeypatch.setattr(rh.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(LibRHashMissing, match=r"librhash\.so\.0.*librhash0"):
        MultiDigest()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_file_that_grows_while_read_is_refused() -> None:
    """/proc files claim size 0 and then yield bytes: the digest would describe no file."""
    with pytest.raises(InputError, match="grew while being read"):
        hash_file("/proc/self/status")
