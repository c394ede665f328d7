"""Forecasts of a workspace: both models fitted (or loaded from the cache) as of a date, and
what they feed: per-payee samples over any future window, P(quota), quota-planning inputs,
and this quarter's commit / best case / expected.

    fc = WorkspaceForecast(ws, as_of=date(2026, 10, 1))
    fc.attainment("current")          # P(reach quota) per payee, and per team
    fc.quarter_outlook()              # commit / expected / best case, with probabilities
    fc.payee_samples(start, end)      # joint samples of each payee's bookings in a window

Windows and as_of: bookings already closed before ``as_of`` inside a window count as they
are; the rest of the window is forecast. With ``include_pipeline``, the open deals are
simulated by Model B (won, and closing inside the window), and Model A supplies only the
business not yet in the pipeline: its samples times the share of bookings that, on the
workspace's own past, came from deals created after the start of a window of the same
length. Without it, Model A alone forecasts the rest of the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from spm_kernel.workspace import Workspace

from spm_forecast_pymc import data
from spm_forecast_pymc.bookings import BookingsData, BookingsModel
from spm_forecast_pymc.cache import cache_folder, fit_cached
from spm_forecast_pymc.config import BookingsConfig, PipelineConfig, merge
from spm_forecast_pymc.pipeline import PipelineModel, PipelineSimulation, forecast_categories

ConfigLike = BaseModel | dict[str, Any] | None


def quarter_bounds(day: date, fiscal_year_start_month: int = 1) -> tuple[date, date]:
    """First and last day of the fiscal quarter containing ``day``."""
    ts = pd.Timestamp(day)
    offset = (ts.month - fiscal_year_start_month) % 3
    start = (ts.to_period("M") - offset).to_timestamp()
    end = (start + pd.DateOffset(months=3)) - pd.Timedelta(days=1)
    return start.date(), end.date()


@dataclass
class PlanningInputs:
    """Forecast inputs for quota planning over one window.

    ``summary``: one row per payee with ``team``, ``region``, ``expected`` (mean), ``p10``,
    ``p50``, ``p90``; ``samples``: the joint samples (``payee_id``, ``sample``, ``value``)."""

    start: date
    end: date
    summary: pd.DataFrame
    samples: pd.DataFrame


class WorkspaceForecast:
    """Both models for one workspace as of one date. Fits lazily, through the cache in the
    workspace folder (``cache=False`` always refits and saves nothing)."""

    def __init__(self, ws: Workspace, as_of: date | str | None = None,
                 bookings_config: ConfigLike = None, pipeline_config: ConfigLike = None,
                 cache: bool = True, measure: str = "bookings") -> None:
        self.ws = ws
        self.as_of: date = pd.Timestamp(as_of).date() if as_of is not None else data.default_as_of(ws)
        fiscal = {"fiscal_year_start_month": ws.config.fiscal_year_start_month}
        self.bookings_config = merge(merge(BookingsConfig(), fiscal), bookings_config)
        self.pipeline_config = merge(PipelineConfig(), pipeline_config)
        self.cache = cache
        self.measure = measure
        self.from_cache: dict[str, bool] = {}

    # ---- inputs and fitted models ----
    @cached_property
    def history(self) -> pd.DataFrame:
        months = self.bookings_config.months_of_history  # the window, and the echo's year before
        return data.bookings_history(self.ws, self.as_of, months=months)

    @cached_property
    def renewals(self) -> pd.DataFrame:
        """The renewal book per payee and month, the history's months and 12 ahead."""
        return data.renewals_due(self.ws, self.as_of, months=self.bookings_config.months_of_history)

    @cached_property
    def bookings_inputs(self) -> pd.DataFrame | BookingsData:
        """What Model A fits on: the history, with the renewal book unless switched off."""
        if not self.bookings_config.renewals:
            return self.history
        return BookingsData(self.history, self.renewals)

    @cached_property
    def bookings_model(self) -> BookingsModel:
        folder = cache_folder(self.ws.path) if self.cache else None
        model, hit = fit_cached(BookingsModel(self.bookings_config), self.bookings_inputs, folder)
        self.from_cache["bookings"] = hit
        return model

    @cached_property
    def pipeline_training(self) -> pd.DataFrame:
        cfg = self.pipeline_config
        return data.pipeline_training(self.ws, self.as_of, cfg.training_months, cfg.snapshot_every_days)

    @cached_property
    def pipeline_model(self) -> PipelineModel:
        folder = cache_folder(self.ws.path) if self.cache else None
        model, hit = fit_cached(PipelineModel(self.pipeline_config), self.pipeline_training, folder)
        self.from_cache["pipeline"] = hit
        return model

    @cached_property
    def open_deals(self) -> pd.DataFrame:
        return data.open_pipeline(self.ws, self.as_of)

    @cached_property
    def payees(self) -> pd.DataFrame:
        return self.bookings_model.series.rename(columns={"series_id": "payee_id"})

    # ---- samples over a window ----
    def booked(self, start: date, end: date) -> pd.Series:
        """Bookings already closed in ``[start, min(end, as_of))`` per payee (0 if none)."""
        credited = data.credited_bookings(self.ws, self.as_of)
        day = pd.to_datetime(credited["close_date"])
        inside = (day >= pd.Timestamp(start)) & (day <= pd.Timestamp(end))
        sums = credited[inside].groupby("payee_id")["amount"].sum()
        return sums.reindex(self.payees["payee_id"], fill_value=0.0)

    def _model_a_window(self, start: date, end: date, samples: int) -> np.ndarray:
        """Model A samples of bookings from ``max(start, as_of)`` to ``end``: (samples, payees).
        The month containing ``as_of`` counts for the share of its days still ahead."""
        first = max(pd.Timestamp(start), pd.Timestamp(self.as_of))
        last = pd.Timestamp(end)
        if last < first:
            return np.zeros((samples, len(self.payees)))
        model = self.bookings_model
        horizon = int((last.year - model.last_period.year) * 12 + last.month - model.last_period.month)
        if horizon < 1:
            return np.zeros((samples, len(self.payees)))
        pp = model.predict_idata(horizon, samples).posterior_predictive["bookings"].isel(chain=0)
        months = pd.DatetimeIndex(pp["period"].values)
        month_end = months + pd.offsets.MonthEnd(0)
        days = (month_end - months).days + 1
        lo = np.maximum(months, first)
        hi = np.minimum(month_end, last)
        weight = np.clip((hi - lo).days + 1, 0, None) / days   # share of each month in the window
        values = pp.transpose("draw", "series", "period").values   # (S, N, H)
        return (values * weight.to_numpy()[None, None, :]).sum(axis=2)

    def fresh_share(self, days_ahead: int, lookback_months: int = 12) -> float:
        """The share of bookings in a window of ``days_ahead`` days that came from deals
        created after the window began, measured over the ``lookback_months`` before as_of
        (one window starting each month). Model A's samples times this share are the
        bookings not yet in the pipeline."""
        as_of = pd.Timestamp(self.as_of)
        starts = [as_of - pd.DateOffset(months=k) - pd.Timedelta(days=days_ahead)
                  for k in range(lookback_months)]
        frame = self.ws.sql("""
            SELECT created_date, close_date, CAST(amount AS DOUBLE) AS amount
            FROM opportunities WHERE is_won AND close_date < ?
        """, [self.as_of])
        if frame.empty:
            return 1.0
        created = pd.to_datetime(frame["created_date"]).to_numpy()
        closed = pd.to_datetime(frame["close_date"]).to_numpy()
        amount = frame["amount"].to_numpy(dtype=float)
        s = np.array([np.datetime64(x) for x in starts])[:, None]
        window = (closed[None, :] >= s) & (closed[None, :] <= s + np.timedelta64(days_ahead, "D"))
        fresh = window & (created[None, :] > s)
        total = float((window * amount).sum())
        return float((fresh * amount).sum() / total) if total > 0 else 1.0

    def simulate_pipeline(self, end: date, samples: int) -> PipelineSimulation:
        return self.pipeline_model.simulate(self.open_deals, self.as_of, end, simulations=samples)

    def payee_matrix(self, start: date, end: date, samples: int = 1000,
                     include_pipeline: bool = True) -> np.ndarray:
        """Joint samples (samples, payees) of each payee's bookings in ``[start, end]``, in
        the order of ``self.payees``."""
        booked = self.booked(start, end).to_numpy()
        future = self._model_a_window(start, end, samples)
        if include_pipeline and pd.Timestamp(end) >= pd.Timestamp(self.as_of) and len(self.open_deals):
            days_ahead = (pd.Timestamp(end) - pd.Timestamp(max(start, self.as_of))).days + 1
            sim = self.simulate_pipeline(end, samples)
            pipe = pd.DataFrame(sim.samples.T, index=sim.owners).reindex(
                self.payees["payee_id"], fill_value=0.0).to_numpy().T
            future = future * self.fresh_share(days_ahead) + pipe
        return booked[None, :] + future

    def payee_samples(self, start: date, end: date, samples: int = 1000,
                      include_pipeline: bool = True) -> pd.DataFrame:
        """Tidy joint samples: ``payee_id``, ``sample``, ``value`` (see
        :meth:`spm_kernel.extensions.Forecaster.payee_samples`)."""
        matrix = self.payee_matrix(start, end, samples, include_pipeline)
        ids = self.payees["payee_id"].to_numpy()
        return pd.DataFrame({"payee_id": np.repeat(ids, samples),
                             "sample": np.tile(np.arange(samples), len(ids)),
                             "value": matrix.T.reshape(-1)})

    # ---- what the forecasts feed ----
    def planning_inputs(self, start: date, end: date, samples: int = 1000,
                        include_pipeline: bool = False) -> PlanningInputs:
        """Per-payee expected bookings and samples for a future window, for quota planning
        (Model A alone by default: planning looks past the current pipeline)."""
        matrix = self.payee_matrix(start, end, samples, include_pipeline)
        summary = self.payees.copy()
        summary["expected"] = matrix.mean(axis=0)
        for q in (10, 50, 90):
            summary[f"p{q}"] = np.percentile(matrix, q, axis=0)
        ids = self.payees["payee_id"].to_numpy()
        tidy = pd.DataFrame({"payee_id": np.repeat(ids, samples),
                             "sample": np.tile(np.arange(samples), len(ids)),
                             "value": matrix.T.reshape(-1)})
        return PlanningInputs(start=start, end=end, summary=summary, samples=tidy)

    def quota_window(self, which: Literal["current", "next"]) -> tuple[date, date]:
        """The fiscal quarter containing ``as_of`` (current) or the one after it (next)."""
        start, end = quarter_bounds(self.as_of, self.ws.config.fiscal_year_start_month)
        if which == "next":
            start, end = quarter_bounds(pd.Timestamp(end).date() + pd.Timedelta(days=1),
                                        self.ws.config.fiscal_year_start_month)
        return start, end

    def attainment(self, which: Literal["current", "next"] = "current", samples: int = 1000,
                   include_pipeline: bool | None = None, roles: tuple[str, ...] = ("rep",)
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """P(reach quota) in the current or next fiscal quarter, per payee and per team.

        Quota: the payee's ``quotas`` row for ``measure`` whose period contains the window's
        first day; a team's quota is the sum of its payees' quotas, and its bookings the sum
        of their samples (so the team probability is of the team's total, not an average).
        Payees without a quota for the window are left out, and so are payees whose role is
        not in ``roles`` (default reps only: a manager's quota measures the team's roll-up
        credit, not the deals they own). Returns ``(payees, teams)``.
        The pipeline is used for the current quarter unless ``include_pipeline=False``.
        """
        start, end = self.quota_window(which)
        use_pipe = (which == "current") if include_pipeline is None else include_pipeline
        quotas = data.quotas(self.ws, self.measure)
        inside = (quotas["period_start"] <= pd.Timestamp(start)) & (quotas["period_end"] >= pd.Timestamp(start))
        q = quotas[inside].drop_duplicates("payee_id", keep="last").set_index("payee_id")["quota"]
        matrix = self.payee_matrix(start, end, samples, use_pipe)
        frame = self.payees.copy()
        frame["quota"] = q.reindex(frame["payee_id"]).to_numpy()
        role = self.ws.sql("SELECT payee_id, role FROM payees").set_index("payee_id")["role"]
        in_role = role.reindex(frame["payee_id"]).isin(list(roles)).to_numpy()
        has = frame["quota"].notna().to_numpy() & (frame["quota"].fillna(0) > 0).to_numpy() & in_role
        frame["expected"] = matrix.mean(axis=0)
        frame["p10"] = np.percentile(matrix, 10, axis=0)
        frame["p90"] = np.percentile(matrix, 90, axis=0)
        frame["p_quota"] = (matrix >= frame["quota"].fillna(np.inf).to_numpy()[None, :]).mean(axis=0)
        frame["period_start"], frame["period_end"] = start, end
        frame = frame[has].reset_index(drop=True)
        m = matrix[:, has]
        teams = pd.Index(sorted(frame["team"].unique()))
        onehot = (frame["team"].to_numpy()[:, None] == teams.to_numpy()[None, :]).astype(float)
        team_totals = m @ onehot                                  # (S, teams)
        team_quota = frame["quota"].to_numpy() @ onehot
        team = pd.DataFrame({"team": teams, "payees": onehot.sum(axis=0).astype(int),
                             "quota": team_quota, "expected": team_totals.mean(axis=0),
                             "p10": np.percentile(team_totals, 10, axis=0),
                             "p90": np.percentile(team_totals, 90, axis=0),
                             "p_quota": (team_totals >= team_quota[None, :]).mean(axis=0),
                             "period_start": start, "period_end": end})
        return frame, team

    def quarter_outlook(self, samples: int = 2000) -> pd.DataFrame:
        """This fiscal quarter's commit / expected / best case for the company, with the
        probability behind each (see :func:`spm_forecast_pymc.pipeline.forecast_categories`):
        booked to date + open pipeline (Model B) + business not yet in pipeline (Model A)."""
        start, end = self.quota_window("current")
        booked = float(self.booked(start, end).sum())
        sim = self.simulate_pipeline(end, samples)
        days_ahead = (pd.Timestamp(end) - pd.Timestamp(max(start, self.as_of))).days + 1
        fresh = self._model_a_window(start, end, samples).sum(axis=1) * self.fresh_share(days_ahead)
        out = forecast_categories(sim, self.pipeline_config, booked_to_date=booked,
                                  not_in_pipeline=fresh)
        out.insert(0, "period_start", start)
        out.insert(1, "period_end", end)
        return out
