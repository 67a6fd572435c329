"""Decoding stays strict after a library flips Pillow's process-global truncation flag.

WeasyPrint (the PDF reports) sets ``ImageFile.LOAD_TRUNCATED_IMAGES = True`` when imported; a
truncated image must still be refused, not hashed from a partial decode.
"""

from __future__ import annotations

import pytest
from PIL import ImageFile

from netwarden.digest.pdq import PdqError, pdq_from_bytes
from netwarden.testbed.network import drawing, encode


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_refused_after_the_flag_was_flipped(fmt: str) -> None:
    data = encode(drawing(3), fmt)
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # what importing weasyprint does
    try:
        with pytest.raises(PdqError):
            pdq_from_bytes(data[: len(data) // 2])
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
