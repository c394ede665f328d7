"""Average and median closing time: days from an opportunity's creation to closed-won."""

from __future__ import annotations

import pandas as pd

from spm_kernel.extensions import Metric
from spm_kernel.hookspecs import hookimpl
from spm_kernel.metrics.context import MetricContext, ratio_sql


def _won_cycles_sql(ctx: MetricContext) -> str:
    """SQL: ``period, key, total_days, won, median_days`` of deals won in each window."""
    d = ctx.deals()
    join, key = ctx.owner_join("d")
    return f"""
        SELECT w.period, {key} AS key, sum(d.cycle_days) AS total_days, count(*) AS won,
               median(d.cycle_days) AS median_days
        FROM {d} d JOIN {ctx.window_days()} w ON w.day = d.close_date {join}
        WHERE d.is_won AND d.is_closed GROUP BY ALL"""


def won_cycles(ctx: MetricContext) -> str:
    """SQL selecting :func:`_won_cycles_sql`'s rows from a table built once per query."""
    return f"SELECT * FROM {ctx.shared('won_cycles', _won_cycles_sql(ctx))}"


def _speedup_impact(gaps: pd.DataFrame) -> pd.Series:
    # closing as fast as the target frees the same share of the cycle: won value x gap / cycle
    won_value = pd.to_numeric(gaps.get("kpi_num__win_rate_value"), errors="coerce")
    value = pd.to_numeric(gaps["value"], errors="coerce")
    share = (gaps["gap"].clip(lower=0) / value.where(value > 0)).clip(upper=1)
    return share * won_value


class AvgClosingTime(Metric):
    name = "avg_closing_time"
    label = "Average closing time"
    unit = "days"
    definition = "Average days from an opportunity's creation to its close, over deals won in the period."
    formula = "sum(close_date - created_date) / count(won deals)"
    tables = ("opportunities", "payees")
    higher_is_better = False

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        return ctx.on_grid(won_cycles(ctx), f"""{ratio_sql('r.total_days', 'r.won')} AS value,
            CAST(coalesce(r.total_days, 0) AS BIGINT) AS numerator, CAST(coalesce(r.won, 0) AS BIGINT) AS denominator""", arrow=True)

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        return _speedup_impact(gaps)


class MedianClosingTime(Metric):
    name = "median_closing_time"
    label = "Median closing time"
    unit = "days"
    definition = "Median days from an opportunity's creation to its close, over deals won in the period."
    formula = "median(close_date - created_date) over won deals"
    tables = ("opportunities", "payees")
    higher_is_better = False

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        return ctx.on_grid(won_cycles(ctx), """CAST(r.median_days AS DOUBLE) AS value,
            CAST(NULL AS BIGINT) AS numerator, CAST(coalesce(r.won, 0) AS BIGINT) AS denominator""", arrow=True)

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        return _speedup_impact(gaps)


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [AvgClosingTime(), MedianClosingTime()]
