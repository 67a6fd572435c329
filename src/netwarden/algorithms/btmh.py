"""BitTorrent v2 infohash: SHA-256 of a torrent's info dictionary (lowercase hex).

A container digest like btih. Also accepted in the ``1220``-prefixed multihash form BEP 52
magnet links use (``xt=urn:btmh:1220<hex>``).
"""

from __future__ import annotations

from netwarden.algorithms.base import Algorithm, ExchangeNames, Kind


class Btmh(Algorithm):
    name = "btmh"
    code = 7
    kind = Kind.CONTAINER
    size = 32
    rank = 20
    listing = 8
    exchange = ExchangeNames(stix="x_btmh", misp_type="text", csv_column="btmh",
                             acns="SHA256")

    def parse(self, text: str) -> bytes:
        value = text.strip()
        if len(value) == 68 and value[:4] == "1220":  # multihash: sha2-256, 32 bytes
            value = value[4:]
        return super().parse(value)


ALGORITHM = Btmh()
