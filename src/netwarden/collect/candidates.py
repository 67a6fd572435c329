"""Which of the files an endpoint offers are worth identifying by content: release names.

Discovery (BitTorrent swarms the bank does not name, Direct Connect shares under other names)
cannot download everything. It orders what it could download by how close the release name is
to a catalog title — parsed with guessit, transliterated with Unidecode (Russian catalog titles
against Latin release names), compared with RapidFuzz — and by whether it is media at all.
A name only orders the work: it is never evidence, and a file whose bytes match nothing makes
no finding whatever it is called.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Release:
    """What a release name says (guessit): the words compared with catalog titles."""

    title: str | None
    year: int | None
    screen_size: str | None
    video_codec: str | None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def parse_release(name: str) -> Release:
    """Title, year, resolution and codec of a release name (a torrent's or a file's)."""
    from guessit import guessit

    try:
        guess = guessit(name)
    except Exception:  # guessit raises on odd input; a name is only a hint here
        return Release(None, None, None, None)
    title = guess.get("title")
    year = guess.get("year")
    codec = guess.get("video_codec")
    size = guess.get("screen_size")
    return Release(str(title) if title else None, year if isinstance(year, int) else None,
                   str(size) if size else None, str(codec) if codec else None)


# Russian titles are transliterated in many ways (BGN, GOST, ad hoc): fold the usual
# variants together so "menyaet" and "meniaet", "Vasil'evich" and "Vasilevich" compare equal.
_FOLDS = (("'", ""), ("yo", "e"), ("ya", "ia"), ("yu", "iu"), ("ye", "e"), ("kh", "h"),
          ("ts", "c"), ("j", "i"), ("y", "i"))


def _normal(text: str) -> str:
    from unidecode import unidecode

    folded = unidecode(text).lower()
    for old, new in _FOLDS:
        folded = folded.replace(old, new)
    return re.sub(r"[^a-z0-9]+", " ", folded).strip()


def title_similarity(release: Release, titles: Iterable[str]) -> tuple[float, str | None]:
    """The best similarity (0..1) of the release's title with a catalog title, and which.

    Both sides are transliterated (a Cyrillic catalog title and a Latin release name compare
    as the same words) and compared token-wise, order-insensitive."""
    from rapidfuzz import fuzz

    if not release.title:
        return 0.0, None
    mine = _normal(release.title)
    best, which = 0.0, None
    for title in titles:
        score = fuzz.token_sort_ratio(mine, _normal(title)) / 100.0
        if score > best:
            best, which = score, title
    return best, which
