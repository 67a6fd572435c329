"""Notice formats: one module per format behind :class:`NoticeFormat`."""

from __future__ import annotations

from netwarden.errors import InputError
from netwarden.notices.formats.acns import AcnsFormat
from netwarden.notices.formats.base import NoticeFormat, NoticeInput, Party, Rendered
from netwarden.notices.formats.dsa import DsaFormat
from netwarden.notices.formats.ru_hosting import RuHostingFormat

FORMATS: dict[str, type[NoticeFormat]] = {f.name: f for f in (AcnsFormat, DsaFormat,
                                                              RuHostingFormat)}


def get_format(name: str) -> NoticeFormat:
    """The format called ``name``; InputError listing the known ones otherwise."""
    try:
        return FORMATS[name]()
    except KeyError:
        raise InputError("--format", f"unknown notice format {name!r} (known: "
                         f"{', '.join(sorted(FORMATS))})") from None


__all__ = ["FORMATS", "AcnsFormat", "DsaFormat", "NoticeFormat", "NoticeInput", "Party",
           "Rendered", "RuHostingFormat", "get_format"]
