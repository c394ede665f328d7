"""Pipeline coverage and pipeline velocity, from a snapshot of the open pipeline.

The **snapshot** of a window is its first day when the window ended before ``as_of``
(coverage as it stood when the period began), else ``as_of`` (or the first day, if later).
An opportunity is in the pipeline due in the window when it was created on or before the
snapshot and its close date (expected, or actual for a deal that has closed since) falls
between the snapshot and the window's last day: a deal that closed later was still open on
the snapshot day; an open deal whose expected close date has passed is stale and left out.
"""

from __future__ import annotations

import pandas as pd

from spm_kernel.extensions import Metric
from spm_kernel.hookspecs import hookimpl
from spm_kernel.metrics.builtin.closing_time import won_cycles
from spm_kernel.metrics.builtin.win_rate import closed_deals
from spm_kernel.metrics.context import MetricContext, money_sql, ratio_sql, round_div_sql


def _open_pipeline_sql(ctx: MetricContext) -> str:
    """SQL: ``period, key, pipe_cents, n_open`` at each window's snapshot."""
    d = ctx.deals()
    join, key = ctx.owner_join("d")
    return f"""
        SELECT w.period, {key} AS key, sum(d.base_cents) AS pipe_cents, count(*) AS n_open
        FROM {d} d JOIN {ctx.window_days('snapshot')} w ON w.day = d.close_date
             AND d.created_date <= w.snapshot {join}
        GROUP BY ALL"""


def open_pipeline(ctx: MetricContext) -> str:
    """SQL selecting :func:`_open_pipeline_sql`'s rows from a table built once per query."""
    return f"SELECT * FROM {ctx.shared('open_pipeline', _open_pipeline_sql(ctx))}"


def _remaining_quota_sql(ctx: MetricContext) -> str:
    """SQL: ``period, key, quota_cents, booked_cents``: the quota of each window and the
    bookings credited between its first day and its snapshot (reps only above the payee grain)."""
    c, q, w = ctx.credits(), ctx.payee_quotas(), ctx.window_days("period_start", "snapshot - 1")
    per_payee = f"""
        SELECT coalesce(q.period, b.period) AS period, coalesce(q.payee_id, b.payee_id) AS payee_id,
               coalesce(q.quota_cents, 0) AS quota_cents, coalesce(b.cents, 0) AS booked_cents
        FROM {q} q FULL JOIN (
            SELECT w.period, c.payee_id, sum(c.cents) AS cents FROM {c} c JOIN {w} w
              ON w.day = c.close_date GROUP BY ALL) b
          ON b.period = q.period AND b.payee_id = q.payee_id"""
    if ctx.grain == "payee":
        return f"SELECT period, payee_id AS key, quota_cents, booked_cents FROM ({per_payee})"
    return ctx.group_by_members(f"({per_payee})", "sum(x.quota_cents) AS quota_cents, "
                                "sum(x.booked_cents) AS booked_cents", reps_only=True)


def remaining_quota(ctx: MetricContext) -> str:
    """SQL selecting :func:`_remaining_quota_sql`'s rows from a table built once per query."""
    return f"SELECT * FROM {ctx.shared('remaining_quota', _remaining_quota_sql(ctx))}"


class PipelineCoverage(Metric):
    name = "pipeline_coverage"
    label = "Pipeline coverage"
    unit = "ratio"
    definition = ("Open pipeline due in the period, at the period's snapshot, divided by the quota "
                  "still to book then; undefined once the quota is met.")
    formula = "sum(open opportunity amount due in the period) / (quota - bookings before the snapshot)"
    tables = ("opportunities", "opportunity_splits", "quotas", "payees", "fx_rates")
    higher_is_better = True
    grains = ("payee", "manager", "team", "region", "segment", "company")

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        sql = f"""
            SELECT coalesce(p.period, q.period) AS period, coalesce(p.key, q.key) AS key,
                   coalesce(p.pipe_cents, 0) AS pipe_cents,
                   coalesce(q.quota_cents, 0) - coalesce(q.booked_cents, 0) AS remaining_cents
            FROM ({open_pipeline(ctx)}) p FULL JOIN ({remaining_quota(ctx)}) q
              ON q.period = p.period AND q.key = p.key"""
        return ctx.on_grid(sql, f"""
            CASE WHEN r.remaining_cents > 0 THEN {ratio_sql('r.pipe_cents', 'r.remaining_cents')} END AS value,
            {money_sql('coalesce(r.pipe_cents, 0)')} AS numerator,
            {money_sql('coalesce(r.remaining_cents, 0)')} AS denominator""", arrow=True)

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        # the extra pipeline needed, converted at the entity's win rate by value
        remaining = pd.to_numeric(gaps["denominator"], errors="coerce")
        win = pd.to_numeric(gaps.get("kpi__win_rate_value"), errors="coerce")
        return gaps["gap"].clip(lower=0) * remaining * win


class PipelineVelocity(Metric):
    name = "pipeline_velocity"
    label = "Pipeline velocity"
    unit = "currency_per_day"
    definition = ("Revenue the pipeline is expected to produce per day: open opportunities x win "
                  "rate x average deal size / average closing time.")
    formula = ("count(open opportunities due in the period) x win rate (count) x average deal size "
               "/ average closing time (days)")
    tables = ("opportunities", "payees", "fx_rates")
    higher_is_better = True

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        sql = f"""
            SELECT g.period, g.key, coalesce(p.n_open, 0) AS n_open, c.won, c.closed, c.won_cents,
                   y.total_days
            FROM {ctx.grid} g
            LEFT JOIN ({open_pipeline(ctx)}) p ON p.period = g.period AND p.key = g.key
            LEFT JOIN ({closed_deals(ctx)}) c ON c.period = g.period AND c.key = g.key
            LEFT JOIN ({won_cycles(ctx)}) y ON y.period = g.period AND y.key = g.key"""
        expected = round_div_sql("r.n_open * r.won_cents", "r.closed")
        return ctx.on_grid(sql, f"""
            {money_sql(round_div_sql('r.n_open * r.won_cents * r.won', 'r.closed * r.total_days'))} AS value,
            {money_sql(expected)} AS numerator, {ratio_sql('r.total_days', 'r.won')} AS denominator""", arrow=True)

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        # velocity is revenue per day: the gap over the period's days
        return gaps["gap"].clip(lower=0) * pd.to_numeric(gaps["days"], errors="coerce")


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [PipelineCoverage(), PipelineVelocity()]
