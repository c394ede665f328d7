"""Model A: hierarchical monthly bookings per payee (a hurdle log-normal model).

History contract (a tidy frame, one row per observed series-month):

============  =========================================================================
column        meaning
============  =========================================================================
series_id     the payee (or any series) id, a string
period        the month, as a Timestamp on the first day of the month
value         bookings in that month (float, base currency; negatives count as 0)
team          optional: the series' team (pooling level 1); missing -> one team
region        optional: the team's region (pooling level 2); missing -> one region
start_date    optional: hire date (drives the new-hire ramp); missing -> fully ramped
end_date      optional: termination date; forecast months after it are 0
============  =========================================================================

A month without a row is *not observed* (it is neither zero nor used). Build the frame
from a workspace with :func:`spm_forecast_pymc.data.bookings_history`, which writes a row with
0 for every month a payee was employed and booked nothing.

Optionally, the renewal book: fit on :class:`BookingsData` (the history and a frame of
``series_id``, ``period``, ``renewals_due``: money coming up for renewal, for history months
and the months ahead, from :func:`spm_forecast_pymc.data.renewals_due`). A month without a
row has nothing due.

The model, per series *i* and month *t* (see docs/forecasting.md for the reasoning):

* hurdle: ``P(bookings > 0) = logistic(a_i + quarter_q + month_m + slope * u - ramp_p(tenure)
  + echo_p(same month a year before) + renewal_p * due)``
* amount when positive: ``log(bookings / scale_i) ~ Normal(mu, sigma_i)`` with
  ``mu = c_i + s_i * u + changepoints_i(u) + quarter_q + month_m + month_team_m + month_i_m
  - ramp_mu(tenure) + echo_mu(same month a year before) + renewal_mu * due)``
* ``a_i``, ``c_i``, ``s_i``, ``sigma_i`` partially pooled series -> team -> region;
  the echo: whether anything closed, how much, or not observed, a year before (renewals);
  ``ramp(tenure) = delta * exp(-tenure / kappa)``; ``u`` = years before the last month;
  ``due = log(1 + renewals_due / scale_i)``, centred on the series' mean over the window
  (0: a month with the series' usual book); the log-normal spread of a month is
  ``sigma_i * exp(renewal_spread * due)`` (a month carried by a known renewal is surer).

Forecast samples are drawn in numpy from the posterior draws (one predictive sample per
draw, cycling through draws when more samples are asked for), so sample *k* of every series
comes from the same draw and team / region / company roll-ups are sums of samples.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from spm_forecast_pymc.builder import ModelBuilder
from spm_forecast_pymc.config import BookingsConfig
from spm_forecast_pymc.sampling import sample

REQUIRED = ("series_id", "period", "value")
RENEWAL_COLUMNS = ("series_id", "period", "renewals_due")
RENEWAL_TERMS = ("active", "amount", "spread")
DUE_AHEAD = 12  # months of the renewal book a fit keeps for forecasts
UNASSIGNED = "(none)"
FULLY_RAMPED_MONTHS = 120


class HistoryError(ValueError):
    """The history frame does not satisfy the contract; the message names the problem."""


@dataclass(frozen=True)
class BookingsData:
    """Model A's input with the renewal book: ``history`` (the contract above) and
    ``renewals`` (``series_id``, ``period``, ``renewals_due``), whose months after the
    history's last month feed forecasts."""

    history: pd.DataFrame
    renewals: pd.DataFrame


@dataclass(frozen=True)
class Prepared:
    """Arrays the PyMC model is built from (one entry per observation unless noted)."""

    series: np.ndarray        # series ids (per series)
    teams: np.ndarray         # team names (per team)
    regions: np.ndarray       # region names (per region)
    team_of_series: np.ndarray
    region_of_team: np.ndarray
    scale: np.ndarray         # per series
    last_period: pd.Timestamp
    months: int               # months in the window
    knots: np.ndarray         # changepoint positions in years (negative)
    tenure_last: np.ndarray   # per series, tenure (months) at the last period
    end_month: np.ndarray     # per series, months after last_period when it ends (inf: never)
    # dense (series x month) layout: every array below is (N, T) or (T,)
    observed: np.ndarray      # (N, T) bool: the series has a row for that month
    positive: np.ndarray      # (N, T) bool: observed and bookings > 0
    log_y: np.ndarray         # (N, T) log(bookings / scale) where positive, else 0
    tenure: np.ndarray        # (N, T) months since hire
    u: np.ndarray             # (T,) years relative to the last month (<= 0)
    moy: np.ndarray           # (T,) month of year 0..11
    moq: np.ndarray           # (T,) month of fiscal quarter 0..2 (2 = quarter end)
    hurdle: bool
    # the 12 months before the window, (N, 12) each: observed, positive, log(bookings / scale)
    year_before: tuple[np.ndarray, np.ndarray, np.ndarray]
    # the renewal book, log(1 + due / scale) centred per series: (N, T) in the window and
    # (N, DUE_AHEAD) after it; None when the data carry no renewal book
    due: np.ndarray | None = None
    due_ahead: np.ndarray | None = None

    def last_year(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The annual echo's inputs per (series, month), from the same month a year before:
        ``not_booked`` (observed, nothing closed), ``unknown`` (not observed: before the
        history or the hire) and ``log_amount`` (its log(bookings / scale) when positive,
        else 0). The window's first year reads the history's 12 months before the window."""
        return tuple(a[:, 12:] for a in _last_year(*self.with_year_before()))  # type: ignore[return-value]

    def with_year_before(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``observed``, ``positive`` and ``log_y`` with the 12 months before the window
        prepended: (N, 12 + T) each."""
        return tuple(np.concatenate([before, now], axis=1) for before, now in  # type: ignore[return-value]
                     zip(self.year_before, (self.observed, self.positive, self.log_y), strict=True))


def month_start(values: Any) -> pd.Series:
    return pd.to_datetime(pd.Series(values)).dt.to_period("M").dt.to_timestamp()


def months_between(later: pd.Series | pd.Timestamp, earlier: pd.Series | pd.Timestamp) -> Any:
    """Whole months from ``earlier`` to ``later`` (month granularity)."""
    return (later.year - earlier.year) * 12 + (later.month - earlier.month)  # type: ignore[union-attr]


def prepare(history: pd.DataFrame | BookingsData, config: BookingsConfig) -> Prepared:
    """Validate the history contract and turn it into model arrays (vectorised)."""
    renewals = None
    if isinstance(history, BookingsData):
        history, renewals = history.history, (history.renewals if config.renewals else None)
    missing = [c for c in REQUIRED if c not in history.columns]
    if missing:
        raise HistoryError(f"history is missing column(s) {missing}; it needs {list(REQUIRED)}")
    if history.empty:
        raise HistoryError("history is empty: there is nothing to fit")
    frame = history.copy()
    frame["series_id"] = frame["series_id"].astype(str)
    frame["period"] = month_start(frame["period"]).to_numpy()
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    if frame["value"].isna().any():
        bad = frame.loc[frame["value"].isna(), ["series_id", "period"]].iloc[0]
        raise HistoryError(f"history has a missing or non-numeric value (first: series "
                           f"{bad['series_id']!r}, {bad['period']:%Y-%m})")
    if frame.duplicated(["series_id", "period"]).any():
        dup = frame.loc[frame.duplicated(["series_id", "period"]), ["series_id", "period"]].iloc[0]
        raise HistoryError(f"history has two rows for series {dup['series_id']!r} in "
                           f"{dup['period']:%Y-%m}; aggregate to one row per series and month")
    for col in ("team", "region"):
        frame[col] = frame[col].astype("string").fillna(UNASSIGNED).astype(str) if col in frame else UNASSIGNED
    last_period = frame["period"].max()
    first_allowed = last_period - pd.DateOffset(months=config.history_months - 1)
    earlier = frame[frame["period"] < first_allowed]   # read only by the annual echo
    frame = frame[frame["period"] >= first_allowed]

    attrs = frame.sort_values("period").groupby("series_id", sort=True).agg(
        team=("team", "last"), region=("region", "last"),
        **({"start_date": ("start_date", "first")} if "start_date" in frame else {}),
        **({"end_date": ("end_date", "first")} if "end_date" in frame else {}))
    series = attrs.index.to_numpy(dtype=object)
    teams_frame = attrs[["team", "region"]].drop_duplicates("team").sort_values("team")
    teams = teams_frame["team"].to_numpy(dtype=object)
    regions = np.array(sorted(attrs["region"].unique()), dtype=object)
    team_of_series = pd.Index(teams).get_indexer(attrs["team"])
    region_of_team = pd.Index(regions).get_indexer(teams_frame["region"])

    idx = pd.Index(series).get_indexer(frame["series_id"])
    window_start = frame["period"].min()
    months = int(months_between(last_period, window_start)) + 1
    t = (frame["period"].dt.year - window_start.year) * 12 + (frame["period"].dt.month - window_start.month)
    if "start_date" in attrs:
        start = month_start(attrs["start_date"]).reset_index(drop=True)
        tenure_last = ((last_period.year - start.dt.year) * 12 + (last_period.month - start.dt.month))
        tenure_last = tenure_last.fillna(FULLY_RAMPED_MONTHS).clip(lower=0).to_numpy(dtype=float)
    else:
        tenure_last = np.full(len(series), float(FULLY_RAMPED_MONTHS))
    if "end_date" in attrs:
        end = month_start(attrs["end_date"]).reset_index(drop=True)
        end_month = ((end.dt.year - last_period.year) * 12 + (end.dt.month - last_period.month))
        end_month = end_month.astype(float).fillna(np.inf).to_numpy(dtype=float)
    else:
        end_month = np.full(len(series), np.inf)

    y = frame["value"].clip(lower=0).to_numpy(dtype=float)
    positive = y > 0
    if not positive.any():
        raise HistoryError("history has no positive month: a bookings model cannot be fitted")
    global_scale = float(np.median(y[positive]))
    if config.scale == "series":
        med = pd.Series(np.where(positive, y, np.nan)).groupby(idx).median()
        scale = med.reindex(range(len(series))).fillna(global_scale).to_numpy(dtype=float)
    else:
        scale = np.full(len(series), global_scale)
    t_idx = t.to_numpy()
    shape = (len(series), months)
    observed = np.zeros(shape, dtype=bool)
    observed[idx, t_idx] = True
    pos_grid = np.zeros(shape, dtype=bool)
    pos_grid[idx, t_idx] = positive
    log_grid = np.zeros(shape)
    log_grid[idx[positive], t_idx[positive]] = np.log(y[positive] / scale[idx[positive]])
    year_before = _year_before(earlier, series, scale, window_start)
    tenure_grid = np.maximum(tenure_last[:, None] - (months - 1 - np.arange(months))[None, :], 0.0)
    grid_periods = pd.date_range(window_start, periods=months, freq="MS")
    u_grid = (np.arange(months) - (months - 1)) / 12.0

    knots = np.array([], dtype=float)
    if config.changepoint_every:
        step = config.changepoint_every
        candidates = -np.arange(step, months, step) / 12.0
        knots = candidates[candidates > u_grid.min() + 0.5]
    due, due_ahead = (_renewal_grids(renewals, series, scale, window_start, months)
                      if renewals is not None else (None, None))
    return Prepared(
        series=series, teams=teams, regions=regions, team_of_series=team_of_series,
        region_of_team=region_of_team, scale=scale, last_period=last_period, months=months,
        knots=knots, tenure_last=tenure_last, end_month=end_month, observed=observed,
        positive=pos_grid, log_y=log_grid, tenure=tenure_grid, u=u_grid,
        moy=grid_periods.month.to_numpy() - 1,
        moq=(grid_periods.month.to_numpy() - config.fiscal_year_start_month) % 3,
        hurdle=bool((~positive).any()), year_before=year_before, due=due, due_ahead=due_ahead)


def _renewal_grids(renewals: pd.DataFrame, series: np.ndarray, scale: np.ndarray,
                   window_start: pd.Timestamp, months: int
                   ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``log(1 + renewals_due / scale)``, centred per series on its window mean, on the
    window's (N, T) grid and the (N, DUE_AHEAD)
    months after it; (None, None) when nothing is due in the window (no term to learn from).
    Rows of series not in the history, or of months outside both grids, are left out."""
    missing = [c for c in RENEWAL_COLUMNS if c not in renewals.columns]
    if missing:
        raise HistoryError(f"renewals is missing column(s) {missing}; it needs {list(RENEWAL_COLUMNS)}")
    due = pd.to_numeric(renewals["renewals_due"], errors="coerce")
    if due.isna().any() or (due < 0).any():
        bad = renewals.loc[due.isna() | (due < 0), ["series_id", "period"]].iloc[0]
        raise HistoryError(f"renewals has a missing, non-numeric or negative renewals_due "
                           f"(first: series {bad['series_id']!r}, {pd.Timestamp(bad['period']):%Y-%m})")
    period = month_start(renewals["period"])
    col = ((period.dt.year - window_start.year) * 12 + (period.dt.month - window_start.month)).to_numpy()
    row = pd.Index(series).get_indexer(renewals["series_id"].astype(str))
    keep = (row >= 0) & (col >= 0) & (col < months + DUE_AHEAD)
    grid = np.zeros((len(series), months + DUE_AHEAD))
    np.add.at(grid, (row[keep], col[keep]), due.to_numpy(dtype=float)[keep])
    features = np.log1p(grid / scale[:, None])
    if not features[:, :months].any():
        return None, None
    # centred on each series' mean over the window: its level then keeps what the series
    # books on average, and the renewal terms only what a month's book adds or takes away
    # (uncentred, the two formed a ridge: level R-hat 2.0 on the demo)
    features = features - features[:, :months].mean(axis=1, keepdims=True)
    return features[:, :months], features[:, months:]


def _year_before(earlier: pd.DataFrame, series: np.ndarray, scale: np.ndarray,
                 window_start: pd.Timestamp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 12) observed / positive / log(bookings / scale) grids of the 12 months before
    the window, from history rows older than the window (all unobserved when there are none)."""
    shape = (len(series), 12)
    observed, positive, log_y = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool), np.zeros(shape)
    col = 12 + (earlier["period"].dt.year - window_start.year) * 12 + (
        earlier["period"].dt.month - window_start.month)
    row = pd.Index(series).get_indexer(earlier["series_id"])
    keep = ((col >= 0) & (row >= 0)).to_numpy()
    row, col = row[keep], col.to_numpy()[keep]
    y = earlier["value"].clip(lower=0).to_numpy(dtype=float)[keep]
    observed[row, col] = True
    positive[row, col] = y > 0
    log_y[row[y > 0], col[y > 0]] = np.log(y[y > 0] / scale[row[y > 0]])
    return observed, positive, log_y


class _Blocks:
    """Slices of one standard-normal vector ``z`` and one vector of half-normal spreads.

    Few, large random variables instead of dozens of small ones: PyTensor rewrites and
    compiles a much smaller graph, and each gradient has far fewer operations to run.
    """

    def __init__(self) -> None:
        self.z_sizes: list[tuple[str, tuple[int, ...]]] = []
        self.sd_names: list[str] = []
        self.sd_priors: list[float] = []

    def z(self, name: str, *shape: int) -> str:
        self.z_sizes.append((name, shape))
        return name

    def sd(self, name: str, prior: float) -> str:
        self.sd_names.append(name)
        self.sd_priors.append(prior)
        return name

    def build(self) -> tuple[dict[str, pt.TensorVariable], dict[str, pt.TensorVariable]]:
        total = int(sum(np.prod(shape) for _, shape in self.z_sizes))
        z = pm.Normal("z", 0.0, 1.0, shape=total)
        sds = pm.HalfNormal("spreads", sigma=np.asarray(self.sd_priors), shape=len(self.sd_priors))
        out: dict[str, pt.TensorVariable] = {}
        start = 0
        for name, shape in self.z_sizes:
            size = int(np.prod(shape))
            out[name] = z[start:start + size].reshape(shape)
            start += size
        return out, {name: sds[i] for i, name in enumerate(self.sd_names)}


ECHO_TERMS = ("active_not_booked", "active_unknown", "amount_not_booked", "amount_unknown",
              "amount_log_last_year")


def _last_year(observed: np.ndarray, positive: np.ndarray, log_y: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each month's state 12 months before (see :meth:`Prepared.last_year`); ``observed``,
    ``positive`` and ``log_y`` are (..., T) with months on the last axis."""
    lag_observed = np.zeros(observed.shape, dtype=bool)
    lag_positive = np.zeros(observed.shape, dtype=bool)
    lag_log = np.zeros(observed.shape)
    lag_observed[..., 12:] = observed[..., :-12]
    lag_positive[..., 12:] = positive[..., :-12]
    lag_log[..., 12:] = np.where(positive[..., :-12], log_y[..., :-12], 0.0)
    return ((lag_observed & ~lag_positive).astype(float), (~lag_observed).astype(float), lag_log)


def _zero_sum(x: pt.TensorVariable) -> pt.TensorVariable:
    """Centre along the last axis (effects that sum to zero over months)."""
    return x - x.mean(axis=-1, keepdims=True)


def _zero_sum_both(x: pt.TensorVariable) -> pt.TensorVariable:
    """Centre a (units, months) matrix along both axes (zero over months and over units)."""
    return _zero_sum(_zero_sum(x).T).T


def _month_within_quarter(name: str, spread: pt.TensorVariable, fiscal_year_start_month: int
                          ) -> pt.TensorVariable:
    """Month-of-year effects with no month-of-quarter part (that is the quarter effects'): the
    four months in each position of the quarter sum to zero, so the year does too. Drawn as a
    (position, month) zero-sum pattern, which has exactly the 9 free values such effects have
    (a projection of 12 free values left 3 to the prior alone, and they mixed slowly)."""
    position = (np.arange(1, 13) - fiscal_year_start_month) % 3
    rank = np.array([np.sum(position[:m] == position[m]) for m in range(12)])
    pattern = pm.ZeroSumNormal(f"{name}_pattern", sigma=1.0, shape=(3, 4))
    return spread * pattern[position, rank]


# a unit is drawn centred when its own data carry this share of what is known about it (at
# 0.5, payees half pinned by their months still diverged on the accuracy test's company)
CENTRED_FROM = 0.8


@dataclass(frozen=True)
class Centring:
    """Which pooled effects Model A draws centred (True) or non-centred (False)."""

    series: np.ndarray   # per series
    team: np.ndarray     # per team
    region: bool         # the zero-sum region effects, all one way


def _layer(mean: np.ndarray, info: np.ndarray, group: np.ndarray, n_groups: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One layer of a normal-normal hierarchy from rough moments: units with estimated
    ``mean`` and ``info`` (1 / variance of that estimate; 0: nothing known) pooled around
    their group. Returns each unit's weight ``info tau^2 / (info tau^2 + 1)`` (``tau``: the
    spread of true unit means, by moments), and each group's estimated mean and information."""
    known = info > 0
    if known.sum() < 2:
        weight = np.ones(len(mean))
        tau2 = 1.0
    else:
        tau2 = max(float(np.var(mean[known]) - np.mean(1.0 / info[known])), 0.05 ** 2)
        weight = info * tau2 / (info * tau2 + 1.0)
    unit = np.where(known, 1.0 / (tau2 + 1.0 / np.where(known, info, 1.0)), 0.0)
    group_info = np.bincount(group, weights=unit, minlength=n_groups)
    group_mean = np.divide(np.bincount(group, weights=unit * mean, minlength=n_groups), group_info,
                           out=np.zeros(n_groups), where=group_info > 0)
    return weight, group_mean, group_info


def _partly_centred(name: str, around: pt.TensorVariable, spread: pt.TensorVariable,
                    centred: np.ndarray, dims: str) -> pt.TensorVariable:
    """Effects ~ N(around, spread): those marked ``centred`` drawn directly (the sampler sees
    the effect), the others non-centred (it sees (effect - around) / spread)."""
    if centred.all():
        return pm.Normal(name, around, spread, dims=dims)
    inner, outer = np.flatnonzero(centred), np.flatnonzero(~centred)
    parts = []
    if inner.size:
        parts.append(pm.Normal(f"{name}_centred", around[inner], spread, shape=inner.size))
    if outer.size:
        parts.append(around[outer] + spread * pm.Normal(f"{name}_offset", 0.0, 1.0, shape=outer.size))
    order = np.argsort(np.concatenate([inner, outer]))
    joined = pt.concatenate(parts)[order] if len(parts) > 1 else parts[0]
    return pm.Deterministic(name, joined, dims=dims)


def _centring(p: Prepared, part: str, parameterisation: str) -> Centring:
    """How centred Model A draws the payee, team and region effects of ``part`` ("level":
    log amounts of positive months; "active": the logit of booking at all).

    A unit pinned by its own data relative to how much units differ samples best centred;
    one its data say little about samples best non-centred; and any single choice for the
    whole model leaves a funnel somewhere: centred payee levels diverged on a 30-payee
    company whose payees barely differ (R-hat 1.48), non-centred team effects mixed slowly on
    the demo, whose teams differ a lot. So under ``mixed`` each unit gets the weight a
    normal-normal model gives its own data (:func:`_layer`), as in the variationally inferred
    parameterisation of Gorinova, Moore and Hoffman (2020), and is drawn centred when that
    weight reaches ``CENTRED_FROM``. The choice changes how the sampler sees the model, not
    the model."""
    n_series, n_team = len(p.series), len(p.teams)
    if parameterisation in ("centred", "noncentred"):
        one = parameterisation == "centred"
        return Centring(np.full(n_series, one), np.full(n_team, one), one)
    if part == "level":
        n = p.positive.sum(axis=1).astype(float)
        mean = np.divide((p.log_y * p.positive).sum(axis=1), n, out=np.zeros(n_series), where=n > 0)
        noise = ((p.log_y - mean[:, None]) ** 2 * p.positive).sum() / max(float((n - 1).clip(0).sum()), 1.0)
        info = n / max(noise, 1e-6)                            # no noise at all: as good as exact
    else:
        n = p.observed.sum(axis=1).astype(float)
        rate = (p.positive.sum(axis=1) + 0.5) / (n + 1.0)        # no infinite logits
        mean = np.log(rate / (1 - rate))
        info = n * rate * (1 - rate)                            # Bernoulli months on the logit
    info = np.where(n >= 2, info, 0.0)
    series, team_mean, team_info = _layer(mean, info, p.team_of_series, n_team)
    team, region_mean, region_info = _layer(team_mean, team_info, p.region_of_team, len(p.regions))
    region, _, _ = _layer(region_mean, region_info, np.zeros(len(p.regions), dtype=int), 1)
    return Centring(series >= CENTRED_FROM, team >= CENTRED_FROM, bool(region.mean() >= CENTRED_FROM))


def build_model(p: Prepared, config: BookingsConfig) -> pm.Model:
    """The PyMC model of Model A on prepared arrays (see the module docstring)."""
    pri = config.priors
    n, n_team, n_region, k = len(p.series), len(p.teams), len(p.regions), len(p.knots)
    coords = {"series": p.series, "team": p.teams, "region": p.regions,
              "month_of_year": np.arange(1, 13), "month_of_quarter": np.arange(3), "knot": p.knots,
              "parameter": ["level_base", "slope_base", "active_base", "active_slope"]
              + ([f"renewal_{t}" for t in RENEWAL_TERMS] if p.due is not None else []),
              "echo_term": list(ECHO_TERMS), "renewal_term": list(RENEWAL_TERMS)}
    # levels and hurdle levels are often pinned by every month of data: centred where they
    # are (see _centring); slopes, changepoints, per-series seasons and noise spreads are
    # weakly identified (a funnel when centred): centred only when asked for the whole model
    centred_levels = config.parameterisation in ("centred", "mixed")
    centred_trends = config.parameterisation == "centred"
    blocks = _Blocks()
    parts = ["level"] + (["active"] if p.hurdle else [])
    for part in parts:
        if not centred_levels:
            blocks.z(f"{part}_series", n)
        blocks.sd(f"{part}_group_sd", pri.group_sd)
        blocks.sd(f"{part}_series_sd", pri.level_sd)
    if not centred_trends:
        blocks.z("slope", n)
    blocks.sd("slope_series_sd", pri.slope_sd)
    blocks.sd("month_sd", pri.season_sd)
    blocks.z("team_month", n_team, 12)
    blocks.sd("team_month_sd", pri.season_sd / 2)
    if config.series_seasonality:
        if not centred_trends:
            blocks.z("series_month", n, 12)
        blocks.sd("series_month_sd", pri.season_sd / 2)
    if k:
        if not centred_trends:
            blocks.z("changepoint", n, k)
        blocks.sd("changepoint_sd", pri.changepoint_sd)
    if not centred_trends:
        blocks.z("noise", n)
    blocks.sd("noise_series_sd", 0.3)
    if config.ar_errors:
        blocks.z("ar", n)
        blocks.sd("ar_sd", 0.5)
    team_hot = np.eye(n_team)[p.team_of_series]            # (N, teams)
    region_hot = np.eye(n_region)[p.region_of_team]         # (teams, regions)
    moy_hot = np.eye(12)[p.moy].T                            # (12, T)
    moq_hot = np.eye(3)[p.moq]                               # (T, 3)
    with pm.Model(coords=coords) as model:
        z, sd = blocks.build()
        coef = pm.Normal("coef", 0.0, np.array([2.0, pri.slope_sd, 2.0, pri.slope_sd]
                                               + ([2.0, 1.0, 0.5] if p.due is not None else [])),
                         dims="parameter")

        def pooled(part: str, base: pt.TensorVariable) -> pt.TensorVariable:
            # payees around their team, teams around ``base`` plus their region's effect
            # (regions sum to zero): each unit centred when its own data pin it (see
            # _centring). All non-centred (version 3), the spread and the team effects formed a
            # ridge on the demo (R-hat 1.16); all centred (version 4), payee levels diverged on
            # a small company whose payees barely differ (R-hat 1.48)
            spread = sd[f"{part}_group_sd"]
            c = _centring(p, part, config.parameterisation if centred_levels else "noncentred")
            if n_region > 1:
                region = (pm.ZeroSumNormal(f"{part}_region", sigma=spread, dims="region") if c.region
                          else pm.Deterministic(f"{part}_region", spread * pm.ZeroSumNormal(
                              f"{part}_region_drawn", sigma=1.0, dims="region"), dims="region"))
            else:
                region = pt.zeros(n_region)
            team = (_partly_centred(f"{part}_team", base + pt.dot(region_hot, region), spread, c.team, "team")
                    if n_team > 1 else pt.ones(n_team) * base)
            group = pt.dot(team_hot, team)
            if centred_levels:
                return _partly_centred(part, group, sd[f"{part}_series_sd"], c.series, "series")
            return pm.Deterministic(part, group + sd[f"{part}_series_sd"] * z[f"{part}_series"],
                                    dims="series")

        level = pooled("level", coef[0])
        if centred_trends:
            slope = pm.Normal("slope", coef[1], sd["slope_series_sd"], dims="series")
        else:
            slope = pm.Deterministic("slope", coef[1] + sd["slope_series_sd"] * z["slope"], dims="series")
        quarter = pm.ZeroSumNormal("quarter", sigma=pri.quarter_sd, dims="month_of_quarter")
        # month-of-year effects without a month-of-quarter pattern (that is ``quarter``'s), and
        # team and series deviations that average zero over teams and series: each pattern
        # has one owner, so no ridge between them for the sampler to wander along
        month = _month_within_quarter("month", sd["month_sd"], config.fiscal_year_start_month)
        team_month = _zero_sum_both(z["team_month"])
        season = month[None, :] + pt.dot(team_hot, sd["team_month_sd"] * team_month)
        if config.series_seasonality and centred_trends:
            season = season + pm.ZeroSumNormal("series_month", sigma=sd["series_month_sd"],
                                               dims=("series", "month_of_year"), n_zerosum_axes=2)
        elif config.series_seasonality:
            season = season + sd["series_month_sd"] * _zero_sum_both(z["series_month"])
        season = pm.Deterministic("season", season, dims=("series", "month_of_year"))
        u = p.u[None, :]
        mu = (level[:, None] + slope[:, None] * u + pt.dot(moq_hot, quarter)[None, :]
              + pt.dot(season, moy_hot))                     # (N, T)
        if k:
            cp = (pm.Normal("changepoint", 0.0, sd["changepoint_sd"], dims=("series", "knot"))
                  if centred_trends else sd["changepoint_sd"] * z["changepoint"])
            hinge = np.minimum(p.u[:, None] - p.knots[None, :], 0.0)   # (T, K)
            mu = mu + pt.dot(cp, hinge.T)
        if config.ramp:
            kappa = pm.LogNormal("ramp_months", np.log(pri.ramp_months), 0.5)
            ramp_size = pm.HalfNormal("ramp_size", pri.ramp_sd, shape=2 if p.hurdle else 1)
            pm.Deterministic("ramp_amount", ramp_size[0])
            # exp(-(tenure_last - back) / kappa) as an outer product: N + T exponentials
            back = (p.months - 1 - np.arange(p.months)).astype(float)
            ramp = pt.minimum(pt.outer(pt.exp(-p.tenure_last / kappa), pt.exp(back / kappa)), 1.0)
            mu = mu - ramp_size[0] * ramp
        if config.annual_echo:
            # renewals and other yearly business: the same month a year before moves both
            # whether anything closes and how much (relative to a month that followed a booking)
            echo = pm.Normal("echo", 0.0, 1.0, dims="echo_term")
            not_booked, unknown, log_last_year = p.last_year()
            mu = mu + echo[2] * not_booked + echo[3] * unknown + echo[4] * log_last_year
        if p.due is not None:
            # the renewal book: more money up for renewal this month than the series' usual
            # (known ahead) makes a booking likelier and larger, and its size surer (the
            # spread term scales the month's noise)
            renewal = pm.Deterministic("renewal", coef[4:], dims="renewal_term")
            # data, not a constant: with the book as a constant, PyTensor's numba cache never
            # kept the compiled gradient (every fit compiled it again: 60-80 s instead of 40 s)
            due = pm.Data("renewal_due", p.due)
            mu = mu + renewal[1] * due
        noise_base = pm.HalfNormal("noise_base", pri.noise_sd)
        if centred_trends:
            log_noise = pm.Normal("log_noise", pt.log(noise_base), sd["noise_series_sd"], dims="series")
        else:
            log_noise = pt.log(noise_base) + sd["noise_series_sd"] * z["noise"]
        pm.Deterministic("noise", pt.exp(log_noise), dims="series")
        # log-normal amounts of the positive months (dense and masked: no per-row indexing)
        resid = p.log_y - mu
        log_sd = log_noise[:, None]
        if p.due is not None:
            log_sd = log_sd + renewal[2] * due
        if config.ar_errors:
            # AR(1) errors between consecutive positive months; the marginal spread stays
            # `noise`, so an innovation has noise * sqrt(1 - phi^2)
            ar_base = pm.Normal("ar_base", 1.0, 1.0)
            phi = pm.Deterministic("phi", pm.math.sigmoid(ar_base + sd["ar_sd"] * z["ar"]), dims="series")
            both = np.zeros_like(p.positive)
            both[:, 1:] = p.positive[:, 1:] & p.positive[:, :-1]
            prev = pt.concatenate([pt.zeros((n, 1)), resid[:, :-1]], axis=1)
            resid = resid - phi[:, None] * prev * both
            log_sd = log_sd + both * (0.5 * pt.log1p(-phi ** 2))[:, None]
            pm.Deterministic("last_resid", (p.log_y - mu)[:, -1], dims="series")
        scaled = resid * pt.exp(-log_sd)
        pm.Potential("log_amount", pt.sum(p.positive * (-log_sd - 0.5 * scaled ** 2))
                     - 0.5 * np.log(2 * np.pi) * float(p.positive.sum()))
        if p.hurdle:  # does anything close this month?
            active = pooled("active", coef[2])
            active_quarter = pm.ZeroSumNormal("active_quarter", sigma=pri.quarter_sd,
                                              dims="month_of_quarter")
            active_month = pm.Deterministic("active_month", _month_within_quarter(
                "active_month", sd["month_sd"], config.fiscal_year_start_month), dims="month_of_year")
            pm.Deterministic("active_slope", coef[3])
            logit = (active[:, None] + (pt.dot(moq_hot, active_quarter)
                     + pt.dot(active_month, moy_hot) + coef[3] * p.u)[None, :])
            if config.ramp:
                pm.Deterministic("ramp_active", ramp_size[1])
                logit = logit - ramp_size[1] * ramp
            if config.annual_echo:
                logit = logit + echo[0] * not_booked + echo[1] * unknown
            if p.due is not None:
                logit = logit + renewal[0] * due
            # log sigmoid(+-logit): one softplus per cell (a switch between two computed both)
            sign = np.where(p.positive, 1.0, -1.0)
            pm.Potential("any_booking", -pt.sum(p.observed * pt.softplus(-sign * logit)))
    return model


def _constant_data(p: Prepared, config: BookingsConfig) -> xr.Dataset:
    # the last 12 months (reaching into the year before a short window), for the echo of forecasts
    recent = [a[:, -12:] for a in p.with_year_before()]
    due_ahead = p.due_ahead if p.due_ahead is not None else np.zeros((len(p.series), DUE_AHEAD))
    return xr.Dataset(
        {
            "scale": ("series", p.scale),
            "team_of_series": ("series", p.team_of_series),
            "region_of_team": ("team", p.region_of_team),
            "tenure_last": ("series", p.tenure_last),
            "end_month": ("series", p.end_month),
            "last_positive": ("series", p.positive[:, -1].astype(int)),
            "recent_observed": (("series", "recent_month"), recent[0].astype(int)),
            "recent_positive": (("series", "recent_month"), recent[1].astype(int)),
            "recent_log": (("series", "recent_month"), recent[2]),
            "due_ahead": (("series", "ahead_month"), due_ahead),
            "team_name": ("series", p.teams[p.team_of_series].astype(str)),
            "region_name": ("series", p.regions[p.region_of_team[p.team_of_series]].astype(str)),
        },
        coords={"series": p.series.astype(str), "team": p.teams.astype(str),
                "region": p.regions.astype(str), "knot": p.knots},
        attrs={"last_period": p.last_period.strftime("%Y-%m-%d"), "hurdle": int(p.hurdle),
               "fiscal_year_start_month": config.fiscal_year_start_month},
    )


class BookingsModel(ModelBuilder[BookingsConfig]):
    """Model A. ``fit(history)`` then ``predict(horizon)`` / ``predict_idata(horizon)``."""

    name: ClassVar[str] = "bookings"
    version: ClassVar[str] = "6"
    config_class = BookingsConfig

    def _fit(self, data: pd.DataFrame | BookingsData) -> az.InferenceData:
        prepared = prepare(data, self.config)
        model = build_model(prepared, self.config)
        idata = sample(model, self.config.sampler, "bookings model")
        if "constant_data" in idata.groups():  # PyMC's NUTS copies pm.Data inputs (the book)
            del idata.constant_data             # there; forecasts read what _constant_data keeps
        idata.add_groups({"constant_data": _constant_data(prepared, self.config)})
        return idata

    def hash_data(self, data: pd.DataFrame | BookingsData) -> str:
        from spm_forecast_pymc.builder import data_hash
        history = data.history if isinstance(data, BookingsData) else data
        cols = [c for c in ("series_id", "period", "value", "team", "region", "start_date", "end_date")
                if c in history.columns]
        frame = history[cols].astype(str).sort_values(["series_id", "period"]).reset_index(drop=True)
        if not isinstance(data, BookingsData):
            return data_hash(frame)
        columns = [c for c in RENEWAL_COLUMNS if c in data.renewals.columns]  # prepare names a gap
        book = data.renewals[columns].astype(str).sort_values(columns[:2])
        both = data_hash(frame) + data_hash(book.reset_index(drop=True))
        return hashlib.sha256(both.encode()).hexdigest()

    # ---- prediction ----
    @property
    def series(self) -> pd.DataFrame:
        """One row per fitted series: ``series_id``, ``team``, ``region``."""
        const = self._fitted().constant_data
        return pd.DataFrame({"series_id": const["series"].values.astype(str),
                             "team": const["team_name"].values.astype(str),
                             "region": const["region_name"].values.astype(str)})

    @property
    def last_period(self) -> pd.Timestamp:
        return pd.Timestamp(self._fitted().constant_data.attrs["last_period"])

    def _draw(self, name: str) -> np.ndarray:
        """Posterior of ``name`` flattened to (draw, ...)."""
        da = self._fitted().posterior[name]
        return da.stack(sample=("chain", "draw")).transpose("sample", ...).values

    def predict_idata(self, horizon: int | None = None, samples: int | None = None,
                      seed: int | None = None) -> az.InferenceData:
        """Posterior predictive monthly bookings, ``horizon`` months after the last fitted
        month, as InferenceData (group ``posterior_predictive``, variable ``bookings``, dims
        chain=1 x draw=samples x series x period, in money units)."""
        idata = self._fitted()
        cfg = self.config
        horizon = horizon or cfg.horizon
        n = samples or cfg.posterior_samples
        rng = np.random.default_rng(cfg.sampler.random_seed + 1 if seed is None else seed)
        const = idata.constant_data
        scale = const["scale"].values
        tenure_last = const["tenure_last"].values
        end_month = const["end_month"].values
        last = self.last_period
        periods = pd.date_range(last + pd.DateOffset(months=1), periods=horizon, freq="MS")
        moy = periods.month.to_numpy() - 1
        moq = (periods.month.to_numpy() - int(const.attrs["fiscal_year_start_month"])) % 3
        steps = np.arange(1, horizon + 1)
        damping = cfg.trend_damping
        trend_years = np.cumsum(damping ** steps) / 12.0  # damped cumulative months, in years

        total = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
        pick = np.arange(n) % total if n >= total else np.linspace(0, total - 1, n).round().astype(int)
        level = self._draw("level")[pick]                       # (S, N)
        slope = self._draw("slope")[pick]
        season = self._draw("season")[pick]                     # (S, N, 12)
        quarter = self._draw("quarter")[pick]                   # (S, 3)
        noise = self._draw("noise")[pick]
        mu = (level[:, :, None] + slope[:, :, None] * trend_years[None, None, :]
              + season[:, :, moy] + quarter[:, None, moq])      # (S, N, H)
        tenure = tenure_last[None, :, None] + steps[None, None, :]
        if cfg.ramp and "ramp_months" in idata.posterior:
            kappa = self._draw("ramp_months")[pick]
            ramp = np.exp(-tenure / kappa[:, None, None])
            mu = mu - self._draw("ramp_amount")[pick][:, None, None] * ramp
        renewal = (self._draw("renewal")[pick] if "renewal" in idata.posterior
                   else np.zeros((n, len(RENEWAL_TERMS))))
        due = np.zeros((len(scale), horizon))   # the renewal book known at the fit, then usual
        known_ahead = min(horizon, DUE_AHEAD)
        due[:, :known_ahead] = const["due_ahead"].values[:, :known_ahead]
        # noise scaled by the renewal book (1 without one)
        eps = rng.standard_normal(mu.shape) * np.exp(renewal[:, 2:3, None] * due[None, :, :])
        if "phi" in idata.posterior:
            # AR(1) errors: start from the last month's deviation (unknown after a zero month:
            # drawn from the stationary spread) and decay back to the trend
            phi = self._draw("phi")[pick]
            known = const["last_positive"].values.astype(bool)[None, :]
            e = np.where(known, self._draw("last_resid")[pick], noise * rng.standard_normal(noise.shape))
            innovation = noise * np.sqrt(1.0 - phi ** 2)
            errors = np.empty_like(mu)
            for h in range(horizon):  # 1..12 steps: a recursion over horizons, vectorised over samples
                e = phi * e + innovation * eps[:, :, h]
                errors[:, :, h] = e
        else:
            errors = noise[:, :, None] * eps
        logit = None
        if int(const.attrs["hurdle"]):
            logit = (self._draw("active")[pick][:, :, None]
                     + self._draw("active_quarter")[pick][:, None, moq]
                     + self._draw("active_month")[pick][:, None, moy]
                     + self._draw("active_slope")[pick][:, None, None] * trend_years[None, None, :])
            if cfg.ramp and "ramp_active" in idata.posterior:
                logit = logit - self._draw("ramp_active")[pick][:, None, None] * ramp
            uniform = rng.random(mu.shape)
        echo = (self._draw("echo")[pick] if "echo" in idata.posterior
                else np.zeros((n, len(ECHO_TERMS))))
        recent = [const[f"recent_{k}"].values for k in ("observed", "positive", "log")]
        amount = np.empty_like(mu)
        for h in range(horizon):  # a recursion over horizons (the echo of month h - 12), vectorised
            if h < 12:  # a year before is a fitted month
                was_observed, was_positive, was_log = (r[None, :, h] for r in recent)
            else:       # a year before is a forecast month
                before = amount[:, :, h - 12]
                was_observed, was_positive = np.ones(before.shape), before > 0
                was_log = np.log(np.where(was_positive, before, scale[None, :]) / scale[None, :])
            not_booked = was_observed * (1.0 - was_positive)
            unknown = 1.0 - was_observed
            value = np.exp(mu[:, :, h] + errors[:, :, h] + echo[:, 2:3] * not_booked
                           + echo[:, 3:4] * unknown + echo[:, 4:5] * was_log
                           + renewal[:, 1:2] * due[None, :, h]) * scale[None, :]
            if logit is not None:  # does anything close this month?
                shift = (echo[:, 0:1] * not_booked + echo[:, 1:2] * unknown
                         + renewal[:, 0:1] * due[None, :, h])
                chance = 1.0 / (1.0 + np.exp(-(logit[:, :, h] + shift)))
                value = np.where(uniform[:, :, h] < chance, value, 0.0)
            amount[:, :, h] = np.where(h + 1 <= end_month[None, :], value, 0.0)
        pp = xr.Dataset(
            {"bookings": (("chain", "draw", "series", "period"), amount[None])},
            coords={"chain": [0], "draw": np.arange(n), "series": const["series"].values,
                    "period": periods.to_numpy()},
            attrs={"spm_model": self.name, "spm_data_hash": self.data_hash},
        )
        return az.InferenceData(posterior_predictive=pp)

    def predict(self, horizon: int | None = None, samples: int | None = None,
                seed: int | None = None) -> pd.DataFrame:
        """Posterior predictive samples as a tidy frame: one row per (series_id, period,
        sample) with ``horizon`` (1 = the month after the last fitted month) and ``value``."""
        pp = self.predict_idata(horizon, samples, seed).posterior_predictive["bookings"]
        return samples_frame(pp)


def samples_frame(bookings: xr.DataArray) -> pd.DataFrame:
    """(chain=1, draw, series, period) predictive samples -> tidy frame."""
    values = bookings.isel(chain=0).transpose("series", "period", "draw").values
    n_series, n_periods, n_draws = values.shape
    periods = pd.DatetimeIndex(bookings["period"].values)
    frame = pd.DataFrame({
        "series_id": np.repeat(bookings["series"].values.astype(str), n_periods * n_draws),
        "period": np.tile(np.repeat(periods, n_draws), n_series),
        "horizon": np.tile(np.repeat(np.arange(1, n_periods + 1), n_draws), n_series),
        "sample": np.tile(np.arange(n_draws), n_series * n_periods),
        "value": values.reshape(-1),
    })
    return frame
