"""Collectors: one module per protocol behind one interface (see :mod:`.base`).

Importing this package registers every built-in collector, so :func:`collector_for` knows
the schemes ``ftp``, ``http``, ``https``, ``smb`` and the Direct Connect ones.
"""

from netwarden.collect.base import (
    CollectContext,
    Collector,
    ProgressEvent,
    collector_for,
    location_url,
    register,
)
from netwarden.collect.bittorrent.collector import BitTorrentCollector
from netwarden.collect.dc.collector import AdcCollector
from netwarden.collect.ftp import FtpCollector
from netwarden.collect.http import HttpCollector
from netwarden.collect.smb import SmbCollector

__all__ = [
    "AdcCollector",
    "BitTorrentCollector",
    "CollectContext",
    "Collector",
    "FtpCollector",
    "HttpCollector",
    "ProgressEvent",
    "SmbCollector",
    "collector_for",
    "location_url",
    "register",
]
