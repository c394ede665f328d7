"""Customer acquisition cost: sales and marketing spend over the new customers won.

An account becomes a customer on the close date of its first closed-won opportunity; that
deal's owner is credited with the new customer. ``spend`` has no team dimension, so below
the company level each group carries the share of the spend its reps account for: spend x
(the group's rep-days in the window / every rep's rep-days in the window).
"""

from __future__ import annotations

import pandas as pd

from spm_kernel.extensions import Metric
from spm_kernel.hookspecs import hookimpl
from spm_kernel.metrics.context import FAR_FUTURE, NONE_KEY, MetricContext, money_sql, round_div_sql


def rep_days(alias: str = "p") -> str:
    """SQL: the days the payee (alias ``alias``) was employed in window ``w``."""
    return (f"greatest(0, datediff('day', greatest(w.period_start, {alias}.hire_date), "
            f"least(w.period_end, coalesce({alias}.termination_date, {FAR_FUTURE}))) + 1)")


class CustomerAcquisitionCost(Metric):
    name = "customer_acquisition_cost"
    label = "Customer acquisition cost"
    unit = "currency"
    definition = ("Sales and marketing spend in the period divided by the new customers won in it "
                  "(below the company, spend is shared by rep-days).")
    formula = "sum(spend) x group rep-days / all rep-days / count(accounts whose first won deal closed in the period)"
    tables = ("spend", "opportunities", "payees", "fx_rates")
    higher_is_better = False
    grains = ("payee", "manager", "team", "region", "segment", "company")

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        w = ctx.windows
        join, key = ctx.owner_join("f")
        # the accounts won in the windows (by the query's deals), then their first won deal ever
        # (the earliest by close date, then id: arg_min per account rather than a sorted window)
        max_end, min_start = ctx.max_end.isoformat(), ctx.min_start.isoformat()
        won = ("o.is_won AND o.is_closed AND o.account_id IS NOT NULL AND o.close_date IS NOT NULL "
               f"AND o.close_date <= DATE '{max_end}'")
        if ctx.scope is None:
            # every won deal: the query's deals (all of them, converted already) and the few
            # that table leaves out (closed before its look-back, or created after the windows)
            candidates = f"""
                SELECT o.account_id, o.owner_id, o.product, o.close_date, o.opportunity_id FROM {ctx.deals()} o
                WHERE {won}
                UNION ALL
                SELECT o.account_id, o.owner_id, coalesce(o.product, '{NONE_KEY}'), o.close_date, o.opportunity_id
                FROM opportunities o
                WHERE {won} AND (o.close_date < DATE '{ctx.lookback_start().isoformat()}'
                                 OR o.created_date > DATE '{max_end}')"""
        else:  # the query's deals are its payees' only: an account's first deal may be anyone's
            candidates = f"""
                SELECT o.account_id, o.owner_id, coalesce(o.product, '{NONE_KEY}') AS product, o.close_date,
                       o.opportunity_id
                FROM opportunities o
                WHERE {won} AND o.account_id IN (SELECT account_id FROM {ctx.deals()} WHERE is_won AND is_closed
                                                 AND close_date BETWEEN DATE '{min_start}' AND DATE '{max_end}')"""
        firsts = f"""
            SELECT account_id, f.owner_id AS owner_id, f.product AS product, f.close_date AS close_date FROM (
                SELECT o.account_id,
                       arg_min(struct_pack(owner_id := o.owner_id, product := o.product, close_date := o.close_date),
                               struct_pack(close_date := o.close_date, id := o.opportunity_id)) AS f
                FROM ({candidates}) o
                GROUP BY o.account_id)
            WHERE f.close_date >= DATE '{min_start}'"""
        spend = ctx.t("spend")
        ctx.materialize_in_base(spend, "SELECT month AS fx_date, currency AS cur, "
                                "CAST(amount * 100 AS HUGEINT) AS cents FROM spend", "spend")
        whole = ctx.grain == "company" and ctx.scope is None
        if whole:
            alloc = f"""SELECT w.period, {key} AS key, sum(s.base_cents) AS spend_cents
                        FROM {spend} s JOIN {w} w ON s.fx_date BETWEEN w.period_start AND w.period_end GROUP BY ALL"""
        else:
            rep_roles = ", ".join(f"'{r}'" for r in ctx.options.rep_roles)
            alloc = f"""
                WITH total AS (
                    SELECT w.period, sum(s.base_cents) AS cents FROM {spend} s JOIN {w} w
                      ON s.fx_date BETWEEN w.period_start AND w.period_end GROUP BY ALL),
                all_days AS (
                    SELECT w.period, sum({rep_days()}) AS days FROM payees p, {w} w
                    WHERE p.role IN ({rep_roles}) GROUP BY ALL),
                group_days AS (
                    SELECT m.period, m.key, sum({rep_days()}) AS days FROM {ctx.members} m
                    JOIN {w} w ON w.period = m.period JOIN {ctx.payees} p ON p.payee_id = m.payee_id
                    WHERE {ctx.is_rep} GROUP BY ALL)
                SELECT g.period, g.key, {round_div_sql('t.cents * g.days', 'a.days')} AS spend_cents
                FROM group_days g JOIN total t USING (period) JOIN all_days a USING (period)"""
        sql = f"""
            SELECT coalesce(a.period, n.period) AS period, coalesce(a.key, n.key) AS key,
                   coalesce(a.spend_cents, 0) AS spend_cents, coalesce(n.customers, 0) AS customers
            FROM ({alloc}) a FULL JOIN (
                SELECT w.period, {key} AS key, count(*) AS customers FROM ({firsts}) f
                JOIN {ctx.window_days()} w ON w.day = f.close_date {join} GROUP BY ALL) n
              ON n.period = a.period AND n.key = a.key"""
        return ctx.on_grid(sql, f"""{money_sql(round_div_sql('r.spend_cents', 'r.customers'))} AS value,
            {money_sql('coalesce(r.spend_cents, 0)')} AS numerator, CAST(coalesce(r.customers, 0) AS BIGINT) AS denominator""", arrow=True)


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [CustomerAcquisitionCost()]
