"""BitTorrent: trackers, DHT and peers inside the operator's network, and proof per peer.

Importing this package registers :class:`~.collector.BitTorrentCollector` for the
``bittorrent`` and ``udp`` schemes (an ``http(s)`` tracker needs ``kind =
"bittorrent-tracker"``; see docs/bittorrent.md).
"""

from netwarden.collect.bittorrent.collector import BitTorrentCollector, service_kind

__all__ = ["BitTorrentCollector", "service_kind"]
