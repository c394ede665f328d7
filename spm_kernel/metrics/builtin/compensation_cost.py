"""Cost of sales compensation: payouts over the revenue they bought.

Payouts are the payout lines of the current run of each calculated period (see
:meth:`spm_kernel.metrics.MetricContext.payee_payouts`); revenue is the closed-won bookings
credited in the same window: a payee's own (with the bookings rolled up to them as a manager),
or, for a group, every member's direct credit (each deal once).
"""

from __future__ import annotations

import pandas as pd

from spm_kernel.extensions import Metric
from spm_kernel.hookspecs import hookimpl
from spm_kernel.metrics.context import MetricContext, money_sql, ratio_sql


class CostOfSalesCompensation(Metric):
    name = "cost_of_sales_compensation"
    label = "Cost of sales compensation"
    unit = "ratio"
    definition = "Payouts earned in the period divided by the closed-won bookings credited in it."
    formula = "sum(payout lines of the current run) / sum(credited closed-won amount)"
    tables = ("payout_lines", "calc_runs", "opportunities", "opportunity_splits", "payees", "fx_rates")
    higher_is_better = False
    grains = ("payee", "manager", "team", "region", "segment", "company")

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        pay, book = ctx.payee_payouts(), ctx.payee_bookings()
        per_payee = f"""
            SELECT coalesce(p.period, b.period) AS period, coalesce(p.payee_id, b.payee_id) AS payee_id,
                   coalesce(p.payout_cents, 0) AS payout_cents, coalesce(b.direct_cents, 0) AS direct_cents,
                   coalesce(b.direct_cents, 0) + coalesce(b.rollup_cents, 0) AS revenue_cents
            FROM {pay} p FULL JOIN {book} b ON b.period = p.period AND b.payee_id = p.payee_id"""
        if ctx.grain == "payee":
            sql = f"SELECT period, payee_id AS key, payout_cents AS num, revenue_cents AS den FROM ({per_payee})"
        else:
            sql = ctx.group_by_members(f"({per_payee})", "sum(x.payout_cents) AS num, sum(x.direct_cents) AS den")
        return ctx.on_grid(sql, f"""{ratio_sql('r.num', 'r.den')} AS value,
            {money_sql('coalesce(r.num, 0)')} AS numerator, {money_sql('coalesce(r.den, 0)')} AS denominator""", arrow=True)


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [CostOfSalesCompensation()]
