"""Model inputs built from a workspace's tables with DuckDB SQL (vectorised, read-only).

Definitions (documented in docs/forecasting.md):

* **bookings** of a payee in a month: the amounts of closed-won opportunities whose
  ``close_date`` falls in that month, credited to the payees of the deal's revenue splits in
  proportion to their percent (to the owner in full when a deal has no revenue split), in
  the workspace's base currency. Negative amounts (cancellations booked as deals) reduce
  the month.
* **conversion**: a non-base amount is converted at the most recent ``fx_rates`` rate on or
  before the close date (``from -> base``, or the inverse of ``base -> from``). A currency
  with no usable rate is an error naming it: money is never silently left unconverted.
* **as_of**: the date the forecast is made. Only months that end before it count as history
  (a partial month is not history); deals are "open" at ``as_of`` when created on or before
  it and not closed before it, with the stage they had then (from the stage history).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from spm_kernel.workspace import Workspace


class ForecastDataError(ValueError):
    """The workspace's data cannot feed a forecast; the message says what is missing."""


def _as_date(value: date | str | pd.Timestamp | None) -> date | None:
    return None if value is None else pd.Timestamp(value).date()


def default_as_of(ws: Workspace) -> date:
    """The day after the last close date of a won deal (so the last month is complete only
    when deals closed on its last day; otherwise it is left out as partial)."""
    rows = ws.con.execute("SELECT max(close_date) FROM opportunities WHERE is_won").fetchall()
    last = rows[0][0] if rows else None
    if last is None:
        raise ForecastDataError("the workspace has no closed-won opportunity: there is no "
                                "bookings history to forecast from")
    return (pd.Timestamp(last) + pd.Timedelta(days=1)).date()


def _fx_sql(base: str, amount: str, currency: str, on: str) -> str:
    return f"""
        CASE WHEN {currency} = '{base}' THEN {amount}
             ELSE {amount} * coalesce(
                (SELECT f.rate FROM fx_rates f WHERE f.from_currency = {currency}
                   AND f.to_currency = '{base}' AND f.rate_date <= {on}
                 ORDER BY f.rate_date DESC LIMIT 1),
                (SELECT 1 / f.rate FROM fx_rates f WHERE f.from_currency = '{base}'
                   AND f.to_currency = {currency} AND f.rate_date <= {on}
                 ORDER BY f.rate_date DESC LIMIT 1))
        END"""


def credited_bookings(ws: Workspace, as_of: date | str | None = None) -> pd.DataFrame:
    """Closed-won bookings credited to payees before ``as_of``: one row per (deal, payee)
    with ``payee_id``, ``close_date``, ``amount`` (float, base currency), in deal and payee
    order: DuckDB's parallel scans return rows in any order, and sums of floats in another
    order differ in the last bits (another data hash, another compiled model)."""
    as_of_d = _as_date(as_of) or default_as_of(ws)
    base = ws.config.base_currency
    frame = ws.sql(f"""
        WITH won AS (
            SELECT opportunity_id, owner_id, CAST(amount AS DOUBLE) AS amount, currency, close_date
            FROM opportunities WHERE is_won AND close_date IS NOT NULL AND close_date < ?
        ), shares AS (
            SELECT w.opportunity_id, coalesce(s.payee_id, w.owner_id) AS payee_id,
                   coalesce(CAST(s.percent AS DOUBLE) / 100.0, 1.0) AS share
            FROM won w LEFT JOIN opportunity_splits s
              ON s.opportunity_id = w.opportunity_id AND s.split_type = 'revenue'
        )
        SELECT w.opportunity_id, sh.payee_id, w.close_date, w.currency,
               sh.share * ({_fx_sql(base, 'w.amount', 'w.currency', 'w.close_date')}) AS amount
        FROM won w JOIN shares sh USING (opportunity_id)
        ORDER BY w.opportunity_id, sh.payee_id
    """, [as_of_d])
    _refuse_unconverted(frame, "amount", base, "close_date", ("deal", "opportunity_id"))
    return frame[["opportunity_id", "payee_id", "close_date", "amount"]]


def _refuse_unconverted(frame: pd.DataFrame, amount: str, base: str, rate_date: str,
                        row: tuple[str, str]) -> None:
    """Raise naming the first row whose ``amount`` no fx rate converted (NULL from
    :func:`_fx_sql`): its currency, the date, the row (``row``: a label and its id column)
    and every currency that needs rates."""
    unconverted = frame[frame[amount].isna()]
    if len(unconverted):
        first = unconverted.iloc[0]
        raise ForecastDataError(
            f"no fx_rates rate converts {first['currency']} to {base} on or before "
            f"{first[rate_date]} ({row[0]} {first[row[1]]}); load fx_rates for "
            f"{sorted(unconverted['currency'].unique())}")


def bookings_history(ws: Workspace, as_of: date | str | None = None, months: int = 36,
                     roles: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The bookings-model history of a workspace: one row per payee and complete month
    before ``as_of`` in which the payee was employed (hire month to termination month),
    with 0 for months without bookings. Columns follow
    :mod:`spm_forecast_pymc.bookings`' contract: ``series_id``, ``period``, ``value``,
    ``team``, ``region``, ``start_date``, ``end_date``.

    Payees included: those with a role in ``roles`` (default: every payee who owns an
    opportunity or was credited a booking).
    """
    as_of_d = _as_date(as_of) or default_as_of(ws)
    last_month = pd.Timestamp(as_of_d).to_period("M") - 1  # the last month ending before as_of
    last = last_month.to_timestamp()
    first = (last_month - (months - 1)).to_timestamp()
    credited = credited_bookings(ws, as_of_d)
    if roles:
        role_filter = "p.role IN (" + ", ".join(f"'{r}'" for r in roles) + ")"
    else:
        ids = sorted(set(credited["payee_id"].astype(str)))
        role_filter = "(p.payee_id IN (SELECT owner_id FROM opportunities)" + (
            " OR p.payee_id IN (" + ", ".join(f"'{i}'" for i in ids) + "))" if ids else ")")
    frame = ws.sql(f"""
        WITH months AS (
            SELECT CAST(m AS DATE) AS period FROM range(DATE '{first:%Y-%m-%d}',
                DATE '{last:%Y-%m-%d}' + INTERVAL 1 MONTH, INTERVAL 1 MONTH) t(m)
        )
        SELECT p.payee_id AS series_id, m.period, coalesce(p.team_id, '(none)') AS team,
               coalesce(p.region_id, t.region_id, '(none)') AS region,
               p.hire_date AS start_date, p.termination_date AS end_date
        FROM payees p LEFT JOIN teams t ON t.team_id = p.team_id
        JOIN months m ON m.period >= date_trunc('month', p.hire_date)
         AND (p.termination_date IS NULL OR m.period <= p.termination_date)
        WHERE {role_filter}
        ORDER BY series_id, m.period
    """)
    if frame.empty:
        raise ForecastDataError(f"no payee has a complete month of history before {as_of_d}")
    frame["period"] = pd.to_datetime(frame["period"])
    for col in ("start_date", "end_date"):
        frame[col] = pd.to_datetime(frame[col])
    monthly = (credited.assign(period=pd.to_datetime(credited["close_date"]).dt.to_period("M")
                               .dt.to_timestamp())
               .groupby(["payee_id", "period"], as_index=False)["amount"].sum()
               .rename(columns={"payee_id": "series_id", "amount": "value"}))
    frame = frame.merge(monthly, on=["series_id", "period"], how="left")
    frame["value"] = frame["value"].fillna(0.0).astype(float)
    return frame[["series_id", "period", "value", "team", "region", "start_date", "end_date"]]


def _stage_at(as_of_sql: str) -> str:
    return f"""(SELECT h.stage FROM opportunity_stage_history h
                WHERE h.opportunity_id = o.opportunity_id AND h.entered_date <= {as_of_sql}
                ORDER BY h.entered_date DESC LIMIT 1)"""


def open_pipeline(ws: Workspace, as_of: date | str | None = None) -> pd.DataFrame:
    """Deals open at ``as_of``: ``opportunity_id``, ``owner_id``, ``team``, ``stage`` (as it
    was then; the current stage when the stage history says nothing), ``age_days``,
    ``segment``, ``amount`` (float, base currency), ``expected_close`` (the CRM's date)."""
    as_of_d = _as_date(as_of) or default_as_of(ws)
    base = ws.config.base_currency
    day = f"DATE '{as_of_d:%Y-%m-%d}'"
    frame = ws.sql(f"""
        SELECT o.opportunity_id, o.owner_id, coalesce(p.team_id, '(none)') AS team,
               coalesce({_stage_at(day)}, CASE WHEN o.is_closed THEN 'unknown' ELSE o.stage END) AS stage,
               date_diff('day', o.created_date, {day}) AS age_days,
               coalesce(o.segment, '(none)') AS segment,
               {_fx_sql(base, 'CAST(o.amount AS DOUBLE)', 'o.currency', day)} AS amount,
               o.close_date AS expected_close
        FROM opportunities o LEFT JOIN payees p ON p.payee_id = o.owner_id
        WHERE o.created_date <= {day} AND (NOT o.is_closed OR o.close_date >= {day})
        ORDER BY o.opportunity_id
    """)
    if frame["amount"].isna().any():
        raise ForecastDataError("an open deal's currency has no fx_rates rate to "
                                f"{base} on or before {as_of_d}; load fx_rates for it")
    return frame


def pipeline_training(ws: Workspace, as_of: date | str | None = None, months: int = 24,
                      every_days: int = 30) -> pd.DataFrame:
    """Snapshots of deals closed in the ``months`` before ``as_of``: each deal is seen every
    ``every_days`` from its creation until it closed. One row per snapshot with ``stage``
    (from the stage history; ``unknown`` without one), ``age_days``, ``segment``,
    ``amount`` (base currency), ``owner_id``, ``won`` (1/0) and ``days_to_close``."""
    as_of_d = _as_date(as_of) or default_as_of(ws)
    start = (pd.Timestamp(as_of_d) - pd.DateOffset(months=months)).date()
    base = ws.config.base_currency
    frame = ws.sql(f"""
        WITH closed AS (
            SELECT o.*, CAST(o.amount AS DOUBLE) AS amount_f FROM opportunities o
            WHERE o.is_closed AND o.close_date >= ? AND o.close_date < ?
              AND o.close_date >= o.created_date
        ), offsets AS (
            SELECT c.*, unnest(range(0, date_diff('day', c.created_date, c.close_date),
                                     {int(every_days)})) AS d
            FROM closed c
        ), snaps AS (
            SELECT *, CAST(created_date + CAST(d AS INTEGER) AS DATE) AS snap FROM offsets
        )
        SELECT o.opportunity_id, o.owner_id, coalesce(p.team_id, '(none)') AS team,
               coalesce({_stage_at('o.snap')}, 'unknown') AS stage,
               date_diff('day', o.created_date, o.snap) AS age_days,
               coalesce(o.segment, '(none)') AS segment,
               {_fx_sql(base, 'o.amount_f', 'o.currency', 'o.close_date')} AS amount,
               CAST(o.is_won AS INTEGER) AS won,
               date_diff('day', o.snap, o.close_date) AS days_to_close
        FROM snaps o LEFT JOIN payees p ON p.payee_id = o.owner_id
        ORDER BY o.opportunity_id, o.snap
    """, [start, as_of_d])
    if frame["amount"].isna().any():
        raise ForecastDataError(f"a closed deal's currency has no fx_rates rate to {base}; "
                                "load fx_rates for it")
    return frame


def quotas(ws: Workspace, measure: str | None = None) -> pd.DataFrame:
    """Quotas converted to the base currency at the latest rate on or before the period
    start: ``payee_id``, ``measure``, ``period_start``, ``period_end``, ``quota`` (float)."""
    base = ws.config.base_currency
    where = "WHERE q.measure = ?" if measure else ""
    params: list[Any] = [measure] if measure else []
    frame = ws.sql(f"""
        SELECT q.payee_id, q.measure, q.period_start, q.period_end,
               {_fx_sql(base, 'CAST(q.amount AS DOUBLE)', 'q.currency', 'q.period_start')} AS quota
        FROM quotas q {where} ORDER BY q.payee_id, q.period_start
    """, params or None)
    if frame["quota"].isna().any():
        raise ForecastDataError(f"a quota's currency has no fx_rates rate to {base}")
    for col in ("period_start", "period_end"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def renewals_due(ws: Workspace, as_of: date | str | None = None, months: int = 36,
                 months_ahead: int = 12, window_days: int = 21, min_term_days: int = 300
                 ) -> pd.DataFrame:
    """The renewal book: subscription ARR that comes up for renewal, per payee and month, from
    ``months`` before ``as_of`` to ``months_ahead`` after it. One row per (``series_id``,
    ``period``) with ``renewals_due`` (float, base currency); months without any are absent.

    * A term counts when it started before ``as_of`` (so the future part uses only contracts
      known then), ran at least ``min_term_days`` (a shorter one was cancelled, not renewed),
      and its account's segment books renewals as deals (a ``deal_type = 'renewal'``
      opportunity created before ``as_of``; auto-renewing segments book nothing).
    * Renewal deals close in the ``window_days`` days up to the term's end: its ARR is spread
      over the months of that window in proportion to its days (at most two months).
    * It is due to the account's owner at the time: the owner of the account's latest
      opportunity created before the window opens (and before ``as_of``), else the account's
      current owner.
    * ARR converts to the base currency at the rate on or before ``as_of`` (:func:`_fx_sql`).
    """
    if not 1 <= window_days <= 28:
        raise ValueError(f"window_days must be 1..28 (a window spans at most two months), got {window_days}")
    as_of_d = _as_date(as_of) or default_as_of(ws)
    month0 = pd.Timestamp(as_of_d).to_period("M")
    first = (month0 - months).to_timestamp()
    stop = (month0 + months_ahead).to_timestamp()   # exclusive
    base = ws.config.base_currency
    as_of_sql = f"DATE '{as_of_d:%Y-%m-%d}'"
    frame = ws.sql(f"""
        WITH negotiated AS (
            SELECT DISTINCT segment FROM opportunities
            WHERE deal_type = 'renewal' AND created_date < {as_of_sql} AND segment IS NOT NULL
        ), terms AS (
            SELECT s.subscription_id, s.account_id, s.end_date, s.currency, a.owner_id AS account_owner,
                   least(s.end_date - INTERVAL {window_days - 1} DAY, {as_of_sql} - INTERVAL 1 DAY) AS cutoff,
                   {_fx_sql(base, 'CAST(s.arr AS DOUBLE)', 's.currency', as_of_sql)} AS arr
            FROM subscriptions s JOIN accounts a USING (account_id)
            WHERE s.start_date < {as_of_sql} AND s.end_date IS NOT NULL
              AND s.end_date >= s.start_date + INTERVAL {min_term_days} DAY
              AND s.end_date >= DATE '{first:%Y-%m-%d}'
              AND s.end_date < DATE '{stop:%Y-%m-%d}' + INTERVAL {window_days} DAY
              AND a.segment IN (SELECT segment FROM negotiated)
        ), opps AS (
            SELECT account_id, owner_id, CAST(created_date AS TIMESTAMP) AS created
            FROM opportunities WHERE account_id IS NOT NULL
        ), owned AS (
            SELECT t.subscription_id, t.currency, coalesce(o.owner_id, t.account_owner) AS series_id,
                   t.end_date, t.arr
            FROM terms t ASOF LEFT JOIN opps o
              ON o.account_id = t.account_id AND CAST(t.cutoff AS TIMESTAMP) >= o.created
        ), parts AS (
            SELECT subscription_id, currency, series_id, date_trunc('month', end_date) AS period,
                   arr * least(day(end_date), {window_days}) / {window_days} AS due
            FROM owned
            UNION ALL
            SELECT subscription_id, currency, series_id, date_trunc('month', end_date) - INTERVAL 1 MONTH,
                   arr * ({window_days} - least(day(end_date), {window_days})) / {window_days}
            FROM owned WHERE day(end_date) < {window_days}
        )
        SELECT subscription_id, currency, {as_of_sql} AS rate_date, series_id, CAST(period AS DATE) AS period,
               due AS renewals_due
        FROM parts WHERE series_id IS NOT NULL AND (due > 0 OR due IS NULL)
          AND period >= DATE '{first:%Y-%m-%d}' AND period < DATE '{stop:%Y-%m-%d}'
        ORDER BY series_id, period, subscription_id
    """)
    _refuse_unconverted(frame, "renewals_due", base, "rate_date", ("subscription", "subscription_id"))
    # summed here, in a fixed order: DuckDB's parallel sums add floats in any order, and a
    # last-bit difference is another data hash and another compiled model (no cache hit)
    frame = frame.groupby(["series_id", "period"], as_index=False, sort=True)["renewals_due"].sum()
    frame["period"] = pd.to_datetime(frame["period"])
    frame["series_id"] = frame["series_id"].astype(str)
    return frame[["series_id", "period", "renewals_due"]]
