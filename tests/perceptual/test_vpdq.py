"""vPDQ from memory equals Meta's vpdq on the same generated video; re-encoded and cropped
copies match a bank; broken, zero-frame and absurd videos are clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netwarden.banks import BankStore
from netwarden.digest.perceptual import PerceptualDigest
from netwarden.digest.vpdq import VpdqError, vpdq_from_bytes
from netwarden.identify import identify
from netwarden.records import Endpoint, Observation
from netwarden.store import open_store
from netwarden.testbed.network import drawing

from .synthetic import encode_video, scene_frames


def _frames(count: int = 75, size: tuple[int, int] = (640, 480)) -> list[np.ndarray]:
    return scene_frames(7000, count, size)


_encode = encode_video


@pytest.fixture(scope="module")
def original() -> bytes:
    return _encode(_frames())


def test_equals_meta_vpdq(original: bytes, tmp_path: Path) -> None:
    vpdq = pytest.importorskip("vpdq")
    path = tmp_path / "generated.mp4"  # a generated test video, for the reference binding
    path.write_bytes(original)
    theirs = [(f.hex, f.quality, f.frame_number) for f in vpdq.computeHash(str(path))]
    ours = [(f.hex, f.quality, f.frame) for f in vpdq_from_bytes(original).features]
    assert ours == theirs


def _observation(data: bytes) -> Observation:
    acc = PerceptualDigest("clip.mp4")
    acc.update(data)
    out = acc.finish()
    return Observation(run_id="r", endpoint=Endpoint(protocol="http", host="127.0.0.1", port=1),
                       location="http://127.0.0.1/clip.mp4", method="http-get", size=len(data),
                       digests=out.digests, details=out.details, bytes_from_endpoint=True)


@pytest.mark.parametrize(("how", "vpdq_settings"), [
    ("reencode", None),
    pytest.param("crop10", None, marks=pytest.mark.xfail(
        reason="measured: a 10 px crop moves these generated frames' PDQ to 30-50 bits, beyond "
               "the reference's per-frame 31 (PDQ is crop-sensitive); see docs/accuracy.md",
        strict=False)),
    # The configuration docs/accuracy.md measures for crops: per-frame distance 52
    # (threatexchange's PDQFlatIndex threshold), the rest as the reference.
    ("crop10", {"distance": 52}),
])
def test_reencoded_and_cropped_copies_match(original: bytes, tmp_path: Path, how: str,
                                            vpdq_settings: dict[str, float] | None) -> None:
    signal = vpdq_from_bytes(original).signal()
    (tmp_path / "v.txt").write_text(f"vpdq {signal} film\n", encoding="utf-8")
    banks = BankStore(open_store(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    assert banks.import_file("vids", "film", "hma", tmp_path / "v.txt",
                             vpdq=vpdq_settings).added == 1
    frames = _frames()
    copy = (_encode(frames, size=(320, 240), bitrate=150_000) if how == "reencode"
            else _encode(frames, crop=10))
    matches = identify(_observation(copy), banks)
    assert [(m.algorithm, m.method) for m in matches] == [("vpdq", "perceptual")]
    other = _encode([np.asarray(drawing(9000 + i // 25)) for i in range(50)])
    assert identify(_observation(other), banks) == []


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x00\x18ftypisom" + b"\x00" * 500,
                                  b"garbage" * 1000])
def test_broken_videos_are_clear_errors(data: bytes) -> None:
    with pytest.raises(VpdqError):
        vpdq_from_bytes(data)


def test_truncated_and_absurd_videos(original: bytes) -> None:
    with pytest.raises(VpdqError):
        vpdq_from_bytes(original[: len(original) // 3])
    with pytest.raises(VpdqError, match="over the limit"):
        vpdq_from_bytes(original, max_pixels=100)
    acc = PerceptualDigest("broken.mkv")
    acc.update(b"\x1a\x45\xdf\xa3" + b"\x00" * 64)
    assert acc.finish().details["perceptual"]["status"] == "undecodable"
