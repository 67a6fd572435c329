"""Generated stand-ins for photographs, for the perceptual tests and benchmarks/bench_pdq.py.

Why not only :func:`netwarden.testbed.network.drawing`: its blurred discs are smooth, and about
a quarter of them have a PDQ quality under 50 (measured: 51 of seeds 0-199), which the quality
gate ignores, so they cannot measure recall. :func:`photo` starts from the same drawing and adds
what photographs have: a lighting gradient, a colour texture with a natural ``1/f`` spectrum
(random exponent, FFT-shaped noise) and fine sensor noise. Everything is random numbers from
the seed: never a real image. Imported by the benchmark with ``tests`` on ``sys.path``.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import av
import numpy as np
from PIL import Image

from netwarden.testbed.network import drawing


def _fractal(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Zero-mean, unit-variance noise with a ``1/f**beta`` amplitude spectrum (beta 1.4-2.2)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f ** rng.uniform(
        1.4, 2.2)
    spectrum[0, 0] = 0
    field = np.fft.irfft2(spectrum, s=(h, w))
    return (field - field.mean()) / (field.std() + 1e-9)


def photo(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A generated photo-like RGB image (seeded; PDQ quality is ≥ 50 for almost every seed)."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.asarray(drawing(seed, size), dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.0 + 0.3 * (rng.uniform(-1, 1) * (xx / w - 0.5) + rng.uniform(-1, 1) * (yy / h - 0.5))
    texture = _fractal(rng, h, w).astype(np.float32)
    tint = rng.uniform(20, 45, size=3).astype(np.float32)
    noise = rng.normal(0, 3, size=(h, w, 3)).astype(np.float32)
    pixels = base * light[..., None] + texture[..., None] * tint + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def scene_frames(seed: int, count: int = 75, size: tuple[int, int] = (640, 480),
                 scene_length: int = 25,
                 picture: Callable[..., Image.Image] = drawing) -> list[np.ndarray]:
    """RGB frames of a generated clip: a new picture every ``scene_length`` frames, panning
    one pixel per frame in between (so consecutive frames differ, as in film)."""
    scenes = [np.asarray(picture(seed + k, size)) for k in range(count // scene_length + 1)]
    return [np.roll(scenes[i // scene_length], i % scene_length, axis=1) for i in range(count)]


def encode_video(frames: list[np.ndarray], *, size: tuple[int, int] | None = None,
                 bitrate: int | None = None, crop: int = 0, rate: int = 25) -> bytes:
    """The frames as an H.264 MP4 in memory; ``size`` rescales, ``crop`` cuts pixels off
    every edge first, ``bitrate`` lowers the quality (the re-encoding transforms)."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        h, w = frames[0].shape[:2]
        w, h = size or (w - 2 * crop, h - 2 * crop)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if bitrate:
            stream.bit_rate = bitrate
        for array in frames:
            if crop:
                array = np.ascontiguousarray(array[crop:-crop, crop:-crop])
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if size:
                frame = frame.reformat(width=w, height=h)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()
