"""The manager dashboard app in real Chromium, served by the real ``spm app``: the tiles on the
page equal ``ws.metrics`` for the same period, scope and day, before and after the period and
team filters change."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

import spm_kernel
from spm_kernel.benchmarking import areas_for_improvement
from spm_widgets.dashboard import AREA_METRICS, TILE_METRICS, attainment_buckets, format_metric
from tests.apps_support import PAGE_MS, choose, drawn_bars
from tests.conftest import ARTIFACTS, AppServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

APP = "manager_dashboard.ipynb"
TEAM = "NAE-ENT-001"


def _expected_tiles(company: Path, period: str, scope: str | None) -> dict[str, str]:
    """What each tile must show: the kernel's value, formatted as the dashboard formats it."""
    with spm_kernel.open(company, read_only=True) as ws:
        frame = ws.metrics(list(TILE_METRICS), by="company", period=period, scope=scope, as_of=date.today())
        units = {n: ws.registry.metrics[n].unit for n in TILE_METRICS}
    return {r.metric: format_metric(r.value, units[r.metric], "USD") for r in frame.itertuples()}


def _wait_for_tiles(page: Any, expected: dict[str, str], server: AppServer) -> None:
    checks = " && ".join(
        f"(document.querySelector('.spm-kpi-{name.replace('_', '-')} .spm-kpi-value') || {{}}).innerText === "
        f"{value!r}" for name, value in expected.items())
    try:
        page.wait_for_function(f"() => {checks}", timeout=PAGE_MS)
    except Exception as exc:  # noqa: BLE001 - show what the page says instead
        shown = {n: page.inner_text(f".spm-kpi-{n.replace('_', '-')} .spm-kpi-value") for n in expected}
        raise AssertionError(f"tiles {shown} != kernel {expected}\n{server.log_tail()}") from exc


def _buckets(company: Path, period: str, scope: str | None) -> list[int]:
    """Reps per attainment bucket in scope, from the kernel (what the histogram must draw)."""
    with spm_kernel.open(company, read_only=True) as ws:
        frame = ws.metrics(["quota_attainment"], by="payee", period=period, scope=scope, as_of=date.today())
        roles = dict(ws.sql("SELECT payee_id, role FROM payees").itertuples(index=False))
    reps = frame.loc[frame["payee_id"].map(roles) == "rep"]
    return [b["count"] for b in attainment_buckets(reps.set_index("payee_id")["value"])]


def _check_histogram(page: Any, counts: list[int]) -> None:
    """The distribution is drawn with data: one bar per non-empty bucket, heights in the
    order of the counts (not the empty axes of a chart whose widget failed to start)."""
    heights = drawn_bars(page, ".spm-distribution", sum(1 for c in counts if c))
    assert len(heights) == len(counts)
    assert [h > 0 for h in heights] == [c > 0 for c in counts]
    tallest = max(range(len(counts)), key=lambda i: (counts[i], -i))
    assert heights[tallest] == max(heights), (heights, counts)


def test_dashboard_numbers_follow_the_filters(server: AppServer, browser: Any, company: Path) -> None:
    page = browser.new_page(viewport={"width": 1320, "height": 1000})
    page.set_default_timeout(PAGE_MS)  # every action waits as long as a page load may take
    page.goto(server.url + f"voila/render/{APP}", timeout=PAGE_MS)
    try:
        page.wait_for_selector(".spm-dashboard .spm-kpi-quota-attainment .spm-kpi-value", timeout=PAGE_MS)
    except Exception as exc:  # noqa: BLE001 - add the server's log to the failure
        raise AssertionError(f"the dashboard did not render: {exc}\n{server.log_tail()}") from exc
    assert "Northwind Analytics" in page.inner_text(".spm-app-header")
    period = page.locator(".spm-filter-period select").input_value()
    assert period.startswith("20") and "-Q" in period  # the current fiscal quarter
    _wait_for_tiles(page, _expected_tiles(company, period, None), server)
    page.wait_for_selector(".spm-leaderboard .ipydatagrid-widget")  # the grid draws after the widget arrives
    assert page.locator(".spm-leaderboard .ipydatagrid-widget").count() == 1  # a real data grid
    page.wait_for_selector(".spm-distribution .js-plotly-plot")  # plotly's bundle loads once per page
    assert page.locator(".spm-distribution .js-plotly-plot").count() == 1
    _check_histogram(page, _buckets(company, period, None))  # drawn from the page's first state
    # the training section is built with the dashboard (one pre-heated step) and counts the company
    from spm_widgets.training import training_panel

    totals = training_panel(company).model.totals
    assert page.inner_text(".spm-training-assigned .spm-kpi-value").replace(",", "") == str(totals["assigned"])
    assert page.inner_text(".spm-training-overdue .spm-kpi-value").replace(",", "") == str(totals["overdue"])

    # Another period: every tile equals the kernel's for that quarter, the chart redraws.
    choose(page, ".spm-filter-period", "2026-Q3")
    page.wait_for_function("() => document.querySelector('.spm-scope-period').innerText === '2026-Q3'",
                           timeout=PAGE_MS)
    _wait_for_tiles(page, _expected_tiles(company, "2026-Q3", None), server)
    _check_histogram(page, _buckets(company, "2026-Q3", None))  # updated by a message after load

    # One team: tiles for the team's scope, leaderboard of its reps, its reps' areas.
    choose(page, ".spm-filter-team", "North America East Enterprise 1")
    page.wait_for_function("() => document.querySelector('.spm-scope-label').innerText"
                           ".startsWith('Team North America East Enterprise 1')", timeout=PAGE_MS)
    _wait_for_tiles(page, _expected_tiles(company, "2026-Q3", f"team:{TEAM}"), server)
    with spm_kernel.open(company, read_only=True) as ws:
        in_scope = ws.metrics(["quota_attainment"], by="payee", period="2026-Q3", scope=f"team:{TEAM}",
                              as_of=date.today())["payee_id"]
        roles = dict(ws.sql("SELECT payee_id, role FROM payees").itertuples(index=False))
        reps = sum(1 for p in in_scope if roles[p] == "rep")  # the team's reps in the quarter
        areas = areas_for_improvement(ws, "2026-Q3", metrics=list(AREA_METRICS), scope=f"team:{TEAM}", top=1,
                                      as_of=date.today())
    assert page.inner_text(".spm-leaders-count") == str(reps)
    _check_histogram(page, _buckets(company, "2026-Q3", f"team:{TEAM}"))
    shown = set(page.eval_on_selector_all(".spm-area", "els => els.map(e => e.dataset.payee)"))
    assert shown and shown <= set(areas["payee_id"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "manager_dashboard.png"), full_page=True)


# Every canvas of the leaderboard's grid as a PNG data URL, once two reads 300 ms apart agree
# (the grid has painted what the last message asked for).
GRID_PIXELS_JS = """async () => {
  const read = () => [...document.querySelectorAll('.spm-leaderboard canvas')].map(c => c.toDataURL());
  let last = read();
  for (let i = 0; i < 40; i++) {
    await new Promise(r => setTimeout(r, 300));
    const now = read();
    if (JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
  return null;
}"""


def test_grid_paint_same_pixels(server: AppServer, browser: Any, company: Path) -> None:
    """spm_widgets.grid_paint queues each region's cell copies: the leaderboard repaints with
    them queued exactly as lumino paints it cell by cell (``window.spmGridPaint = "off"``)."""
    page = browser.new_page(viewport={"width": 1320, "height": 1000})
    page.set_default_timeout(PAGE_MS)
    page.goto(server.url + f"voila/render/{APP}", timeout=PAGE_MS)
    page.wait_for_selector(".spm-leaderboard .ipydatagrid-widget canvas", timeout=PAGE_MS)
    page.wait_for_function("() => window.spmGridPaint !== undefined", timeout=PAGE_MS)
    assert page.evaluate("() => window.spmGridPaint") == "queued"  # lumino's DataGrid was found and wrapped

    def show(period: str) -> list[str]:
        choose(page, ".spm-filter-period", period)
        _wait_for_tiles(page, _expected_tiles(company, period, None), server)
        pixels = page.evaluate(GRID_PIXELS_JS)
        assert pixels, "the leaderboard never stopped repainting"
        return list(pixels)

    show("2026-Q2")  # the columns reach the widths both quarters need (widths only grow)
    queued = show("2026-Q3")
    page.evaluate("() => { window.spmGridPaint = 'off'; }")
    other = show("2026-Q2")
    cell_by_cell = show("2026-Q3")
    assert other != queued  # the pixels compared are the grid's rows, which differ by quarter
    assert cell_by_cell == queued
