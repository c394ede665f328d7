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
from spm_kernel.metrics.context import (
    FAR_FUTURE,
    NONE_KEY,
    MetricContext,
    money_sql,
    ratio_sql,
    round_div_sql,
    sql_str,
)


def cohorts(ctx: MetricContext) -> str:
    """Temp table: ``period, key, customers, kept, arr_start_cents, arr_end_cents`` per window.

    Subscriptions are numbered by account (the account's row, so no sort of the ids) and by
    owner once; each (window, account) is then reduced to its flags and ARR on integer keys,
    only from the subscriptions active on the window's first or last day (the others change
    nothing), and summed per (window, owner) before it meets the group keys, so the wide work
    carries integers and the string joins see one row per owner."""
    def build(table: str) -> None:
        w, rates = ctx.windows, ctx.window_rates("period_start")
        ctx.check_currencies("subscriptions", "currency", "subscription ARR")
        raw, subs, owners = ctx.t("subscription_rows"), ctx.t("subscriptions"), ctx.t("subscription_owners")
        scoped = "" if ctx.scope is None else f"AND a.owner_id IN (SELECT payee_id FROM {ctx.payees})"
        ctx.execute(f"""
            CREATE TEMP TABLE {raw} AS
            SELECT x.account_id, a.rowid AS account_row, a.owner_id,
                   coalesce(x.product, '{NONE_KEY}') AS product, x.start_date,
                   coalesce(x.end_date, {FAR_FUTURE}) AS end_date, x.currency AS cur,
                   CAST(x.arr * 100 AS BIGINT) AS cents
            FROM subscriptions x LEFT JOIN accounts a ON a.account_id = x.account_id
            WHERE x.start_date <= DATE '{ctx.max_end.isoformat()}'
              AND coalesce(x.end_date, {FAR_FUTURE}) >= DATE '{ctx.min_start.isoformat()}' {scoped}""")
        ctx.execute(f"""
            CREATE TEMP TABLE {owners} AS
            SELECT owner_id, CAST(row_number() OVER () AS INTEGER) AS owner_idx
            FROM (SELECT DISTINCT owner_id FROM {raw} WHERE owner_id IS NOT NULL)""")
        # subscriptions whose account is not in accounts: numbered after every account row
        ctx.execute(f"""
            CREATE TEMP TABLE {subs} AS
            WITH orphans AS (
                SELECT account_id, dense_rank() OVER (ORDER BY account_id) AS n
                FROM (SELECT DISTINCT account_id FROM {raw} WHERE account_row IS NULL))
            SELECT CAST(coalesce(r.account_row, (SELECT coalesce(max(rowid), 0) + 1 FROM accounts) + x.n) AS BIGINT) AS acct,
                   o.owner_idx, r.product, r.start_date, r.end_date, r.cur, r.cents
            FROM {raw} r LEFT JOIN {owners} o ON o.owner_id = r.owner_id
            LEFT JOIN orphans x ON r.account_row IS NULL AND x.account_id IS NOT DISTINCT FROM r.account_id""")
        product = ", s.product" if ctx.grain == "product" else ""
        product_a = ", a.product" if ctx.grain == "product" else ""
        at_start = "(s.start_date <= w.period_start AND s.end_date >= w.period_start)"
        at_end = "(s.start_date <= w.period_end AND s.end_date >= w.period_end)"
        converted = (f"CASE WHEN s.cur = {sql_str(ctx.base_currency)} THEN s.cents "
                     f"ELSE {round_div_sql('s.cents * r.num', 'r.den')} END")
        join, key = ctx.owner_join("a")
        ctx.execute(f"""
            CREATE TEMP TABLE {table} AS
            WITH rates AS (SELECT w.ord, r.cur, r.num, r.den FROM {rates} r JOIN {w} w USING (period)),
            per_account AS (
                SELECT w.ord, s.acct{product}, any_value(s.owner_idx) AS owner_idx,
                       bool_or({at_end}) AS still,
                       coalesce(sum({converted}) FILTER (WHERE {at_start}), 0) AS arr_start,
                       coalesce(sum({converted}) FILTER (WHERE {at_end}), 0) AS arr_end
                FROM {subs} s JOIN {w} w ON s.start_date <= w.period_end AND s.end_date >= w.period_start
                 AND ({at_start} OR {at_end})
                JOIN rates r ON r.ord = w.ord AND r.cur = s.cur
                GROUP BY w.ord, s.acct{product} HAVING bool_or({at_start})),
            per_owner AS (
                SELECT ord, owner_idx{product_a.replace('a.', '')}, count(*) AS customers,
                       count(*) FILTER (WHERE still) AS kept, sum(arr_start) AS arr_start,
                       coalesce(sum(arr_end) FILTER (WHERE still), 0) AS arr_end
                FROM per_account GROUP BY ALL),
            a AS (
                SELECT p.*, o.owner_id FROM per_owner p LEFT JOIN {owners} o ON o.owner_idx = p.owner_idx)
            SELECT w.period, {key} AS key, CAST(sum(a.customers) AS BIGINT) AS customers,
                   CAST(sum(a.kept) AS BIGINT) AS kept, sum(a.arr_start) AS arr_start_cents,
                   sum(a.arr_end) AS arr_end_cents
            FROM a JOIN {w} w ON w.ord = a.ord {join}
            GROUP BY ALL""")
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
            CAST(coalesce(r.kept, 0) AS BIGINT) AS numerator, CAST(coalesce(r.customers, 0) AS BIGINT) AS denominator""", arrow=True)

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
            {money_sql('coalesce(r.arr_start_cents, 0)')} AS denominator""", arrow=True)

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        arr = pd.to_numeric(gaps["denominator"], errors="coerce")
        return gaps["gap"].clip(lower=0) * arr


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [LogoRetention(), NetRevenueRetention()]
