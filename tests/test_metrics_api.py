"""The metrics API beyond the built-ins' numbers: live data, plugins replacing or adding
metrics, errors that say what is wrong, read-only workspaces, the rendered reference."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pandas as pd
import pytest

import spm_kernel
from spm_kernel import Metric, hookimpl
from spm_kernel.metrics import MetricContext, MetricError, parse_periods
from spm_kernel.metrics.docs import DOC_PATH, builtin_metrics, render_metrics_doc
from spm_kernel.workspace import Workspace
from tests.test_metrics_builtin import row, value
from tests.test_metrics_company import AS_OF, Q3, acme, acme_factory  # noqa: F401 - fixtures


# ---- live numbers ----
def test_newly_loaded_deals_show_at_the_next_query(acme_factory: Callable[..., Workspace]) -> None:  # noqa: F811
    ws = acme_factory()
    before = ws.metrics(["win_rate", "avg_deal_size"], by="payee", period=Q3, as_of=AS_OF)
    assert value(before, "win_rate", "R4") is None
    ws.load("opportunities", pd.DataFrame([{
        "opportunity_id": "O12", "account_id": "A7", "owner_id": "R4", "amount": "3000.00",
        "currency": "EUR", "stage": "Closed Won", "created_date": "2026-09-01",
        "close_date": "2026-09-16", "is_closed": "true", "is_won": "true", "product": "A"}]))
    after = ws.metrics(["win_rate", "avg_deal_size"], by="payee", period=Q3, as_of=AS_OF)
    assert value(after, "win_rate", "R4") == 1.0
    assert value(after, "avg_deal_size", "R4") == Decimal("3750.00")  # EUR 3,000 x 1.25
    # a corrected FX rate re-prices the deals it applies to at the next query, too
    ws.load("fx_rates", pd.DataFrame([{"rate_date": "2026-09-15", "from_currency": "EUR",
                                       "to_currency": "USD", "rate": "1.30000000"}]))
    again = ws.metrics("avg_deal_size", by="payee", period=Q3, as_of=AS_OF)
    assert value(again, "avg_deal_size", "R4") == Decimal("3900.00")


def test_a_closed_period_keeps_the_run_it_was_closed_on(acme_factory: Callable[..., Workspace]) -> None:  # noqa: F811
    ws = acme_factory()
    ws.con.execute("INSERT INTO periods (period_id, kind, start_date, end_date, status, closed_run_id) "
                   "VALUES ('2026-07', 'month', '2026-07-01', '2026-07-31', 'closed', 'run1')")
    df = ws.metrics("cost_of_sales_compensation", by="payee", period=Q3, as_of=AS_OF)
    assert row(df, "cost_of_sales_compensation", "R1")["numerator"] == Decimal("1599.00")  # 999 + 600


def test_queries_leave_no_temp_tables(acme: Workspace) -> None:  # noqa: F811
    acme.metrics(by="team", period=Q3, as_of=AS_OF)
    assert acme.con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall()[0][0] == 0


def test_a_read_only_workspace_answers(acme: Workspace) -> None:  # noqa: F811
    acme.con.execute("CHECKPOINT")
    copy = acme.path.parent / "read-only-copy"
    shutil.copytree(acme.path, copy)  # `acme` holds the write lock on its own file
    with spm_kernel.open(copy, read_only=True) as ro:
        df = ro.metrics(["win_rate", "quota_attainment"], by="team", period=Q3, as_of=AS_OF)
    assert value(df, "win_rate", "T_NA") == 0.75
    assert value(df, "quota_attainment", "T_EU") == pytest.approx(0.89)


# ---- plugins ----
class DealsCreated(Metric):
    name = "deals_created"
    label = "Deals created"
    unit = "count"
    definition = "Opportunities created in the period."
    formula = "count(opportunities created in the period)"
    tables = ("opportunities",)

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        join, key = ctx.owner_join("d")
        sql = f"""SELECT w.period, {key} AS key, count(*) AS n FROM {ctx.deals()} d
                  JOIN {ctx.windows} w ON d.created_date BETWEEN w.period_start AND w.period_end
                  {join} GROUP BY ALL"""
        return ctx.on_grid(sql, "coalesce(r.n, 0) AS value, coalesce(r.n, 0) AS numerator, "
                                "CAST(NULL AS BIGINT) AS denominator")


class AlwaysHalfWinRate(Metric):
    name = "win_rate"
    label = "Win rate (house rules)"
    unit = "ratio"

    def compute(self, ctx: MetricContext) -> pd.DataFrame:
        return ctx.on_grid("SELECT NULL AS period, NULL AS key WHERE false",
                           "0.5 AS value, NULL AS numerator, NULL AS denominator")


def _plugin(*metrics: Metric) -> SimpleNamespace:
    @hookimpl
    def spm_register_metrics() -> list[Metric]:
        return list(metrics)

    return SimpleNamespace(spm_register_metrics=spm_register_metrics, __name__="house_metrics")


def test_a_plugin_adds_a_metric_and_replaces_a_builtin(tmp_path) -> None:
    ws = spm_kernel.open(tmp_path / "ws", plugins=[_plugin(DealsCreated(), AlwaysHalfWinRate())])
    from tests.test_metrics_company import frames
    for table, frame in frames().items():
        ws.load(table, frame)
    assert ws.registry.metrics.provider("win_rate") == "house_metrics"
    df = ws.metrics(["deals_created", "win_rate"], by="team", period=Q3, as_of=AS_OF)
    # created in Q3: O2, O3, O4, O6 (Americas); O8, O9, O10 (EMEA)
    assert value(df, "deals_created", "T_NA") == 4 and value(df, "deals_created", "T_EU") == 3
    assert value(df, "win_rate", "T_NA") == 0.5
    ws.close()


def test_a_builtin_metric_module_can_be_disabled(spm_workspace_factory) -> None:
    ws = spm_workspace_factory(disable=["spm_kernel.metrics.builtin.win_rate"])
    assert "win_rate" not in ws.registry.metrics and "win_rate_value" not in ws.registry.metrics
    assert "avg_deal_size" in ws.registry.metrics


def test_a_metric_returning_the_wrong_columns_is_named(acme: Workspace) -> None:  # noqa: F811
    class Broken(Metric):
        name = "broken"

        def compute(self, ctx: MetricContext) -> pd.DataFrame:
            return pd.DataFrame({"period": [], "key": []})

    acme.plugins.register(_plugin(Broken()), name="broken_metrics")
    acme.registry.refresh()
    try:
        with pytest.raises(MetricError, match=r"metric 'broken' returned no column\(s\) \['denominator'"):
            acme.metrics("broken", period=Q3)
    finally:
        acme.plugins.unregister("broken_metrics")
        acme.registry.refresh()


# ---- errors ----
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"names": "win_ratio"}, "unknown metric 'win_ratio'; available: avg_closing_time"),
    ({"names": "quota_attainment", "by": "product"}, "cannot be computed by product; it supports: payee"),
    ({"by": "country"}, "unknown grain 'country'"),
    ({"period": "2026-Q5"}, "unknown period '2026-Q5'"),
    ({"period": "2026-03..2026-Q4"}, "not the same kind of period"),
    ({"window": "MTD"}, "unknown window 'MTD'"),
    ({"scope": "country:FR"}, "unknown scope 'country:FR'"),
    ({"scope": "team:Nowhere"}, "scope team:Nowhere matches no payee"),
    ({"options": {"ramp_shares": 1}}, "unknown metric option"),
])
def test_bad_queries_say_what_is_wrong(acme: Workspace, kwargs: dict, message: str) -> None:  # noqa: F811
    kwargs = {"names": "win_rate", "period": Q3, **kwargs}
    with pytest.raises(MetricError, match=message.replace("(", r"\(").replace(")", r"\)")):
        acme.metrics(**kwargs)


def test_a_currency_without_rates_is_an_error_naming_it(acme_factory: Callable[..., Workspace]) -> None:  # noqa: F811
    ws = acme_factory()
    ws.load("opportunities", pd.DataFrame([{
        "opportunity_id": "O13", "account_id": "A7", "owner_id": "R4", "amount": "100.00",
        "currency": "CAD", "stage": "Closed Won", "created_date": "2026-09-01",
        "close_date": "2026-09-16", "is_closed": "true", "is_won": "true"}]))
    with pytest.raises(MetricError, match="no CAD rate against USD at all: CAD \\(first needed for 2026-09-16\\)"):
        ws.metrics("avg_deal_size", by="payee", period=Q3)


def test_period_parsing() -> None:
    windows = parse_periods("2026-Q3", freq="month", window="YTD", as_of=AS_OF, fiscal_year_start_month=2)
    # fiscal year from February: FY2026 is Feb 2025 .. Jan 2026, so 2026-Q3 is Aug .. Oct 2025
    assert [w.label for w in windows] == ["2025-08 YTD", "2025-09 YTD", "2025-10 YTD"]
    assert {w.start for w in windows} == {date(2025, 2, 1)}
    default = parse_periods(None, freq=None, window="period", as_of=date(2026, 11, 27), fiscal_year_start_month=1)
    assert [w.label for w in default] == ["2026-Q4"]


# ---- the reference ----
def test_docs_metrics_md_is_rendered_from_the_declarations() -> None:
    expected = render_metrics_doc(builtin_metrics())
    assert DOC_PATH.read_text("utf-8") == expected, (
        "docs/metrics.md is out of date: run `python -m spm_kernel.metrics.docs`")
    for metric in builtin_metrics():
        assert f"## {metric.name}" in expected and metric.formula in expected
        assert metric.definition and metric.formula and metric.label and metric.tables


def test_every_builtin_is_its_own_trylast_plugin(acme: Workspace) -> None:  # noqa: F811
    from spm_kernel.plugins import DEFAULT_PLUGINS

    catalogue = acme.registry.metrics
    assert len(catalogue) >= 15
    providers = {catalogue.provider(name) for name in catalogue}
    assert providers <= set(DEFAULT_PLUGINS)
    for name in providers:
        impl = acme.plugins.pm.get_plugin(name).spm_register_metrics
        assert impl.spm_kernel_impl["trylast"] is True
