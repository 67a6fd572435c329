"""The run directory's ``report.html``: the record of one inspection, one self-contained page a
reader can open anywhere, print on A4 or turn into a PDF.

It shows only names, sizes, digests and evidence references — never content. Leads (listed,
contacted) are shown apart from verified distribution (served), as DESIGN.md §4 requires, and
CSAM comes first, on its own legal track, apart from copyright; one finding per copy, with every
bank match of the copy. The language is ``$NETWARDEN_LANG`` (or the ``lang`` argument): the
layout is that of a Russian inspection record (basis, period, operator, what was checked, what
was found, evidence, attribution, assessment, review, signatures) in either language;
identifiers and digests are printed as they are in the evidence.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from netwarden import __version__, i18n
from netwarden.i18n import _

if TYPE_CHECKING:
    from netwarden.pipeline import RunResult

_env = Environment(loader=PackageLoader("netwarden.report", "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
i18n.install(_env)

LEVELS = ("served", "contacted", "listed")


def _human_size(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    units = (_("B"), _("KiB"), _("MiB"), _("GiB"), _("TiB"))
    for i, unit in enumerate(units):
        if size < 1024 or i == len(units) - 1:
            return f"{size:.0f} {unit}" if i == 0 else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} {units[0]}"


def _display_url(url: str) -> str:
    """A location for people: percent-escapes decoded as UTF-8, or as cp1251 (the legacy code
    page of Russian servers) when that fails; the exact URL stays in findings.jsonl."""
    return i18n.display_name(url)


def _css_string(value: Any) -> str:
    """``value`` as the inside of a CSS string (the run id in the page footer)."""
    return "".join(ch if ch.isalnum() or ch in " -_.:/№" else f"\\{ord(ch):x} "
                   for ch in str(value))


_env.filters["human_size"] = _human_size
_env.filters["display_url"] = _display_url
_env.filters["css_string"] = _css_string
templates = _env  # shared with the campaign and operator reports


def _charts(findings: list[Any]) -> dict[str, Markup]:
    from netwarden.report import charts

    by_category: dict[str, dict[str, int]] = {}
    by_host: dict[str, dict[str, int]] = {}
    for f in findings:
        level = f.evidence_level.value
        by_category.setdefault(f.category, {lv: 0 for lv in LEVELS})[level] += 1
        by_host.setdefault(f.host, {lv: 0 for lv in LEVELS})[level] += 1
    levels = Counter(f.evidence_level.value for f in findings)
    labels = {lv: i18n.word(lv) for lv in LEVELS}
    return {
        "category": Markup(charts.stacked_bars(_("Findings by category and evidence level"),
                                               by_category, LEVELS, charts.LEVEL_COLORS,
                                               labels=labels)),
        "host": Markup(charts.stacked_bars(_("Findings by host"), by_host, LEVELS,
                                           charts.LEVEL_COLORS, labels=labels)),
        "funnel": Markup(charts.funnel(_("Evidence levels: listed → contacted → served"),
                                       len(findings), levels["served"] + levels["contacted"],
                                       levels["served"])),
    }


def render_report(result: RunResult, *, lang: str | None = None,
                  reviews: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """Render the report of one run (needs ``result.summary`` filled).

    ``lang``: the language (default ``$NETWARDEN_LANG``, else English). ``reviews``: finding
    id → its review and sign-off decisions (``kind``, ``decision``, ``user_name``, ``role``,
    ``at``), when the report is made after the review; None at the end of an audit, when no
    finding can have been reviewed yet.
    """
    findings = sorted(result.findings, key=lambda f: (
        {"served": 0, "contacted": 1, "listed": 2}[f.evidence_level.value], f.category, f.host,
        f.location))
    served = [f for f in findings if f.evidence_level.value == "served"]
    leads = [f for f in findings if f.evidence_level.value != "served"]
    # CSAM is headlined on its own legal track, ahead of (and never counted in) copyright; its
    # copies come first in the evidence too, so the numbering (4.n) is the same everywhere
    csam = [f for f in served if f.track == "csam"]
    copyright_served = [f for f in served if f.track != "csam"]
    served = csam + copyright_served
    subscribers: dict[str, dict[str, Any]] = {}
    unattributed: Counter[str] = Counter()
    for f in served:
        a = f.attribution if isinstance(f.attribution, dict) else {}
        if a.get("status") == "subscriber" and a.get("pseudonym"):
            entry = subscribers.setdefault(a["pseudonym"], {"findings": 0, "hosts": set()})
            entry["findings"] += 1
            entry["hosts"].add(f.host)
        elif a.get("status") != "operator_host" and not f.operator_infrastructure:
            # the operator's own hosts are counted on their own row (own_hosts)
            unattributed[str(a.get("reason_code") or f.attribution)] += 1
    with i18n.use_language(i18n.language_from_env(lang)) as code:
        context: dict[str, Any] = {
            "r": result, "s": result.summary, "scope": result.scope, "served": served,
            "csam": csam, "copyright_served": copyright_served,
            "csam_leads": sum(1 for f in leads if f.track == "csam"),
            "leads": leads, "problems": result.problems, "refusals": result.refusals,
            "version": __version__, "lang": code, "tz": i18n.scope_zone(result.scope),
            "charts": _charts(findings),
            "copies": len({(f.endpoint, f.location) for f in served}),
            # every bank match of a copy names a reference item (a copy can match several)
            "references": len({(m["bank"], m["reference"]) for f in served
                               for m in (f.matches or [{"bank": f.bank,
                                                        "reference": f.reference}])}),
            "subscribers": {k: {**v, "hosts": sorted(v["hosts"])}
                            for k, v in sorted(subscribers.items())},
            "unattributed": dict(unattributed),
            "own_hosts": sum(1 for f in served if f.operator_infrastructure),
            "operators": (result.assessment.operators if result.assessment is not None else []),
            "primary": (result.assessment.primary if result.assessment is not None else None),
            "assessment_texts": (result.assessment.texts if result.assessment is not None
                                 else {}),
            "reviews": reviews,
        }
        return _env.get_template("run_report.html").render(**context)


def write_pdf(html: str, path: Path, base_url: str | None = None) -> Path:
    """Print ``html`` (a report page) to an A4 PDF at ``path`` with WeasyPrint: the page's
    own print stylesheet gives the page size, margins, page numbers and footers."""
    from netwarden.errors import InputError

    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise InputError("--pdf", f"PDF output needs WeasyPrint and its Pango libraries "
                         f"(pip install weasyprint; Debian: libpango-1.0-0): {exc}") from None
    HTML(string=html, base_url=base_url or str(Path(path).parent)).write_pdf(path)
    return Path(path)
