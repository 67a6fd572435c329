"""PDQ of an image held in memory: decode with Pillow (bounded), hash with Meta's C++ PDQ.

Why these libraries: ``pdqhash`` wraps the reference C++ implementation of PDQ (the same code
the Hasher-Matcher-Actioner runs), and ``threatexchange`` feeds it a NumPy array made by Pillow.
We do the same, in the same way, so the hex is bit-for-bit the one ``threatexchange hash photo``
prints: bit ``i`` of the hash vector is bit ``255 - i`` of the 256-bit big-endian hex (the
first hex digit holds bits 0-3 of the vector, most significant first).

Hostile images are normal (DESIGN.md §2.8): the decoder is given at most ``max_bytes`` of
input, refuses images over ``max_pixels`` (decompression bombs) *before* decoding the pixels,
and every failure becomes a :class:`PdqError` whose message says what was wrong. Nothing is
written anywhere: bytes in, hex and quality out.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image, ImageFile, UnidentifiedImageError

BITS = 256
HEX_LENGTH = 64
MAX_IMAGE_BYTES = 32 * 1024 * 1024  # images larger than this are not decoded
MAX_PIXELS = 64_000_000  # 8000 x 8000: beyond this a "photo" is a decompression bomb
MIN_SIDE = 5  # PDQ needs some pixels; smaller images give meaningless hashes
QUALITY_GATE = 50  # PDQ's own recommendation: hashes of quality < 50 are not matched

# Dihedral variants in pdqhash.compute_dihedral order.
DIHEDRAL_NAMES = ("original", "rotate90", "rotate180", "rotate270", "flip-x", "flip-y",
                  "flip-plus1", "flip-minus1")

# Pillow must never silently load a partial image: a truncated file is an error here. The flag
# is process-global and other libraries set it (WeasyPrint sets it to True when imported, for
# the PDF reports), so it is set again before every decode, not only at import.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class PdqError(ValueError):
    """An image could not be hashed; the message says why, in words."""


@dataclass(frozen=True)
class PdqResult:
    """A PDQ hash (64 lowercase hex digits) and its quality (0-100), with the image's size."""

    hex: str
    quality: int
    width: int
    height: int
    format: str | None
    dihedral: tuple[str, ...] | None = None  # the 8 variants' hex when asked for

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"pdq": self.hex, "pdq_quality": self.quality,
                                  "image": {"width": self.width, "height": self.height,
                                            "format": self.format}}
        if self.dihedral:
            out["pdq_dihedral"] = dict(zip(DIHEDRAL_NAMES, self.dihedral, strict=True))
        return out


def vector_to_hex(vector: np.ndarray) -> str:
    """The hex of a 256-element 0/1 vector, bit 0 most significant (threatexchange's order)."""
    bits = np.asarray(vector, dtype=np.uint8).reshape(-1)
    if bits.size != BITS:
        raise PdqError(f"a PDQ vector has {BITS} bits, got {bits.size}")
    return np.packbits(bits).tobytes().hex()


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """A Pillow image opened (header only) and size-checked; raises PdqError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise PdqError(f"decompression bomb refused: {exc}") from None
        except Image.DecompressionBombWarning as exc:
            raise PdqError(f"decompression bomb refused: {exc}") from None
        except UnidentifiedImageError:
            raise PdqError("not an image format Pillow can decode") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise PdqError(f"unreadable image header: {exc}") from None
    width, height = image.size
    if width < MIN_SIDE or height < MIN_SIDE:
        raise PdqError(f"image of {width}x{height} pixels is too small to hash")
    if width * height > max_pixels:
        raise PdqError(f"image of {width}x{height} pixels is over the limit of {max_pixels} "
                       "pixels (decompression bomb guard); not decoded")
    return image


def _rgb_array(image: Image.Image) -> np.ndarray:
    """The array PDQ hashes: what threatexchange's ``_convert_image_to_correct_array_dimension``
    gives for RGB/L images; other modes (palette, CMYK, alpha, 16-bit) are converted to RGB."""
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., np.newaxis], 3, axis=2)
    return np.ascontiguousarray(array)


def decode_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES,
                 max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, str | None]:
    """Decode ``data`` into an RGB array in memory (bounded); raises PdqError."""
    if len(data) > max_bytes:
        raise PdqError(f"image of {len(data)} bytes is over the limit of {max_bytes} bytes")
    if not data:
        raise PdqError("empty file")
    image = _open(data, max_pixels)
    fmt = image.format
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            image.load()
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # animated GIF/WebP/APNG: the first frame, as threatexchange
        array = _rgb_array(image)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        raise PdqError(f"image data is truncated or corrupt: {exc}") from None
    except MemoryError:
        raise PdqError("image too large to decode in memory") from None
    finally:
        image.close()
    return array, fmt


def pdq_from_array(array: np.ndarray) -> tuple[str, int]:
    """PDQ hex and quality of an RGB ``uint8`` array (height, width, 3)."""
    vector, quality = pdqhash.compute(np.ascontiguousarray(array, dtype=np.uint8))
    return vector_to_hex(vector), int(quality)


def dihedral_from_array(array: np.ndarray) -> tuple[tuple[str, ...], int]:
    """The 8 dihedral variants' hex (in :data:`DIHEDRAL_NAMES` order) and the quality."""
    vectors, quality = pdqhash.compute_dihedral(np.ascontiguousarray(array, dtype=np.uint8))
    return tuple(vector_to_hex(v) for v in vectors), int(quality)


def pdq_from_bytes(data: bytes, *, dihedral: bool = False, max_bytes: int = MAX_IMAGE_BYTES,
                   max_pixels: int = MAX_PIXELS) -> PdqResult:
    """PDQ of an encoded image (JPEG, PNG, GIF, WebP, BMP, TIFF...) given as bytes."""
    array, fmt = decode_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    height, width = array.shape[:2]
    if dihedral:
        variants, quality = dihedral_from_array(array)
        return PdqResult(variants[0], quality, width, height, fmt, variants)
    hex_value, quality = pdq_from_array(array)
    return PdqResult(hex_value, quality, width, height, fmt)


def parse_pdq(text: str) -> bytes:
    """The 32 raw bytes of a PDQ hex string; PdqError saying what is wrong otherwise."""
    value = text.strip().lower()
    if len(value) != HEX_LENGTH:
        raise PdqError(f"a PDQ hash is {HEX_LENGTH} hex digits, got {len(value)}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        bad = next((c for c in value if c not in "0123456789abcdef"), "?")
        raise PdqError(f"a PDQ hash is hex; found {bad!r}") from None


def hamming(a: str, b: str) -> int:
    """Hamming distance of two PDQ hex strings."""
    return (int.from_bytes(parse_pdq(a), "big") ^ int.from_bytes(parse_pdq(b), "big")
            ).bit_count()
