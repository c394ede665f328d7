"""The performance report's charts, as inline SVG (matplotlib, text kept as text so that the
PDF engine sets it with the page's fonts). Each function takes report frames and returns an
``<svg>`` string, or an empty string when there is nothing to draw."""

from __future__ import annotations

import io
import itertools
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402

INK = "#1d2939"
MUTED = "#667085"
GRID = "#e4e7ec"
NAVY = "#1f3a5f"
TEAL = "#2a9d8f"
AMBER = "#e9a23b"
CORAL = "#e76f51"
SKY = "#8ecae6"
STAGE_COLORS = ["#cfe3f5", "#8ecae6", "#219ebc", "#1f3a5f", "#2a9d8f", "#95a5a6"]

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
    "legend.frameon": False,
}


_COUNTER = itertools.count(1)


def _svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", transparent=True)
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # ids must be unique in the page that holds several charts: prefix them per chart
    prefix = f"c{next(_COUNTER)}-"
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{prefix}{m.group(1)})", text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', text)
    # scale with the page: drop the fixed size, keep the viewBox
    return re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 class="chart"', text, count=1)


def fmt_unit(unit: str, currency: str) -> FuncFormatter:
    if unit == "ratio":
        return PercentFormatter(1.0, decimals=0)
    if unit in ("currency", "currency_per_day"):
        return FuncFormatter(lambda x, _: _short_money(x, currency))
    return FuncFormatter(lambda x, _: f"{x:,.0f}")


def _short_money(x: float, currency: str) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            return f"{x / size:,.1f}{suffix}"
    return f"{x:,.0f}"


def attainment_distribution(leaderboard: pd.DataFrame) -> str:
    """Histogram of reps' quota attainment in 10-point bins, the 100% line marked."""
    values = leaderboard.get("attainment", pd.Series(dtype=float)).dropna().astype(float)
    if values.empty:
        return ""
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(6.4, 2.6))
        top = max(2.0, min(3.0, float(np.ceil(values.max() * 10) / 10 + 0.1)))
        bins = np.arange(0, top + 0.1, 0.1)
        clipped = values.clip(upper=bins[-1] - 1e-9)
        counts, edges = np.histogram(clipped, bins=bins)
        colors = [TEAL if left >= 1.0 else (AMBER if left >= 0.7 else CORAL) for left in edges[:-1]]
        ax.bar(edges[:-1], counts, width=0.095, align="edge", color=colors, edgecolor="white")
        ax.axvline(1.0, color=INK, linewidth=1, linestyle="--")
        ax.text(1.01, max(counts) * 0.95 if len(counts) else 1, "quota", color=INK, fontsize=8, va="top")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_ylabel("reps")
        ax.yaxis.grid(True)
        ax.set_axisbelow(True)
        median = float(values.median())
        ax.set_title(f"Quota attainment of {len(values)} reps · median {median:.0%}, "
                     f"{(values >= 1).mean():.0%} at or above quota")
        return _svg(fig)


def leaderboard_chart(leaderboard: pd.DataFrame, top: int = 12) -> str:
    """Horizontal bars of the best reps' attainment."""
    board = leaderboard.dropna(subset=["attainment"]).head(top) if "attainment" in leaderboard else pd.DataFrame()
    if board.empty:
        return ""
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(6.4, 0.28 * len(board) + 0.8))
        y = np.arange(len(board))[::-1]
        values = board["attainment"].astype(float).to_numpy()
        colors = [TEAL if v >= 1 else (AMBER if v >= 0.7 else CORAL) for v in values]
        cap = 2.0  # one outlier (a new hire's small quota) must not flatten everyone else
        shown = np.minimum(values, cap)
        ax.barh(y, shown, color=colors, height=0.65)
        ax.set_yticks(y, [f"{n}" for n in board["name"]])
        ax.axvline(1.0, color=INK, linewidth=1, linestyle="--")
        for yy, v, w in zip(y, values, shown):
            ax.text(w + 0.02, yy, f"{v:.0%}" + (" ▸" if v > cap else ""), va="center", fontsize=8, color=INK)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlim(0, min(cap, max(1.1, float(values.max()))) * 1.18)
        ax.xaxis.grid(True)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)
        ax.set_title(f"Leaderboard: top {len(board)} by quota attainment")
        return _svg(fig)


def trend_chart(trend: pd.DataFrame, currency: str) -> str:
    """Small multiples: one line per KPI over the trailing months."""
    if trend.empty:
        return ""
    metrics = list(dict.fromkeys(trend["metric"]))
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, len(metrics), figsize=(2.0 * len(metrics) + 0.6, 2.1), squeeze=False)
        for ax, metric in zip(axes[0], metrics):
            rows = trend[trend["metric"] == metric]
            x = np.arange(len(rows))
            y = rows["value"].astype(float).to_numpy()
            ax.plot(x, y, color=NAVY, linewidth=1.8, marker="o", markersize=2.5)
            ax.fill_between(x, y, np.nanmin(y) if np.isfinite(y).any() else 0, color=SKY, alpha=0.25)
            ax.set_title(rows["label"].iloc[0], fontsize=9)
            ax.yaxis.set_major_formatter(fmt_unit(rows["unit"].iloc[0], currency))
            labels = [p[2:] if len(p) == 7 else p for p in rows["period"]]
            ticks = x[:: max(1, len(x) // 4)]
            ax.set_xticks(ticks, [labels[i] for i in ticks], fontsize=7)
            ax.yaxis.grid(True)
            ax.set_axisbelow(True)
            if rows["unit"].iloc[0] == "ratio" and rows["metric"].iloc[0] == "quota_attainment":
                ax.axhline(1.0, color=INK, linewidth=0.8, linestyle="--")
        fig.tight_layout(w_pad=1.2)
        return _svg(fig)


def benchmark_bands(bands: pd.DataFrame, currency: str) -> str:
    """One row per KPI: the reps' 10-90 and 25-75 percentile bands, their median, the scope's
    value (dot) and the industry benchmark (diamond), each on its own scale."""
    if bands.empty:
        return ""
    n = len(bands)
    with plt.rc_context(RC):
        fig, axes = plt.subplots(n, 1, figsize=(6.4, 0.52 * n + 0.5), squeeze=False)
        for ax, (_, b) in zip(axes[:, 0], bands.iterrows()):
            lo = np.nanmin([b["p10"], b["scope_value"], b["external"]])
            hi = np.nanmax([b["p90"], b["scope_value"], b["external"]])
            pad = (hi - lo) * 0.12 or abs(hi) * 0.1 or 1
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_ylim(-1, 1)
            ax.barh(0, b["p90"] - b["p10"], left=b["p10"], height=0.7, color="#e8f1f8")
            ax.barh(0, b["p75"] - b["p25"], left=b["p25"], height=0.7, color=SKY)
            ax.plot([b["median"]] * 2, [-0.35, 0.35], color=NAVY, linewidth=2)
            if np.isfinite(b["scope_value"]):
                ax.plot(b["scope_value"], 0, "o", color=CORAL, markersize=7, markeredgecolor="white")
            if np.isfinite(b["external"]):
                ax.plot(b["external"], 0, "D", color=INK, markersize=5)
            ax.set_yticks([0], [b["label"] + ("" if b["higher_is_better"] else " ↓")])
            ax.tick_params(axis="y", length=0, labelsize=8.5, labelcolor=INK)
            ax.xaxis.set_major_formatter(fmt_unit(b["unit"], currency))
            ax.tick_params(axis="x", labelsize=7)
            ax.spines["left"].set_visible(False)
        handles = [plt.Rectangle((0, 0), 1, 1, color=SKY), plt.Rectangle((0, 0), 1, 1, color="#e8f1f8"),
                   plt.Line2D([], [], color=NAVY, linewidth=2),
                   plt.Line2D([], [], marker="o", color=CORAL, linestyle=""),
                   plt.Line2D([], [], marker="D", color=INK, linestyle="")]
        fig.legend(handles, ["reps 25-75%", "reps 10-90%", "rep median", "this scope", "industry"],
                   loc="upper center", ncol=5, fontsize=7.5, bbox_to_anchor=(0.5, 1.0 + 0.25 / n))
        fig.tight_layout(h_pad=0.4)
        return _svg(fig)


def pipeline_chart(pipeline: pd.DataFrame, currency: str) -> str:
    """Open pipeline by close month, stacked by stage."""
    if pipeline.empty:
        return ""
    table = pipeline.pivot_table(index="close_month", columns="stage", values="amount", aggfunc="sum").fillna(0)
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(6.4, 2.6))
        bottom = np.zeros(len(table))
        x = np.arange(len(table))
        for i, stage in enumerate(table.columns):
            ax.bar(x, table[stage], bottom=bottom, color=STAGE_COLORS[i % len(STAGE_COLORS)], label=stage, width=0.7)
            bottom += table[stage].to_numpy()
        for xx, total in zip(x, bottom):
            ax.text(xx, total, _short_money(total, currency), ha="center", va="bottom", fontsize=7.5, color=INK)
        ax.set_xticks(x, list(table.index))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short_money(v, currency)))
        ax.yaxis.grid(True)
        ax.set_axisbelow(True)
        ax.legend(fontsize=7.5, ncol=min(5, len(table.columns)), loc="upper right")
        ax.set_ylim(0, max(bottom.max() * 1.25, 1))
        ax.set_title(f"Open pipeline by expected close month ({currency})")
        return _svg(fig)
