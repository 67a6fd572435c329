"""Campaign and operator reports: HTML with inline SVG charts, and the same as PDF.

The data comes from the installation database: the campaign's jobs, the ``findings`` table
(only the findings of *finished* runs — an interrupted attempt's partial evidence stays in the
ledger and is listed as interrupted, never counted), notices and their events, and the ledger
(custody exports give bundle ids). Only names, sizes, digests and distances are shown, never
content. Conclusions are written in plain language from the counts, the evidence levels and
the liability assessment where one was made (``pending`` otherwise).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup
from sqlalchemy import select

from netwarden import __version__, i18n
from netwarden.errors import InputError
from netwarden.i18n import _, ngettext
from netwarden.report import charts
from netwarden.report.html import templates
from netwarden.store.base import Store

LEVELS = ("served", "contacted", "listed")

_env = templates  # one Jinja environment (and its filters) for every report


@dataclass
class ReportData:
    """Everything a campaign or operator report shows (no content, only references)."""

    title: str
    campaign: dict[str, Any] | None
    operator: str | None
    jobs: list[dict[str, Any]]
    interrupted: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    notices: list[dict[str, Any]]
    bundles: dict[int, list[str]] = field(default_factory=dict)
    generated_at: str = ""


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _finished_runs(store: Store, operator: str | None) -> list[str]:
    from netwarden.store.models_runs import RunRow

    with store.session() as session:
        query = select(RunRow.id).where(RunRow.status == "finished")
        if operator:
            query = query.where(RunRow.operator == operator)
        return list(session.scalars(query))


def _notices(store: Store, operators: set[str] | None) -> list[dict[str, Any]]:
    """Outgoing notices with their send time and first ``removed`` event (if any)."""
    from netwarden.store.models import load_all

    load_all()
    try:
        from netwarden.notices.models import NoticeEventRow, NoticeRow
    except ImportError:  # notices not installed in this build
        return []
    out = []
    with store.session() as session:
        rows = session.scalars(select(NoticeRow).where(NoticeRow.direction == "outgoing"))
        for row in rows:
            if operators is not None and row.operator not in operators:
                continue
            removed = session.scalars(select(NoticeEventRow.at).where(
                NoticeEventRow.notice_id == row.id, NoticeEventRow.state == "removed")
                .order_by(NoticeEventRow.at)).first()
            out.append({"id": row.id, "operator": row.operator or "(unknown)",
                        "state": row.state, "sent_at": _aware(row.sent_at),
                        "removed_at": _aware(removed), "findings": len(row.finding_ids or []),
                        "leaf_index": row.leaf_index})
    return out


def _bundles(store: Store) -> dict[int, list[str]]:
    """Leaf index → ids of the evidence bundles (custody exports) that carry it."""
    from netwarden.ledger import Ledger

    found: dict[int, list[str]] = defaultdict(list)
    for leaf in Ledger.open(store, require_key=False).entries("custody_export"):
        data = leaf.record()
        for index in data.get("leaves") or []:
            if isinstance(index, int):
                found[index].append(data.get("id", "?"))
    return dict(found)


def build_report(store: Store, *, campaign: str | None = None, operator: str | None = None
                 ) -> ReportData:
    """Gather a campaign's (optionally one operator's) or an operator's report data."""
    from netwarden.campaign import state
    from netwarden.store.models_findings import findings_of_runs

    if campaign:
        row = state.campaign_row(store, campaign)
        if row is None:
            raise InputError("--campaign", f"no campaign named {campaign!r} in the database")
        jobs = [j for j in state.jobs(store, campaign) if j["status"] != "dropped"]
        attempts = state.attempts(store, campaign)
        if operator:
            jobs = [j for j in jobs if j["operator"] == operator]
            attempts = [a for a in attempts if a["operator"] == operator]
            if not jobs:
                raise InputError("--operator", f"campaign {campaign!r} has no operator "
                                 f"{operator!r}")
        run_ids = [j["run_id"] for j in jobs if j["status"] == "finished" and j["run_id"]]
        title = _("Campaign {name}").format(name=campaign) + (f" — {operator}" if operator
                                                              else "")
    else:
        row, jobs, attempts = None, [], []
        run_ids = _finished_runs(store, operator)
        if not run_ids:
            raise InputError("--operator", f"no finished run for operator {operator!r}")
        title = _("Operator {name}").format(name=operator)
    findings = findings_of_runs(store, run_ids)
    operators = {j["operator"] for j in jobs} | {f["operator"] for f in findings}
    if operator:
        operators = {operator}
    return ReportData(
        title=title, campaign=row, operator=operator, jobs=jobs,
        interrupted=[a for a in attempts if a["status"] in ("interrupted", "failed")],
        findings=findings, notices=_notices(store, operators), bundles=_bundles(store),
        generated_at=datetime.now(UTC).replace(microsecond=0).isoformat())


# -- derived figures ---------------------------------------------------------------------------

def _outcome(finding: dict[str, Any]) -> str:
    """The liability outcome of a finding under its primary jurisdiction, or ``pending``."""
    a = finding.get("assessment")
    if not isinstance(a, dict):
        return "pending"
    primary = a.get("primary")
    result = (a.get("results") or {}).get(primary) or {}
    outcome = result.get("outcome") if isinstance(result, dict) else None
    if outcome is None:
        outs = (a.get("outcomes") or {}).get(primary)
        outcome = outs[0] if isinstance(outs, list) and outs else outs
    return str(outcome or a.get("role") or "assessed")


def _leaf(finding: dict[str, Any], name: str) -> int | None:
    ledger = finding.get("ledger")
    if isinstance(ledger, dict) and isinstance(ledger.get(name), dict):
        return ledger[name].get("index")
    return None


def _by(findings: list[dict[str, Any]], key: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for f in findings:
        out.setdefault(str(f.get(key)), {lv: 0 for lv in LEVELS})[f["evidence_level"]] += 1
    return out


def _conclusions(data: ReportData, per_op: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for name, op in sorted(per_op.items()):
        served, leads = op["served"], op["findings"] - op["served"]
        if op["status"] not in ("finished", None):
            lines.append(_("{name}: the audit has not finished ({status}); nothing is "
                           "concluded for this operator yet.").format(
                               name=name, status=i18n.word(op["status"])))
            continue
        if served == 0:
            text = _("{name}: no verified distribution of known material was found").format(
                name=name)
            text += (ngettext("; {n} lead (listed or contacted, not verified) needs follow-up.",
                              "; {n} leads (listed or contacted, not verified) need follow-up.",
                              leads).format(n=leads)
                     if leads else _("; the audit cleared this operator's audited services."))
        else:
            cats = ", ".join(f"{n} {c}" for c, n in sorted(op["served_by_category"].items()))
            text = ngettext("{name}: {n} verified distribution of known material ({cats}): "
                            "the bytes received from the endpoint matched the reference.",
                            "{name}: {n} verified distributions of known material ({cats}): "
                            "the bytes received from the endpoint matched the reference.",
                            served).format(name=name, n=served, cats=cats)
            if op["infrastructure"]:
                text += " " + _("{n} of them on hosts the operator runs itself (its own "
                                "infrastructure, not a subscriber's connection).").format(
                                    n=op["infrastructure"])
            if op["subscribers"]:
                text += " " + _("{n} on subscribers' connections (pseudonymous attribution; "
                                "revealing an account needs a recorded legal basis).").format(
                                    n=op["subscribers"])
            if leads:
                text += " " + ngettext("{n} further lead is not counted as distribution.",
                                       "{n} further leads are not counted as distribution.",
                                       leads).format(n=leads)
        outcomes = op["outcomes"]
        if set(outcomes) == {"pending"}:
            text += " " + _("Liability has not been assessed yet (netwarden assess).")
        else:
            text += " " + _("Liability:") + " " + ", ".join(
                ngettext("{n} finding {outcome}", "{n} findings {outcome}", n).format(
                    n=n, outcome=i18n.word(o)) for o, n in sorted(outcomes.items())) + "."
        lines.append(text)
    if data.interrupted:
        lines.append(ngettext(
            "{n} audit attempt was interrupted or failed and was re-run; its partial evidence "
            "stays in the ledger (see the list below) and is not counted.",
            "{n} audit attempts were interrupted or failed and were re-run; their partial "
            "evidence stays in the ledger (see the list below) and is not counted.",
            len(data.interrupted)).format(n=len(data.interrupted)))
    return lines


def render_html(data: ReportData, *, lang: str | None = None) -> str:
    """The report page (self-contained: inline SVG, inline CSS, no script), in ``lang``
    (default ``$NETWARDEN_LANG``, else English)."""
    with i18n.use_language(i18n.language_from_env(lang)) as code:
        return _render_html(data, code)


def _render_html(data: ReportData, lang: str) -> str:
    findings = data.findings
    per_op: dict[str, dict[str, Any]] = {}
    jobs_by_op = {j["operator"]: j for j in data.jobs}
    names = set(jobs_by_op) | {f["operator"] for f in findings}
    if data.operator:
        names = {data.operator}
    for name in names:
        mine = [f for f in findings if f["operator"] == name]
        served = [f for f in mine if f["evidence_level"] == "served"]
        job = jobs_by_op.get(name)
        per_op[name] = {
            "status": job["status"] if job else ("finished" if mine else None),
            "findings": len(mine), "served": len(served),
            "infrastructure": sum(1 for f in served if f.get("operator_infrastructure")),
            "subscribers": sum(1 for f in served if isinstance(f.get("attribution"), dict)
                               and f["attribution"].get("status") == "subscriber"),
            "served_by_category": Counter(f["category"] for f in served),
            "outcomes": Counter(_outcome(f) for f in mine) or Counter({"pending": 0}),
            "job": job,
        }
    levels = Counter(f["evidence_level"] for f in findings)
    removal: dict[str, list[float]] = defaultdict(list)
    open_notices: Counter[str] = Counter()
    for n in data.notices:
        if n["sent_at"] and n["removed_at"]:
            removal[n["operator"]].append((n["removed_at"] - n["sent_at"]).total_seconds()
                                          / 3600)
        else:
            open_notices[n["operator"]] += 1
    outcome_names = sorted({o for op in per_op.values() for o in op["outcomes"]})
    labels = {lv: i18n.word(lv) for lv in LEVELS}
    chart_svgs = {
        "category": charts.stacked_bars(_("Findings by category"), _by(findings, "category"),
                                        LEVELS, charts.LEVEL_COLORS, labels=labels),
        "protocol": charts.stacked_bars(_("Findings by protocol"), _by(findings, "protocol"),
                                        LEVELS, charts.LEVEL_COLORS, labels=labels),
        "funnel": charts.funnel(_("Evidence levels: listed → contacted → served"),
                                len(findings), levels["served"] + levels["contacted"],
                                levels["served"]),
        "time": charts.over_time(_("Findings over time (observation time, UTC)"), {
            lv: [datetime.fromisoformat(f["observed_at"]) for f in findings
                 if f["evidence_level"] == lv] for lv in LEVELS}),
        "removal": charts.cdf(_("Time from notice to removal, per operator"),
                              dict(removal), _("hours after the notice was sent"),
                              _("No notice has been sent, or none was acted on yet")),
        "liability": charts.stacked_bars(
            _("Liability outcomes per operator (findings)"),
            {name: dict(op["outcomes"]) for name, op in per_op.items()}, outcome_names,
            empty=_("No findings to assess"),
            labels={o: i18n.word(o) for o in outcome_names}),
    }
    served = [f for f in findings if f["evidence_level"] == "served"]
    leads = [f for f in findings if f["evidence_level"] != "served"]
    refs = []
    for f in sorted(served, key=lambda f: (f["operator"], f["category"], f["host"])) + \
            sorted(leads, key=lambda f: (f["operator"], f["evidence_level"], f["host"])):
        leaf = _leaf(f, "verification") or _leaf(f, "match")
        refs.append({**f, "leaf_observation": _leaf(f, "observation"),
                     "leaf_match": _leaf(f, "match"), "leaf_verification":
                     _leaf(f, "verification"), "outcome": _outcome(f),
                     "bundles": sorted({b for name in ("observation", "match", "verification")
                                        for b in data.bundles.get(_leaf(f, name) or -1, [])}),
                     "sha256": (f.get("digests") or {}).get("sha256")
                     or next(iter((f.get("digests") or {}).values()), None),
                     "leaf": leaf})
    return _env.get_template("campaign_report.html").render(
        d=data, per_op=dict(sorted(per_op.items())), charts={k: Markup(v) for k, v in
                                                              chart_svgs.items()},
        conclusions=_conclusions(data, per_op), refs=refs, levels=levels,
        open_notices=open_notices, version=__version__, served_count=len(served), lang=lang,
        tz=i18n.zone(None, "ru" if lang == "ru" else None))


def write_report(data: ReportData, out: Path, *, pdf: bool = False) -> list[Path]:
    """Write ``report.html`` (and ``report.pdf``) into ``out``; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    html = render_html(data)
    paths = [out / "report.html"]
    paths[0].write_text(html, encoding="utf-8")
    if pdf:
        try:
            from weasyprint import HTML
        except (ImportError, OSError) as exc:
            raise InputError("--pdf", f"PDF output needs WeasyPrint and its Pango libraries "
                             f"(pip install weasyprint; Debian: libpango-1.0-0): {exc}"
                             ) from None
        HTML(string=html, base_url=str(out)).write_pdf(out / "report.pdf")
        paths.append(out / "report.pdf")
    return paths
