"""The performance report as one self-contained HTML page (inline CSS and SVG charts), laid
out for the screen and for A4 print (the PDF is this page rendered by WeasyPrint)."""

from __future__ import annotations

import math
from typing import Any

import jinja2
import pandas as pd

from spm_kernel.reports import performance_charts as charts
from spm_kernel.reports.performance import PerformanceReport

TEMPLATE = "performance.html.j2"
LEADERBOARD_ROWS = 40


def fmt_value(value: Any, unit: str, currency: str = "", *, short: bool = False) -> str:
    """A KPI value for people: 42.0%, USD 12,345, 47 days, 0.42; an en dash when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "–"
    v = float(value)
    if unit == "ratio":
        return f"{v:.1%}"
    if unit in ("currency", "currency_per_day"):
        text = charts._short_money(v, currency) if short else f"{v:,.0f}"
        return f"{currency} {text}" + (" /day" if unit == "currency_per_day" else "")
    if unit == "days":
        return f"{v:,.0f} days"
    if unit == "correlation":
        return f"{v:+.2f}"
    return f"{v:,.0f}"


def fmt_change(change: Any, unit: str, currency: str) -> str:
    if change is None or pd.isna(change):
        return "no prior value"
    v = float(change)
    if unit == "ratio":
        return f"{v * 100:+.1f} pts"
    if unit in ("currency", "currency_per_day"):
        return f"{'+' if v >= 0 else '−'}{currency} {charts._short_money(abs(v), currency)}"
    if unit == "days":
        return f"{v:+,.0f} days"
    return f"{v:+.2f}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("spm_kernel.reports", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["value"] = fmt_value
    env.filters["change"] = fmt_change
    env.filters["pct"] = lambda v: "–" if v is None or pd.isna(v) else f"{float(v):.0f}"
    env.filters["money"] = lambda v, cur="": "–" if v is None or pd.isna(v) else f"{cur} {float(v):,.0f}".strip()
    return env


def _records(frame: pd.DataFrame, limit: int | None = None) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    rows = frame.head(limit) if limit else frame
    return rows.astype(object).where(rows.notna(), None).to_dict("records")


def render_html(report: PerformanceReport) -> str:
    """The report as a self-contained HTML document."""
    cur = report.base_currency
    kpi_rows = _records(report.kpis)
    for row in kpi_rows:
        improved = row["improved"]
        row["trend_class"] = "flat" if improved is None or pd.isna(improved) else ("up" if improved else "down")
    units = dict(zip(report.kpis["metric"], report.kpis["unit"]))
    team_cols = [c for c in report.teams.columns if c not in ("team_id", "name")]
    context = {
        "r": report,
        "cur": cur,
        "kpis": kpi_rows,
        "charts": {
            "distribution": charts.attainment_distribution(report.leaderboard),
            "leaderboard": charts.leaderboard_chart(report.leaderboard),
            "trend": charts.trend_chart(report.trend, cur),
            "bands": charts.benchmark_bands(report.bands, cur),
            "pipeline": charts.pipeline_chart(report.pipeline, cur),
        },
        "leaderboard": _records(report.leaderboard, LEADERBOARD_ROWS),
        "leaderboard_more": max(0, len(report.leaderboard) - LEADERBOARD_ROWS),
        "teams": _records(report.teams),
        "team_cols": [(c, report.kpis.set_index("metric").loc[c, "label"] if c in units else c, units.get(c, ""))
                      for c in team_cols],
        "areas_team": _records(report.areas_team.sort_values("revenue_impact", ascending=False,
                                                               na_position="last"), 10),
        "areas_team_more": max(0, len(report.areas_team) - 10),
        "areas_payee": _records(report.areas_payee.sort_values("revenue_impact", ascending=False,
                                                                 na_position="last"), 15),
        "external": _records(report.external),
        "pipeline_total": float(report.pipeline["amount"].sum()) if not report.pipeline.empty else 0.0,
        "pipeline_deals": int(report.pipeline["deals"].sum()) if not report.pipeline.empty else 0,
        "training": _records(report.training),
    }
    return _environment().get_template(TEMPLATE).render(**context)
