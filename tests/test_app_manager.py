"""The manager dashboard app in real Chromium, served by the real ``spm app``: the tiles on the
page equal ``ws.metrics`` for the same period, scope and day, before and after the period and
team filters change."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import spm_kernel
from spm_kernel.benchmarking import areas_for_improvement
from spm_widgets.dashboard import AREA_METRICS, TILE_METRICS, format_metric
from tests.apps_support import PAGE_MS, apps_folder, choose, start_app_server, stop_app_server
from tests.conftest import ARTIFACTS, AppServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

APP = "manager_dashboard.ipynb"
TEAM = "NAE-ENT-001"


@pytest.fixture(scope="module")
def company(spm_demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("manager-app") / "northwind"
    shutil.copytree(spm_demo_template, folder)
    return folder


@pytest.fixture(scope="module")
def server(company: Path, tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[AppServer]:
    logs = tmp_path_factory.mktemp("manager-app-logs")
    apps = apps_folder(logs / "apps", APP)
    running = start_app_server(company, logs, apps=apps)
    yield running
    stop_app_server(running)


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
    assert page.locator(".spm-leaderboard .ipydatagrid-widget").count() == 1  # a real data grid
    assert page.locator(".spm-distribution .js-plotly-plot").count() == 1

    # Another period: every tile equals the kernel's for that quarter.
    choose(page, ".spm-filter-period", "2026-Q3")
    page.wait_for_function("() => document.querySelector('.spm-scope-period').innerText === '2026-Q3'",
                           timeout=PAGE_MS)
    _wait_for_tiles(page, _expected_tiles(company, "2026-Q3", None), server)

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
    shown = set(page.eval_on_selector_all(".spm-area", "els => els.map(e => e.dataset.payee)"))
    assert shown and shown <= set(areas["payee_id"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(1500)  # let the chart finish its transition
    page.screenshot(path=str(ARTIFACTS / "manager_dashboard.png"), full_page=True)
