"""MD5 of the whole content (lowercase hex): the digest most hash lists still carry."""

from __future__ import annotations

from netwarden.algorithms.base import Algorithm, ExchangeNames, Kind
from netwarden.digest import _librhash as rh


class Md5(Algorithm):
    name = "md5"
    code = 1
    kind = Kind.CONTENT
    size = 16
    rank = 70  # weakest: collisions are practical
    listing = 1
    exchange = ExchangeNames(stix="MD5", misp_type="md5", csv_column="md5", acns="MD5",
                             vics_field="MD5")
    signal_types = ("md5", "video_md5", "photo_md5")
    plain_hex = True
    librhash_id = rh.MD5


ALGORITHM = Md5()
