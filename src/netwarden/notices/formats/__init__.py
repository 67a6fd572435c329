"""Notice formats: one module per format behind :class:`NoticeFormat`."""

from __future__ import annotations

from netwarden.errors import InputError
from netwarden.notices.formats.acns import AcnsFormat
from netwarden.notices.formats.base import NoticeFormat, NoticeInput, Party, Rendered
from netwarden.notices.formats.dsa import DsaFormat
from netwarden.notices.formats.ru_csam import RuCsamFormat
from netwarden.notices.formats.ru_hosting import RuHostingFormat
from netwarden.notices.formats.us_cybertipline import UsCyberTiplineFormat

FORMATS: dict[str, type[NoticeFormat]] = {f.name: f for f in (
    AcnsFormat, DsaFormat, RuHostingFormat, RuCsamFormat, UsCyberTiplineFormat)}

# The notice or report route of each legal track per jurisdiction: CSAM never goes through a
# copyright notice (ru_hosting, acns), and copyright never through a CSAM report.
ROUTES: dict[tuple[str, str], str] = {
    ("ru", "copyright"): "ru_hosting", ("ru", "csam"): "ru_csam",
    ("eu", "copyright"): "dsa", ("eu", "csam"): "dsa",
    ("us", "copyright"): "acns", ("us", "csam"): "us_cybertipline",
}


def route_for(jurisdiction: str, track: str) -> str | None:
    """The notice format for a legal track (``csam``/``copyright``) in a jurisdiction."""
    return ROUTES.get((jurisdiction.lower(), track))


def get_format(name: str) -> NoticeFormat:
    """The format called ``name``; InputError listing the known ones otherwise."""
    try:
        return FORMATS[name]()
    except KeyError:
        raise InputError("--format", f"unknown notice format {name!r} (known: "
                         f"{', '.join(sorted(FORMATS))})") from None


__all__ = ["FORMATS", "ROUTES", "AcnsFormat", "DsaFormat", "NoticeFormat", "NoticeInput",
           "Party", "Rendered", "RuCsamFormat", "RuHostingFormat", "UsCyberTiplineFormat",
           "get_format", "route_for"]
