"""Bank file formats: one module per format, found by name.

Every module in this package that defines a :class:`BankFormat` subclass with a ``name`` is
registered on first use, so adding a format is adding one module here.
"""

from __future__ import annotations

import importlib
import pkgutil

from netwarden.banks.formats.base import (
    BankEntry,
    BankFormat,
    LineProblem,
    TorrentFile,
    TorrentMeta,
)
from netwarden.errors import InputError

__all__ = [
    "BankEntry",
    "BankFormat",
    "LineProblem",
    "TorrentFile",
    "TorrentMeta",
    "available_formats",
    "get_format",
]

_REGISTRY: dict[str, type[BankFormat]] = {}


def _discover() -> dict[str, type[BankFormat]]:
    if not _REGISTRY:
        for info in pkgutil.iter_modules(__path__):
            if info.name != "base":
                importlib.import_module(f"{__name__}.{info.name}")
        stack = list(BankFormat.__subclasses__())
        while stack:
            cls = stack.pop()
            stack.extend(cls.__subclasses__())
            if getattr(cls, "name", None):
                _REGISTRY[cls.name] = cls
    return _REGISTRY


def available_formats() -> list[str]:
    """Names of every registered format, sorted."""
    return sorted(_discover())


def get_format(name: str) -> BankFormat:
    """An instance of the format called ``name``; InputError if there is none."""
    formats = _discover()
    try:
        return formats[name]()
    except KeyError:
        raise InputError("--format", f"unknown bank format {name!r} "
                                     f"(known: {', '.join(sorted(formats))})") from None
