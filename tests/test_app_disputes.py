"""An inquiry's whole life in real Chromium, served by the real ``spm app``: the rep raises it
in the statement app (``SPM_USER``), the analyst (``SPM_ANALYST``) resolves it with an
adjustment in the disputes app, and the rep's statement then shows the answer. Every number
on the pages equals the kernel's."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import spm_kernel
from tests.apps_support import ANALYST, OPEN, PAGE_MS, REP, choose
from tests.conftest import ARTIFACTS, AppServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _kpi(page: Any, status: str) -> str:
    return f"document.querySelector('.spm-kpi-{status} .spm-kpi-value').innerText"


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
        before = ws.disputes.list()  # the session's workspace may hold other tests' inquiries
    counts = {s: int((before["status"] == s).sum()) if len(before) else 0
              for s in ("open", "in_review", "resolved")}
    commission = st.lines[st.lines["line_type"] == "earning"].iloc[0]

    # 1. The rep questions the commission line.
    rep = _open(browser, server, "rep_statement.ipynb", ".spm-statement .spm-line-picker select")
    choose(rep, ".spm-line-picker", f'{commission["line_no"]}. ')
    rep.wait_for_selector(f'.spm-line-head[data-line="{commission["line_id"]}"]', timeout=PAGE_MS)
    rep.fill(".spm-inquiry-text textarea", "The Oak Media renewal is not in my commission.")
    rep.click("button.spm-raise-inquiry")
    rep.wait_for_selector(".spm-inquiry-notice .spm-notice", timeout=PAGE_MS)
    raised = re.search(r"Inquiry (DSP-\d{6}) raised", rep.inner_text(".spm-inquiry-notice"))
    assert raised, rep.inner_text(".spm-inquiry-notice")
    dsp = raised.group(1)
    rep.wait_for_selector(f'.spm-inquiries tr[data-dispute="{dsp}"]', timeout=PAGE_MS)
    rep.close()

    # 2. The analyst sees it in the queue, reviews it and resolves it with an adjustment.
    queue = _open(browser, server, "disputes.ipynb", ".spm-disputes .spm-kpi-open .spm-kpi-value")
    assert queue.inner_text(".spm-kpi-open .spm-kpi-value") == str(counts["open"] + 1)
    assert f"signed in as {ANALYST}" in queue.inner_text(".spm-app-header")
    queue.wait_for_selector(".spm-queue .ipydatagrid-widget")  # the grid draws after the widget arrives
    assert queue.locator(".spm-queue .ipydatagrid-widget").count() == 1
    choose(queue, ".spm-dispute-picker", f"{dsp} ")
    queue.wait_for_selector(f'.spm-dispute-head[data-dispute="{dsp}"]', timeout=PAGE_MS)
    assert "The Oak Media renewal" in queue.inner_text(".spm-inquiry")
    assert queue.inner_text(".spm-disputed-line .spm-line-amount") == f'{commission["amount"]:,.2f} USD'
    queue.click("button.spm-start-review")
    queue.wait_for_function(f"() => {_kpi(queue, 'in-review')} === '{counts['in_review'] + 1}'", timeout=PAGE_MS)
    queue.fill(".spm-adjustment-amount input", "215.40")
    queue.fill(".spm-resolution textarea", "Renewal credited late; paid as an adjustment.")
    queue.click("button.spm-resolve")
    queue.wait_for_function(f"() => {_kpi(queue, 'resolved')} === '{counts['resolved'] + 1}'", timeout=PAGE_MS)
    queue.wait_for_selector(".spm-adjustment-value", timeout=PAGE_MS)
    assert queue.inner_text(".spm-adjustment-value") == "215.40 USD"
    assert "dispute resolved" in queue.inner_text(".spm-dispute-history").lower()  # CSS capitalises
    with spm_kernel.open(company, read_only=True) as ws:
        dispute = ws.disputes.get(dsp)
        adj = ws.sql("SELECT amount, period_id, approved_by, status FROM adjustments WHERE dispute_id = ?", [dsp])
        steps = ws.disputes.history(dsp)
    assert dispute["status"] == "resolved" and dispute["resolution"] == "Renewal credited late; paid as an adjustment."
    assert (adj["amount"].iloc[0], adj["period_id"].iloc[0]) == (Decimal("215.40"), OPEN)
    assert (adj["approved_by"].iloc[0], adj["status"].iloc[0]) == (ANALYST, "approved")
    assert list(steps["actor"]) == [REP, ANALYST, ANALYST]
    ARTIFACTS.mkdir(exist_ok=True)
    queue.screenshot(path=str(ARTIFACTS / "disputes.png"), full_page=True)
    queue.close()

    # 3. The rep sees the answer on the statement (a new page load reads the workspace again).
    rep = _open(browser, server, "rep_statement.ipynb", f'.spm-inquiries tr[data-dispute="{dsp}"]')
    row = rep.locator(f'.spm-inquiries tr[data-dispute="{dsp}"]')
    assert row.locator(".spm-dispute-status").inner_text() == "resolved"
    assert "Renewal credited late" in row.inner_text()
