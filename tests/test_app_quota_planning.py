"""The quota planning app in real Chromium: the company and region figures on the page are
``allocate_quotas`` for the same settings, before and after changing the method."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import spm_kernel
from spm_kernel.planning import allocate_quotas
from tests.apps_server import open_app
from tests.apps_support import BAR_HEIGHTS_JS, drawn_bars
from tests.conftest import ARTIFACTS, AppServer, DemoApps

pytestmark = pytest.mark.browser
LOAD_MS = 240_000
SETTINGS = {"deal_types": ("new", "expansion"), "overassignment": {"team": Decimal("1.00")}}


def _regions(page: Any) -> dict[str, tuple[str, str, str]]:
    return {row.get_attribute("data-node"): tuple(row.locator(f"td.{c}").inner_text()
                                                  for c in ("spm-top-down", "spm-bottom-up", "spm-gap"))
            for row in page.locator(".spm-qp-nodes tbody tr").all()}


def _expected(plan: Any) -> dict[str, tuple[str, str, str]]:
    return {r.node: (f"{r.top_down:,.2f}", f"{r.bottom_up:,.2f}", ("+" if r.gap > 0 else "") + f"{r.gap:,.2f}")
            for r in plan.level("region").itertuples(index=False)}


def test_regions_equal_allocate_quotas_and_follow_the_method(server: AppServer, browser: Any,
                                                             demo_apps: DemoApps) -> None:
    with spm_kernel.open(demo_apps.workspace, read_only=True) as ws:
        year = ws.sql("SELECT max(period_end) AS d FROM quotas")["d"][0].year + 1
        probe = allocate_quotas(ws, fiscal_year=year, target="1000000.00", method="historical", **SETTINGS)
        capacity = probe.level("company").iloc[0].bottom_up
        target = (capacity / 1_000_000).to_integral_value(rounding="ROUND_CEILING") * 1_000_000
        historical = allocate_quotas(ws, fiscal_year=year, target=target, method="historical", **SETTINGS)
        even = allocate_quotas(ws, fiscal_year=year, target=target, method="even", **SETTINGS)
    page = open_app(browser, server, "quota_planning.ipynb", ".spm-qp-nodes td.spm-top-down", LOAD_MS, height=2000)
    assert f"FY{year}" in page.inner_text(".spm-app-header")
    assert page.inner_text(".spm-qp-target-tile .spm-kpi-value") == f"{target:,.0f}"
    assert _regions(page) == _expected(historical)
    company = historical.level("company").iloc[0]
    assert page.inner_text(".spm-qp-bottom-up .spm-kpi-value") == f"{company.bottom_up:,.0f}"
    # the charts are drawn with data: a top-down and a bottom-up bar per region, and the
    # histogram of expected attainment has bars
    regions = len(historical.level("region"))
    bars = drawn_bars(page, ".spm-qp-charts .spm-qp-bars", 2 * regions)
    assert len(bars) == 2 * regions
    page.wait_for_function(f"sel => ({BAR_HEIGHTS_JS})(sel).some(h => h > 0)", arg=".spm-qp-charts .spm-qp-hist",
                           timeout=60_000)
    before = page.evaluate(BAR_HEIGHTS_JS, ".spm-qp-charts .spm-qp-bars")

    page.click(".spm-qp-method button:has-text('Even')")
    first = next(iter(_expected(even).items()))
    page.wait_for_function(
        "([node, v]) => { const c = document.querySelector(`.spm-qp-nodes tr[data-node=\"${node}\"] td.spm-top-down`);"
        " return c && c.innerText === v; }", arg=[first[0], first[1][0]], timeout=LOAD_MS)
    assert _regions(page) == _expected(even)
    # the bars follow the method (updated in place, after the page loaded)
    page.wait_for_function(f"b => JSON.stringify(({BAR_HEIGHTS_JS})('.spm-qp-charts .spm-qp-bars')) !== JSON.stringify(b)",
                           arg=before, timeout=60_000)
    assert len(page.evaluate(BAR_HEIGHTS_JS, ".spm-qp-charts .spm-qp-bars")) == 2 * regions
    assert "Even" in page.inner_text(".spm-app-header")
    assert page.locator(".spm-qp-charts .js-plotly-plot").count() == 2
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "quota_planning.png"), full_page=True)
