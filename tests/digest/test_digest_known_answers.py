"""Known answers: the digest engine against the real ``rhash`` CLI and against the definitions.

rhash is the tool an investigator would otherwise use, so its output is the reference; the
ED2K and TTH definitions are also re-derived here from their primitives (MD4, Tiger), so a
wrong convention would be caught even if it were wrong in both places the same way.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

import pytest
from digest_helpers import KNOWN_ANSWER_SIZES, rhash_binary, synthetic

from netwarden.digest import ED2K_CHUNK, MultiDigest, hash_file
from netwarden.digest import _librhash as rh


@pytest.mark.parametrize("size", KNOWN_ANSWER_SIZES)
def test_hash_file_equals_rhash(size: int, known_files: dict[int, Path],
                                rhash_answers: dict[int, dict[str, str | int]]) -> None:
    ours = hash_file(known_files[size]).as_dict()
    theirs = rhash_answers[size]
    assert ours["size"] == theirs["size"] == size
    for name in ("md5", "sha1", "sha256", "ed2k"):
        assert ours[name] == theirs[name], name
    # rhash prints TTH base32 in lower case by default; we print the DC/RFC 4648 upper case.
    assert ours["tth"] == str(theirs["tth"]).upper()


def test_hashlib_agrees_on_the_multichunk_file(known_files: dict[int, Path]) -> None:
    data = known_files[25_000_037].read_bytes()
    result = hash_file(known_files[25_000_037])
    assert result.md5 == hashlib.md5(data).hexdigest()
    assert result.sha1 == hashlib.sha1(data).hexdigest()
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_tth_matches_rhash_uppercase_output(known_files: dict[int, Path]) -> None:
    path = known_files[1025]
    out = subprocess.run([rhash_binary(), "--uppercase", "--tth", str(path)], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert out.split()[0] == hash_file(path).tth


def _md4(data: bytes) -> bytes:
    return rh.digest(rh.MD4, data)


@pytest.mark.parametrize("size", [9_727_999, 9_728_000, 9_728_001])
def test_ed2k_convention_at_the_chunk_boundary(size: int, known_files: dict[int, Path]) -> None:
    """rhash's ED2K: exact multiples of 9,728,000 get MD4("") appended before the outer MD4."""
    data = known_files[size].read_bytes()
    if size < ED2K_CHUNK:
        expected = _md4(data)
    else:
        chunks = [data[i:i + ED2K_CHUNK] for i in range(0, len(data), ED2K_CHUNK)]
        if size % ED2K_CHUNK == 0:
            chunks.append(b"")
        expected = _md4(b"".join(_md4(c) for c in chunks))
    assert hash_file(known_files[size]).ed2k == expected.hex()
    if size == ED2K_CHUNK:
        assert hash_file(known_files[size]).ed2k != _md4(data).hex()


def _tth_reference(data: bytes) -> str:
    """THEX from its definition over the Tiger primitive: leaves 0x00, nodes 0x01, promote odd."""
    def tiger(b: bytes) -> bytes:
        return rh.digest(rh.TIGER, b)
    level = [tiger(b"\x00" + data[i:i + 1024]) for i in range(0, len(data), 1024)]
    if not level:
        level = [tiger(b"\x00")]
    while len(level) > 1:
        nxt = [tiger(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return base64.b32encode(level[0]).decode().rstrip("=")


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 2048, 3 * 1024 + 5, 5 * 1024, 70_001])
def test_tth_matches_the_thex_definition(size: int) -> None:
    data = synthetic(size, seed=size + 7)
    engine = MultiDigest()
    engine.update(data)
    assert engine.finalize().tth == _tth_reference(data)


def test_published_vectors() -> None:
    """THEX vectors as published (empty input; 1024 'A's) and the empty-input ED2K/MD5."""
    empty = MultiDigest().finalize()
    assert empty.tth == "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"
    assert empty.ed2k == "31d6cfe0d16ae931b73c59d7e0c089c0"
    assert empty.md5 == "d41d8cd98f00b204e9800998ecf8427e"
    engine = MultiDigest()
    engine.update(b"A" * 1024)
    assert engine.finalize().tth == "L66Q4YVNAFWVS23X2HJIRA5ZJ7WXR3F26RSASFA"


@pytest.mark.parametrize("piece_length", [16_384, 262_144, 1_000_003])
def test_piece_sha1s_equal_hashlib_over_slices(piece_length: int,
                                                known_files: dict[int, Path]) -> None:
    path = known_files[25_000_037]
    data = path.read_bytes()
    result = hash_file(path, piece_length=piece_length)
    expected = tuple(hashlib.sha1(data[i:i + piece_length]).digest()
                     for i in range(0, len(data), piece_length))
    assert result.pieces == expected
    assert len(expected) == -(-len(data) // piece_length)


def test_pieces_absent_unless_asked(known_files: dict[int, Path]) -> None:
    assert hash_file(known_files[1025]).pieces is None
    assert hash_file(known_files[0], piece_length=16_384).pieces == ()
