"""``netwarden hash --json`` prints PDQ (with quality) for images and a vPDQ summary for videos,
equal to the reference libraries on the same generated files; media that do not decode keep
their exact digests and say why. Every image and video is generated here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes as tx_pdq_from_bytes
from typer.testing import CliRunner

import netwarden.cli.hash  # noqa: F401  (registers the command on the app)
from netwarden.cli import app
from netwarden.digest.perceptual import perceptual_of_file
from netwarden.digest.vpdq import vpdq_from_bytes
from netwarden.testbed.network import encode

from .synthetic import encode_video, photo, scene_frames


def _run(*args: str) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(app, ["hash", *args])
    lines = [json.loads(line) for line in result.stdout.splitlines()] if "--json" in args \
        else []
    return result.exit_code, lines, result.stdout


@pytest.fixture(scope="module")
def clip() -> bytes:
    return encode_video(scene_frames(31, count=60, size=(192, 144), scene_length=20))


def test_images_get_pdq_equal_to_threatexchange(tmp_path: Path) -> None:
    files = {"a.png": encode(photo(1), "PNG"), "b.jpg": encode(photo(2), "JPEG", quality=80),
             "renamed.bin": encode(photo(3), "PNG"),  # the magic bytes say PNG
             "notes.txt": b"synthetic text, not media"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    code, lines, _ = _run("--json", *(str(tmp_path / n) for n in files))
    assert code == 0
    for line, (name, data) in zip(lines, files.items(), strict=True):
        assert line["sha256"] == hashlib.sha256(data).hexdigest()
        if name == "notes.txt":
            assert "pdq" not in line and "perceptual" not in line
            continue
        want_hex, want_quality = tx_pdq_from_bytes(data)
        assert (line["pdq"], line["pdq_quality"]) == (want_hex, want_quality)
        assert line["image"] == {"width": 480, "height": 360,
                                 "format": "JPEG" if name.endswith(".jpg") else "PNG"}
        assert "pdq_dihedral" not in line


def test_signal_adds_dihedral_and_no_perceptual_drops_it(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    path.write_bytes(encode(photo(4)))
    _, [line], _ = _run("--json", "--signal", str(path))
    assert set(line["pdq_dihedral"]) == {"original", "rotate90", "rotate180", "rotate270",
                                         "flip-x", "flip-y", "flip-plus1", "flip-minus1"}
    assert line["pdq_dihedral"]["original"] == line["pdq"]
    _, [plain], _ = _run("--json", "--no-perceptual", str(path))
    assert "pdq" not in plain and plain["sha256"] == line["sha256"]


def test_video_gets_a_vpdq_summary(tmp_path: Path, clip: bytes) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip)
    want = vpdq_from_bytes(clip)
    code, [line], _ = _run("--json", "--signal", str(path))
    assert code == 0
    assert line["vpdq"] == hashlib.sha256(want.signal().encode()).hexdigest()
    summary = line["vpdq_summary"]
    assert summary["frames_hashed"] == len(want.features) == 3  # 60 frames at 25 fps: 0, 25, 50
    assert summary["frames_decoded"] == 60
    assert (summary["width"], summary["height"], summary["codec"]) == (192, 144, "h264")
    assert line["vpdq_signal"] == want.signal()
    assert "pdq" not in line


def test_video_hashes_equal_meta_vpdq(tmp_path: Path, clip: bytes) -> None:
    vpdq = pytest.importorskip("vpdq")
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip)
    _, [line], _ = _run("--json", "--signal", str(path))
    ours = [f.split(",")[:2] for f in json.loads(str(line["vpdq_signal"]))]
    theirs = [[f.hex, str(f.quality)] for f in vpdq.computeHash(str(path))]
    assert ours == theirs


def test_undecodable_media_keep_exact_digests(tmp_path: Path, clip: bytes) -> None:
    bad_image = tmp_path / "cut.jpg"
    bad_image.write_bytes(encode(photo(5), "JPEG")[:2000])
    bad_video = tmp_path / "cut.mp4"
    bad_video.write_bytes(clip[: len(clip) // 4])
    code, lines, _ = _run("--json", str(bad_image), str(bad_video))
    assert code == 0  # the files were hashed; no perceptual hash is an outcome
    assert [line["perceptual"]["status"] for line in lines] == ["undecodable"] * 2
    assert [line["perceptual"]["kind"] for line in lines] == ["image", "video"]
    assert all("pdq" not in line and "vpdq" not in line and line["md5"] for line in lines)


def test_table_output_shows_pdq(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    data = encode(photo(6))
    path.write_bytes(data)
    result = CliRunner().invoke(app, ["hash", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert tx_pdq_from_bytes(data)[0] in result.stdout and "pdq_quality" in result.stdout


def test_a_file_changed_between_passes_is_not_hashed(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    data = encode(photo(7))
    path.write_bytes(data)
    stale = hashlib.sha256(b"what the exact pass saw").hexdigest()
    out = perceptual_of_file(path, size=len(data), sha256=stale)
    assert not out.digests and out.details["perceptual"]["status"] == "changed"
    assert perceptual_of_file(path, size=len(data),
                              sha256=hashlib.sha256(data).hexdigest()).digests["pdq"]
    over = perceptual_of_file(path, size=64 * 1024 * 1024)  # over the image cap: not read
    assert over.details["perceptual"]["status"] == "skipped"
