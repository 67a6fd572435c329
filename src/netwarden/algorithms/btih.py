"""BitTorrent v1 infohash: SHA-1 of a torrent's bencoded info dictionary (lowercase hex).

A container digest: it names a torrent, not bytes of content, so a match is verified by the
protocol's own piece checks, never as a full-content digest. Also accepted in the
32-character base32 form magnet links use.
"""

from __future__ import annotations

from netwarden.algorithms.base import Algorithm, ExchangeNames, Kind


class Btih(Algorithm):
    name = "btih"
    code = 6
    kind = Kind.CONTAINER
    size = 20
    rank = 40
    listing = 7
    exchange = ExchangeNames(stix="x_btih", misp_type="text", csv_column="btih", acns="SHA1")

    def parse(self, text: str) -> bytes:
        value = text.strip()
        if len(value) == 32:  # magnet links' base32 form
            return self.parse_base32(value, check_length=False)
        return super().parse(text)


ALGORITHM = Btih()
