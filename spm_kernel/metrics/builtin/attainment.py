"""Quota attainment and the share of reps at or above quota."""

from __future__ import annotations

import pandas as pd

from spm_kernel.extensions import Metric
from spm_kernel.hookspecs import hookimpl
from spm_kernel.metrics.context import MetricContext, money_sql, ratio_sql

PAYEE_GRAINS = ("payee", "manager", "team", "region", "segment", "company")


class QuotaAttainment(Metric):
    name = "quota_attainment"
    label = "Quota attainment"
    unit = "ratio"
    definition = ("Closed-won bookings credited in the period divided by the quota for it; for a "
                  "group, its reps' bookings over its reps' quotas.")
    formula = "sum(credited closed-won amount) / sum(prorated quota)"
    tables = ("opportunities", "opportunity_splits", "quotas", "payees", "hierarchy", "fx_rates")
    higher_is_better = True
    grains = PAYEE_GRAINS

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        ra = ctx.rep_attainment()
        if ctx.grain == "payee":
            sql = f"SELECT period, payee_id AS key, bookings_cents AS num, quota_cents AS den FROM {ra}"
        else:
            sql = ctx.group_by_members(ra, "sum(x.direct_cents) AS num, sum(x.quota_cents) AS den",
                                       reps_only=True)
        return ctx.on_grid(sql, f"""{ratio_sql('r.num', 'r.den')} AS value,
            {money_sql('coalesce(r.num, 0)')} AS numerator, {money_sql('coalesce(r.den, 0)')} AS denominator""", arrow=True)

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        # reaching the target attainment on the same quota
        quota = pd.to_numeric(gaps["denominator"], errors="coerce")
        return gaps["gap"].clip(lower=0) * quota


class ShareAtQuota(Metric):
    name = "share_at_quota"
    label = "Reps at or above quota"
    unit = "ratio"
    definition = "Share of reps with a quota in the period whose credited bookings reach it."
    formula = "count(reps with bookings >= quota > 0) / count(reps with quota > 0)"
    tables = ("opportunities", "opportunity_splits", "quotas", "payees", "fx_rates")
    higher_is_better = True
    grains = PAYEE_GRAINS

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        ra = ctx.rep_attainment()
        flags = (f"SELECT period, payee_id, CAST(quota_cents > 0 AS INTEGER) AS has_quota, "
                 f"CAST(quota_cents > 0 AND bookings_cents >= quota_cents AS INTEGER) AS at_quota FROM {ra}")
        if ctx.grain == "payee":
            sql = f"SELECT period, payee_id AS key, at_quota AS num, has_quota AS den FROM ({flags})"
        else:
            sql = ctx.group_by_members(f"({flags})", "sum(x.at_quota) AS num, sum(x.has_quota) AS den",
                                       reps_only=True)
        return ctx.on_grid(sql, f"""{ratio_sql('r.num', 'r.den')} AS value,
            CAST(coalesce(r.num, 0) AS BIGINT) AS numerator, CAST(coalesce(r.den, 0) AS BIGINT) AS denominator""", arrow=True)


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [QuotaAttainment(), ShareAtQuota()]
