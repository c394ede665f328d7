"""Logo retention and net revenue retention, from ``subscriptions``.

A subscription is active on a day between its ``start_date`` and its ``end_date`` (both
inclusive; open-ended when ``end_date`` is empty). The customers at a window's start are the
accounts (at the product grain: account and product) with an active subscription on its
first day; they are credited to the account's owner. ARR is converted to the base currency
at the rate of the window's first day for both ends, so currency moves do not show as
retention.
"""

from __future__ import annotations

import pandas as pd

from spm_kernel.extensions import Metric
from spm_kernel.hookspecs import hookimpl
from spm_kernel.metrics.context import NONE_KEY, MetricContext, money_sql, ratio_sql, round_div_sql


def cohorts(ctx: MetricContext) -> str:
    """Temp table: ``period, key, customers, kept, arr_start_cents, arr_end_cents`` per window."""
    def build(table: str) -> None:
        w, rates = ctx.windows, ctx.window_rates("period_start")
        ctx.check_currencies("subscriptions", "currency", "subscription ARR")
        join, key = ctx.owner_join("s")
        entity = "s.account_id || '|' || s.product" if ctx.grain == "product" else "s.account_id"
        at_start = "(s.start_date <= w.period_start AND (s.end_date IS NULL OR s.end_date >= w.period_start))"
        at_end = "(s.start_date <= w.period_end AND (s.end_date IS NULL OR s.end_date >= w.period_end))"
        ctx.execute(f"""
            CREATE TEMP TABLE {table} AS
            WITH x AS (
                SELECT w.period, {key} AS key, {entity} AS entity, {at_start} AS at_start, {at_end} AS at_end,
                       {round_div_sql('s.cents * r.num', 'r.den')} AS base_cents
                FROM (SELECT x.account_id, coalesce(x.product, '{NONE_KEY}') AS product, x.start_date, x.end_date,
                             x.currency AS cur, CAST(x.arr * 100 AS HUGEINT) AS cents, a.owner_id
                      FROM subscriptions x LEFT JOIN accounts a ON a.account_id = x.account_id) s
                JOIN {w} w ON s.start_date <= w.period_end AND (s.end_date IS NULL OR s.end_date >= w.period_start)
                JOIN {rates} r ON r.period = w.period AND r.cur = s.cur
                {join}),
            e AS (
                SELECT period, key, entity, bool_or(at_end) AS still,
                       coalesce(sum(base_cents) FILTER (WHERE at_start), 0) AS arr_start,
                       coalesce(sum(base_cents) FILTER (WHERE at_end), 0) AS arr_end
                FROM x GROUP BY ALL HAVING bool_or(at_start))
            SELECT period, key, count(*) AS customers, count(*) FILTER (WHERE still) AS kept,
                   sum(arr_start) AS arr_start_cents, coalesce(sum(arr_end) FILTER (WHERE still), 0) AS arr_end_cents
            FROM e GROUP BY ALL""")
    return ctx._once("retention_cohorts", build)


class LogoRetention(Metric):
    name = "logo_retention"
    label = "Logo retention"
    unit = "ratio"
    definition = "Customers at the start of the period still active at its end, over customers at the start."
    formula = "count(customers active on the first and the last day) / count(customers active on the first day)"
    tables = ("subscriptions", "accounts", "payees")
    higher_is_better = True

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        return ctx.on_grid(f"SELECT * FROM {cohorts(ctx)}", f"""{ratio_sql('r.kept', 'r.customers')} AS value,
            CAST(coalesce(r.kept, 0) AS BIGINT) AS numerator, CAST(coalesce(r.customers, 0) AS BIGINT) AS denominator""")

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        # customers kept at the average ARR of the starting book
        customers = pd.to_numeric(gaps["denominator"], errors="coerce")
        arr = pd.to_numeric(gaps.get("kpi_den__net_revenue_retention"), errors="coerce")
        return gaps["gap"].clip(lower=0) * arr.where(customers > 0)


class NetRevenueRetention(Metric):
    name = "net_revenue_retention"
    label = "Net revenue retention"
    unit = "ratio"
    definition = ("ARR at the end of the period from the customers active at its start (with their "
                  "expansions, net of downgrades and churn), over their ARR at the start.")
    formula = "sum(end ARR of the starting customers) / sum(start ARR of the starting customers)"
    tables = ("subscriptions", "accounts", "payees", "fx_rates")
    higher_is_better = True

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        return ctx.on_grid(f"SELECT * FROM {cohorts(ctx)}", f"""
            {ratio_sql('r.arr_end_cents', 'r.arr_start_cents')} AS value,
            {money_sql('coalesce(r.arr_end_cents, 0)')} AS numerator,
            {money_sql('coalesce(r.arr_start_cents, 0)')} AS denominator""")

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        arr = pd.to_numeric(gaps["denominator"], errors="coerce")
        return gaps["gap"].clip(lower=0) * arr


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [LogoRetention(), NetRevenueRetention()]
