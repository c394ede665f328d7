"""Performance metrics (KPIs) as plugins: the query API and the context metrics compute from.

>>> ws.metrics(["quota_attainment", "win_rate"], by="team", period="2026-Q3")   # doctest: +SKIP

Every built-in metric lives in :mod:`spm_kernel.metrics.builtin` and is registered through
the ``spm_register_metrics`` hook like any third-party metric. docs/metrics.md is rendered
from their declarations by :func:`spm_kernel.metrics.docs.render_metrics_doc`.
"""

from spm_kernel.metrics.context import (
    GRAINS,
    MetricContext,
    MetricError,
    MetricOptions,
    MetricWindow,
    money_sql,
    parse_periods,
    ratio_sql,
    round_div_sql,
)
from spm_kernel.metrics.query import compute_metrics, metric_columns, resolve_metrics

__all__ = [
    "GRAINS", "MetricContext", "MetricError", "MetricOptions", "MetricWindow", "compute_metrics",
    "metric_columns", "money_sql", "parse_periods", "ratio_sql", "resolve_metrics", "round_div_sql",
]
