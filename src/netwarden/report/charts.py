"""Charts for the campaign and operator reports: inline SVG drawn server-side (matplotlib, Agg).

Why server-side SVG: the report must open anywhere, offline, print to PDF unchanged and carry
no script; an SVG inside the HTML does all three. Text stays text (``svg.fonttype = none``) so
labels can be searched and read by screen readers. Every chart takes plain counts — no chart
ever sees a name of a file, let alone content — and draws an explicit empty state when there
is nothing to show, so an absent chart is never mistaken for a missing one.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from netwarden.i18n import _, current_language

LEVEL_COLORS = {"served": "#b3261e", "contacted": "#e8a33d", "listed": "#9aa7b4"}
OUTCOME_PALETTE = ["#1b5e20", "#b3261e", "#e8a33d", "#3f51b5", "#6d4c41", "#00838f",
                   "#9aa7b4", "#8e24aa"]

plt.rcParams.update({"svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 9,
                     "axes.spines.top": False, "axes.spines.right": False})


def _svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: it sits inside HTML


def _empty(ax: plt.Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#555", fontsize=10,
            transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def stacked_bars(title: str, counts: dict[str, dict[str, int]], stack_order: Sequence[str],
                 colors: dict[str, str] | None = None, empty: str | None = None,
                 labels: dict[str, str] | None = None) -> str:
    """Horizontal stacked bars: one bar per key of ``counts``, stacked by ``stack_order``
    (``labels``: the legend's word for a part, when the part is a language-neutral key)."""
    empty = empty if empty is not None else _("No findings")
    names = sorted(counts)
    fig, ax = plt.subplots(figsize=(6.4, max(1.6, 0.45 * len(names) + 1.0)))
    ax.set_title(title, loc="left", fontweight="bold")
    if not names or not any(sum(v.values()) for v in counts.values()):
        _empty(ax, empty)
        return _svg(fig)
    left = [0] * len(names)
    palette = colors or {}
    for i, part in enumerate(stack_order):
        values = [counts[name].get(part, 0) for name in names]
        if not any(values):
            continue
        bars = ax.barh(names, values, left=left, label=(labels or {}).get(part, part),
                       color=palette.get(part, OUTCOME_PALETTE[i % len(OUTCOME_PALETTE)]))
        ax.bar_label(bars, labels=[str(v) if v else "" for v in values], label_type="center",
                     color="white", fontsize=8)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel(_("findings"))
    locator = ax.xaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # a linear axis's default AutoLocator is one
        locator.set_params(integer=True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    return _svg(fig)


def funnel(title: str, listed: int, contacted: int, served: int) -> str:
    """The evidence-level funnel: findings at least listed → at least contacted → served."""
    fig, ax = plt.subplots(figsize=(6.4, 2.0))
    ax.set_title(title, loc="left", fontweight="bold")
    if listed == 0:
        _empty(ax, _("No findings"))
        return _svg(fig)
    stages = [_("listed (a lead)"), _("contacted (endpoint answered)"),
              _("served (bytes verified)")]
    values = [listed, contacted, served]
    colors = [LEVEL_COLORS["listed"], LEVEL_COLORS["contacted"], LEVEL_COLORS["served"]]
    bars = ax.barh(stages, values, color=colors)
    ax.bar_label(bars, labels=[f"{v} ({v / listed:.0%})" for v in values], padding=3,
                 fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, listed * 1.25)
    ax.set_xlabel(_("findings at this level or stronger"))
    return _svg(fig)


def over_time(title: str, series: dict[str, list[datetime]]) -> str:
    """Cumulative findings over observation time, one step line per evidence level."""
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    ax.set_title(title, loc="left", fontweight="bold")
    if not any(series.values()):
        _empty(ax, _("No findings"))
        return _svg(fig)
    for level, times in series.items():
        if not times:
            continue
        ordered = sorted(times)
        # matplotlib's stubs type x as ArrayLike, but datetimes are converted by its date
        # units (which also choose the date ticks); the stubs are too narrow here.
        ax.step(ordered, range(1, len(ordered) + 1),  # type: ignore[arg-type]
                where="post", label=level,
                color=LEVEL_COLORS.get(level))
    ax.set_ylabel(_("findings (cumulative)"))
    ax.xaxis.set_major_formatter(mdates.DateFormatter(
        "%d.%m %H:%M:%S" if current_language() == "ru" else "%m-%d %H:%M:%S"))
    fig.autofmt_xdate()
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    return _svg(fig)


def cdf(title: str, samples: dict[str, list[float]], unit: str, empty: str) -> str:
    """Empirical CDF per group (time from notice to removal, per operator)."""
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    ax.set_title(title, loc="left", fontweight="bold")
    if not any(samples.values()):
        _empty(ax, empty)
        return _svg(fig)
    for i, (name, values) in enumerate(sorted(samples.items())):
        if not values:
            continue
        ordered = sorted(values)
        n = len(ordered)
        ax.step([0, *ordered], [0, *(k / n for k in range(1, n + 1))], where="post",
                label=f"{name} (n={n})", color=OUTCOME_PALETTE[i % len(OUTCOME_PALETTE)])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(unit)
    ax.set_ylabel(_("share of notices acted on"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    return _svg(fig)
