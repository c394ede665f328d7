"""Quota planner: a company target allocated top-down (by history, potential, forecast or
evenly), bottom-up capacity beside it, the gap at every level, and how fair the result is.

* :class:`QuotaPlannerModel` is the state (traitlets), testable without a browser:
  ``fiscal_year``, ``target`` (exact decimal string, base currency), ``method``,
  ``team_factor`` (over-assignment of a manager's team), ``level`` (which nodes the table
  shows). :meth:`compute` opens the workspace read-only, calls
  :func:`spm_kernel.planning.allocate_quotas` and :meth:`QuotaPlan.fairness`, closes it and
  keeps the :class:`QuotaPlan`. Results are cached per settings for the kernel's life, so
  going back to a method already seen is instant. Nothing is written: an analyst saves a
  quota set with ``ws.quota_sets.create`` or ``spm quota allocate --save``.
* :class:`QuotaPlannerView` draws it: filters, KPI tiles (target, bottom-up, gap, fairness),
  top-down vs bottom-up bars per region or team (plotly ``Chart``), the expected
  attainment distribution, the nodes in a data grid and the fairness outliers with reasons.
* :func:`quota_planner_app` is what the Voila notebook displays.

Method ``forecast`` fits the installed forecaster with :data:`FORECAST_OPTIONS` (a small
sampler configuration: quick enough for an app, cached by the kernel per workspace data).

CSS classes: ``spm-qp-method`` (toggle buttons), ``spm-qp-year``, ``spm-qp-target``,
``spm-qp-factor``, ``spm-qp-level``; tiles ``spm-qp-target-tile``, ``spm-qp-bottom-up``,
``spm-qp-gap``, ``spm-qp-median``, ``spm-qp-at-quota``, ``spm-qp-gini``; node rows in
``table.spm-qp-nodes`` have ``data-node`` and cells ``td.spm-top-down``, ``td.spm-bottom-up``,
``td.spm-gap``.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from traitlets import Bool, Dict, Float, HasTraits, Int, List, Unicode

from spm_widgets.components import (
    DataTable, ErrorDisplay, read_workspace, KpiTile, LoadingIndicator, build_app, esc, format_money, format_pct, header,
    section_title, style, workspace_fingerprint, workspace_path,
)
from spm_widgets.plan_modeler import show_figure

METHODS = ("historical", "potential", "forecast", "even")
METHOD_LABELS = {"historical": "History", "potential": "Potential", "forecast": "Forecast", "even": "Even"}
LEVELS = ("region", "team", "payee")
FORECAST_OPTIONS: dict[str, Any] = {"config": {"sampler": {"tune": 150, "draws": 100, "chains": 2, "cores": 1,
                                                           "progressbar": False}, "history_months": 24}}
DEAL_TYPES = ("new", "expansion")
_CACHE: dict[tuple[Any, ...], tuple[Any, Any]] = {}
_CACHE_LIMIT = 16

QP_CSS = """
<style>
.spm-qp-charts { gap: 14px; }
.spm-qp-charts > .spm-card { flex: 1 1 50%; min-width: 420px; }
.spm-qp-nodes td.spm-neg { color: #a61b1b; }
.spm-qp-nodes td.spm-pos { color: #17663a; }
.spm-qp-outliers td.spm-reason { color: #4b5563; font-size: 12px; }
.spm-qp-method .widget-toggle-button { min-width: 92px; }
</style>
"""


def _round_target(value: Decimal, step: int = 1_000_000) -> Decimal:
    """A round company target near ``value``: to the next ``step`` above it."""
    units = (value / step).to_integral_value(rounding="ROUND_CEILING")
    return Decimal(int(max(units, 1)) * step).quantize(Decimal("0.01"))


class QuotaPlannerModel(HasTraits):
    """The settings of one top-down allocation and its results (see the module docstring)."""

    workspace_path = Unicode("")
    base_currency = Unicode("USD")
    years = List(Int())
    fiscal_year = Int(0)
    target = Unicode("", help="company target, base currency, exact decimal string")
    method = Unicode("historical")
    methods = List(Unicode())
    team_factor = Unicode("1.00", help="over-assignment of a team: manager quota = sum of reps x factor")
    level = Unicode("region")
    # results
    method_used = Unicode("")
    company = Dict(help="top_down, bottom_up, gap (Decimal), gap_pct (float), payees")
    fairness_summary = Dict()
    notes = List(Unicode())
    computed_for = Unicode("")
    seconds = Float(0.0)
    busy = Bool(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan: Any = None
        self.report: Any = None

    @classmethod
    def from_path(cls, path: str | Path, fiscal_year: int | None = None, target: str | None = None,
                  method: str = "historical") -> QuotaPlannerModel:
        """Open the workspace read-only: base currency, the plan years to offer (the year after
        the last quota by default), forecasting if a forecaster is installed; close it.
        Without ``target``, the target is the bottom-up capacity rounded up to a million."""

        model = cls(workspace_path=str(Path(path).expanduser().resolve()), method=method)
        with read_workspace(model.workspace_path) as ws:
            model.base_currency = ws.config.base_currency
            rows = ws.con.execute("SELECT max(period_end) FROM quotas").fetchall()
            last = rows[0][0] if rows and rows[0][0] is not None else date.today()
            from spm_kernel.periods import period_containing

            fsm = ws.config.fiscal_year_start_month
            year = int(period_containing(last, "year", fsm).period_id.removeprefix("FY"))
            default = fiscal_year or year + 1
            model.years = sorted({default - 1, default, default + 1})
            model.fiscal_year = default
            has_forecaster = bool(ws.registry.forecasters.names())
        model.methods = [m for m in METHODS if m != "forecast" or has_forecaster]
        if target is None:
            model.target = "1000000.00"
            model.compute()
            model.target = str(_round_target(model.company["bottom_up"]))
        else:
            model.target = str(Decimal(target).quantize(Decimal("0.01")))
        model.compute()
        return model

    @property
    def settings_key(self) -> tuple[Any, ...]:
        return self._key(self.method)

    def _key(self, method: str) -> tuple[Any, ...]:
        # the workspace's fingerprint: an allocation kept in memory is never one of older data
        return (self.workspace_path, workspace_fingerprint(self.workspace_path), self.fiscal_year, self.target,
                method, self.team_factor)

    def options(self, method: str | None = None) -> dict[str, Any]:
        """The keyword arguments of :func:`allocate_quotas` for the current settings (with
        another ``method`` if given)."""
        method = method or self.method
        out: dict[str, Any] = {"fiscal_year": int(self.fiscal_year), "target": Decimal(self.target),
                               "method": method, "deal_types": DEAL_TYPES,
                               "overassignment": {"team": Decimal(self.team_factor)}}
        if method == "forecast":
            out["forecast_options"] = FORECAST_OPTIONS
        return out

    def _allocation(self, method: str) -> tuple[Any, Any]:
        """The plan and fairness report of ``method`` with the current settings, from memory when
        the same settings were allocated on the same data."""
        import warnings

        from spm_kernel.planning import PlanningWarning, allocate_quotas

        key = self._key(method)
        if key not in _CACHE:
            with read_workspace(self.workspace_path) as ws, warnings.catch_warnings():
                warnings.simplefilter("ignore", PlanningWarning)  # kept in plan.notes, shown on the page
                warnings.simplefilter("ignore", UserWarning)
                plan = allocate_quotas(ws, **self.options(method))
            while len(_CACHE) >= _CACHE_LIMIT:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = (plan, plan.fairness())
        return _CACHE[key]

    def compute(self) -> Any:
        """Allocate (or reuse the allocation of the same settings); returns the QuotaPlan."""
        import time

        clock = time.perf_counter()
        plan, report = self._allocation(self.method)
        company = plan.level("company").iloc[0]
        with self.hold_trait_notifications():
            self.plan, self.report = plan, report
            self.method_used = plan.method_used
            self.notes = list(plan.notes)
            self.fairness_summary = {k: float(v) for k, v in report.summary.items()}
            self.seconds = time.perf_counter() - clock
            self.computed_for = repr(self.settings_key)
            self.company = {"top_down": company.top_down, "bottom_up": company.bottom_up, "gap": company.gap,
                            "gap_pct": float(company.gap_pct), "payees": int(company.payees)}
        return plan

    def prepare_methods(self) -> list[str]:
        """Allocate every other method that needs no forecast fit with the current settings, so
        that a first click on one is a lookup (a pre-heated app does this before anybody asks
        for the page). Returns the methods prepared."""
        prepared = [m for m in self.methods if m not in (self.method, "forecast")]
        for method in prepared:
            self._allocation(method)
        return prepared

    def nodes(self, level: str | None = None) -> pd.DataFrame:
        """The nodes of ``level`` (default: the selected level) of the last allocation."""
        if self.plan is None:
            return pd.DataFrame()
        return self.plan.level(level or self.level)

    def outliers(self) -> pd.DataFrame:
        """Payees the fairness report flags, with the reason in words."""
        if self.report is None:
            return pd.DataFrame()
        frame = self.report.by_payee
        return frame.loc[frame["outlier"]].reset_index(drop=True)


# ---- view ----
def _signed_money(value: Any) -> str:
    return ("+" if value > 0 else "") + format_money(value)


def nodes_html(frame: pd.DataFrame, names: dict[str, str] | None = None, limit: int = 40) -> str:
    """Nodes with top-down, bottom-up and gap (base currency), at most ``limit`` rows."""
    names = names or {}
    body = []
    for r in frame.head(limit).itertuples(index=False):
        tone = "spm-neg" if r.gap < 0 else "spm-pos" if r.gap > 0 else ""
        label = names.get(str(r.node), "")
        body.append(
            f'<tr data-node="{esc(r.node)}"><td>{esc(r.node)}'
            + (f'<div class="spm-muted">{esc(label)}</div>' if label else "")
            + f'</td><td class="spm-num">{int(r.payees):,}</td>'
            f'<td class="spm-num spm-top-down">{format_money(r.top_down)}</td>'
            f'<td class="spm-num spm-bottom-up">{format_money(r.bottom_up)}</td>'
            f'<td class="spm-num spm-gap {tone}">{_signed_money(r.gap)}</td>'
            f'<td class="spm-num spm-gap-pct {tone}">{format_pct(r.gap_pct)}</td></tr>')
    more = (f'<div class="spm-muted">Showing {limit} of {len(frame):,}; every row is in the grid below.</div>'
            if len(frame) > limit else "")
    return ('<table class="spm-grid spm-qp-nodes"><thead><tr><th>Node</th><th class="spm-num">Payees</th>'
            '<th class="spm-num">Top-down</th><th class="spm-num">Bottom-up</th><th class="spm-num">Gap</th>'
            f'<th class="spm-num">Gap %</th></tr></thead><tbody>{"".join(body)}</tbody></table>{more}')


def outliers_html(frame: pd.DataFrame) -> str:
    if frame.empty:
        return '<div class="spm-notice spm-qp-no-outliers">No payee stands out: every expected attainment ' \
               'and quota-to-potential ratio is within the fences.</div>'
    body = "".join(
        f'<tr data-payee="{esc(r.payee_id)}"><td>{esc(getattr(r, "name", ""))}<div class="spm-muted">{esc(r.payee_id)}'
        f'</div></td><td class="spm-num">{format_money(r.quota_base)}</td>'
        f'<td class="spm-num">{format_pct(r.expected_attainment)}</td><td class="spm-reason">{esc(r.reason)}</td></tr>'
        for r in frame.itertuples(index=False))
    return ('<table class="spm-grid spm-qp-outliers"><thead><tr><th>Payee</th><th class="spm-num">Quota</th>'
            f'<th class="spm-num">Expected attainment</th><th>Why</th></tr></thead><tbody>{body}</tbody></table>')


class QuotaPlannerView(widgets.VBox):
    """The quota planning page for a :class:`QuotaPlannerModel`."""

    def __init__(self, model: QuotaPlannerModel, **kwargs: Any) -> None:
        self.model = model
        self.error = ErrorDisplay()
        self.loading = LoadingIndicator("Allocating…")
        self.header = header("Quota planning", "", "Planning")
        self.year = widgets.Dropdown(options=[(f"FY{y}", y) for y in model.years], value=model.fiscal_year,
                                     description="Plan year", style={"description_width": "70px"},
                                     layout=widgets.Layout(width="190px"))
        self.year.add_class("spm-qp-year")
        self.target = widgets.Text(value=format_money(Decimal(model.target)), description=f"Target ({model.base_currency})",
                                   continuous_update=False, style={"description_width": "100px"},
                                   layout=widgets.Layout(width="280px"))
        self.target.add_class("spm-qp-target")
        self.method = widgets.ToggleButtons(options=[(METHOD_LABELS[m], m) for m in model.methods], value=model.method,
                                            style={"button_width": "92px"})
        self.method.add_class("spm-qp-method")
        self.factor = widgets.FloatSlider(value=float(model.team_factor), min=0.80, max=1.00, step=0.01,
                                          readout_format=".2f", continuous_update=False,
                                          description="Team over-assignment", style={"description_width": "150px"},
                                          layout=widgets.Layout(width="380px"))
        self.factor.add_class("spm-qp-factor")
        self.level = widgets.Dropdown(options=[("Regions", "region"), ("Teams", "team"), ("Payees", "payee")],
                                      value=model.level, description="Show", style={"description_width": "40px"},
                                      layout=widgets.Layout(width="170px"))
        self.level.add_class("spm-qp-level")
        filters = widgets.VBox([widgets.HBox([self.year, self.target, self.method]),
                                widgets.HBox([self.factor, self.level, self.loading])])
        filters.add_class("spm-filters")

        specs = (("target", "Company target", "spm-qp-target-tile"), ("bottom_up", "Bottom-up capacity", "spm-qp-bottom-up"),
                 ("gap", "Gap (top-down − bottom-up)", "spm-qp-gap"),
                 ("median", "Median expected attainment", "spm-qp-median"),
                 ("at_quota", "Expected at quota", "spm-qp-at-quota"), ("gini", "Quota/potential Gini", "spm-qp-gini"))
        self.tiles = {key: KpiTile(label, css_class=css) for key, label, css in specs}
        tiles = widgets.HBox(list(self.tiles.values()))
        tiles.add_class("spm-kpis")
        self.notes = widgets.HTML()
        self.bars = show_figure(self._bars(), "spm-qp-bars")
        self.hist = show_figure(self._hist(), "spm-qp-hist")
        self.bars_box = widgets.Box([self.bars], layout=widgets.Layout(width="100%"))
        self.hist_box = widgets.Box([self.hist], layout=widgets.Layout(width="100%"))
        charts = widgets.HBox([self._card(self.bars_box), self._card(self.hist_box)])
        charts.add_class("spm-qp-charts")
        self.table = widgets.HTML()
        self.table.add_class("spm-qp-table")
        self.grid = DataTable(money=("top_down", "bottom_up", "gap"), percent=("gap_pct",),
                              headers={"level": "Level", "node": "Node", "parent": "Parent", "holder": "Holder",
                                       "payees": "Payees", "top_down": "Top-down", "bottom_up": "Bottom-up",
                                       "gap": "Gap", "gap_pct": "Gap %"},
                              css_class="spm-qp-grid", height="320px")
        self.outliers = widgets.HTML()
        self.outliers.add_class("spm-qp-outliers-box")
        super().__init__([style(), widgets.HTML(QP_CSS), self.header, filters, self.error, tiles, self.notes, charts,
                          section_title("Top-down vs bottom-up"), self.table, self.grid,
                          section_title("Fairness: who stands out"), self.outliers], **kwargs)
        self.add_class("spm-app")
        self.add_class("spm-quota-planner")
        for w in (self.year, self.method, self.factor):
            w.observe(self._on_settings, names="value")
        self.target.observe(self._on_target, names="value")
        self.level.observe(self._on_level, names="value")
        if model.plan is None:
            self.recompute()
        else:
            self.render()

    @staticmethod
    def _card(child: widgets.Widget) -> widgets.Box:
        box = widgets.VBox([child])
        box.add_class("spm-card")
        return box

    def _bars(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure()
        fig.add_bar(name="Top-down", marker_color="#1d4e89")
        fig.add_bar(name="Bottom-up", marker_color="#94b8e0")
        fig.update_layout(barmode="group", height=320, template="plotly_white",
                          margin={"l": 70, "r": 12, "t": 40, "b": 60}, title={"text": "Quota vs capacity", "font": {"size": 15}},
                          legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})
        return fig

    def _hist(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure()
        fig.add_histogram(name="Payees", marker_color="#1d4e89", xbins={"size": 10})
        fig.update_layout(height=320, template="plotly_white", margin={"l": 50, "r": 12, "t": 40, "b": 50},
                          title={"text": "Expected attainment (fairness)", "font": {"size": 15}},
                          xaxis_title="Expected attainment (%)", yaxis_title="Payees", bargap=0.05)
        fig.add_vline(x=100, line_dash="dash", line_color="#a61b1b")
        return fig

    # ---- actions ----
    def _on_settings(self, change: Any) -> None:
        m = self.model
        m.fiscal_year = int(self.year.value)
        m.method = str(self.method.value)
        m.team_factor = f"{float(self.factor.value):.2f}"
        self.recompute()

    def _on_target(self, change: Any) -> None:
        text = str(change["new"]).replace(",", "").replace(self.model.base_currency, "").strip()
        try:
            value = Decimal(text).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            if not value.is_finite() or value <= 0:
                raise ValueError
        except (ArithmeticError, ValueError):
            from spm_widgets.components import UserFacingError

            self.error.show(UserFacingError(f"The target {change['new']!r} is not a positive amount."), "quota target")
            return
        self.model.target = str(value)
        self.recompute()

    def _on_level(self, change: Any) -> None:
        self.model.level = str(change["new"])
        self.render()

    def recompute(self) -> None:
        message = "Fitting the forecast (first time only)…" if self.model.method == "forecast" else "Allocating…"
        with self.loading.working(message):
            try:
                self.model.compute()
            except Exception as exc:  # noqa: BLE001 - shown to the user, traced in the log
                self.error.show(exc, "quota planner", title="The quotas could not be allocated.")
                return
        self.error.clear()
        self.render()

    # ---- rendering ----
    def render(self) -> None:
        m = self.model
        c, f = m.company, m.fairness_summary
        cur = m.base_currency
        self.header.value = ('<div class="spm-eyebrow">Planning</div><div class="spm-title">Quota planning</div>'
                             f'<div class="spm-subtitle">FY{m.fiscal_year} · {c["payees"]:,} quota carriers · method '
                             f'{esc(METHOD_LABELS.get(m.method_used, m.method_used))} · new and expansion bookings · '
                             f'nothing is saved until an analyst approves a quota set</div>')
        self.tiles["target"].update(display_value=format_money(c["top_down"], places=0), caption=f"{cur}, top-down")
        self.tiles["bottom_up"].update(display_value=format_money(c["bottom_up"], places=0),
                                       caption=f"{cur}, productivity × effective months")
        gap_pct = c["gap_pct"]
        self.tiles["gap"].update(display_value=_signed_money(c["gap"].quantize(Decimal(1))),
                                 caption=f"{cur} · {format_pct(gap_pct)} of bottom-up",
                                 trend="target above capacity" if c["gap"] > 0 else "target within capacity",
                                 tone="bad" if gap_pct > 0.10 else "good" if gap_pct <= 0 else "flat")
        self.tiles["median"].update(display_value=format_pct(f.get("attainment_median")),
                                    caption=f"P10 {format_pct(f.get('attainment_p10'))} · P90 {format_pct(f.get('attainment_p90'))}")
        self.tiles["at_quota"].update(display_value=format_pct(f.get("share_expected_at_quota")),
                                      caption="of payees expected to reach quota")
        gini = f.get("ratio_gini")
        self.tiles["gini"].update(display_value="–" if gini is None or math.isnan(gini) else f"{gini:.3f}",
                                  caption=f"{int(f.get('outliers', 0))} outlier(s) flagged")
        self.notes.value = "".join(f'<div class="spm-notice">{esc(n)}</div>' for n in m.notes)
        level = m.level
        frame = m.nodes(level)
        chart_level = "team" if level == "payee" else level
        bars = m.nodes(chart_level)
        with self.bars.batch_update():  # charts updated in place: one message each
            self.bars.data[0].x = self.bars.data[1].x = bars["node"].astype(str).tolist()
            self.bars.data[0].y = [float(v) for v in bars["top_down"]]
            self.bars.data[1].y = [float(v) for v in bars["bottom_up"]]
            self.bars.layout.title.text = f"Quota vs capacity by {chart_level} ({cur})"
        attainment = m.report.by_payee["expected_attainment"].to_numpy(dtype=float) * 100 if m.report is not None \
            else np.array([])
        with self.hist.batch_update():
            self.hist.data[0].x = attainment[~np.isnan(attainment)].tolist()
        names = {}
        if level == "payee" and m.plan is not None:
            names = dict(zip(m.plan.payees["payee_id"].astype(str), m.plan.payees["name"].astype(str)))
        self.table.value = nodes_html(frame, names, limit=12 if level == "payee" else 40)
        self.grid.set_frame(frame.loc[:, ["level", "node", "parent", "holder", "payees", "top_down", "bottom_up",
                                          "gap", "gap_pct"]])
        self.outliers.value = outliers_html(m.outliers())


def quota_planner_app(path: str | None = None, fiscal_year: int | None = None, target: str | None = None,
                      method: str = "historical") -> widgets.Widget | None:
    """The quota planner on the workspace at ``path`` (default: ``SPM_WORKSPACE``), or a
    friendly error panel."""
    from spm_kernel.auth.app_user import preheating

    def build() -> QuotaPlannerView:
        view = QuotaPlannerView(QuotaPlannerModel.from_path(path or workspace_path(), fiscal_year, target, method))
        if preheating():  # nobody is waiting yet: the other methods' first click becomes a lookup
            view.model.prepare_methods()
        return view

    return build_app(build, "quota planner")
