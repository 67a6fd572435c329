"""Collectors: one module per protocol behind one interface (see :mod:`.base`).

Importing this package registers every built-in collector, so :func:`collector_for` knows
the schemes ``ftp``, ``http`` and ``https``.
"""

from netwarden.collect.base import (
    CollectContext,
    Collector,
    ProgressEvent,
    collector_for,
    location_url,
    register,
    registered_schemes,
)
from netwarden.collect.ftp import FtpCollector
from netwarden.collect.http import HttpCollector

__all__ = [
    "CollectContext",
    "Collector",
    "FtpCollector",
    "HttpCollector",
    "ProgressEvent",
    "collector_for",
    "location_url",
    "register",
    "registered_schemes",
]
