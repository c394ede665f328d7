"""An inquiry's whole life in real Chromium, served by the real ``spm app``: the rep raises it
in the statement app (``SPM_USER``), the analyst (``SPM_ANALYST``) resolves it with an
adjustment in the disputes app, and the rep's statement then shows the answer. Every number
on the pages equals the kernel's."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import spm_kernel
from tests.apps_support import (
    OPEN, PAGE_MS, REP, apps_folder, calculated_demo, choose, start_app_server, stop_app_server,
)
from tests.conftest import ARTIFACTS, AppServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANALYST = "ana.analyst"


@pytest.fixture(scope="module")
def company(spm_demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return calculated_demo(spm_demo_template, tmp_path_factory.mktemp("disputes-app") / "northwind")


@pytest.fixture(scope="module")
def server(company: Path, tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[AppServer]:
    logs = tmp_path_factory.mktemp("disputes-app-logs")
    apps = apps_folder(logs / "apps", "rep_statement.ipynb", "disputes.ipynb")
    running = start_app_server(company, logs, env={"SPM_USER": REP, "SPM_ANALYST": ANALYST}, apps=apps)
    yield running
    stop_app_server(running)


def _open(browser: Any, server: AppServer, app: str, ready: str) -> Any:
    page = browser.new_page(viewport={"width": 1320, "height": 1000})
    page.set_default_timeout(PAGE_MS)  # every action waits as long as a page load may take
    page.goto(server.url + f"voila/render/{app}", timeout=PAGE_MS)
    try:
        page.wait_for_selector(ready, timeout=PAGE_MS)
    except Exception as exc:  # noqa: BLE001 - add the server's log to the failure
        raise AssertionError(f"{app} did not render: {exc}\n{server.log_tail()}") from exc
    return page


def test_raise_in_the_statement_resolve_in_the_queue(server: AppServer, browser: Any, company: Path) -> None:
    with spm_kernel.open(company, read_only=True) as ws:
        st = ws.statement(REP, OPEN)
    commission = st.lines[st.lines["line_type"] == "earning"].iloc[0]

    # 1. The rep questions the commission line.
    rep = _open(browser, server, "rep_statement.ipynb", ".spm-statement .spm-line-picker select")
    choose(rep, ".spm-line-picker", f'{commission["line_no"]}. ')
    rep.wait_for_selector(f'.spm-line-head[data-line="{commission["line_id"]}"]', timeout=PAGE_MS)
    rep.fill(".spm-inquiry-text textarea", "The Oak Media renewal is not in my commission.")
    rep.click("button.spm-raise-inquiry")
    rep.wait_for_selector('.spm-inquiries tr[data-dispute="DSP-000001"]', timeout=PAGE_MS)
    rep.close()

    # 2. The analyst sees it in the queue, reviews it and resolves it with an adjustment.
    queue = _open(browser, server, "disputes.ipynb", ".spm-disputes .spm-kpi-open .spm-kpi-value")
    assert queue.inner_text(".spm-kpi-open .spm-kpi-value") == "1"
    assert f"signed in as {ANALYST}" in queue.inner_text(".spm-app-header")
    assert queue.locator(".spm-queue .ipydatagrid-widget").count() == 1
    choose(queue, ".spm-dispute-picker", "DSP-000001 ")
    queue.wait_for_selector('.spm-dispute-head[data-dispute="DSP-000001"]', timeout=PAGE_MS)
    assert "The Oak Media renewal" in queue.inner_text(".spm-inquiry")
    assert queue.inner_text(".spm-disputed-line .spm-line-amount") == f'{commission["amount"]:,.2f} USD'
    queue.click("button.spm-start-review")
    queue.wait_for_function("() => document.querySelector('.spm-kpi-in-review .spm-kpi-value').innerText === '1'",
                            timeout=PAGE_MS)
    queue.fill(".spm-adjustment-amount input", "215.40")
    queue.fill(".spm-resolution textarea", "Renewal credited late; paid as an adjustment.")
    queue.click("button.spm-resolve")
    queue.wait_for_function("() => document.querySelector('.spm-kpi-resolved .spm-kpi-value').innerText === '1'",
                            timeout=PAGE_MS)
    queue.wait_for_selector(".spm-adjustment-value", timeout=PAGE_MS)
    assert queue.inner_text(".spm-adjustment-value") == "215.40 USD"
    assert "dispute resolved" in queue.inner_text(".spm-dispute-history").lower()  # CSS capitalises
    with spm_kernel.open(company, read_only=True) as ws:
        dispute = ws.disputes.get("DSP-000001")
        adj = ws.sql("SELECT amount, period_id, approved_by, status FROM adjustments WHERE dispute_id = 'DSP-000001'")
        steps = ws.disputes.history("DSP-000001")
    assert dispute["status"] == "resolved" and dispute["resolution"] == "Renewal credited late; paid as an adjustment."
    assert (adj["amount"].iloc[0], adj["period_id"].iloc[0]) == (Decimal("215.40"), OPEN)
    assert (adj["approved_by"].iloc[0], adj["status"].iloc[0]) == (ANALYST, "approved")
    assert list(steps["actor"]) == [REP, ANALYST, ANALYST]
    ARTIFACTS.mkdir(exist_ok=True)
    queue.wait_for_timeout(1000)
    queue.screenshot(path=str(ARTIFACTS / "disputes.png"), full_page=True)
    queue.close()

    # 3. The rep sees the answer on the statement.
    rep = _open(browser, server, "rep_statement.ipynb", '.spm-inquiries tr[data-dispute="DSP-000001"]')
    row = rep.locator('.spm-inquiries tr[data-dispute="DSP-000001"]')
    assert row.locator(".spm-dispute-status").inner_text() == "resolved"
    assert "Renewal credited late" in row.inner_text()
