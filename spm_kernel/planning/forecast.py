"""Forecasts for planning, from whichever forecaster plugin is installed.

A forecaster is an :class:`spm_kernel.extensions.Forecaster` registered through the
``spm_register_forecasters`` hook (``ws.registry.forecasters``), e.g. ``pymc_bookings`` of the
``spm-forecast-pymc`` distribution. Planning uses its contract only:

* ``history(ws, as_of)``: the forecaster builds its monthly history from the workspace, with
  months ending before ``as_of``;
* ``fit(history, **fit_options)`` then ``predict(model, horizon, samples=..., seed=...)``
  (``samples`` and ``seed`` passed when the forecaster accepts them): one row per
  (``series_id``, ``period``, ``sample``) with ``value``, base currency. Sample *k* of every
  series and month comes from the same joint draw, so sums over months and payees of one
  sample are samples of the totals (what the budget's P10/P50/P90 need).

``as_of`` defaults to the earlier of the plan year's first day and the day after the last won
deal's close date, so a partial month is never read as a bad one; the horizon runs from the
last history month to the plan year's last month, and the plan year's months are kept. A fit
is reused while the workspace's deals and the request are unchanged (one fit serves the
quotas and the budget of a planning session). When no forecaster is installed,
:func:`find_forecaster` returns None and the caller falls back (quotas to historical share,
budgets to 100% of quota), warning that it did.

:func:`bookings_history` is this module's history builder (bookings as defined in
:mod:`spm_kernel.planning.history`), which a forecaster may use for its ``history``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from spm_kernel.planning.errors import PlanningError
from spm_kernel.planning.history import monthly_bookings
from spm_kernel.planning.roster import NONE, PlanYear

if TYPE_CHECKING:
    from spm_kernel.extensions import Forecaster
    from spm_kernel.workspace import Workspace


@dataclass(frozen=True)
class BookingsForecast:
    """Forecast bookings of the plan year's months, base currency (floats: a forecast).

    ``samples``: ``payee_id, month (date), sample (int), value``; ``means``: ``payee_id,
    month, mean`` (the average over samples)."""

    forecaster: str
    as_of: date
    samples: pd.DataFrame
    means: pd.DataFrame

    @property
    def sample_count(self) -> int:
        return int(self.samples["sample"].nunique()) if len(self.samples) else 0

    def annual_means(self) -> pd.Series:
        """Expected plan-year bookings per payee (sum of the monthly means)."""
        return self.means.groupby("payee_id")["mean"].sum()


def find_forecaster(ws: Workspace, name: str | None = None) -> tuple[str, Forecaster] | None:
    """The forecaster called ``name`` (an error if it is not installed), else the first
    installed one by name, else None."""
    catalogue = ws.registry.forecasters
    if name is not None:
        return name, catalogue[name]
    names = catalogue.names()
    if not names:
        return None
    return names[0], catalogue[names[0]]


def default_as_of(ws: Workspace, year: PlanYear) -> date:
    rows = ws.con.execute("SELECT max(close_date) FROM opportunities WHERE is_won").fetchall()
    last = rows[0][0] if rows and rows[0][0] is not None else None
    if last is None:
        raise PlanningError("the workspace has no closed-won opportunity: there is no bookings history to "
                            "forecast from")
    return min(year.start, last + timedelta(days=1))


def bookings_history(ws: Workspace, as_of: date, months: int = 36) -> pd.DataFrame:
    """Monthly bookings history: one row per payee owning or credited a deal and complete
    month before ``as_of`` in which they were employed, with 0 for months without bookings;
    columns ``series_id``, ``period`` (Timestamp), ``value`` (float, base currency),
    ``team``, ``region``, ``start_date`` (hire), ``end_date`` (termination)."""
    end = date(as_of.year, as_of.month, 1)  # exclusive: the month of as_of is not complete
    index = end.year * 12 + end.month - 1 - months
    start = date(index // 12, index % 12 + 1, 1)
    booked = monthly_bookings(ws, start, end - timedelta(days=1))
    people = ws.sql("""
        SELECT p.payee_id, coalesce(p.team_id, '(none)') AS team,
               coalesce(p.region_id, t.region_id, '(none)') AS region, p.hire_date, p.termination_date
        FROM payees p LEFT JOIN teams t ON t.team_id = p.team_id
        WHERE p.payee_id IN (SELECT owner_id FROM opportunities)
           OR p.payee_id IN (SELECT payee_id FROM opportunity_splits WHERE split_type = 'revenue')""")
    grid = pd.DataFrame({"period": pd.date_range(start, end - timedelta(days=1), freq="MS")})
    frame = people.merge(grid, how="cross")
    month_end = frame["period"] + pd.offsets.MonthEnd(0)
    hire = pd.to_datetime(frame["hire_date"])
    term = pd.to_datetime(frame["termination_date"])
    employed = (hire <= month_end) & (term.isna() | (term >= frame["period"]))
    frame = frame.loc[employed.to_numpy()].copy()
    values = booked.assign(period=pd.to_datetime(booked["month"]),
                           value=booked["amount"].astype(float))[["payee_id", "period", "value"]]
    frame = frame.merge(values, on=["payee_id", "period"], how="left")
    frame["value"] = frame["value"].fillna(0.0)
    return pd.DataFrame({
        "series_id": frame["payee_id"].astype(str), "period": frame["period"], "value": frame["value"],
        "team": frame["team"].fillna(NONE), "region": frame["region"].fillna(NONE),
        "start_date": pd.to_datetime(frame["hire_date"]), "end_date": pd.to_datetime(frame["termination_date"]),
    }).sort_values(["series_id", "period"]).reset_index(drop=True)


def _accepts(function: Any, name: str) -> bool:
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())


_CACHE: dict[tuple[Any, ...], BookingsForecast] = {}
_CACHE_LIMIT = 4


def _fingerprint(ws: Workspace) -> tuple[Any, ...]:
    rows = ws.con.execute("""
        SELECT (SELECT count(*) FROM opportunities), (SELECT max(loaded_at) FROM opportunities),
               (SELECT count(*) FROM opportunity_splits), (SELECT max(loaded_at) FROM opportunity_splits),
               (SELECT count(*) FROM payees), (SELECT max(loaded_at) FROM payees)""").fetchall()
    return tuple(str(v) for v in rows[0])


def forecast_bookings(ws: Workspace, year: PlanYear, *, forecaster: str | None = None, samples: int = 200,
                      as_of: date | None = None, seed: int | None = 7,
                      fit_options: dict[str, Any] | None = None) -> BookingsForecast | None:
    """Forecast every payee's monthly bookings in the plan year, or None when no
    forecaster is installed (and ``forecaster`` names none)."""
    found = find_forecaster(ws, forecaster)
    if found is None:
        return None
    name, model_maker = found
    as_of = as_of or default_as_of(ws, year)
    key = (str(ws.path), name, as_of, year.fiscal_year, int(samples), seed, repr(sorted((fit_options or {}).items())),
           _fingerprint(ws))
    if key in _CACHE:
        return _CACHE[key]
    history = model_maker.history(ws, as_of)
    if history is None or len(history) == 0:
        raise PlanningError(f"forecaster {name!r} found no bookings history before {as_of}")
    last = pd.Timestamp(pd.to_datetime(history["period"]).max())
    horizon = (year.end.year * 12 + year.end.month) - (last.year * 12 + last.month)
    if horizon < 1:
        raise PlanningError(f"the history already covers {year.period_id}: nothing to forecast")
    model = model_maker.fit(history, **(fit_options or {}))
    options: dict[str, Any] = {}
    if _accepts(model_maker.predict, "samples"):
        options["samples"] = int(samples)
    if seed is not None and _accepts(model_maker.predict, "seed"):
        options["seed"] = seed
    raw = model_maker.predict(model, horizon, **options)
    missing = [c for c in ("series_id", "period", "value") if c not in raw.columns]
    if missing:
        raise PlanningError(f"forecaster {name!r} returned no column(s) {missing}; a forecast has one row per "
                            f"(series_id, period, sample) with value")
    out = pd.DataFrame({
        "payee_id": raw["series_id"].astype(str),
        "month": pd.to_datetime(raw["period"]).dt.to_period("M").dt.to_timestamp().dt.date,
        "sample": raw["sample"].astype(np.int64) if "sample" in raw.columns else np.zeros(len(raw), dtype=np.int64),
        "value": np.clip(raw["value"].astype(float).to_numpy(), 0.0, None),
    })
    out = out.loc[out["month"].isin(set(year.months))].reset_index(drop=True)
    means = out.groupby(["payee_id", "month"], as_index=False)["value"].mean().rename(columns={"value": "mean"})
    result = BookingsForecast(name, as_of, out, means)
    while len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = result
    return result
