"""PDQ hashing: equal to threatexchange's hex, robust to the generated transforms, and hostile
images end in a PdqError (never a crash). Every image is generated here."""

from __future__ import annotations

import struct
import zlib

import pytest
from PIL import Image
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes as tx_pdq_from_bytes

from netwarden.digest.pdq import PdqError, hamming, parse_pdq, pdq_from_bytes
from netwarden.digest.perceptual import PerceptualDigest
from netwarden.testbed.network import drawing, encode, transform


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF"])
def test_hex_equals_threatexchange(seed: int, fmt: str) -> None:
    data = encode(drawing(seed), fmt)
    ours = pdq_from_bytes(data)
    theirs, quality = tx_pdq_from_bytes(data)
    assert (ours.hex, ours.quality) == (theirs, quality)


def test_grayscale_image_equals_threatexchange() -> None:
    data = encode(drawing(9).convert("L"), "PNG")
    assert pdq_from_bytes(data).hex == tx_pdq_from_bytes(data)[0]


@pytest.mark.parametrize("how", ["resize50", "jpeg60", "crop5"])
def test_transforms_stay_within_the_default_threshold(how: str) -> None:
    distances = []
    for seed in (101, 202, 303, 304, 305, 306):
        original = drawing(seed)
        distances.append(hamming(pdq_from_bytes(encode(original)).hex,
                                 pdq_from_bytes(transform(original, how)).hex))
    assert sum(d <= 31 for d in distances) >= 5, distances


@pytest.mark.parametrize("how", ["flip", "rotate90"])
def test_flip_and_rotation_need_dihedral(how: str) -> None:
    original = pdq_from_bytes(encode(drawing(11)))
    changed = pdq_from_bytes(transform(drawing(11), how), dihedral=True)
    assert hamming(original.hex, changed.hex) > 31  # plain PDQ does not see it
    assert changed.dihedral is not None
    assert min(hamming(original.hex, v) for v in changed.dihedral) <= 31


def test_unrelated_drawings_do_not_match() -> None:
    hashes = [pdq_from_bytes(encode(drawing(1000 + i))).hex for i in range(20)]
    close = [(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:] if hamming(a, b) <= 31]
    assert not close


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming huge dimensions with (almost) no data: a decompression bomb's header."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


@pytest.mark.parametrize(("data", "words"), [
    (b"", "empty"),
    (b"not an image at all" * 10, "not an image"),
    (_png_header_only(100_000, 100_000), "decompression bomb"),
    (_png_header_only(20_000, 20_000), "limit"),
    (encode(drawing(3), "JPEG")[:3000], "truncated"),
    (encode(drawing(3), "PNG")[:-200], "truncated"),
    (encode(Image.new("RGB", (3, 3))), "too small"),
])
def test_hostile_images_are_clear_errors(data: bytes, words: str) -> None:
    with pytest.raises(PdqError, match=words):
        pdq_from_bytes(data)


def test_flat_image_has_quality_below_the_gate() -> None:
    result = pdq_from_bytes(encode(Image.new("RGB", (200, 200), (128, 128, 128))))
    assert result.quality < 50


@pytest.mark.parametrize("text", ["abc", "0" * 63, "0" * 65, "g" * 64])
def test_wrong_hash_strings(text: str) -> None:
    with pytest.raises(PdqError):
        parse_pdq(text)


def test_accumulator_keeps_media_only_and_respects_its_cap() -> None:
    data = encode(drawing(5), "PNG")
    acc = PerceptualDigest("renamed.bin")  # no media extension: the magic says PNG
    for i in range(0, len(data), 4096):
        acc.update(data[i:i + 4096])
    out = acc.finish()
    assert out.digests["pdq"] == pdq_from_bytes(data).hex
    assert set(out.details["pdq_dihedral"]) >= {"original", "rotate90", "flip-x"}
    small = PerceptualDigest("x.png", max_image_bytes=1000)
    small.update(data)
    skipped = small.finish()
    assert not skipped.digests and skipped.details["perceptual"]["status"] == "skipped"
    other = PerceptualDigest("notes.txt")
    other.update(b"plain text")
    assert other.finish().digests == {}
    broken = PerceptualDigest("a.jpg")
    broken.update(b"\xff\xd8\xff" + b"\x00" * 100)
    result = broken.finish()
    assert result.details["perceptual"]["status"] == "undecodable"
