"""SHA-1 of the whole content (lowercase hex)."""

from __future__ import annotations

from netwarden.algorithms.base import Algorithm, ExchangeNames, Kind
from netwarden.digest import _librhash as rh


class Sha1(Algorithm):
    name = "sha1"
    code = 2
    kind = Kind.CONTENT
    size = 20
    rank = 30
    listing = 2
    exchange = ExchangeNames(stix="SHA-1", misp_type="sha1", csv_column="sha1", acns="SHA1",
                             vics_field="SHA1")
    signal_types = ("sha1",)
    plain_hex = True
    librhash_id = rh.SHA1


ALGORITHM = Sha1()
