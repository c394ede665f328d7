"""Forecast explorer: bookings fan charts, commit / expected / best case for a fiscal quarter,
and the probability that each payee and each team reaches quota.

Everything comes from the installed forecaster through the kernel's contract
(``ws.registry.forecasters[name]``: ``history(ws, as_of)``, ``fit(history, config=...)``,
``predict(model, horizon, samples=..., seed=...)``), so any forecaster plugin works.

* ``as_of`` (the forecast origin) is the first day of the latest fiscal quarter that has
  ``bookings`` quotas and starts on or before the day after the last won deal; the model is
  fitted on the complete months before it and predicts :data:`HORIZON` months ahead. The
  quarters offered are those inside that horizon, so nothing of a quarter is booked yet at
  ``as_of`` and every figure of a quarter is a sum of the forecast's joint samples.
* **Commit / expected / best case** of a scope (the company, a region or a team) in a
  quarter: the amount reached with 90% probability (P10 of the scope's total), the mean, and
  the amount reached with 10% probability (P90), as in the plugin's distribution view.
* **P(quota)**: for each rep with a ``bookings`` quota whose period contains the quarter's
  first day, the share of samples at or above it; a team's quota is the sum of its reps'
  quotas and its probability that of the team's total (samples are joint, so the sum of the
  reps' samples is a sample of the team total).
* **Fits are slow**: the explorer uses a small sampler configuration (:data:`APP_CONFIG`),
  fits in a background thread behind the loading indicator (the actuals are drawn at once),
  and caches the predictions on disk in ``<workspace>/.cache/spm-widgets/`` keyed by the
  forecaster, origin, configuration, sample count, seed and a fingerprint of the deals, so a
  page load after the first reads them back in well under a second.

* :class:`ForecastExplorerModel` is the state (traitlets), testable without a browser;
* :class:`ForecastExplorerView` draws it (plotly ``Chart`` fan chart, KPI tiles, P(quota)
  tables and a data grid);
* :func:`forecast_explorer_app` is what the Voila notebook displays.

CSS classes: ``spm-fx-window``, ``spm-fx-scope``; tiles ``spm-fx-commit``, ``spm-fx-expected``,
``spm-fx-best``, ``spm-fx-pquota``; ``table.spm-fx-teams`` rows ``tr[data-team]`` and
``table.spm-fx-payees`` rows ``tr[data-payee]`` with ``td.spm-quota``, ``td.spm-expected``,
``td.spm-pquota``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
from traitlets import Bool, Dict, Float, HasTraits, Int, List, Unicode

from spm_widgets.components import (
    DataTable, ErrorDisplay, read_workspace, KpiTile, LoadingIndicator, build_app, esc, format_money, format_pct, header,
    section_title, style, workspace_path,
)
from spm_widgets.plan_modeler import LatestRunner, show_figure

log = logging.getLogger("spm_widgets")

HORIZON = 12
HISTORY_SHOWN = 24
APP_CONFIG: dict[str, Any] = {"sampler": {"tune": 150, "draws": 100, "chains": 2, "cores": 1, "progressbar": False},
                              "history_months": 24}
SAMPLES = 200
SEED = 7
CACHE_DIR = Path(".cache") / "spm-widgets"

FX_CSS = """
<style>
.spm-fx-body { gap: 14px; }
.spm-fx-body > .spm-card { flex: 1 1 50%; min-width: 420px; }
.spm-fx-teams td.spm-pquota, .spm-fx-payees td.spm-pquota { font-weight: 650; }
.spm-fx-bar { display: inline-block; height: 8px; border-radius: 4px; background: #1d4e89; vertical-align: middle;
  margin-left: 6px; }
.spm-fx-bar-bg { display: inline-block; width: 70px; height: 8px; border-radius: 4px; background: #e5e7eb; }
</style>
"""


# ---- dates ----
def quarter_start(day: date, fsm: int) -> date:
    """The first day of the fiscal quarter containing ``day``."""
    offset = (day.month - fsm) % 3
    index = day.year * 12 + day.month - 1 - offset
    return date(index // 12, index % 12 + 1, 1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def quarter_id(start: date, fsm: int) -> str:
    """The kernel's id of the fiscal quarter starting on ``start`` (2026-Q3)."""
    from spm_kernel.periods import period_containing

    return period_containing(start, "quarter", fsm).period_id


def _fingerprint(ws: Any) -> str:
    rows = ws.con.execute("""
        SELECT (SELECT count(*) FROM opportunities), (SELECT max(loaded_at) FROM opportunities),
               (SELECT count(*) FROM opportunity_splits), (SELECT max(loaded_at) FROM opportunity_splits),
               (SELECT count(*) FROM payees), (SELECT max(loaded_at) FROM payees),
               (SELECT count(*) FROM quotas), (SELECT max(loaded_at) FROM quotas)""").fetchall()
    return "|".join(str(v) for v in rows[0])


def default_as_of(ws: Any) -> date:
    """The latest fiscal quarter start that has a bookings quota and is not after the day
    after the last won deal (else the quarter start of that day)."""
    fsm = ws.config.fiscal_year_start_month
    rows = ws.con.execute("SELECT max(close_date) FROM opportunities WHERE is_won").fetchall()
    if not rows or rows[0][0] is None:
        from spm_kernel.errors import SPMError

        raise SPMError("the workspace has no closed-won deal: there is no bookings history to forecast from")
    limit = quarter_start(rows[0][0] + timedelta(days=1), fsm)
    quota = ws.con.execute("SELECT max(period_start) FROM quotas WHERE measure = 'bookings' AND period_start <= ?",
                           [limit]).fetchall()
    if quota and quota[0][0] is not None:
        return quarter_start(quota[0][0], fsm)
    return limit


# ---- the model ----
class ForecastExplorerModel(HasTraits):
    """A forecast of every payee's monthly bookings and what follows from it (module docstring)."""

    workspace_path = Unicode("")
    base_currency = Unicode("USD")
    fiscal_year_start_month = Int(1)
    forecasters = List(Unicode())
    forecaster = Unicode("")
    as_of = Unicode("", help="forecast origin (ISO date, a fiscal quarter start)")
    config = Dict(help="passed to the forecaster's fit as config=")
    samples = Int(SAMPLES)
    seed = Int(SEED)
    windows = List(Unicode(), help="fiscal quarters inside the horizon")
    window = Unicode("")
    scopes = List(Dict(), help="label/value: company, region:<id>, team:<id>")
    scope = Unicode("company")
    # results
    fitted = Bool(False)
    from_cache = Bool(False)
    fit_seconds = Float(0.0)
    outlook = Dict(help="commit, expected, best_case, quota, p_quota of the scope in the window")
    computed_for = Unicode("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.actuals = pd.DataFrame()      # series_id, period, value, team, region (every complete month)
        self.predictions = pd.DataFrame()  # series_id, period, sample, value
        self.people = pd.DataFrame()       # payee_id, name, role, team, region
        self.quotas = pd.DataFrame()       # payee_id, period_start, period_end, quota (float)
        self.payees = pd.DataFrame()       # per rep with a quota: quota, expected, p10, p90, p_quota
        self.teams = pd.DataFrame()
        self._cube: tuple[pd.DataFrame, Any] | None = None  # (predictions, samples_cube())
        self._fans: tuple[Any, Any, dict[str, dict[str, Any]]] = (None, None, {})

    @classmethod
    def from_path(cls, path: str | Path, forecaster: str | None = None, as_of: str | date | None = None,
                  config: dict[str, Any] | None = None, samples: int = SAMPLES, seed: int = SEED) -> ForecastExplorerModel:
        """Read what is quick (actuals, people, quotas, the origin); fitting waits for :meth:`fit`."""
        from spm_kernel.errors import SPMError

        model = cls(workspace_path=str(Path(path).expanduser().resolve()), config=config or APP_CONFIG,
                    samples=samples, seed=seed)
        with read_workspace(model.workspace_path) as ws:
            names = list(ws.registry.forecasters.names())
            if not names:
                raise SPMError("no forecaster is installed: install one (e.g. pip install spm-forecast-pymc) "
                               "to see forecasts")
            model.forecasters = names
            model.forecaster = forecaster or names[0]
            model.base_currency = ws.config.base_currency
            fsm = ws.config.fiscal_year_start_month
            model.fiscal_year_start_month = fsm
            origin = pd.Timestamp(as_of).date() if as_of is not None else default_as_of(ws)
            origin = quarter_start(origin, fsm)
            model.as_of = origin.isoformat()
            f = ws.registry.forecasters[model.forecaster]
            last = ws.con.execute("SELECT max(close_date) FROM opportunities WHERE is_won").fetchall()[0][0]
            model.actuals = f.history(ws, add_months(date(last.year, last.month, 1), 1) if last else None)
            model.people = ws.sql("""SELECT p.payee_id, p.name, p.role, coalesce(p.team_id, '(none)') AS team,
                                            coalesce(p.region_id, t.region_id, '(none)') AS region
                                     FROM payees p LEFT JOIN teams t ON t.team_id = p.team_id""")
            model.quotas = ws.sql("""SELECT payee_id, period_start, period_end, CAST(amount AS DOUBLE) AS quota
                                     FROM quotas WHERE measure = 'bookings' ORDER BY payee_id, period_start""")
        windows = [add_months(origin, 3 * k) for k in range(HORIZON // 3)]
        model.windows = [quarter_id(w, fsm) for w in windows]
        model.window = model.windows[0]
        regions = sorted(model.actuals["region"].astype(str).unique()) if len(model.actuals) else []
        teams = sorted(model.actuals["team"].astype(str).unique()) if len(model.actuals) else []
        model.scopes = ([{"label": "Company", "value": "company"}]
                        + [{"label": f"Region {r}", "value": f"region:{r}"} for r in regions]
                        + [{"label": f"Team {t}", "value": f"team:{t}"} for t in teams])
        return model

    # ---- fitting (slow, cached on disk) ----
    def cache_key(self, fingerprint: str) -> str:
        spec = json.dumps([self.forecaster, self.as_of, self.config, self.samples, self.seed, HORIZON, fingerprint],
                          sort_keys=True, default=str)
        return hashlib.sha256(spec.encode()).hexdigest()[:20]

    def cache_path(self, fingerprint: str) -> Path:
        return Path(self.workspace_path) / CACHE_DIR / f"forecast-{self.forecaster}-{self.cache_key(fingerprint)}.parquet"

    def is_cached(self) -> bool:
        """True when the predictions for the current data and settings are on disk."""
        with read_workspace(self.workspace_path) as ws:
            return self.cache_path(_fingerprint(ws)).exists()

    def fit(self) -> None:
        """Predictions from the disk cache, else fit and predict through the forecaster and
        cache them; then :meth:`compute`."""

        clock = time.perf_counter()
        with read_workspace(self.workspace_path) as ws:
            path = self.cache_path(_fingerprint(ws))
            hit = path.exists()
            if hit:
                predictions = pd.read_parquet(path)
            else:
                f = ws.registry.forecasters[self.forecaster]
                history = f.history(ws, date.fromisoformat(self.as_of))
        if not hit:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a small sampler run: convergence warnings are expected
                fitted = f.fit(history, config=self.config, progressbar=False)
                raw = f.predict(fitted, HORIZON, samples=self.samples, seed=self.seed)
            predictions = pd.DataFrame({"series_id": raw["series_id"].astype(str),
                                        "period": pd.to_datetime(raw["period"]),
                                        "sample": raw["sample"].astype(np.int64),
                                        "value": np.clip(raw["value"].astype(float).to_numpy(), 0.0, None)})
            self._save(path, predictions)
        with self.hold_trait_notifications():
            self.predictions = predictions
            self.from_cache = hit
            self.fit_seconds = time.perf_counter() - clock
            self.fitted = True
        self.compute()

    @staticmethod
    def _save(path: Path, frame: pd.DataFrame) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            frame.to_parquet(tmp, index=False)
            tmp.replace(path)
        except OSError as exc:  # a read-only folder: the app still works, it fits again next time
            log.warning("forecast cache not written to %s: %s", path, exc)

    # ---- what follows from the samples (fast) ----
    def window_bounds(self, window: str | None = None) -> tuple[date, date]:
        from spm_kernel.periods import parse_period

        p = parse_period(window or self.window, self.fiscal_year_start_month)
        return p.start, p.end

    def _scope_mask(self, frame: pd.DataFrame, scope: str) -> np.ndarray:
        if scope == "company":
            return np.ones(len(frame), dtype=bool)
        kind, _, value = scope.partition(":")
        return (frame[kind].astype(str) == value).to_numpy()

    def samples_cube(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The predictions as one array, built once per set of predictions: ``(ids, months,
        values, present)`` with ``values[sample, month, payee]`` the sum of the samples' rows and
        ``present[month, payee]`` whether any row exists (ids and months sorted, samples in
        order). Every filter change reads it instead of grouping the long table again."""
        p = self.predictions
        if self._cube is not None and self._cube[0] is p:
            return self._cube[1]
        ids_code, ids = pd.factorize(p["series_id"].astype(object), sort=True)
        month_code, months = pd.factorize(p["period"], sort=True)
        sample_code, samples = pd.factorize(p["sample"], sort=True)
        n_s, n_m, n_i = len(samples), len(months), len(ids)
        flat = (sample_code.astype(np.int64) * n_m + month_code) * n_i + ids_code
        values = np.bincount(flat, weights=p["value"].to_numpy(dtype=np.float64), minlength=n_s * n_m * n_i)
        present = np.bincount(month_code.astype(np.int64) * n_i + ids_code, minlength=n_m * n_i) > 0
        cube = (np.asarray(ids, dtype=str), pd.DatetimeIndex(months).to_numpy(),
                values.reshape(n_s, n_m, n_i), present.reshape(n_m, n_i))
        self._cube = (p, cube)
        return cube

    def window_matrix(self, window: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Joint samples of each payee's bookings in the window: (ids, matrix samples x payees)."""
        start, end = self.window_bounds(window)
        ids, months, values, present = self.samples_cube()
        inside = (months >= np.datetime64(pd.Timestamp(start))) & (months <= np.datetime64(pd.Timestamp(end)))
        seen = present[inside].any(axis=0)
        return ids[seen], values[:, inside][:, :, seen].sum(axis=1)

    def compute(self) -> None:
        """Outlook of the scope, P(quota) per rep and team, for the selected window."""
        if not self.fitted:
            return
        start, end = self.window_bounds()
        ids, matrix = self.window_matrix()
        people = self.people.set_index("payee_id").reindex(ids)
        frame = pd.DataFrame({"payee_id": ids, "name": people["name"].to_numpy(), "role": people["role"].to_numpy(),
                              "team": people["team"].to_numpy(), "region": people["region"].to_numpy()})
        q = self.quotas
        inside = (pd.to_datetime(q["period_start"]) <= pd.Timestamp(start)) & \
                 (pd.to_datetime(q["period_end"]) >= pd.Timestamp(start))
        quota = q.loc[inside.to_numpy()].drop_duplicates("payee_id", keep="last").set_index("payee_id")["quota"]
        frame["quota"] = quota.reindex(ids).to_numpy()
        frame["expected"] = matrix.mean(axis=0)
        frame["p10"] = np.percentile(matrix, 10, axis=0)
        frame["p90"] = np.percentile(matrix, 90, axis=0)
        has = (frame["quota"].fillna(0) > 0).to_numpy() & (frame["role"] == "rep").to_numpy()
        frame["p_quota"] = np.where(has, (matrix >= frame["quota"].fillna(np.inf).to_numpy()[None, :]).mean(axis=0),
                                    np.nan)
        reps = frame.loc[has].reset_index(drop=True)
        m = matrix[:, has]
        teams = pd.Index(sorted(reps["team"].astype(str).unique()))
        onehot = (reps["team"].astype(str).to_numpy()[:, None] == teams.to_numpy()[None, :]).astype(np.float64)
        totals = m @ onehot
        team_quota = reps["quota"].to_numpy(dtype=np.float64) @ onehot
        team_frame = pd.DataFrame({"team": teams, "payees": onehot.sum(axis=0).astype(int), "quota": team_quota,
                                   "expected": totals.mean(axis=0) if len(teams) else [],
                                   "p10": np.percentile(totals, 10, axis=0) if len(teams) else [],
                                   "p90": np.percentile(totals, 90, axis=0) if len(teams) else [],
                                   "p_quota": (totals >= team_quota[None, :]).mean(axis=0) if len(teams) else []})
        scoped = self._scope_mask(frame, self.scope)
        total = matrix[:, scoped].sum(axis=1)
        scoped_reps = self._scope_mask(reps, self.scope)
        scope_quota = float(reps.loc[scoped_reps, "quota"].sum())
        rep_total = m[:, scoped_reps].sum(axis=1)
        with self.hold_trait_notifications():
            self.payees = reps.sort_values("p_quota", ascending=False, kind="stable").reset_index(drop=True)
            self.teams = team_frame
            self.computed_for = f"{self.window}|{self.scope}"
            self.outlook = {
                "commit": float(np.percentile(total, 10)), "expected": float(total.mean()),
                "best_case": float(np.percentile(total, 90)), "quota": scope_quota,
                "p_quota": float((rep_total >= scope_quota).mean()) if scope_quota > 0 else None,
                "start": start.isoformat(), "end": end.isoformat(), "samples": int(len(total)),
            }

    def fan(self, scope: str | None = None) -> dict[str, Any]:
        """Monthly actuals and forecast quantiles (P10, P25, P50, P75, P90, mean) of a scope
        (kept per scope until the actuals or the predictions change: a window change redraws
        the same fan)."""
        scope = scope or self.scope
        if self._fans[0] is not self.actuals or self._fans[1] is not self.predictions:
            self._fans = (self.actuals, self.predictions, {})  # fitting replaces the predictions
        if scope not in self._fans[2]:
            self._fans[2][scope] = self._fan(scope)
        return self._fans[2][scope]

    def _fan(self, scope: str) -> dict[str, Any]:
        a = self.actuals
        actual = a.loc[self._scope_mask(a, scope)].groupby("period")["value"].sum() if len(a) else pd.Series(dtype=float)
        actual = actual.iloc[-(HISTORY_SHOWN + HORIZON):]
        out: dict[str, Any] = {"actual_x": [pd.Timestamp(x).to_pydatetime() for x in actual.index],
                               "actual_y": actual.to_numpy(dtype=float).tolist()}
        if self.fitted and len(self.predictions):
            ids, months, values, present = self.samples_cube()
            meta = self.people.set_index("payee_id")
            who = pd.DataFrame({"team": meta["team"].reindex(ids).to_numpy(),
                                "region": meta["region"].reindex(ids).to_numpy()})
            mine = self._scope_mask(who, scope)
            shown = present[:, mine].any(axis=1)
            totals = values[:, shown][:, :, mine].sum(axis=2)  # samples x months
            qs = np.percentile(totals, [10, 25, 50, 75, 90], axis=0)
            out.update({"x": [pd.Timestamp(x).to_pydatetime() for x in months[shown]],
                        "p10": qs[0].tolist(), "p25": qs[1].tolist(), "p50": qs[2].tolist(), "p75": qs[3].tolist(),
                        "p90": qs[4].tolist(), "mean": totals.mean(axis=0).tolist()})
        return out


# ---- view ----
def _money0(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else format_money(round(float(value)), places=0)


def _prob(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    width = int(round(float(value) * 70))
    return f'{format_pct(value, 0)}<span class="spm-fx-bar-bg"><span class="spm-fx-bar" style="width:{width}px"></span></span>'


def teams_html(frame: pd.DataFrame) -> str:
    body = "".join(
        f'<tr data-team="{esc(r.team)}"><td>{esc(r.team)}</td><td class="spm-num">{int(r.payees)}</td>'
        f'<td class="spm-num spm-quota">{_money0(r.quota)}</td><td class="spm-num spm-expected">{_money0(r.expected)}</td>'
        f'<td class="spm-num">{_money0(r.p10)} – {_money0(r.p90)}</td><td class="spm-num spm-pquota">{_prob(r.p_quota)}</td></tr>'
        for r in frame.itertuples(index=False))
    return ('<table class="spm-grid spm-fx-teams"><thead><tr><th>Team</th><th class="spm-num">Reps</th>'
            '<th class="spm-num">Quota</th><th class="spm-num">Expected</th><th class="spm-num">P10 – P90</th>'
            f'<th class="spm-num">P(quota)</th></tr></thead><tbody>{body}</tbody></table>')


def payees_html(frame: pd.DataFrame, limit: int = 12) -> str:
    body = "".join(
        f'<tr data-payee="{esc(r.payee_id)}"><td>{esc(r.name)}<div class="spm-muted">{esc(r.payee_id)} · {esc(r.team)}</div></td>'
        f'<td class="spm-num spm-quota">{_money0(r.quota)}</td><td class="spm-num spm-expected">{_money0(r.expected)}</td>'
        f'<td class="spm-num spm-pquota">{_prob(r.p_quota)}</td></tr>'
        for r in frame.head(limit).itertuples(index=False))
    return ('<table class="spm-grid spm-fx-payees"><thead><tr><th>Rep</th><th class="spm-num">Quota</th>'
            f'<th class="spm-num">Expected</th><th class="spm-num">P(quota)</th></tr></thead><tbody>{body}</tbody></table>')


class ForecastExplorerView(widgets.VBox):
    """The forecast page for a :class:`ForecastExplorerModel`; fits in the background."""

    def __init__(self, model: ForecastExplorerModel, background: bool = True, **kwargs: Any) -> None:
        self.model = model
        self.error = ErrorDisplay()
        self.loading = LoadingIndicator("Fitting the forecast…")
        self.header = header("Bookings forecast", "", "Forecast")
        self.window = widgets.Dropdown(options=model.windows, value=model.window, description="Quarter",
                                       style={"description_width": "60px"}, layout=widgets.Layout(width="200px"))
        self.window.add_class("spm-fx-window")
        self.scope = widgets.Dropdown(options=[(s["label"], s["value"]) for s in model.scopes], value=model.scope,
                                      description="Scope", style={"description_width": "50px"},
                                      layout=widgets.Layout(width="280px"))
        self.scope.add_class("spm-fx-scope")
        self.status = widgets.HTML()
        self.status.add_class("spm-muted")
        filters = widgets.HBox([self.window, self.scope, self.loading, self.status])
        filters.add_class("spm-filters")
        self.tiles = {k: KpiTile(label, css_class=f"spm-fx-{css}") for k, label, css in (
            ("commit", "Commit (90% likely)", "commit"), ("expected", "Expected", "expected"),
            ("best_case", "Best case (10% likely)", "best"), ("p_quota", "P(reach quota)", "pquota"))}
        tiles = widgets.HBox(list(self.tiles.values()))
        tiles.add_class("spm-kpis")
        self.figure = show_figure(self._figure(), "spm-fx-fan")
        self.figure_box = widgets.Box([self.figure], layout=widgets.Layout(width="100%"))
        fan = widgets.VBox([self.figure_box])
        fan.add_class("spm-card")
        self.teams = widgets.HTML()
        self.teams.add_class("spm-fx-teams-box")
        self.payees = widgets.HTML()
        self.payees.add_class("spm-fx-payees-box")
        body = widgets.HBox([widgets.VBox([section_title("Teams: P(quota)"), self.teams]),
                             widgets.VBox([section_title("Reps most likely to reach quota"), self.payees])])
        body.add_class("spm-fx-body")
        self.grid = DataTable(money=("quota", "expected", "p10", "p90"), percent=("p_quota",),
                              headers={"payee_id": "Payee", "name": "Name", "team": "Team",
                                       "region": "Region", "quota": "Quota", "expected": "Expected", "p10": "P10",
                                       "p90": "P90", "p_quota": "P(quota)"}, css_class="spm-fx-grid", height="320px")
        super().__init__([style(), widgets.HTML(FX_CSS), self.header, filters, self.error, tiles, fan, body,
                          section_title("Every rep with a quota"), self.grid], **kwargs)
        self.add_class("spm-app")
        self.add_class("spm-forecast-explorer")
        self.window.observe(self._on_filter, names="value")
        self.scope.observe(self._on_filter, names="value")
        self.runner = LatestRunner(self._fit, background=background)
        self.render()
        if not model.fitted and model.is_cached():
            self._fit()  # read back from the disk cache: quick, so the page arrives complete
        elif not model.fitted:
            self.runner.request()

    def _figure(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure()
        band = "rgba(29,78,137,{})"
        fig.add_scatter(name="P90", mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
        fig.add_scatter(name="P10–P90", mode="lines", line={"width": 0}, fill="tonexty", fillcolor=band.format(0.15))
        fig.add_scatter(name="P75", mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
        fig.add_scatter(name="P25–P75", mode="lines", line={"width": 0}, fill="tonexty", fillcolor=band.format(0.30))
        fig.add_scatter(name="Median", mode="lines", line={"color": "#1d4e89", "width": 2})
        fig.add_scatter(name="Actual", mode="lines+markers", line={"color": "#111827", "width": 2}, marker={"size": 5})
        fig.update_layout(height=360, template="plotly_white", margin={"l": 70, "r": 16, "t": 46, "b": 40},
                          title={"text": "Monthly bookings", "font": {"size": 15}}, yaxis_title=self.model.base_currency,
                          legend={"orientation": "h", "y": 1.13, "x": 1, "xanchor": "right"})
        return fig

    def _fit(self) -> None:
        with self.loading.working("Fitting the forecast (first time for this data)…"):
            try:
                self.model.fit()
            except Exception as exc:  # noqa: BLE001 - shown to the user, traced in the log
                self.error.show(exc, "forecast explorer fit", title="The forecast could not be made.")
                return
        self.error.clear()
        self.render()

    def _on_filter(self, change: Any) -> None:
        m = self.model
        m.window = str(self.window.value)
        m.scope = str(self.scope.value)
        try:
            m.compute()
        except Exception as exc:  # noqa: BLE001 - shown to the user, traced in the log
            self.error.show(exc, "forecast explorer filter")
            return
        self.render()

    def render(self) -> None:
        m = self.model
        label = dict((s["value"], s["label"]) for s in m.scopes).get(m.scope, m.scope)
        self.header.value = ('<div class="spm-eyebrow">Forecast</div><div class="spm-title">Bookings forecast</div>'
                             f'<div class="spm-subtitle">{esc(label)} · {esc(m.window)} · forecast from {esc(m.as_of)} '
                             f'with {esc(m.forecaster)} · {m.samples} joint samples · {esc(m.base_currency)}</div>')
        fan = m.fan()
        d = self.figure.data
        with self.figure.batch_update():  # the fan chart updated in place: one message
            d[5].x, d[5].y = fan["actual_x"], fan["actual_y"]
            if "x" in fan:
                for trace, key in zip(d[:5], ("p90", "p10", "p75", "p25", "p50")):
                    trace.x, trace.y = fan["x"], fan[key]
            self.figure.layout.title.text = f"Monthly bookings · {label}"
        if not m.fitted:
            self.status.value = "The forecast is being fitted; actual bookings are shown meanwhile."
            for tile in self.tiles.values():
                tile.update(display_value="…", caption="fitting the forecast")
            return
        o = m.outlook
        cur = m.base_currency
        self.tiles["commit"].update(display_value=_money0(o["commit"]), caption=f"{cur} · P10 of {m.window}")
        self.tiles["expected"].update(display_value=_money0(o["expected"]), caption=f"{cur} · mean of {o['samples']} samples")
        self.tiles["best_case"].update(display_value=_money0(o["best_case"]), caption=f"{cur} · P90 of {m.window}")
        self.tiles["p_quota"].update(display_value=format_pct(o["p_quota"], 0) if o["p_quota"] is not None else "–",
                                     caption=f"quota {_money0(o['quota'])} {cur}" if o["quota"] else "no quota for this quarter")
        self.teams.value = teams_html(m.teams if m.scope == "company" else
                                      m.teams.loc[m.teams["team"].isin(m.payees.loc[m._scope_mask(m.payees, m.scope), "team"])])
        scoped = m.payees.loc[m._scope_mask(m.payees, m.scope)] if len(m.payees) else m.payees
        self.payees.value = payees_html(scoped)
        self.grid.set_frame(scoped.drop(columns=["role"], errors="ignore"))  # every row is a rep
        source = "read from the cache" if m.from_cache else "fitted"
        self.status.value = f"forecast {source} in {m.fit_seconds:.1f} s"


CONFIG_ENV = "SPM_FORECAST_CONFIG"


def forecast_explorer_app(path: str | None = None, **options: Any) -> widgets.Widget | None:
    """The forecast explorer on the workspace at ``path`` (default: ``SPM_WORKSPACE``), or a
    friendly error panel. ``options`` go to :meth:`ForecastExplorerModel.from_path`; without a
    ``config``, the JSON in ``SPM_FORECAST_CONFIG`` (if set) replaces :data:`APP_CONFIG` (a
    server-wide choice, e.g. a smaller sampler on a slow machine)."""
    if "config" not in options and os.environ.get(CONFIG_ENV):
        options["config"] = json.loads(os.environ[CONFIG_ENV])
    return build_app(lambda: ForecastExplorerView(ForecastExplorerModel.from_path(path or workspace_path(), **options)),
                     "forecast explorer")
