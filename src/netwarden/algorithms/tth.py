"""TTH: Tiger tree hash (THEX, 1024-byte leaves) as DC/ADC clients name files.

Written in upper-case unpadded base32, as DC clients print it; parsed case-insensitively.
"""

from __future__ import annotations

from netwarden.algorithms.base import Algorithm, ExchangeNames, Kind, TextForm
from netwarden.digest import _librhash as rh


class Tth(Algorithm):
    name = "tth"
    code = 5
    kind = Kind.CONTENT
    size = 24
    text = TextForm.BASE32
    rank = 50
    listing = 5
    exchange = ExchangeNames(stix="x_tth", misp_type="text", csv_column="tth", acns="TTH")
    librhash_id = rh.TTH


ALGORITHM = Tth()
