"""The statement's attainment chart as inline SVG (matplotlib, text kept as text so the PDF
engine sets it in the page's fonts), drawn with the same palette and style as the
performance report (:mod:`spm_kernel.reports.performance_charts`)."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

if TYPE_CHECKING:
    from spm_kernel.reports.statements import Statement

INK = "#1d2939"
MUTED = "#667085"
GRID = "#e4e7ec"
TEAL = "#2a9d8f"
AMBER = "#e9a23b"
CORAL = "#e76f51"
RC = {
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.edgecolor": GRID,
    "axes.labelcolor": MUTED,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlecolor": INK,
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "grid.color": GRID,
}


def _svg(fig: plt.Figure) -> str:
    """The figure as an ``<svg>`` element that scales with the page (no fixed size)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", transparent=True)
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    return re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 class="chart"', text, count=1)


def attainment_chart(st: Statement) -> str:
    """Bars of attainment to date at each period end of the plan year up to the statement's
    period (the current period outlined), a dashed line at 100% of quota. Without a quota
    the bars show the measure to date in the statement's currency. An empty string when no
    line of the payee states a measure."""
    att = st.attainment
    if att is None or att.empty:
        return ""
    has_quota = att["attainment"].notna().all() and not any(v is None for v in att["attainment"])
    labels = [str(p)[5:] if len(str(p)) == 7 else str(p) for p in att["period_id"]]
    column = "attainment" if has_quota else "measure_value"
    values = np.array([float(v) for v in att[column]])
    current = np.array([p == st.period.period_id for p in att["period_id"]])
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(6.6, 2.0))
        x = np.arange(len(values))
        colors = [TEAL if v >= 1 else (AMBER if v >= 0.5 else CORAL) for v in values] if has_quota else [TEAL] * len(values)
        bars = ax.bar(x, values, color=colors, width=0.62)
        for bar, is_current in zip(bars, current):
            if is_current:
                bar.set_edgecolor(INK)
                bar.set_linewidth(1.2)
            else:
                bar.set_alpha(0.55)
        span = max(float(values.max()), 0.0) if len(values) else 0.0
        top = max(1.2, span * 1.18) if has_quota else max(span * 1.2, 1.0)
        bottom = min(0.0, float(values.min()) * 1.2)
        ax.set_ylim(bottom, top)
        if has_quota:
            ax.axhline(1.0, color=INK, linewidth=1, linestyle="--")
            ax.text(-0.45, 1.0, "quota", color=INK, fontsize=7.5, va="bottom", ha="left")
            ax.set_xlim(-0.6, len(values) - 0.4)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
            texts = [f"{v:.0%}" for v in values]
        else:
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
            texts = [_short(v) for v in values]
        for xx, v, text in zip(x, values, texts):
            ax.text(xx, max(v, 0) + (top - bottom) * 0.015, text, ha="center", va="bottom", fontsize=7.5, color=INK)
        ax.axhline(0, color=GRID, linewidth=0.8)
        ax.set_xticks(x, labels)
        ax.yaxis.grid(True)
        ax.set_axisbelow(True)
        label = str(att["component_label"].iloc[-1])
        measure = str(att["measure"].iloc[-1] or "measure")
        what = "attainment to date" if has_quota else f"to date ({st.currency}, no quota)"
        ax.set_title(f"{label}: {measure} {what}, {st.plan_year.period_id}")
        return _svg(fig)


def _short(x: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            return f"{x / size:,.1f}{suffix}"
    return f"{x:,.0f}"
