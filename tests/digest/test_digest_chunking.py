"""The result depends only on the bytes, never on how they were split into update() calls."""

from __future__ import annotations

import array
import hashlib
import itertools

import pytest
from digest_helpers import synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

from netwarden.digest import ED2K_CHUNK, DigestResult, MultiDigest


def _one_shot(data: bytes, piece_length: int | None = None) -> DigestResult:
    engine = MultiDigest(piece_length)
    engine.update(data)
    return engine.finalize()


def _split(data: bytes, cuts: list[int], piece_length: int | None = None,
           kind: str = "bytes") -> DigestResult:
    engine = MultiDigest(piece_length)
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in itertools.pairwise(points):
        part = data[start:end]
        if kind == "bytearray":
            engine.update(bytearray(part))
        elif kind == "memoryview":
            engine.update(memoryview(bytearray(data))[start:end])
        elif kind == "readonly":
            engine.update(memoryview(data)[start:end])
        else:
            engine.update(part)
    return engine.finalize()


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=6000),
       cuts=st.lists(st.integers(min_value=0, max_value=6000), max_size=12),
       piece_length=st.sampled_from([None, 1, 7, 1000, 1024, 4096]),
       kind=st.sampled_from(["bytes", "bytearray", "memoryview", "readonly"]))
def test_random_split_points_give_the_same_result(data: bytes, cuts: list[int],
                                                  piece_length: int | None,
                                                  kind: str) -> None:
    whole = _one_shot(data, piece_length)
    assert _split(data, cuts, piece_length, kind) == whole
    assert whole.size == len(data)
    assert whole.sha256 == hashlib.sha256(data).hexdigest()
    if piece_length is not None:
        assert whole.pieces == tuple(hashlib.sha1(data[i:i + piece_length]).digest()
                                     for i in range(0, len(data), piece_length))


def test_splits_around_the_ed2k_boundary() -> None:
    """Cuts one byte either side of each 9,728,000-byte chunk edge and at odd places."""
    data = synthetic(2 * ED2K_CHUNK + 3, seed=99)
    cuts = [1, 1023, ED2K_CHUNK - 1, ED2K_CHUNK, ED2K_CHUNK + 1, ED2K_CHUNK + 1025,
            2 * ED2K_CHUNK - 1, 2 * ED2K_CHUNK, 2 * ED2K_CHUNK + 2]
    assert _split(data, cuts, 262_144) == _one_shot(data, 262_144)


def test_non_byte_buffers_are_hashed_as_their_bytes() -> None:
    words = array.array("I", range(1000))
    engine = MultiDigest()
    engine.update(memoryview(words))
    assert engine.finalize() == _one_shot(words.tobytes())


def test_update_after_finalize_is_refused_and_finalize_is_idempotent() -> None:
    engine = MultiDigest()
    engine.update(b"abc")
    first = engine.finalize()
    assert engine.finalize() is first
    with pytest.raises(RuntimeError):
        engine.update(b"more")


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "16384"])
def test_bad_piece_length_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="piece_length"):
        MultiDigest(bad)  # type: ignore[arg-type]


def test_as_dict_has_the_contract_keys() -> None:
    d = _one_shot(b"x").as_dict()
    assert list(d) == ["size", "md5", "sha1", "sha256", "ed2k", "tth"]
    assert all(isinstance(d[k], str) for k in ("md5", "sha1", "sha256", "ed2k", "tth"))
    assert d["tth"] == str(d["tth"]).upper() and "=" not in str(d["tth"])
