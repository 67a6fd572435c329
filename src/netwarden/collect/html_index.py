"""Links of an HTML directory index: nginx autoindex, Apache mod_autoindex, Python http.server.

All three write one ``<a href="...">`` per entry (Apache adds sort links ``?C=N;O=D`` and a
"Parent Directory" link; nginx a ``../`` link): the common ground is the list of hrefs, so one
parser built on the standard library's tolerant ``html.parser`` serves them all. Which links are
entries, and which may be followed, is the collector's decision (it knows the page's URL).
"""

from __future__ import annotations

from html.parser import HTMLParser


class _LinkParser(HTMLParser):
    def __init__(self, max_links: int) -> None:
        super().__init__(convert_charrefs=True)
        self.max_links = max_links
        self.links: list[str] = []
        self.truncated = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a" or self.truncated:
            return
        for key, value in attrs:
            if key == "href" and value is not None:
                if len(self.links) >= self.max_links:
                    self.truncated = True
                    return
                self.links.append(value.strip())
                return


def index_links(html: str, max_links: int) -> tuple[list[str], bool]:
    """The hrefs of ``html`` in document order, at most ``max_links``; and whether it was cut.

    Duplicates are removed (Apache's fancy index may link an entry from its icon and its name).
    """
    parser = _LinkParser(max_links)
    parser.feed(html)
    parser.close()
    seen: set[str] = set()
    unique = []
    for link in parser.links:
        if link not in seen:
            seen.add(link)
            unique.append(link)
    return unique, parser.truncated
