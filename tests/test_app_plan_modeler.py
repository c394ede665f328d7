"""The plan modeler app in real Chromium: the totals on the page are ``ws.compare`` of the plan
and the same edit made in the YAML text, after moving a tier slider and changing the period."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import spm_kernel
from spm_kernel.plans import load_plan_text
from tests.apps_server import open_app
from tests.apps_support import LINE_POINTS_JS, drawn_line_points
from tests.conftest import ARTIFACTS, AppServer, DemoApps

pytestmark = pytest.mark.browser
LOAD_MS = 240_000  # a first page load runs the notebook and a what-if; a busy 2-core machine is slow


def _expected(workspace: Path, rate: str, period: str) -> dict[str, tuple[str, str, str]]:
    """Per currency: current, what-if, difference as the page formats them, from ws.compare."""
    with spm_kernel.open(workspace, read_only=True) as ws:
        text = (ws.plans_dir / "fy2026-ae-plan.yaml").read_text("utf-8")
        edited = load_plan_text(text.replace("rate: 0.12", f"rate: {rate}"), ws.registry.plan_types)
        cmp = ws.compare("ae-plan@1", edited, period)
    return {r.currency: (f"{r.a:,.2f}", f"{r.b:,.2f}", ("+" if r.difference > 0 else "") + f"{r.difference:,.2f}")
            for r in cmp.totals.itertuples(index=False)}


def _page_totals(page: Any) -> dict[str, tuple[str, str, str]]:
    out = {}
    for row in page.locator(".spm-pm-totals tbody tr").all():
        cur = row.get_attribute("data-currency")
        out[cur] = tuple(row.locator(f"td.{c}").inner_text() for c in ("spm-current", "spm-whatif", "spm-difference"))
    return out


def _wait_for_totals(page: Any, expected: dict[str, tuple[str, str, str]], server: AppServer) -> None:
    usd = expected["USD"][1]
    try:
        page.wait_for_function(
            "v => { const c = document.querySelector('.spm-pm-totals tr[data-currency=\"USD\"] td.spm-whatif');"
            " return c && c.innerText === v; }", arg=usd, timeout=LOAD_MS)
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"the what-if never showed {usd}; page: {_page_totals(page)}\n{server.log_tail()}") from exc


def test_slider_and_period_give_the_kernels_what_if(server: AppServer, browser: Any, demo_apps: DemoApps) -> None:
    workspace = demo_apps.workspace
    page = open_app(browser, server, "plan_modeler.ipynb", ".spm-pm-totals td.spm-whatif", LOAD_MS, height=2200)
    assert "FY2026 Account Executive plan" in page.inner_text(".spm-app-header")
    same = _expected(workspace, "0.12", "FY2026")  # the plan against itself
    _wait_for_totals(page, same, server)
    assert _page_totals(page) == same
    assert all(d == "0.00" for _, _, d in same.values())
    assert page.inner_text(".spm-pm-winners .spm-kpi-value") == "0"
    # the payout curve is drawn: both lines (current dashed, what-if solid) with their points
    points = drawn_line_points(page, ".spm-pm-chart", minimum=5)
    assert len(points) == 2 and min(points) >= 5, points
    curve = page.evaluate("() => [...document.querySelectorAll('.spm-pm-chart path.js-line')].map(p => p.getAttribute('d'))")
    assert curve[0] == curve[1]  # no edit yet: the what-if line lies on the current plan's

    # move the accelerator (tier 3, 12.0%) up ten steps of 0.1 with the keyboard
    page.focus(".spm-pm-rate-2 .noUi-handle")
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('.spm-pm-rate-2 .widget-readout').innerText.trim() === '13.0'",
                           timeout=30_000)
    assert min(page.evaluate(LINE_POINTS_JS, ".spm-pm-chart")) >= 5  # still drawn with its points
    higher = _expected(workspace, "0.13", "FY2026")
    _wait_for_totals(page, higher, server)
    assert _page_totals(page) == higher
    assert all(Decimal(d.replace(",", "")) > 0 for _, _, d in higher.values())
    assert int(page.inner_text(".spm-pm-winners .spm-kpi-value")) > 0
    assert int(page.inner_text(".spm-pm-losers .spm-kpi-value")) == 0
    assert page.locator(".spm-pm-winners-table tbody tr").count() > 0
    page.wait_for_selector(".spm-pm-chart .js-plotly-plot")  # plotly's bundle loads once per page
    assert page.locator(".spm-pm-chart .js-plotly-plot").count() == 1  # the payout curve is drawn

    # the period filter: the same edit over Q2 only
    page.select_option(".spm-pm-period select", "2026-Q2")
    q2 = _expected(workspace, "0.13", "2026-Q2")
    _wait_for_totals(page, q2, server)
    assert _page_totals(page) == q2
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "plan_modeler.png"), full_page=True)
    assert "Traceback" not in page.content()
