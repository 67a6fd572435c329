"""ED2K (eDonkey/eMule): MD4 of each 9,728,000-byte chunk, then MD4 of those (lowercase hex).

librhash computes it with the rhash CLI's convention (an empty chunk's MD4 appended at exact
multiples of the chunk size); see netwarden.digest.
"""

from __future__ import annotations

from netwarden.algorithms.base import Algorithm, ExchangeNames, Kind
from netwarden.digest import _librhash as rh


class Ed2k(Algorithm):
    name = "ed2k"
    code = 4
    kind = Kind.CONTENT
    size = 16
    rank = 60
    listing = 6
    exchange = ExchangeNames(stix="x_ed2k", misp_type="text", csv_column="ed2k", acns="ED2K")
    librhash_id = rh.ED2K


ALGORITHM = Ed2k()
