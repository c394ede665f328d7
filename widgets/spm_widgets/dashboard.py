"""The manager's KPI dashboard: filters (period, team, region, segment), KPI tiles with their
trend and a benchmark, the distribution of quota attainment, a leaderboard and the areas
for improvement.

* :class:`DashboardModel` is the state (traitlets), filled from the kernel APIs and testable
  without a browser. It keeps no workspace open: every :meth:`DashboardModel.refresh` opens
  the workspace read-only, reads and closes it, so imports and other apps are not blocked.
* :class:`DashboardView` draws a model: filter dropdowns, :class:`~spm_widgets.components.KpiTile`
  tiles, a plotly ``Chart`` histogram of attainment, the leaderboard in a
  :class:`~spm_widgets.components.DataTable` and the areas for improvement as cards.
* :func:`dashboard_app` is what the Voila notebook displays.

Where the numbers come from (so they equal the kernel's for the same inputs):

* Scope: the most specific filter chosen, team > region > segment (``team:ID``,
  ``region:ID``, ``segment:NAME``), else the whole company. Choosing a region or a segment
  narrows the team list; the leaderboard and distribution also apply every filter chosen to
  the reps (a rep's region and segment as in ``payees``).
* Tiles: ``ws.metrics(TILE_METRICS, by="company", period=[previous, period], scope=scope)``;
  the trend is the change against the previous period of the same length.
* Benchmark: for a team, its peer median and percentile among teams of the same segment
  (:func:`spm_kernel.benchmarking.team_benchmarks`); for any other scope, the median team
  (``team_benchmarks(..., peer_keys=())``).
* Distribution and leaderboard: ``ws.metrics(["quota_attainment", "win_rate"], by="payee",
  period=period, scope=scope)`` for the reps in scope.
* Areas for improvement: :func:`spm_kernel.benchmarking.areas_for_improvement` at payee level
  over :data:`AREA_METRICS` (company-wide peers, computed once per period and cached; the
  scope only selects whose rows are shown, which is what the kernel's ``scope`` does too),
  largest revenue impact first.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from traitlets import Dict, HasTraits, Int, List, Unicode

from spm_widgets.components import (
    STYLE, DataTable, ErrorDisplay, KeptUntilChanged, KpiTile, LazyWorkspace, LoadingIndicator, build_app,
    esc, format_money, format_number, format_pct, guarded, header, read_workspace, section_title,
    workspace_path,
)

TILE_METRICS: tuple[str, ...] = ("quota_attainment", "share_at_quota", "win_rate", "avg_deal_size",
                                 "pipeline_coverage", "avg_closing_time")
AREA_METRICS: tuple[str, ...] = ("quota_attainment", "win_rate", "win_rate_value", "avg_deal_size",
                                 "pipeline_coverage", "avg_closing_time")
LEADER_METRICS: tuple[str, ...] = ("quota_attainment", "win_rate")
# Attainment buckets of the distribution: [from, to) as ratios.
BUCKETS: tuple[tuple[float, float, str], ...] = (
    (-np.inf, 0.5, "< 50%"), (0.5, 0.75, "50–75%"), (0.75, 1.0, "75–100%"),
    (1.0, 1.25, "100–125%"), (1.25, 1.5, "125–150%"), (1.5, np.inf, "≥ 150%"),
)
ALL = ""


def _float(value: Any) -> float | None:
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return None
    return float(value)


def format_metric(value: Any, unit: str, currency: str = "") -> str:
    """A metric value as a tile shows it, by its unit ('–' when undefined)."""
    if _float(value) is None:
        return "–"
    if unit == "ratio":
        return format_pct(value)
    if unit == "currency":
        return format_money(Decimal(str(value)), currency, places=0)
    if unit == "currency_per_day":
        return format_money(Decimal(str(value)), currency, places=0) + " a day"
    if unit == "days":
        return f"{float(value):,.1f} days"
    if unit == "correlation":
        return f"{float(value):.2f}"
    return format_number(value)


def trend_text(current: Any, previous: Any, unit: str, higher_is_better: bool,
               previous_label: str) -> tuple[str, str]:
    """('+4.2 pts vs 2026-Q2', tone): ratios change in percentage points, others in percent."""
    cur, prev = _float(current), _float(previous)
    if cur is None or prev is None:
        return (f"no figure for {previous_label}" if cur is not None else "", "flat")
    if unit == "ratio":
        delta = (cur - prev) * 100
        text = f"{delta:+.1f} pts vs {previous_label}"
    elif prev == 0:
        delta = cur - prev
        text = f"{delta:+,.1f} vs {previous_label}"
    else:
        delta = (cur - prev) / abs(prev) * 100
        text = f"{delta:+.1f}% vs {previous_label}"
    if abs(delta) < 0.05:
        return text, "flat"
    better = (delta > 0) == higher_is_better
    return text, "good" if better else "bad"


def attainment_buckets(values: pd.Series) -> list[dict[str, Any]]:
    """How many of ``values`` (attainment ratios; missing ones ignored) fall in each bucket."""
    v = pd.to_numeric(values.map(_float), errors="coerce").dropna().to_numpy(dtype=float)
    out = []
    for lo, hi, label in BUCKETS:
        out.append({"bucket": label, "count": int(((v >= lo) & (v < hi)).sum())})
    return out


# ---- model ----
class DashboardModel(HasTraits):
    """The dashboard's state. Set the filters (``period``, ``team``, ``region``, ``segment``;
    ``""`` means all), then :meth:`refresh` (the view refreshes on every filter change)."""

    workspace_path = Unicode("")
    company_name = Unicode("")
    base_currency = Unicode("")
    as_of = Unicode("", help="today's date (ISO) for the pipeline snapshot; '' = today")
    period_options = List(Unicode(), help="period ids to choose from, newest first")
    team_options = List(Dict(), help="{'id','name','region_id','segment'} per team")
    region_options = List(Dict(), help="{'id','name'} per region")
    segment_options = List(Unicode())
    period = Unicode("")
    previous_period = Unicode("")
    team = Unicode(ALL)
    region = Unicode(ALL)
    segment = Unicode(ALL)
    scope = Unicode("", help="the metric scope the tiles use ('' = company)")
    scope_label = Unicode("")
    kpis = List(Dict(), help="per tile: metric, label, unit, value, previous, display, trend, tone, "
                               "benchmark, numerator, denominator")
    distribution = List(Dict(), help="per bucket: bucket, count")
    leaderboard = List(Dict(), help="reps in scope by attainment: rank, payee_id, name, team_id, ...")
    improvements = List(Dict(), help="areas for improvement of payees in scope, largest impact first")
    loaded_at = Unicode("")
    revision = Int(0, help="incremented by every refresh (views redraw on it)")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # answers for every period at once, per scope (a period change is a lookup); forgotten
        # whenever the workspace changes on disk (workspace_fingerprint) or on clear_cache()
        self._kept = KeptUntilChanged()
        self._fiscal_start = 1

    # ---- construction ----
    @classmethod
    def from_path(cls, path: str | Path, period: str | None = None, as_of: date | None = None,
                  refresh: bool = True) -> DashboardModel:
        """Read the filter options from the workspace at ``path``; with ``refresh``, compute
        the default view (the fiscal quarter containing ``as_of``, clamped to the data)."""
        model = cls(workspace_path=str(Path(path).expanduser().resolve()),
                    as_of=(as_of or date.today()).isoformat())
        model.load_options(period)
        if refresh:
            model.refresh()
        return model

    def _as_of(self) -> date:
        return date.fromisoformat(self.as_of) if self.as_of else date.today()

    def load_options(self, period: str | None = None) -> None:
        """Periods (fiscal quarters and years with deals, up to ``as_of``), teams, regions and
        segments; picks ``period`` (default: the quarter containing ``as_of``)."""
        from spm_kernel.periods import period_containing, periods_between

        with read_workspace(self.workspace_path) as ws:
            fsm = ws.config.fiscal_year_start_month
            span = ws.sql("SELECT min(created_date) AS lo, max(coalesce(close_date, created_date)) AS hi "
                          "FROM opportunities")
            teams = ws.sql("""
                SELECT t.team_id AS id, t.name AS name, t.region_id AS region_id,
                       coalesce(mode(p.segment) FILTER (WHERE p.role = 'rep'), '') AS segment
                FROM teams t LEFT JOIN payees p ON p.team_id = t.team_id
                GROUP BY ALL ORDER BY t.team_id""")
            regions = ws.sql("SELECT region_id AS id, name FROM regions ORDER BY region_id")
            segments = ws.sql("SELECT DISTINCT segment FROM payees WHERE segment IS NOT NULL ORDER BY 1")
            name, currency = ws.config.name, ws.config.base_currency
        self._fiscal_start = fsm
        today = self._as_of()
        lo = span["lo"].iloc[0] if len(span) and not pd.isna(span["lo"].iloc[0]) else today
        hi = min(span["hi"].iloc[0], today) if len(span) and not pd.isna(span["hi"].iloc[0]) else today
        lo, hi = pd.Timestamp(lo).date(), pd.Timestamp(hi).date()
        quarters = periods_between(period_containing(lo, "quarter", fsm), period_containing(hi, "quarter", fsm), fsm)
        years = periods_between(period_containing(lo, "year", fsm), period_containing(hi, "year", fsm), fsm)
        options = [p.period_id for p in reversed(quarters)] + [p.period_id for p in reversed(years)]
        with self.hold_trait_notifications():
            self.company_name, self.base_currency = name, currency
            self.period_options = options
            self.team_options = [{k: ("" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))
                                  for k, v in row.items()} for row in teams.to_dict("records")]
            self.region_options = [{"id": str(r["id"]), "name": str(r["name"])} for r in regions.to_dict("records")]
            self.segment_options = [str(s) for s in segments["segment"]]
            self.period = period or (options[0] if options else "")

    # ---- filters ----
    def teams_for(self, region: str = ALL, segment: str = ALL) -> list[dict[str, str]]:
        """The teams a region and segment filter leave to choose from."""
        return [t for t in self.team_options
                if (not region or t["region_id"] == region) and (not segment or t["segment"] == segment)]

    def scope_for(self) -> tuple[str, str]:
        """(scope, label) of the current filters: the most specific one chosen."""
        if self.team:
            name = next((t["name"] for t in self.team_options if t["id"] == self.team), self.team)
            return f"team:{self.team}", f"Team {name}"
        if self.region:
            name = next((r["name"] for r in self.region_options if r["id"] == self.region), self.region)
            extra = f" · {self.segment} reps in the lists" if self.segment else ""
            return f"region:{self.region}", f"Region {name}{extra}"
        if self.segment:
            return f"segment:{self.segment}", f"Segment {self.segment}"
        return "", f"All of {self.company_name}" if self.company_name else "Company"

    def set_filters(self, **filters: str) -> None:
        """Change several filters at once, then :meth:`refresh` once."""
        with self.hold_trait_notifications():
            for key, val in filters.items():
                if key not in ("period", "team", "region", "segment"):
                    raise KeyError(f"no filter {key!r}")
                setattr(self, key, val or ALL)
        self.refresh()

    # ---- computing ----
    def refresh(self) -> None:
        """Recompute tiles, distribution, leaderboard and areas for the current filters.

        Metrics, benchmarks and areas are computed for every period of the period filter in
        one query per scope and kept: changing the period is a lookup, and the workspace is
        not even opened. Everything kept is forgotten as soon as the workspace changes on
        disk (:func:`~spm_widgets.components.workspace_fingerprint`)."""
        from spm_kernel.periods import parse_period, previous_period

        self._kept.check(self.workspace_path)
        fsm = self._fiscal_start
        current = parse_period(self.period, fsm)
        prev = previous_period(current, fsm).period_id
        scope, label = self.scope_for()
        with LazyWorkspace(self.workspace_path) as lazy:
            kpis = self._kpis(lazy, current.period_id, prev, scope)
            reps = self._reps(lazy, current.period_id, scope)
            improvements = self._improvements(lazy, current.period_id, set(reps["payee_id"]))
        leaderboard = self._leaderboard(reps)
        with self.hold_trait_notifications():
            self.previous_period = prev
            self.scope, self.scope_label = scope, label
            self.kpis = kpis
            self.distribution = attainment_buckets(reps["quota_attainment"])
            self.leaderboard = leaderboard
            self.improvements = improvements
            self.loaded_at = datetime.now().isoformat(timespec="seconds")
            self.revision += 1

    def _periods(self, with_previous: bool = False) -> list[str]:
        """Every period of the period filter (and, with ``with_previous``, the one before each)."""
        from spm_kernel.periods import parse_period, previous_period

        out = list(self.period_options)
        if self.period and self.period not in out:
            out.append(self.period)
        if with_previous:
            out += [previous_period(parse_period(p, self._fiscal_start), self._fiscal_start).period_id for p in out]
        return list(dict.fromkeys(out))

    def _metric_info(self, lazy: LazyWorkspace, names: tuple[str, ...]) -> dict[str, Any]:
        known = self._kept.get("catalogue", lambda: lazy.ws.registry.metrics)
        return {n: known[n] for n in names if n in known}

    def _kpis(self, lazy: LazyWorkspace, period: str, prev: str, scope: str) -> list[dict[str, Any]]:
        from spm_kernel.benchmarking import team_benchmarks

        info = self._metric_info(lazy, TILE_METRICS)
        names = list(info)
        frame = self._kept.get(("company", scope), lambda: lazy.ws.metrics(
            names, by="company", period=self._periods(with_previous=True), scope=scope or None,
            as_of=self._as_of()))
        frame = frame[frame["period"].isin([prev, period])]
        values = {(r["metric"], r["period"]): r for r in frame.to_dict("records")}
        if self.team:  # the team among teams of its segment
            bench = self._kept.get(("team_benchmarks", True), lambda: team_benchmarks(
                lazy.ws, self._periods(), names, as_of=self._as_of()))
            bench = bench[(bench["period"] == period) & (bench["team_id"] == self.team)]
        else:  # the median team
            bench = self._kept.get(("team_benchmarks", False), lambda: team_benchmarks(
                lazy.ws, self._periods(), names, peer_keys=(), as_of=self._as_of()))
            bench = bench[bench["period"] == period].drop_duplicates("metric")
        bench_by = {r["metric"]: r for r in bench.to_dict("records")}
        currency = self.base_currency
        out = []
        for name in names:
            metric = info[name]
            cur = values.get((name, period), {})
            old = values.get((name, prev), {})
            value, previous = cur.get("value"), old.get("value")
            trend, tone = trend_text(value, previous, metric.unit, metric.higher_is_better, prev)
            b = bench_by.get(name)
            if b is None or _float(b.get("peer_median")) is None:
                benchmark = ""
            elif self.team:
                pct = "" if _float(b.get("percentile")) is None else f" · {float(b['percentile']):.0f}th percentile"
                benchmark = (f"Peer teams' median {format_metric(b['peer_median'], metric.unit, currency)}{pct}")
            else:
                benchmark = f"Median team {format_metric(b['peer_median'], metric.unit, currency)}"
            caption = ""
            if name == "quota_attainment" and _float(cur.get("denominator")):
                caption = (f"{format_money(cur.get('numerator'), '', 0)} of "
                           f"{format_money(cur.get('denominator'), currency, 0)} quota")
            elif name == "win_rate" and cur.get("denominator") is not None:
                caption = f"{int(cur.get('numerator') or 0):,} won of {int(cur.get('denominator') or 0):,} closed"
            elif name == "share_at_quota" and cur.get("denominator") is not None:
                caption = f"{int(cur.get('numerator') or 0):,} of {int(cur.get('denominator') or 0):,} reps"
            out.append({
                "metric": name, "label": metric.label, "unit": metric.unit,
                "higher_is_better": bool(metric.higher_is_better),
                "value": value, "previous": previous, "numerator": cur.get("numerator"),
                "denominator": cur.get("denominator"),
                "display": format_metric(value, metric.unit, currency), "caption": caption,
                "trend": trend, "tone": tone, "benchmark": benchmark,
                "peer_median": None if b is None else _float(b.get("peer_median")),
                "percentile": None if b is None else _float(b.get("percentile")),
            })
        return out

    def _reps(self, lazy: LazyWorkspace, period: str, scope: str) -> pd.DataFrame:
        """Payees in scope (every role) with their attainment and win rate, and whether they
        are reps kept by the region and segment filters."""
        frame = self._kept.get(("payee", scope), lambda: lazy.ws.metrics(
            list(LEADER_METRICS), by="payee", period=self._periods(), scope=scope or None, as_of=self._as_of()))
        frame = frame[frame["period"] == period]
        wide = frame.pivot_table(index="payee_id", columns="metric", values="value", aggfunc="first")
        nums = frame[frame["metric"] == "quota_attainment"].set_index("payee_id")
        people = self._kept.get("people", lambda: lazy.ws.sql(
            """SELECT p.payee_id, p.name, p.role, p.team_id, coalesce(t.name, '') AS team,
                      coalesce(p.region_id, t.region_id) AS region_id, p.segment
               FROM payees p LEFT JOIN teams t ON t.team_id = p.team_id"""))
        out = people[people["payee_id"].isin(wide.index)].set_index("payee_id")
        for name in LEADER_METRICS:
            out[name] = wide[name].reindex(out.index) if name in wide else None
        out["bookings"] = nums["numerator"].reindex(out.index)
        out["quota"] = nums["denominator"].reindex(out.index)
        out = out.reset_index()
        keep = out["role"] == "rep"
        if self.region:
            keep &= out["region_id"] == self.region
        if self.segment:
            keep &= out["segment"] == self.segment
        out = out[keep].copy()
        out = out.astype({"quota_attainment": object, "win_rate": object})
        return out

    def _leaderboard(self, reps: pd.DataFrame) -> list[dict[str, Any]]:
        att = pd.to_numeric(reps["quota_attainment"].map(_float), errors="coerce")
        ordered = reps.assign(_att=att).sort_values(["_att", "name"], ascending=[False, True],
                                                    na_position="last")
        rows = []
        for rank, rec in enumerate(ordered.to_dict("records"), start=1):
            rows.append({"rank": rank, "payee_id": rec["payee_id"], "name": rec["name"],
                         "team": rec["team"], "segment": rec["segment"] or "",
                         "bookings": rec["bookings"] if isinstance(rec["bookings"], Decimal) else None,
                         "quota": rec["quota"] if isinstance(rec["quota"], Decimal) else None,
                         "attainment": _float(rec["quota_attainment"]), "win_rate": _float(rec["win_rate"])})
        return rows

    def _improvements(self, lazy: LazyWorkspace, period: str, payees: set[str]) -> list[dict[str, Any]]:
        from spm_kernel.benchmarking import areas_for_improvement

        def compute() -> pd.DataFrame:
            names = [n for n in AREA_METRICS if n in lazy.ws.registry.metrics]
            return areas_for_improvement(lazy.ws, self._periods(), level="payee", metrics=names,
                                         top=1, as_of=self._as_of())

        areas = self._kept.get("areas", compute)
        mine = areas[(areas["period"] == period) & areas["payee_id"].isin(payees)].copy()
        mine["_impact"] = pd.to_numeric(mine["revenue_impact"], errors="coerce")
        mine = mine.sort_values(["_impact", "payee_id"], ascending=[False, True], na_position="last")
        return [{"payee_id": r["payee_id"], "name": r["name"], "team_id": r["team_id"],
                 "metric": r["metric"], "label": r["label"], "unit": r["unit"],
                 "value": _float(r["value"]), "peer_median": _float(r["peer_median"]),
                 "percentile": _float(r["percentile"]),
                 "revenue_impact": _float(r["revenue_impact"]), "why": r["why"]}
                for r in mine.to_dict("records")]

    def clear_cache(self) -> None:
        """Forget every answer kept (the Refresh button; a change on disk does it by itself)."""
        self._kept.clear()

    def kpi(self, metric: str) -> dict[str, Any]:
        for row in self.kpis:
            if row["metric"] == metric:
                return row
        raise KeyError(f"the dashboard has no tile {metric!r}")


# ---- view ----
def _css_name(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


class DashboardView(widgets.VBox):
    """The dashboard page of a :class:`DashboardModel`; filter changes refresh the model."""

    AREAS_SHOWN = 8

    def __init__(self, model: DashboardModel, **kwargs: Any) -> None:
        import plotly.graph_objects as go

        from spm_widgets.charts import Chart

        self.model = model
        self.header = header(model.company_name, "", "Manager dashboard")
        self.loading = LoadingIndicator("Updating the figures…")
        self.errors = ErrorDisplay()
        self.period = widgets.Dropdown(description="Period", options=model.period_options,
                                       value=model.period or None, layout=widgets.Layout(width="200px"))
        self.period.add_class("spm-filter-period")
        self.region = widgets.Dropdown(description="Region", layout=widgets.Layout(width="260px"))
        self.region.add_class("spm-filter-region")
        self.segment = widgets.Dropdown(description="Segment", layout=widgets.Layout(width="230px"))
        self.segment.add_class("spm-filter-segment")
        self.team = widgets.Dropdown(description="Team", layout=widgets.Layout(width="300px"))
        self.team.add_class("spm-filter-team")
        for dd in (self.period, self.region, self.segment, self.team):
            dd.style.description_width = "60px"
        self._set_options()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh",
                                             tooltip="read the workspace again", layout=widgets.Layout(width="100px"))
        self.refresh_button.add_class("spm-refresh")
        self.refresh_button.on_click(self._on_refresh)
        filters = widgets.HBox([self.period, self.region, self.segment, self.team, self.refresh_button,
                                self.loading])
        filters.add_class("spm-filters")
        self.scope = widgets.HTML()
        self.scope.add_class("spm-scope")
        self.tiles = {name: KpiTile(css_class=f"spm-kpi-{_css_name(name)}") for name in TILE_METRICS}
        tiles = widgets.HBox(list(self.tiles.values()))
        tiles.add_class("spm-kpis")
        self.chart = Chart(layout=go.Layout(
            height=300, margin=dict(l=50, r=16, t=16, b=40), bargap=0.25,
            paper_bgcolor="#ffffff", plot_bgcolor="#ffffff",
            xaxis=dict(title="Quota attainment"), yaxis=dict(title="Reps", gridcolor="#eef0f3"),
            font=dict(family="-apple-system, Segoe UI, Roboto, Arial, sans-serif", size=12)))
        self.chart.add_bar(x=[b[2] for b in BUCKETS], y=[0] * len(BUCKETS),
                           marker_color=["#d9534f", "#f0ad4e", "#f6d365", "#5cb85c", "#2e8b57", "#1d6b46"],
                           hovertemplate="%{x}: %{y} reps<extra></extra>")
        self.chart_box = widgets.VBox([section_title("Attainment distribution"), self.chart])
        self.chart_box.add_class("spm-card")
        self.chart_box.add_class("spm-distribution")
        self.chart_box.layout = widgets.Layout(flex="1 1 0", min_width="380px")
        self.leaders = DataTable(
            money=("bookings", "quota"), percent=("attainment", "win_rate"), css_class="spm-leaderboard",
            headers={"rank": "#", "name": "Rep", "team": "Team", "segment": "Segment",
                     "bookings": "Bookings", "quota": "Quota", "attainment": "Attainment",
                     "win_rate": "Win rate"},
            # five columns share the grid's base width: a period change resizes only three
            column_widths={"rank": 40, "name": 140, "team": 160, "segment": 100, "bookings": 100,
                           "quota": 100, "attainment": 100, "win_rate": 100},
            height="300px", empty_message="No reps in this selection.")
        self.leaders_summary = widgets.HTML()
        self.leaders_summary.add_class("spm-leaders-summary")
        leaders_box = widgets.VBox([section_title("Leaderboard"), self.leaders_summary, self.leaders])
        leaders_box.add_class("spm-card")
        leaders_box.layout = widgets.Layout(flex="1.6 1 0", min_width="520px")
        middle = widgets.HBox([self.chart_box, leaders_box])
        middle.add_class("spm-row")
        self.areas = widgets.HTML()
        self.areas.add_class("spm-areas")
        self.status = widgets.HTML()
        self.status.add_class("spm-muted")
        super().__init__([widgets.HTML(STYLE + _DASH_CSS), self.header, filters, self.errors, self.scope,
                          tiles, middle, section_title("Areas for improvement"), self.areas, self.status],
                         **kwargs)
        self.add_class("spm-app")
        self.add_class("spm-dashboard")
        for dd in (self.period, self.region, self.segment, self.team):
            dd.observe(self._on_filter, names="value")
        model.observe(self._render, names=["revision"])  # one redraw per refresh
        self._render()

    def _set_options(self) -> None:
        m = self.model
        self._updating = True
        try:
            self.region.options = [("All regions", ALL)] + [(r["name"], r["id"]) for r in m.region_options]
            self.region.value = m.region
            self.segment.options = [("All segments", ALL)] + [(s, s) for s in m.segment_options]
            self.segment.value = m.segment
            self._set_team_options()
        finally:
            self._updating = False

    def _set_team_options(self) -> None:
        teams = self.model.teams_for(self.region.value or ALL, self.segment.value or ALL)
        options = [("All teams", ALL)] + [(t["name"], t["id"]) for t in teams]
        keep = self.team.value if self.team.value in [o[1] for o in options] else ALL
        self.team.options = options
        self.team.value = keep

    def _on_filter(self, change: Any) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            if change["owner"] in (self.region, self.segment):
                self._set_team_options()
        finally:
            self._updating = False
        self._apply()

    def _on_refresh(self, button: widgets.Button) -> None:
        self.model.clear_cache()
        self._apply()

    def _apply(self) -> None:
        @guarded(self.errors, "dashboard filters")
        def run() -> None:
            with self.loading.working("Updating the figures…"):
                self.model.set_filters(period=self.period.value or "", team=self.team.value or ALL,
                                       region=self.region.value or ALL, segment=self.segment.value or ALL)

        run()

    def _render(self, change: Any = None) -> None:
        m = self.model
        self.header.value = (
            '<div class="spm-eyebrow">Manager dashboard</div>'
            f'<div class="spm-title">{esc(m.company_name)}</div>'
            f'<div class="spm-subtitle">{esc(m.scope_label)} · {esc(m.period)}'
            f' · compared with {esc(m.previous_period)} · amounts in {esc(m.base_currency)}</div>')
        self.scope.value = (f'<div class="spm-muted">Showing <b class="spm-scope-label">{esc(m.scope_label)}</b>'
                            f' for <b class="spm-scope-period">{esc(m.period)}</b></div>')
        for row in m.kpis:
            tile = self.tiles.get(row["metric"])
            if tile is not None:
                tile.update(label=row["label"], display_value=row["display"], caption=row["caption"],
                            trend=row["trend"], tone=row["tone"], benchmark=row["benchmark"])
        with self.chart.batch_update():
            self.chart.data[0].y = [b["count"] for b in m.distribution]
        frame = pd.DataFrame(m.leaderboard, columns=["rank", "name", "team", "segment", "bookings",
                                                     "quota", "attainment", "win_rate"])
        self.leaders.set_frame(frame)
        at_quota = sum(1 for r in m.leaderboard if r["attainment"] is not None and r["attainment"] >= 1)
        top = m.leaderboard[0] if m.leaderboard else None
        self.leaders_summary.value = (
            f'<div class="spm-muted"><span class="spm-leaders-count">{len(m.leaderboard)}</span> reps · '
            f'{at_quota} at or above quota'
            + (f' · top: <b class="spm-leader-top">{esc(top["name"])}</b> '
               f'({format_pct(top["attainment"])})' if top and top["attainment"] is not None else "")
            + '</div>')
        self.areas.value = areas_html(m.improvements[: self.AREAS_SHOWN], m.base_currency)
        self.status.value = (f"{len(m.improvements)} reps behind their peers on at least one KPI · "
                             f"read {m.loaded_at.replace('T', ' ')}" if m.loaded_at else "")


def areas_html(rows: list[dict[str, Any]], currency: str) -> str:
    """The areas for improvement as cards: who, which KPI, the sentence, the impact."""
    if not rows:
        return '<div class="spm-muted">Nobody in this selection is behind their peers.</div>'
    cards = []
    for r in rows:
        impact = (format_money(Decimal(str(round(r["revenue_impact"]))), currency, 0)
                  if r["revenue_impact"] is not None else "not estimated")
        cards.append(
            f'<div class="spm-area" data-payee="{esc(r["payee_id"])}" data-metric="{esc(r["metric"])}">'
            f'<div class="spm-area-head"><span class="spm-area-name">{esc(r["name"])}</span>'
            f'<span class="spm-area-kpi">{esc(r["label"])}</span></div>'
            f'<div class="spm-area-why">{esc(r["why"])}</div>'
            f'<div class="spm-area-impact">Revenue at stake: <b>{html.escape(impact)}</b></div></div>')
    return f'<div class="spm-areas-grid">{"".join(cards)}</div>'


_DASH_CSS = """
<style>
.spm-areas-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 12px; }
.spm-area { background: #fff; border: 1px solid #e5e7eb; border-left: 4px solid #f0ad4e; border-radius: 8px;
  padding: 10px 14px; font-size: 13px; }
.spm-area-head { display: flex; justify-content: space-between; gap: 8px; margin-bottom: 4px; }
.spm-area-name { font-weight: 650; color: #0f2a4a; }
.spm-area-kpi { font-size: 11px; text-transform: uppercase; letter-spacing: .5px; color: #9a4a00;
  background: #fff4e5; border-radius: 999px; padding: 1px 8px; white-space: nowrap; }
.spm-area-why { color: #374151; line-height: 1.4; }
.spm-area-impact { margin-top: 6px; color: #6b7280; font-size: 12px; }
.spm-dashboard .spm-kpi .spm-kpi-value { font-size: 24px; }
</style>
"""


def dashboard_app(path: str | Path | None = None, period: str | None = None,
                  with_training: bool = False) -> widgets.Widget | None:
    """The dashboard of the workspace at ``path`` (default ``SPM_WORKSPACE``), or a friendly
    error panel (the traceback goes to the server log). ``with_training`` adds the training
    section (:func:`spm_widgets.training.training_panel`, its own error panel) below it, built
    in the same step, so a pre-heated kernel has both ready before the page asks."""

    def build() -> widgets.Widget:
        folder = path or workspace_path()
        view = DashboardView(DashboardModel.from_path(folder, period))
        if not with_training:
            return view
        from spm_widgets.training import training_panel  # an error panel of its own on failure

        return widgets.VBox([view, training_panel(folder)])

    return build_app(build, "manager dashboard")
