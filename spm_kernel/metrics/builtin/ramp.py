"""Ramp time: days from a rep's hire date to the end of the first month they sell like a
tenured peer.

For every rep and every month they are employed, the trailing-three-month credited bookings
(months before the hire count as zero) are compared with the median of the same figure over
the **tenured** reps (employed at least ``tenure_days``) of the same segment that month. A rep
is ramped at the end of the first month, within ``ramp_max_months`` of their hire, in which
they reach ``ramp_share`` of that median. A window counts the reps who ramped in it (so the
numbers never wait for reps still ramping). Only reps hired after the look-back start are
counted, so that their whole history is seen.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from spm_kernel.extensions import Metric
from spm_kernel.hookspecs import hookimpl
from spm_kernel.metrics.context import NONE_KEY, MetricContext, ratio_sql


def ramp_dates(ctx: MetricContext) -> str:
    """Temp table ``payee_id, hire_date, ramp_date, ramp_days`` of the reps who ramped."""
    def build(table: str) -> None:
        o = ctx.options
        roles = ", ".join(f"'{r}'" for r in o.rep_roles)
        lookback = ctx.lookback_start()
        end = ctx.max_end.isoformat()
        # the in-scope reps who could ramp in the windows; none: nothing to compute
        candidates = ctx.t("ramp_candidates")
        ctx.execute(f"""
            CREATE TEMP TABLE {candidates} AS
            SELECT payee_id, coalesce(segment, '{NONE_KEY}') AS seg, hire_date FROM {ctx.payees}
            WHERE role IN ({roles}) AND hire_date >= DATE '{lookback.isoformat()}' AND hire_date <= DATE '{end}'""")
        first_hire = ctx.con.execute(f"SELECT min(hire_date) FROM {candidates}").fetchall()[0][0]
        if first_hire is None:
            ctx.execute(f"""CREATE TEMP TABLE {table} (payee_id VARCHAR, hire_date DATE, ramp_date DATE,
                                                       ramp_days BIGINT)""")
            return
        # months from two before the first candidate's hire (their trailing three months)
        index = first_hire.year * 12 + first_hire.month - 1 - 2
        start = max(lookback, date(index // 12, index % 12 + 1, 1)).isoformat()
        peers = (f"SELECT payee_id FROM payees WHERE role IN ({roles}) "
                 f"AND coalesce(segment, '{NONE_KEY}') IN (SELECT seg FROM {candidates})")
        last = ctx.max_end.year * 12 + ctx.max_end.month  # the month after the last window's month
        months_end = date(last // 12, last % 12 + 1, 1) - timedelta(days=1)
        credits = ctx.credits_of("ramp_credits", peers, date.fromisoformat(start), months_end)
        ctx.execute(f"""
            CREATE TEMP TABLE {table} AS
            WITH months AS (
                SELECT CAST(range AS DATE) AS month_start, last_day(CAST(range AS DATE)) AS month_end
                FROM range(DATE '{start}', DATE '{end}' + INTERVAL 1 DAY, INTERVAL 1 MONTH)),
            reps AS (
                SELECT payee_id, coalesce(segment, '{NONE_KEY}') AS seg, hire_date, termination_date
                FROM payees WHERE role IN ({roles})
                  AND coalesce(segment, '{NONE_KEY}') IN (SELECT seg FROM {candidates})),
            grid AS (
                SELECT r.payee_id, r.seg, r.hire_date, m.month_start, m.month_end
                FROM reps r JOIN months m ON r.hire_date <= m.month_end
                 AND (r.termination_date IS NULL OR r.termination_date >= m.month_start)),
            credited AS (  -- each payee's credits by calendar month, then an exact-match join
                SELECT payee_id, CAST(date_trunc('month', close_date) AS DATE) AS month_start, sum(cents) AS cents
                FROM {credits} GROUP BY ALL),
            monthly AS (
                SELECT g.payee_id, g.seg, g.hire_date, g.month_start, g.month_end, coalesce(c.cents, 0) AS cents
                FROM grid g LEFT JOIN credited c ON c.payee_id = g.payee_id AND c.month_start = g.month_start),
            t3 AS (
                SELECT *, sum(cents) OVER (PARTITION BY payee_id ORDER BY month_start
                                           RANGE BETWEEN INTERVAL 2 MONTH PRECEDING AND CURRENT ROW) AS t3m,
                       datediff('day', hire_date, month_end) >= {int(o.tenure_days)} AS tenured
                FROM monthly),
            bench AS (
                SELECT seg, month_start, median(t3m) AS bench FROM t3 WHERE tenured GROUP BY ALL)
            SELECT t.payee_id, t.hire_date, min(t.month_end) AS ramp_date,
                   datediff('day', t.hire_date, min(t.month_end)) AS ramp_days
            FROM t3 t JOIN bench b ON b.seg = t.seg AND b.month_start = t.month_start
            WHERE t.payee_id IN (SELECT payee_id FROM {candidates}) AND b.bench > 0
              AND t.t3m >= {float(o.ramp_share)} * b.bench
              AND t.month_start < date_trunc('month', t.hire_date) + INTERVAL {int(o.ramp_max_months)} MONTH
            GROUP BY t.payee_id, t.hire_date""")
    return ctx._once("ramp_dates", build)


class RampTime(Metric):
    name = "ramp_time"
    label = "Ramp time"
    unit = "days"
    definition = ("Average days from hire to the end of the first month a new rep's trailing-3-month "
                  "bookings reach the ramp share of tenured same-segment peers' median; over reps who "
                  "ramped in the period.")
    formula = "sum(ramp date - hire date) / count(reps who ramped in the period)"
    tables = ("payees", "opportunities", "opportunity_splits", "fx_rates")
    higher_is_better = False
    grains = ("payee", "manager", "team", "region", "segment", "company")

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        r = ramp_dates(ctx)
        sql = f"""
            SELECT w.period, m.key, sum(r.ramp_days) AS total, count(*) AS n
            FROM {r} r JOIN {ctx.windows} w ON r.ramp_date BETWEEN w.period_start AND w.period_end
            JOIN {ctx.members} m ON m.period = w.period AND m.payee_id = r.payee_id
            GROUP BY ALL"""
        return ctx.on_grid(sql, f"""{ratio_sql('r.total', 'r.n')} AS value,
            CAST(coalesce(r.total, 0) AS BIGINT) AS numerator, CAST(coalesce(r.n, 0) AS BIGINT) AS denominator""", arrow=True)


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [RampTime()]
