"""The performance report as an XLSX workbook (xlsxwriter): one sheet per part, numbers as
numbers with formats (money rounded to the cent, ratios as percentages), native charts.

Sheets: Summary (headline KPIs and, if given, industry benchmarks), Trend (with a line
chart), Leaderboard (every rep, with an attainment chart), Teams, Peers (every rep x KPI
with percentile and gaps), Improvement (areas per team and per rep), Pipeline (with a
stacked chart).

Every text cell (names, labels, headers, titles) is written with ``write_string`` after
:func:`spm_kernel.exports.neutralise`, so a team or rep named ``=cmd|...`` is shown as text,
never run as a formula.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter

from spm_kernel.exports import neutralise
from spm_kernel.reports.performance import PerformanceReport


class _Book:
    def __init__(self, path: Path, currency: str) -> None:
        self.wb = xlsxwriter.Workbook(str(path), {"nan_inf_to_errors": True})
        self.currency = currency
        self.title = self.wb.add_format({"bold": True, "font_size": 14, "font_color": "#1f3a5f"})
        self.sub = self.wb.add_format({"italic": True, "font_color": "#667085"})
        self.head = self.wb.add_format({"bold": True, "bg_color": "#1f3a5f", "font_color": "#ffffff",
                                        "border": 1, "border_color": "#1f3a5f", "text_wrap": True, "valign": "top"})
        self.formats = {
            "ratio": self.wb.add_format({"num_format": "0.0%"}),
            "currency": self.wb.add_format({"num_format": "#,##0.00"}),
            "currency_per_day": self.wb.add_format({"num_format": "#,##0.00"}),
            "days": self.wb.add_format({"num_format": "0.0"}),
            "correlation": self.wb.add_format({"num_format": "0.00"}),
            "count": self.wb.add_format({"num_format": "#,##0"}),
            "pct": self.wb.add_format({"num_format": "0"}),
            "text": self.wb.add_format({"text_wrap": False}),
            "wrap": self.wb.add_format({"text_wrap": True, "valign": "top"}),
        }

    def cell(self, ws: Any, row: int, col: int, value: Any, kind: str = "text") -> None:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or \
                (not isinstance(value, str) and pd.isna(value)):
            ws.write_blank(row, col, None)
            return
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            number = float(value)
            if kind in ("currency", "currency_per_day"):
                number = round(number, 2)  # money: rounded to the cent before xlsx stores a float
            ws.write_number(row, col, number, self.formats.get(kind, self.formats["text"]))
        else:
            ws.write_string(row, col, neutralise(value) if not isinstance(value, bool) else ("yes" if value else "no"),
                            self.formats["wrap" if kind == "wrap" else "text"])

    def table(self, ws: Any, top: int, frame: pd.DataFrame, columns: list[tuple[str, str, str | None]],
              widths: dict[str, int] | None = None) -> int:
        """Write ``frame``'s ``columns`` ((column, header, kind or None = per-row unit)) from
        row ``top``; returns the row after the table."""
        for c, (_, header, _) in enumerate(columns):
            ws.write_string(top, c, neutralise(header), self.head)
            ws.set_column(c, c, (widths or {}).get(header, max(10, min(40, len(header) + 4))))
        for r, (_, row) in enumerate(frame.iterrows(), start=top + 1):
            for c, (col, _, kind) in enumerate(columns):
                self.cell(ws, r, c, row.get(col), kind or str(row.get("unit", "text")))
        if len(frame):
            ws.autofilter(top, 0, top + len(frame), len(columns) - 1)
        ws.freeze_panes(top + 1, 0)
        return top + len(frame) + 2


def write_xlsx(report: PerformanceReport, path: str | Path) -> Path:
    """Write the report as an XLSX workbook."""
    path = Path(path)
    book = _Book(path, report.base_currency)
    wb, cur = book.wb, report.base_currency

    summary = wb.add_worksheet("Summary")
    summary.write_string(0, 0, neutralise(f"{report.company}: performance report {report.period}, "
                                          f"{report.scope_label}"), book.title)
    summary.write_string(1, 0, f"{report.period_start} to {report.period_end}; pipeline as of {report.as_of}; "
                        f"amounts in {cur}; generated {report.generated_at:%Y-%m-%d %H:%M}", book.sub)
    kpis = report.kpis.assign(better=np.where(report.kpis["higher_is_better"], "higher", "lower"))
    row = book.table(summary, 3, kpis, [
        ("label", "KPI", "text"), ("value", "Value", None), ("prior", "Prior period", None),
        ("change", "Change", None), ("better", "Better", "text"), ("benchmark", "Industry median", None),
        ("position", "Position", "text"), ("numerator", "Numerator", "count"),
        ("denominator", "Denominator", "count"), ("definition", "Definition", "text")],
        widths={"KPI": 32, "Definition": 90})
    if not report.external.empty:
        summary.write(row, 0, "Industry benchmarks", book.title)
        book.table(summary, row + 1, report.external, [
            ("label", "KPI", "text"), ("segment", "Segment", "text"), ("value", "Ours", None),
            ("p25", "p25", None), ("median", "Median", None), ("p75", "p75", None),
            ("position", "Position", "text"), ("source", "Source", "text")])
        summary.freeze_panes(4, 0)

    trend_ws = wb.add_worksheet("Trend")
    wide = report.trend.pivot_table(index="period", columns="label", values="value", aggfunc="first")
    units = dict(zip(report.trend["label"], report.trend["unit"]))
    wide = wide.reset_index()
    book.table(trend_ws, 0, wide, [("period", "Period", "text")] +
               [(c, c, units.get(c, "count")) for c in wide.columns if c != "period"])
    if len(wide) and "Quota attainment" in wide.columns:
        col = list(wide.columns).index("Quota attainment")
        chart = wb.add_chart({"type": "line"})
        chart.add_series({"name": "Quota attainment", "categories": ["Trend", 1, 0, len(wide), 0],
                          "values": ["Trend", 1, col, len(wide), col], "line": {"color": "#1f3a5f", "width": 2.25},
                          "marker": {"type": "circle", "size": 4}})
        chart.set_title({"name": "Quota attainment by month"})
        chart.set_y_axis({"num_format": "0%"})
        chart.set_legend({"none": True})
        trend_ws.insert_chart(len(wide) + 3, 0, chart, {"x_scale": 1.6, "y_scale": 1.1})

    board_ws = wb.add_worksheet("Leaderboard")
    board = report.leaderboard
    board_cols = [("rank", "Rank", "count"), ("name", "Rep", "text"), ("payee_id", "Payee id", "text"),
                  ("team_id", "Team", "text"), ("segment", "Segment", "text"), ("tenure_band", "Tenure", "text"),
                  ("bookings", f"Bookings ({cur})", "currency"), ("quota", f"Quota ({cur})", "currency"),
                  ("attainment", "Attainment", "ratio"), ("percentile", "Peer percentile", "pct"),
                  ("win_rate", "Win rate", "ratio"), ("avg_deal_size", f"Avg deal ({cur})", "currency"),
                  ("avg_closing_time", "Avg cycle (days)", "days"), ("pipeline_coverage", "Coverage", "ratio")]
    board_cols = [c for c in board_cols if c[0] in board.columns]
    book.table(board_ws, 0, board, board_cols, widths={"Rep": 24})
    if len(board) and "attainment" in board.columns:
        n = min(len(board), 25)
        col = [c[0] for c in board_cols].index("attainment")
        chart = wb.add_chart({"type": "bar"})
        chart.add_series({"name": "Attainment", "categories": ["Leaderboard", 1, 1, n, 1],
                          "values": ["Leaderboard", 1, col, n, col], "fill": {"color": "#2a9d8f"}})
        chart.set_title({"name": f"Top {n} reps by quota attainment"})
        chart.set_x_axis({"num_format": "0%"})
        chart.set_y_axis({"reverse": True})
        chart.set_legend({"none": True})
        board_ws.insert_chart(1, len(board_cols) + 1, chart, {"x_scale": 1.3, "y_scale": 1.6})

    teams_ws = wb.add_worksheet("Teams")
    units_by_metric = dict(zip(report.kpis["metric"], report.kpis["unit"]))
    labels = dict(zip(report.kpis["metric"], report.kpis["label"]))
    book.table(teams_ws, 0, report.teams, [("team_id", "Team id", "text"), ("name", "Team", "text")] +
               [(c, labels.get(c, c), units_by_metric.get(c, "count")) for c in report.teams.columns
                if c not in ("team_id", "name")])

    peers_ws = wb.add_worksheet("Peers")
    book.table(peers_ws, 0, report.peers, [
        ("payee_id", "Payee id", "text"), ("name", "Rep", "text"), ("team_id", "Team", "text"),
        ("tenure_band", "Tenure", "text"), ("segment", "Segment", "text"), ("label", "KPI", "text"),
        ("value", "Value", None), ("peers", "Peers", "count"), ("percentile", "Percentile", "pct"),
        ("peer_median", "Peer median", None), ("peer_top_quartile", "Peer top quartile", None),
        ("gap_to_median", "Gap to median", None), ("gap_to_top_quartile", "Gap to top quartile", None)],
        widths={"Rep": 24, "KPI": 28})

    areas_ws = wb.add_worksheet("Improvement")
    row = 0
    areas_ws.write(row, 0, "Teams", book.title)
    row = book.table(areas_ws, row + 1, report.areas_team, [
        ("team", "Team", "text"), ("rank", "Rank", "count"), ("label", "KPI", "text"), ("value", "Value", None),
        ("peer_median", "Median of teams", None), ("revenue_impact", f"Impact ({cur})", "currency"),
        ("why", "Why", "text")], widths={"Why": 120, "KPI": 28})
    areas_ws.write(row, 0, "Reps", book.title)
    book.table(areas_ws, row + 1, report.areas_payee, [
        ("name", "Rep", "text"), ("rank", "Rank", "count"), ("label", "KPI", "text"), ("value", "Value", None),
        ("peer_median", "Peer median", None), ("revenue_impact", f"Impact ({cur})", "currency"),
        ("why", "Why", "text")], widths={"Why": 120, "KPI": 28, "Rep": 24})
    areas_ws.freeze_panes(0, 0)

    pipe_ws = wb.add_worksheet("Pipeline")
    pipe = report.pipeline.pivot_table(index="close_month", columns="stage", values="amount",
                                       aggfunc="sum").fillna(0).reset_index() if not report.pipeline.empty \
        else pd.DataFrame({"close_month": []})
    stages = [c for c in pipe.columns if c != "close_month"]
    book.table(pipe_ws, 0, pipe, [("close_month", "Close month", "text")] +
               [(s, f"{s} ({cur})", "currency") for s in stages])
    if len(pipe) and stages:
        chart = wb.add_chart({"type": "column", "subtype": "stacked"})
        for i, s in enumerate(stages, start=1):
            chart.add_series({"name": ["Pipeline", 0, i], "categories": ["Pipeline", 1, 0, len(pipe), 0],
                              "values": ["Pipeline", 1, i, len(pipe), i]})
        chart.set_title({"name": f"Open pipeline by close month ({cur})"})
        pipe_ws.insert_chart(len(pipe) + 3, 0, chart, {"x_scale": 1.5, "y_scale": 1.2})

    if not report.training.empty:  # the stored training-effect estimates (relative changes)
        book.table(wb.add_worksheet("Training effect"), 0, report.training, [
            ("module_id", "Module", "text"), ("title", "Title", "text"), ("metric", "KPI", "text"),
            ("effect", "Effect", "ratio"), ("lower", "Lower", "ratio"), ("upper", "Upper", "ratio"),
            ("interval_prob", "Interval", "ratio"), ("prob_positive", "P(effect > 0)", "ratio"),
            ("baseline", "Before training", "ratio"), ("trained_payees", "Reps trained", "text"),
            ("control_payees", "Reps untrained", "text")], widths={"Title": 32})

    wb.close()
    return path
