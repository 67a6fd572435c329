"""The run directory's ``report.html``: one self-contained page a reader can open anywhere.

It shows only names, sizes, digests and evidence references — never content. Leads (listed,
contacted) are shown apart from verified distribution (served), as DESIGN.md §4 requires, and
CSAM comes first, on its own legal track, apart from copyright. One row per copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from jinja2 import Environment, PackageLoader, select_autoescape

from netwarden import __version__

if TYPE_CHECKING:
    from netwarden.pipeline import RunResult

_env = Environment(loader=PackageLoader("netwarden.report", "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def _human_size(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _display_url(url: str) -> str:
    """A location for people: percent-escapes decoded as UTF-8, or as cp1251 (the legacy code
    page of Russian servers) when that fails; the exact URL stays in findings.jsonl."""
    raw = unquote_to_bytes(url)
    for encoding in ("utf-8", "cp1251"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


_env.filters["human_size"] = _human_size
_env.filters["display_url"] = _display_url
templates = _env  # shared with the campaign and operator reports


def render_report(result: RunResult) -> str:
    """Render the report of one run (needs ``result.summary`` filled)."""
    findings = sorted(result.findings, key=lambda f: (
        {"served": 0, "contacted": 1, "listed": 2}[f.evidence_level.value], f.category, f.host,
        f.location))
    served = [f for f in findings if f.evidence_level.value == "served"]
    leads = [f for f in findings if f.evidence_level.value != "served"]
    # CSAM is headlined on its own legal track, ahead of (and never counted in) copyright
    csam = [f for f in served if f.track == "csam"]
    context: dict[str, Any] = {
        "r": result, "s": result.summary, "scope": result.scope,
        "served": [f for f in served if f.track != "csam"], "csam": csam,
        "csam_leads": sum(1 for f in leads if f.track == "csam"),
        "leads": leads, "problems": result.problems, "refusals": result.refusals,
        "version": __version__,
        "assessment_texts": (result.assessment.texts if result.assessment is not None else {}),
    }
    return _env.get_template("run_report.html").render(**context)
