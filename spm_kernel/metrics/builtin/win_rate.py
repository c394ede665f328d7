"""Win rate by count and by value, over deals closed in the period."""

from __future__ import annotations

import pandas as pd

from spm_kernel.extensions import Metric
from spm_kernel.hookspecs import hookimpl
from spm_kernel.metrics.context import MetricContext, money_sql, ratio_sql


def _closed_deals_sql(ctx: MetricContext) -> str:
    """SQL: ``period, key, won, closed, won_cents, closed_cents`` of deals closed in each window."""
    d = ctx.deals()
    join, key = ctx.owner_join("d")
    return f"""
        SELECT w.period, {key} AS key, count(*) FILTER (WHERE d.is_won) AS won, count(*) AS closed,
               coalesce(sum(d.base_cents) FILTER (WHERE d.is_won), 0) AS won_cents,
               sum(d.base_cents) AS closed_cents
        FROM {d} d JOIN {ctx.window_days()} w ON w.day = d.close_date {join}
        WHERE d.is_closed GROUP BY ALL"""


def closed_deals(ctx: MetricContext) -> str:
    """SQL selecting :func:`_closed_deals_sql`'s rows from a table built once per query."""
    return f"SELECT * FROM {ctx.shared('closed_deals', _closed_deals_sql(ctx))}"


class WinRate(Metric):
    name = "win_rate"
    label = "Win rate (count)"
    unit = "ratio"
    definition = "Share of the opportunities closed in the period that were won."
    formula = "count(closed won) / count(closed won + closed lost)"
    tables = ("opportunities", "payees")
    higher_is_better = True

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        return ctx.on_grid(closed_deals(ctx), f"""{ratio_sql('r.won', 'r.closed')} AS value,
            CAST(coalesce(r.won, 0) AS BIGINT) AS numerator, CAST(coalesce(r.closed, 0) AS BIGINT) AS denominator""", arrow=True)

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        # extra wins on the same closed deals, at the entity's average deal size
        closed = pd.to_numeric(gaps["denominator"], errors="coerce")
        size = pd.to_numeric(gaps.get("kpi__avg_deal_size"), errors="coerce")
        return gaps["gap"].clip(lower=0) * closed * size


class WinRateValue(Metric):
    name = "win_rate_value"
    label = "Win rate (value)"
    unit = "ratio"
    definition = "Share of the value of the opportunities closed in the period that was won."
    formula = "sum(amount of closed won) / sum(amount of closed won + closed lost)"
    tables = ("opportunities", "payees", "fx_rates")
    higher_is_better = True

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        return ctx.on_grid(closed_deals(ctx), f"""{ratio_sql('r.won_cents', 'r.closed_cents')} AS value,
            {money_sql('coalesce(r.won_cents, 0)')} AS numerator, {money_sql('coalesce(r.closed_cents, 0)')} AS denominator""", arrow=True)

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        closed_value = pd.to_numeric(gaps["denominator"], errors="coerce")
        return gaps["gap"].clip(lower=0) * closed_value


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [WinRate(), WinRateValue()]
