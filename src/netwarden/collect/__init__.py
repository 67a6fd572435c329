"""Collectors: one module per protocol behind one interface (see :mod:`.base`).

Importing this package imports every collector module, and their ``@register`` decorators
register them: a module ``netwarden/collect/<name>.py``, or ``collector.py`` of a subpackage
``netwarden/collect/<name>/``. Adding a protocol is therefore adding one module: the scope
file's schemes and default ports (:func:`~.base.default_ports`), its option checks
(``options_model``, ``check_service``) and :func:`collector_for` all come from the classes'
declarations (docs/architecture.md, "Extension recipes").
"""

import importlib
import importlib.util
import pkgutil

from netwarden.collect.base import (
    CollectContext,
    Collector,
    ProgressEvent,
    collector_for,
    default_ports,
    location_url,
    register,
    registered,
    unregister,
)


def _import_collector_modules() -> None:
    """Import every module that may define a collector (sorted, so the order is fixed)."""
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name.startswith("_") or module.name == "base":
            continue
        name = f"{__name__}.{module.name}"
        if not module.ispkg:
            importlib.import_module(name)
        elif importlib.util.find_spec(f"{name}.collector") is not None:
            importlib.import_module(f"{name}.collector")


_import_collector_modules()

# The built-in collectors by name, for code that imports them from here.
from netwarden.collect.bittorrent.collector import BitTorrentCollector  # noqa: E402
from netwarden.collect.dc.collector import AdcCollector  # noqa: E402
from netwarden.collect.ftp import FtpCollector  # noqa: E402
from netwarden.collect.http import HttpCollector  # noqa: E402
from netwarden.collect.smb import SmbCollector  # noqa: E402

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
    "default_ports",
    "location_url",
    "register",
    "registered",
    "unregister",
]
