"""vPDQ of a video held in memory: PyAV demuxes and decodes from a BytesIO, PDQ per sampled frame.

Why not ``vpdq.computeHash``: Meta's vpdq binding only takes a *file name* (it opens the file
with libavformat itself), and netwarden never writes received content to disk (DESIGN.md §2.1).
PyAV is the same libavformat/libavcodec/libswscale, fed from memory. The algorithm is vPDQ's:
one frame every ``seconds_per_hash`` seconds (every ``round(fps * seconds_per_hash)``-th
decoded frame, frame 0 first), converted to RGB24 at its own size, hashed with PDQ
(``pdqhash``, the reference C++); each feature is (pdq hex, quality, frame number, timestamp).
The tests compare the result with ``vpdq.computeHash`` on the same generated video.

Bounds (hostile input is normal): at most ``max_bytes`` of input, ``max_pixels`` per frame
(absurd dimensions are refused before decoding), ``max_frames`` decoded frames and
``max_seconds`` of wall-clock decoding. A failure is a :class:`VpdqError` saying why.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass

import av
import av.error

from netwarden.digest.pdq import pdq_from_array

MAX_VIDEO_BYTES = 256 * 1024 * 1024
MAX_FRAME_PIXELS = 8192 * 4320  # 8K
MAX_FRAMES = 200_000  # decoded frames (a 2 h film at 25 fps is 180,000)
MAX_DECODE_SECONDS = 300.0
TIMESTAMP_PRECISION = 3

# The reference matcher's defaults (threatexchange vpdq_util / HMA).
DISTANCE_THRESHOLD = 31
QUALITY_THRESHOLD = 50
QUERY_MATCH_PERCENT = 80.0
INDEX_MATCH_PERCENT = 0.0


class VpdqError(ValueError):
    """A video could not be hashed; the message says why, in words."""


@dataclass(frozen=True)
class VpdqFeature:
    """One hashed frame."""

    hex: str
    quality: int
    frame: int
    timestamp: float

    def compact(self) -> str:
        """threatexchange's ``VpdqCompactFeature`` text: ``hex,quality,timestamp``."""
        return f"{self.hex},{self.quality},{self.timestamp:.{TIMESTAMP_PRECISION}f}"


@dataclass(frozen=True)
class VpdqResult:
    """A video's vPDQ features with what was decoded."""

    features: tuple[VpdqFeature, ...]
    frames_decoded: int
    width: int
    height: int
    fps: float
    codec: str

    def signal(self) -> str:
        """The signal string threatexchange and HMA exchange: a JSON list of compact features."""
        return json.dumps([f.compact() for f in self.features])

    def unique(self, quality: int = 0) -> list[str]:
        """Distinct frame hashes of at least ``quality``, in first-seen order (for matching)."""
        seen: dict[str, None] = {}
        for f in self.features:
            if f.quality >= quality:
                seen.setdefault(f.hex, None)
        return list(seen)

    def summary(self) -> dict[str, object]:
        good = [f for f in self.features if f.quality >= QUALITY_THRESHOLD]
        return {"frames_hashed": len(self.features), "frames_decoded": self.frames_decoded,
                "unique_hashes": len(self.unique()), "good_quality": len(good),
                "width": self.width, "height": self.height, "fps": round(self.fps, 3),
                "codec": self.codec}


def parse_signal(text: str) -> list[tuple[str, int, float]]:
    """(hex, quality, timestamp) of each feature of a vPDQ signal string; ValueError if bad."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"vPDQ signal is not JSON: {exc.msg}") from None
    if not isinstance(items, list) or not items:
        raise ValueError("vPDQ signal must be a non-empty JSON list of 'hex,quality,time'")
    out = []
    for n, item in enumerate(items):
        parts = item.split(",") if isinstance(item, str) else []
        if len(parts) != 3 or len(parts[0]) != 64:
            raise ValueError(f"vPDQ feature {n} is not 'hex64,quality,timestamp'")
        try:
            bytes.fromhex(parts[0])
            quality, stamp = int(parts[1]), float(parts[2])
        except ValueError:
            raise ValueError(f"vPDQ feature {n} has a bad hex, quality or timestamp") from None
        if not 0 <= quality <= 100 or stamp < 0:
            raise ValueError(f"vPDQ feature {n}: quality outside 0-100 or negative time")
        out.append((parts[0].lower(), quality, stamp))
    return out


def vpdq_from_bytes(data: bytes, *, seconds_per_hash: float = 1.0,
                    max_bytes: int = MAX_VIDEO_BYTES, max_pixels: int = MAX_FRAME_PIXELS,
                    max_frames: int = MAX_FRAMES,
                    max_seconds: float = MAX_DECODE_SECONDS) -> VpdqResult:
    """vPDQ features of an encoded video given as bytes; raises VpdqError."""
    if not data:
        raise VpdqError("empty file")
    if len(data) > max_bytes:
        raise VpdqError(f"video of {len(data)} bytes is over the limit of {max_bytes} bytes")
    deadline = time.monotonic() + max_seconds
    try:
        container = av.open(io.BytesIO(data), mode="r", options={"probesize": "5000000"})
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise VpdqError(f"not a video container libavformat can read: {exc}") from None
    try:
        if not container.streams.video:
            raise VpdqError("no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width <= 0 or height <= 0:
            raise VpdqError(f"video stream has no usable dimensions ({width}x{height})")
        if width * height > max_pixels:
            raise VpdqError(f"frames of {width}x{height} pixels are over the limit of "
                            f"{max_pixels} pixels; not decoded")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if not 0 < fps < 1000:
            raise VpdqError(f"video stream has no usable frame rate ({fps})")
        every = max(1, round(fps * seconds_per_hash)) if seconds_per_hash > 0 else 1
        features: list[VpdqFeature] = []
        decoded = 0
        codec = ctx.name or "?"
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if decoded >= max_frames:
                raise VpdqError(f"more than {max_frames} frames; decoding stopped")
            if time.monotonic() > deadline:
                raise VpdqError(f"decoding took longer than {max_seconds:g} s; stopped")
            if frame.width * frame.height > max_pixels:
                raise VpdqError(f"a frame of {frame.width}x{frame.height} pixels is over the "
                                f"limit of {max_pixels} pixels")
            if decoded % every == 0:
                hex_value, quality = pdq_from_array(frame.to_ndarray(format="rgb24"))
                features.append(VpdqFeature(hex_value, quality, decoded,
                                            round(decoded / fps, TIMESTAMP_PRECISION)))
            decoded += 1
    except VpdqError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise VpdqError(f"video stream is broken: {exc}") from None
    except MemoryError:
        raise VpdqError("video too large to decode in memory") from None
    finally:
        container.close()
    if not features:
        raise VpdqError("no frame could be decoded (zero-frame or broken video)")
    return VpdqResult(tuple(features), decoded, width, height, fps, codec)
