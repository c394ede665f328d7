"""Quotas for a plan year: top-down from a company target, bottom-up from capacity, the gap.

>>> plan = allocate_quotas(ws, fiscal_year=2027, target="60000000", method="historical",
...                        ramp=Ramp(factors=["0.25", "0.5", "0.75"]),
...                        overassignment={"team": "0.95"})                 # doctest: +SKIP
>>> plan.nodes        # company, regions, teams, payees: top_down, bottom_up, gap  # doctest: +SKIP
>>> plan.lines        # the quota rows the engine would read                    # doctest: +SKIP

**Top-down.** The company target (base currency) is the company node's quota. Each node's
quota is split among its children (company -> regions -> teams -> payees) in proportion to
their weights (a child's weight is the sum of its payees' weights), by the largest-remainder
method on cents (:mod:`spm_kernel.planning.allocation`), so the children's quotas sum
**exactly** to ``node quota / overassignment[level]`` rounded half up to the cent. The
over-assignment factor of a level says ``node quota = sum of its children's quotas x
factor``: ``{"team": 0.95}`` gives a manager 95% of the sum of their reps' quotas (the reps
carry 1/0.95 = 105.3% of the manager's number). Factors default to 1.

**A payee's weight** is what the method says they can sell in the plan year:

* ``historical``: their run rate (bookings of the last ``history_months`` complete months
  (of ``deal_types`` when given: quotas on new and expansion business count only those)
  divided by their effective months then, i.e. a fully ramped monthly rate) times their
  effective months in the plan year;
* ``potential``: the potential of the accounts they own (``accounts.potential``, converted at
  planning rates) plus an equal share of their segment's extra potential
  (``segment_potential``), times effective months / 12;
* ``forecast``: the forecaster's expected bookings for the plan year (it models ramp itself,
  so ramp factors are not applied again). With no forecaster installed the method falls back
  to ``historical`` with a :class:`PlanningWarning` saying so (``plan.method_used``);
* ``even``: 1 times effective months (equal shares when nobody is new or leaving).

A payee with no value for their method (a new hire has no history, owns no account, has no
forecast series) gets the mean of their team's payees that have one (else their region's,
else everyone's). Effective months are :func:`spm_kernel.planning.ramp.effective_months`.

**Bottom-up.** A payee's capacity is ``productivity x effective months`` (productivity per
month per segment, given or, by default, the median run rate of the segment's payees with
history); a node's bottom-up number is ``sum of its children's x factor`` (the same roll-up
as quotas). The gap is top-down minus bottom-up, at every level.

**Periods and currencies.** A payee's annual quota (base currency) is converted to their
currency at the planning rate (:func:`spm_kernel.planning.fx.planning_rates`) and rounded to
its minor unit; it is split into the plan year's periods (``cadence``) by largest remainder
in proportion to ``seasonality[month] x effective months`` summed over each period's months
(forecast monthly means under ``forecast``), so the periods sum exactly to the annual quota.
``seasonality='history'`` is each calendar month's share of the history window's bookings.
Node holders (managers, directors, the VP: :mod:`spm_kernel.planning.roster`) get their
node's quota, split into periods like the sum of their node's payees. A period with no quota
(before a new hire starts) has no row. With ``annual_measure`` set (default
``bookings_annual``) an annual row equal to the sum of the periods is added.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from spm_kernel.money import decimals_to_minor, minor_to_decimals, minor_units, round_div
from spm_kernel.planning.allocation import allocate_by_group, to_minor
from spm_kernel.planning.errors import PlanningError, PlanningWarning
from spm_kernel.planning.forecast import BookingsForecast, default_as_of, forecast_bookings
from spm_kernel.planning.fx import planning_rates
from spm_kernel.planning.history import bookings_totals
from spm_kernel.planning.ramp import Ramp, effective_months
from spm_kernel.planning.roster import COMPANY, PlanYear, carriers, holders, periods_of, plan_year

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

Method = Literal["historical", "potential", "forecast", "even"]
Level = Literal["company", "region", "team"]
NANO = 10**9  # effective months are kept in billionths of a month
METHODS = ("historical", "potential", "forecast", "even")


class QuotaSettings(BaseModel):
    """Everything a top-down allocation depends on (stored with a quota set as its params)."""

    model_config = ConfigDict(extra="forbid")

    fiscal_year: int
    target: Decimal = Field(gt=0, description="the company target, base currency")
    method: Method = "historical"
    measure: str = "bookings"
    deal_types: tuple[str, ...] | None = Field(None, description="count only these deal types (default: all)")
    annual_measure: str | None = "bookings_annual"
    cadence: Literal["month", "quarter", "year"] = "quarter"
    roles: tuple[str, ...] = ("rep",)
    overassignment: dict[Level, Decimal] = Field(default_factory=dict)
    ramp: Ramp = Field(default_factory=Ramp)
    seasonality: Literal["history", "even"] | list[Decimal] = "history"
    history_months: int = Field(12, ge=1, le=120)
    min_history_months: Decimal = Field(
        Decimal(3), ge=1, le=120,
        description="effective months of history a payee needs for a run rate of their own; with fewer "
                    "(a recent hire still ramping) they get their peers' (zero bookings in a first ramp "
                    "month says little about a year)")
    segment_potential: dict[str, Decimal] = Field(default_factory=dict)
    productivity: Decimal | dict[str, Decimal] | None = None
    forecaster: str | None = None
    forecast_samples: int = Field(200, ge=1)
    forecast_options: dict[str, Any] = Field(default_factory=dict, description="passed to the forecaster's fit")
    rates: dict[str, Decimal] = Field(default_factory=dict)

    @field_validator("target")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        if value != value.quantize(Decimal("0.01")):
            raise ValueError(f"the target {value} has a fraction of a cent")
        return value

    @field_validator("overassignment")
    @classmethod
    def _factors(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for level, factor in value.items():
            if factor <= 0:
                raise ValueError(f"the over-assignment factor of {level} must be positive, got {factor}")
        return value

    @field_validator("seasonality")
    @classmethod
    def _twelve(cls, value: Any) -> Any:
        if isinstance(value, list):
            if len(value) != 12 or any(v < 0 for v in value) or sum(value) <= 0:
                raise ValueError("seasonality is 12 non-negative weights, one per month of the plan year")
        return value

    def factor(self, level: str) -> Decimal:
        return self.overassignment.get(level, Decimal(1))  # type: ignore[call-overload]


@dataclass
class QuotaPlan:
    """The result of :func:`allocate_quotas` (nothing is written; save it as a quota set).

    ``payees``: one row per quota carrier with ``effective_months``, ``base_rate`` (annual,
    fully ramped), ``weight``, ``quota_base`` (base currency), ``quota`` (their currency),
    ``capacity_base`` (bottom-up), ``gap_base``, ``expected_base`` (expected bookings: the
    forecast mean, else run rate x effective months), ``potential_base``.
    ``nodes``: ``level, node, parent, holder, payees, top_down, bottom_up, gap, gap_pct``
    for the company, every region, team and payee (money in base currency).
    ``lines``: the quota rows (``payee_id, measure, period_start, period_end, amount,
    currency, amount_base, level, node``). Money is ``Decimal`` everywhere.
    """

    settings: QuotaSettings
    method_used: str
    year: PlanYear
    as_of: date
    base_currency: str
    rates: dict[str, Decimal]
    payees: pd.DataFrame
    nodes: pd.DataFrame
    lines: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    forecast: BookingsForecast | None = None

    def fairness(self, **options: Any) -> Any:
        """The fairness report of this allocation (:func:`spm_kernel.planning.fairness.fairness`)."""
        from spm_kernel.planning.fairness import fairness

        return fairness(self.payees, **options)

    def level(self, level: str) -> pd.DataFrame:
        """The nodes of one level (company, region, team or payee)."""
        return self.nodes.loc[self.nodes["level"] == level].reset_index(drop=True)

    def __repr__(self) -> str:
        company = self.level("company").iloc[0]
        return (f"<QuotaPlan FY{self.year.fiscal_year} {self.method_used}: target {company.top_down:,.2f} "
                f"{self.base_currency}, bottom-up {company.bottom_up:,.2f}, {len(self.payees)} payees>")


# ---- helpers on integer cents ----
def _ratio(value: Decimal) -> tuple[int, int]:
    num, den = Decimal(value).as_integer_ratio()
    return int(num), int(den)


def _divide(cents: np.ndarray, factor: Decimal) -> np.ndarray:
    """``cents / factor`` rounded half up to whole cents (exact)."""
    num, den = _ratio(factor)
    return round_div(np.asarray(cents, dtype=object) * den, num).astype(object)


def _multiply(cents: np.ndarray, factor: Decimal) -> np.ndarray:
    num, den = _ratio(factor)
    return round_div(np.asarray(cents, dtype=object) * num, den).astype(object)


def _decimals(cents: Any, places: int = 2) -> np.ndarray:
    return minor_to_decimals(np.asarray(cents, dtype=object).astype(np.int64), places)


def _local_decimals(minor: Any, currencies: np.ndarray) -> np.ndarray:
    """Minor units of each row's currency as Decimals (vectorised per currency)."""
    minor = np.asarray(minor, dtype=object).astype(np.int64)
    out = np.empty(len(minor), dtype=object)
    for cur in pd.unique(currencies):  # a few currencies
        rows = currencies == cur
        out[rows] = minor_to_decimals(minor[rows], minor_units(str(cur)))
    return out


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _fill_by_peers(value: np.ndarray, has: np.ndarray, people: pd.DataFrame) -> np.ndarray:
    """Where ``has`` is False, the mean (rounded) of the team's values, else the region's,
    else everyone's; 0 when nobody has one."""
    out = value.astype(object).copy()
    missing = ~has
    if not missing.any():
        return out
    known = pd.Series(np.where(has, value, 0).astype(object))
    for column in ("team_id", "region_id", None):
        if not missing.any():
            break
        keys = people[column].to_numpy() if column else np.zeros(len(people), dtype=np.int64)
        sums = known.groupby(keys).sum()
        counts = pd.Series(has.astype(np.int64)).groupby(keys).sum()
        usable = counts[counts > 0]
        key_of_missing = pd.Series(keys[missing])
        ok = key_of_missing.isin(usable.index).to_numpy()
        if ok.any():
            k = key_of_missing[ok].to_numpy()
            means = round_div(sums.reindex(k).to_numpy(dtype=object), counts.reindex(k).to_numpy(dtype=np.int64))
            idx = np.flatnonzero(missing)[ok]
            out[idx] = means
            missing[idx] = False
    out[missing] = 0
    return out


def _history_window(as_of: date, months: int) -> tuple[date, date, list[date]]:
    end = date(as_of.year, as_of.month, 1)  # exclusive; a partial month is not history
    index = end.year * 12 + end.month - 1 - months
    start = date(index // 12, index % 12 + 1, 1)
    firsts = [date((index + i) // 12, (index + i) % 12 + 1, 1) for i in range(months)]
    return start, end - timedelta(days=1), firsts


def _history_cents(ws: Workspace, people: pd.DataFrame, as_of: date, settings: QuotaSettings,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """(bookings cents, effective nano-months in the window, has-history flags, monthly frame)."""
    start, end, firsts = _history_window(as_of, settings.history_months)
    per_payee, booked = bookings_totals(ws, start, end, settings.deal_types)
    amounts = per_payee.set_index("payee_id")["amount"].reindex(people["payee_id"])
    cents = np.zeros(len(people), dtype=np.int64)
    known = amounts.notna().to_numpy()
    cents[known] = decimals_to_minor(amounts[known], 2, "bookings")
    cents = cents.astype(object)
    eff = effective_months(people, firsts, settings.ramp)
    nano = np.rint(eff.sum(axis=1) * NANO).astype(np.int64)
    has = nano >= int(settings.min_history_months * NANO)  # enough effective months for a run rate
    return cents, nano, has, booked


def _run_rate(cents: np.ndarray, nano: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Monthly run rate in cents: bookings / effective months (0 where no history)."""
    safe = np.where(has, nano, 1).astype(np.int64)
    rate = round_div(np.maximum(cents.astype(object), 0) * NANO, safe)
    return np.where(has, rate, 0).astype(object)


def _potential_cents(ws: Workspace, people: pd.DataFrame, rates: dict[str, Decimal],
                     settings: QuotaSettings, eff_nano: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(annual potential cents per payee, has-potential flags)."""
    base = ws.config.base_currency
    rate_rows = pd.DataFrame({"currency": list(rates), "rate": [str(v) for v in rates.values()]})  # noqa: F841
    frame = ws.con.sql(f"""
        SELECT a.owner_id AS payee_id,
               sum(CAST(round(a.potential * coalesce(CAST(r.rate AS DECIMAL(38,18)), 1), 2)
                        AS DECIMAL(18,2))) AS potential,
               count(*) FILTER (WHERE r.rate IS NULL AND coalesce(a.currency, '{base}') <> '{base}') AS unrated,
               string_agg(DISTINCT a.currency, ', ') FILTER (WHERE r.rate IS NULL AND a.currency <> '{base}') AS which
        FROM accounts a LEFT JOIN rate_rows r ON r.currency = coalesce(a.currency, '{base}')
        WHERE a.potential IS NOT NULL AND a.owner_id IS NOT NULL
        GROUP BY a.owner_id""").to_arrow_table().to_pandas()
    bad = frame.loc[frame["unrated"] > 0]
    if len(bad):
        raise PlanningError(f"account potential in {', '.join(sorted(set(bad['which'])))} has no planning rate")
    own = frame.set_index("payee_id")["potential"].reindex(people["payee_id"])
    cents = np.array([to_minor(v) if isinstance(v, Decimal) else 0 for v in own], dtype=object)
    has = own.notna().to_numpy().copy()
    if settings.segment_potential:
        seg = people["segment"].astype(object).to_numpy()
        extra = np.zeros(len(people), dtype=object)
        for name, amount in settings.segment_potential.items():  # a few segments
            rows = np.flatnonzero(seg == name)
            if len(rows) == 0:
                raise PlanningError(f"segment_potential names segment {name!r}, which no quota carrier is in")
            extra[rows] = allocate_by_group([to_minor(Decimal(amount).quantize(Decimal("0.01")))],
                                            np.zeros(len(rows), dtype=np.int64), eff_nano[rows])
            has[rows] = True
        cents = cents + extra
    return cents, has


def _season(settings: QuotaSettings, booked: pd.DataFrame, year: PlanYear) -> np.ndarray:
    """One weight per plan-year month."""
    if isinstance(settings.seasonality, list):
        return np.array([float(v) for v in settings.seasonality])
    if settings.seasonality == "even" or len(booked) == 0:
        return np.ones(12)
    by_month = booked.assign(m=pd.to_datetime(booked["month"]).dt.month,
                             v=booked["amount"].astype(float)).groupby("m")["v"].sum()  # 12 rows at most
    weights = np.array([max(float(by_month.get(m.month, 0.0)), 0.0) for m in year.months])
    return weights if weights.sum() > 0 else np.ones(12)


def _split_periods(annual: np.ndarray, month_weights: np.ndarray, period_of_month: np.ndarray,
                   n_periods: int) -> np.ndarray:
    """(rows x periods) cents: each row's annual cents split by its months' weights summed
    per period (largest remainder; rows with no weight split evenly)."""
    n = len(annual)
    pw = np.zeros((n, n_periods))
    for p in range(n_periods):
        pw[:, p] = month_weights[:, period_of_month == p].sum(axis=1)
    groups = np.repeat(np.arange(n), n_periods)
    shares = allocate_by_group(annual, groups, pw.reshape(-1))
    return shares.reshape(n, n_periods)


def _convert(base_cents: np.ndarray, currencies: np.ndarray, rates: dict[str, Decimal]) -> np.ndarray:
    """Base cents -> minor units of each row's currency at the planning rate (half up)."""
    out = np.zeros(len(base_cents), dtype=object)
    for cur in pd.unique(currencies):  # a few currencies
        rows = np.flatnonzero(currencies == cur)
        num, den = _ratio(rates[cur])
        scale = 10 ** minor_units(cur)
        out[rows] = round_div(np.asarray(base_cents[rows], dtype=object) * den * scale, num * 100)
    return out


def allocate_quotas(ws: Workspace, settings: QuotaSettings | None = None, /, **options: Any) -> QuotaPlan:
    """Allocate ``settings.target`` top-down to regions, teams and payees, compute bottom-up
    capacity and the gap at every level, and the quota rows by period (nothing written).

    Give a :class:`QuotaSettings` or its fields as keywords. Raises :class:`PlanningError`
    when nobody carries a quota, a currency has no rate, or a forecaster named is missing.
    """
    s = settings if settings is not None else QuotaSettings(**options)
    if settings is not None and options:
        s = QuotaSettings(**{**settings.model_dump(), **options})
    fsm = ws.config.fiscal_year_start_month
    base = ws.config.base_currency
    year = plan_year(s.fiscal_year, fsm)
    notes: list[str] = []
    people = carriers(ws, year, s.roles)
    n = len(people)
    eff = effective_months(people, list(year.months), s.ramp)
    eff_nano = np.rint(eff.sum(axis=1) * NANO).astype(np.int64)
    as_of = default_as_of(ws, year) if ws.count("opportunities") else year.start
    hist_cents, hist_nano, has_hist, booked = _history_cents(ws, people, as_of, s)
    run_rate = _run_rate(hist_cents, hist_nano, has_hist)  # cents per fully ramped month
    run_rate_filled = _fill_by_peers(run_rate, has_hist, people)
    holders_frame = holders(ws, year)
    rates = planning_rates(ws, set(people["currency"]) | set(holders_frame["currency"]) |
                           set(ws.sql("SELECT DISTINCT currency FROM accounts WHERE currency IS NOT NULL")["currency"]),
                           year.start, s.rates)

    method = s.method
    forecast: BookingsForecast | None = None
    if method == "forecast":
        forecast = forecast_bookings(ws, year, forecaster=s.forecaster, samples=s.forecast_samples,
                                     fit_options=s.forecast_options)
        if forecast is None:
            message = ("quota method 'forecast' asked for, but no forecaster is installed "
                       "(ws.registry.forecasters is empty): quotas are allocated by historical share instead")
            warnings.warn(PlanningWarning(message), stacklevel=2)
            notes.append(message)
            method = "historical"

    # ---- weights (integers proportional to expected plan-year sales) ----
    potential_cents, has_potential = _potential_cents(ws, people, rates, s, eff_nano)
    if method == "historical":
        if not has_hist.any():
            raise PlanningError(f"no quota carrier has bookings in the {s.history_months} months before {as_of}: "
                                f"use method 'even' or 'potential'")
        weights = run_rate_filled * eff_nano.astype(object)
    elif method == "potential":
        if not has_potential.any():
            raise PlanningError("no quota carrier owns an account with a potential: load accounts.potential or "
                                "give segment_potential")
        weights = _fill_by_peers(potential_cents, has_potential, people) * eff_nano.astype(object)
    elif method == "even":
        weights = eff_nano.astype(object)
    else:
        assert forecast is not None
        annual = forecast.annual_means().reindex(people["payee_id"])
        has_fc = annual.notna().to_numpy()
        fc_cents = np.rint(annual.fillna(0.0).to_numpy() * 100).astype(np.int64).astype(object)
        # a payee without a series: the team's mean forecast per effective month x their months
        per_month = np.where(has_fc & (eff_nano > 0),
                             round_div(fc_cents * NANO, np.maximum(eff_nano, 1)), 0).astype(object)
        filled = _fill_by_peers(per_month, has_fc & (eff_nano > 0), people)
        weights = np.where(has_fc, fc_cents, round_div(filled * eff_nano.astype(object), NANO)).astype(object)
        if (~has_fc).any():
            notes.append(f"{int((~has_fc).sum())} payee(s) had no forecast series: they were given their team's "
                         f"mean forecast per effective month")
    weights = np.maximum(weights.astype(object), 0)

    # ---- top-down: company -> regions -> teams -> payees ----
    target_cents = to_minor(s.target)
    region_codes, regions = _codes(people["region_id"])
    team_keys = people["region_id"].astype(str) + "\x1f" + people["team_id"].astype(str)
    team_codes, team_key_values = _codes(team_keys)
    team_region = np.array([k.split("\x1f")[0] for k in team_key_values], dtype=object)
    team_ids = np.array([k.split("\x1f")[1] for k in team_key_values], dtype=object)
    region_of_team = np.searchsorted(regions, team_region)
    w_series = pd.Series(weights)
    region_w = w_series.groupby(region_codes).sum().reindex(range(len(regions)), fill_value=0).to_numpy(dtype=object)
    team_w = w_series.groupby(team_codes).sum().reindex(range(len(team_ids)), fill_value=0).to_numpy(dtype=object)

    regions_total = _divide(np.array([target_cents], dtype=object), s.factor("company"))
    region_td = allocate_by_group(regions_total, np.zeros(len(regions), dtype=np.int64), region_w)
    teams_total = _divide(region_td.astype(object), s.factor("region"))
    team_td = allocate_by_group(teams_total, region_of_team, team_w)
    payees_total = _divide(team_td.astype(object), s.factor("team"))
    payee_td = allocate_by_group(payees_total, team_codes, weights)

    # ---- bottom-up: productivity x effective months, rolled up with the same factors ----
    productivity = _productivity(s, people, run_rate, has_hist)
    capacity = round_div(productivity.astype(object) * eff_nano.astype(object), NANO).astype(object)
    cap_s = pd.Series(capacity)
    team_bu = _multiply(cap_s.groupby(team_codes).sum().reindex(range(len(team_ids)), fill_value=0)
                        .to_numpy(dtype=object), s.factor("team"))
    region_bu = _multiply(pd.Series(team_bu).groupby(region_of_team).sum()
                          .reindex(range(len(regions)), fill_value=0).to_numpy(dtype=object), s.factor("region"))
    company_bu = _multiply(np.array([sum(region_bu, 0)], dtype=object), s.factor("company"))

    # ---- expected bookings (for fairness) ----
    if forecast is not None:
        expected = np.where(has_fc, fc_cents, round_div(filled * eff_nano.astype(object), NANO)).astype(object)
    else:
        expected = round_div(run_rate_filled.astype(object) * eff_nano.astype(object), NANO).astype(object)

    # ---- the nodes report ----
    holder_of = {(r.level, r.node): r.payee_id for r in holders_frame.itertuples(index=False)}
    counts_team = np.bincount(team_codes, minlength=len(team_ids))
    counts_region = np.bincount(region_codes, minlength=len(regions))
    nodes = pd.concat([
        pd.DataFrame({"level": "company", "node": [COMPANY], "parent": [None], "payees": [n],
                      "td": [target_cents], "bu": company_bu}),
        pd.DataFrame({"level": "region", "node": regions, "parent": COMPANY, "payees": counts_region,
                      "td": region_td.astype(object), "bu": region_bu}),
        pd.DataFrame({"level": "team", "node": team_ids, "parent": team_region, "payees": counts_team,
                      "td": team_td.astype(object), "bu": team_bu}),
        pd.DataFrame({"level": "payee", "node": people["payee_id"].to_numpy(), "parent": team_ids[team_codes],
                      "payees": 1, "td": payee_td.astype(object), "bu": capacity}),
    ], ignore_index=True)
    held = holders_frame.rename(columns={"payee_id": "holder"})[["level", "node", "holder"]]
    nodes = nodes.merge(held, on=["level", "node"], how="left")
    is_payee = (nodes["level"] == "payee").to_numpy()
    nodes["holder"] = np.where(is_payee, nodes["node"].astype(object), nodes["holder"].astype(object))
    nodes["holder"] = nodes["holder"].where(nodes["holder"].notna(), None)
    gap = (nodes["td"].to_numpy(dtype=object) - nodes["bu"].to_numpy(dtype=object)).astype(object)
    bu = nodes["bu"].to_numpy(dtype=object)
    nodes["gap_pct"] = np.where(bu != 0, gap.astype(np.float64) / np.where(bu != 0, bu, 1).astype(np.float64),
                                np.nan)
    nodes["top_down"] = _decimals(nodes["td"])
    nodes["bottom_up"] = _decimals(nodes["bu"])
    nodes["gap"] = _decimals(gap)
    nodes = nodes.loc[:, ["level", "node", "parent", "holder", "payees", "top_down", "bottom_up", "gap", "gap_pct"]]

    # ---- periods and currencies ----
    periods = periods_of(year, s.cadence, fsm)
    month_period = np.array([next(i for i, p in enumerate(periods) if p.start <= m <= p.end) for m in year.months])
    if forecast is not None:
        monthly = forecast.means.pivot_table(index="payee_id", columns="month", values="mean", aggfunc="sum")
        monthly = monthly.reindex(index=people["payee_id"], columns=list(year.months)).fillna(0.0).to_numpy()
        month_weights = np.where(has_fc[:, None] & (monthly.sum(axis=1) > 0)[:, None], monthly,
                                 eff * _season(s, booked, year)[None, :])
    else:
        month_weights = eff * _season(s, booked, year)[None, :]
    currency = people["currency"].to_numpy(dtype=object)
    local_total = _convert(payee_td.astype(object), currency, rates)
    base_periods = _split_periods(payee_td.astype(object), month_weights, month_period, len(periods))
    local_periods = _split_periods_by(local_total, base_periods)
    payee_lines = _lines(people["payee_id"].to_numpy(dtype=object), currency, "payee",
                         people["payee_id"].to_numpy(dtype=object), base_periods, local_periods, periods, s)

    holder_lines = []
    for level, codes, td, names in (("team", team_codes, team_td, team_ids),
                                    ("region", region_codes, region_td, regions),
                                    ("company", np.zeros(n, dtype=np.int64), np.array([target_cents]),
                                     np.array([COMPANY], dtype=object))):
        keep = [i for i, name in enumerate(names) if (level, name) in holder_of]
        if not keep:
            continue
        sums = np.stack([pd.Series(base_periods[:, p].astype(object)).groupby(codes).sum()
                         .reindex(range(len(names)), fill_value=0).to_numpy(dtype=object)
                         for p in range(len(periods))], axis=1)
        keep_arr = np.array(keep)
        who = np.array([holder_of[(level, names[i])] for i in keep], dtype=object)
        cur = holders_frame.set_index("payee_id")["currency"].reindex(who).to_numpy(dtype=object)
        node_base = _split_periods_by(np.asarray(td, dtype=object)[keep_arr], sums[keep_arr])
        node_local = _split_periods_by(_convert(np.asarray(td, dtype=object)[keep_arr], cur, rates), node_base)
        holder_lines.append(_lines(who, cur, level, names[keep_arr], node_base, node_local, periods, s))
    lines = pd.concat([payee_lines, *holder_lines], ignore_index=True)
    dup = lines.duplicated(["payee_id", "measure", "period_start"], keep=False)
    if dup.any():
        raise PlanningError(f"payee(s) {', '.join(sorted(set(lines.loc[dup, 'payee_id'])))} would hold two quotas "
                            f"(a quota carrier who also holds a team, region or the company): plan their roles apart")

    rate_by_payee = np.array([rates[c] for c in currency], dtype=object)
    payees = people.copy()
    payees["effective_months"] = eff.sum(axis=1)
    payees["base_rate"] = _decimals(run_rate_filled * 12) if method == "historical" else \
        (_decimals(_fill_by_peers(potential_cents, has_potential, people)) if method == "potential" else
         _decimals(np.where(eff_nano > 0, round_div(weights * 12 * NANO, np.maximum(eff_nano, 1)), 0)))
    payees["weight"] = weights.astype(np.float64) / max(float(sum(weights, 0)), 1.0)
    payees["quota_base"] = _decimals(payee_td)
    payees["quota"] = _local_decimals(local_total, currency)
    payees["planning_rate"] = rate_by_payee
    payees["capacity_base"] = _decimals(capacity)
    payees["gap_base"] = _decimals(payee_td.astype(object) - capacity)
    payees["expected_base"] = _decimals(expected)
    payees["potential_base"] = np.where(has_potential, _decimals(potential_cents), None)
    return QuotaPlan(s, method, year, as_of, base, rates, payees.reset_index(drop=True), nodes, lines, notes, forecast)


def _productivity(s: QuotaSettings, people: pd.DataFrame, run_rate: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Monthly productivity in cents per payee: given (one number or per segment), else the
    median run rate of the segment's payees with history (else of everyone with history)."""
    seg = people["segment"].astype(object).where(people["segment"].notna(), None).to_numpy()
    given = s.productivity
    if isinstance(given, Decimal):
        return np.full(len(people), to_minor(given.quantize(Decimal("0.01"))), dtype=object)
    out = np.zeros(len(people), dtype=object)
    rates = pd.Series(run_rate.astype(np.float64))
    overall = float(rates[has].median()) if has.any() else 0.0
    for name in pd.unique(seg):  # a few segments
        rows = seg == name if name is not None else pd.isna(pd.Series(seg)).to_numpy()
        if isinstance(given, dict) and name in given:
            out[rows] = to_minor(Decimal(given[name]).quantize(Decimal("0.01")))
            continue
        known = rates[rows & has]
        out[rows] = int(round(float(known.median()) if len(known) else overall))
    return out


def _split_periods_by(totals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(rows x periods): each row's total split in proportion to its period weights (cents)."""
    n, k = weights.shape
    groups = np.repeat(np.arange(n), k)
    flat = np.maximum(weights.reshape(-1).astype(object), 0)
    return allocate_by_group(np.asarray(totals, dtype=object), groups, flat).reshape(n, k)


def _lines(payee_ids: np.ndarray, currency: np.ndarray, level: str, node: np.ndarray, base_periods: np.ndarray,
           local_periods: np.ndarray, periods: list[Any], s: QuotaSettings) -> pd.DataFrame:
    n, k = base_periods.shape
    places = pd.Series(currency).map({c: minor_units(str(c)) for c in pd.unique(currency)}).to_numpy(dtype=np.int64)
    frame = pd.DataFrame({
        "payee_id": np.repeat(payee_ids, k), "measure": s.measure,
        "period_start": np.tile([p.start for p in periods], n), "period_end": np.tile([p.end for p in periods], n),
        "minor": local_periods.reshape(-1).astype(np.int64), "places": np.repeat(places, k),
        "currency": np.repeat(currency, k), "base": base_periods.reshape(-1).astype(np.int64),
        "level": level, "node": np.repeat(node, k),
    })
    if s.annual_measure and s.cadence != "year":
        year_start, year_end = periods[0].start, periods[-1].end
        annual = frame.groupby(["payee_id", "currency", "places", "level", "node"], as_index=False, sort=False)[
            ["minor", "base"]].sum()
        annual = annual.assign(measure=s.annual_measure, period_start=year_start, period_end=year_end)
        frame = frame.loc[(frame["minor"] != 0) | (frame["base"] != 0)]  # no row for a period with no quota
        frame = pd.concat([frame, annual.loc[:, frame.columns]], ignore_index=True)
    else:
        frame = frame.loc[(frame["minor"] != 0) | (frame["base"] != 0) | (len(periods) == 1)]
    frame["amount"] = _local_decimals(frame["minor"].to_numpy(), frame["currency"].to_numpy(dtype=object))
    frame["amount_base"] = _decimals(frame["base"])
    return frame.loc[:, ["payee_id", "measure", "period_start", "period_end", "amount", "currency", "amount_base",
                         "level", "node"]]
