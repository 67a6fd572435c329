"""PDQ: Meta's 256-bit perceptual hash of an image (lowercase hex), matched by Hamming distance.

Never looked up exactly: banks/perceptual.py searches it within a bank's threshold (default
31 bits, threatexchange's); the digest is computed by netwarden.digest.pdq on decoded images.
"""

from __future__ import annotations

from netwarden.algorithms.base import Algorithm, ExchangeNames, Kind


class Pdq(Algorithm):
    name = "pdq"
    code = 8
    kind = Kind.PERCEPTUAL
    size = 32
    rank = 100
    listing = 4
    exchange = ExchangeNames(stix="x_pdq", misp_type="text", csv_column="pdq",
                             vics_alternative="PDQ")
    signal_types = ("pdq",)
    threshold = 31


ALGORITHM = Pdq()
