"""Pay-for-performance: how closely pay follows performance across a group's reps."""

from __future__ import annotations

import pandas as pd

from spm_kernel.extensions import Metric
from spm_kernel.hookspecs import hookimpl
from spm_kernel.metrics.context import MetricContext

MIN_REPS = 3


class PayForPerformance(Metric):
    name = "pay_for_performance"
    label = "Pay-for-performance correlation"
    unit = "correlation"
    definition = ("Pearson correlation, across the group's reps with a quota, between quota attainment "
                  f"and payouts in the period (undefined under {MIN_REPS} reps or without variation).")
    formula = "corr(bookings / quota, payouts) over reps with quota > 0"
    tables = ("payout_lines", "calc_runs", "quotas", "opportunities", "opportunity_splits", "payees", "fx_rates")
    higher_is_better = True
    grains = ("manager", "team", "region", "segment", "company")

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        ra, pay = ctx.rep_attainment(), ctx.payee_payouts()
        per_rep = f"""
            SELECT a.period, a.payee_id, CAST(a.direct_cents AS DOUBLE) / CAST(a.quota_cents AS DOUBLE) AS att,
                   CAST(coalesce(p.payout_cents, 0) AS DOUBLE) AS pay
            FROM {ra} a LEFT JOIN {pay} p ON p.period = a.period AND p.payee_id = a.payee_id
            WHERE a.quota_cents > 0"""
        sql = ctx.group_by_members(f"({per_rep})", f"""count(*) AS n,
            CASE WHEN count(*) >= {MIN_REPS} AND stddev_pop(x.att) > 0 AND stddev_pop(x.pay) > 0
                 THEN corr(x.att, x.pay) END AS r""", reps_only=True)
        return ctx.on_grid(sql, """r.r AS value, CAST(NULL AS DOUBLE) AS numerator,
            CAST(coalesce(r.n, 0) AS BIGINT) AS denominator""", arrow=True)


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [PayForPerformance()]
