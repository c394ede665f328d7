"""Average deal size: the mean amount of the deals won in the period."""

from __future__ import annotations

import pandas as pd

from spm_kernel.extensions import Metric
from spm_kernel.hookspecs import hookimpl
from spm_kernel.metrics.builtin.win_rate import closed_deals
from spm_kernel.metrics.context import MetricContext, money_sql, round_div_sql


class AvgDealSize(Metric):
    name = "avg_deal_size"
    label = "Average deal size"
    unit = "currency"
    definition = "Mean amount, in the base currency, of the opportunities won in the period."
    formula = "sum(amount of closed won) / count(closed won)"
    tables = ("opportunities", "payees", "fx_rates")
    higher_is_better = True

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        return ctx.on_grid(closed_deals(ctx), f"""{money_sql(round_div_sql('r.won_cents', 'r.won'))} AS value,
            {money_sql('coalesce(r.won_cents, 0)')} AS numerator, CAST(coalesce(r.won, 0) AS BIGINT) AS denominator""", arrow=True)

    def revenue_impact(self, gaps: pd.DataFrame) -> pd.Series:
        # the same wins at the target size
        won = pd.to_numeric(gaps["denominator"], errors="coerce")
        return gaps["gap"].clip(lower=0) * won


@hookimpl(trylast=True)
def spm_register_metrics() -> list[Metric]:
    return [AvgDealSize()]
