"""SHA-256 of the whole content (lowercase hex): the strongest exact digest."""

from __future__ import annotations

from netwarden.algorithms.base import Algorithm, ExchangeNames, Kind
from netwarden.digest import _librhash as rh


class Sha256(Algorithm):
    name = "sha256"
    code = 3
    kind = Kind.CONTENT
    size = 32
    rank = 10
    listing = 3
    exchange = ExchangeNames(stix="SHA-256", misp_type="sha256", csv_column="sha256",
                             acns="SHA256", vics_field="SHA256")
    signal_types = ("sha256", "video_sha256")
    plain_hex = True
    librhash_id = rh.SHA256


ALGORITHM = Sha256()
