"""The rep statement app in real Chromium, served by the real ``spm app`` with the signed-in
payee in ``SPM_USER``: the page's figures equal ``ws.statement``; changing the period shows the
closed month as final; an inquiry raised on a line is written as the payee's dispute."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

import spm_kernel
from tests.apps_support import CLOSED, OPEN, PAGE_MS, REP, choose
from tests.conftest import ARTIFACTS, AppServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

APP = "rep_statement.ipynb"


def _money(value: Any) -> str:
    return f"{value:,.2f} USD"


def _wait_text(page: Any, selector: str, text: str, server: AppServer) -> None:
    try:
        page.wait_for_function(
            f"() => (document.querySelector({selector!r}) || {{}}).innerText === {text!r}", timeout=PAGE_MS)
    except Exception as exc:  # noqa: BLE001 - say what the page shows instead
        shown = page.locator(selector).all_inner_texts()
        raise AssertionError(f"{selector} shows {shown}, expected {text!r}\n{server.log_tail()}") from exc


def test_statement_app_shows_explains_and_takes_an_inquiry(server: AppServer, browser: Any,
                                                           company: Path) -> None:
    with spm_kernel.open(company, read_only=True) as ws:
        now, before = ws.statement(REP, OPEN), ws.statement(REP, CLOSED)
    page = browser.new_page(viewport={"width": 1320, "height": 1000})
    page.set_default_timeout(PAGE_MS)  # every action waits as long as a page load may take
    page.goto(server.url + f"voila/render/{APP}", timeout=PAGE_MS)
    try:
        page.wait_for_selector(".spm-statement .spm-kpi-paid .spm-kpi-value", timeout=PAGE_MS)
    except Exception as exc:  # noqa: BLE001 - add the server's log to the failure
        raise AssertionError(f"the statement did not render: {exc}\n{server.log_tail()}") from exc
    assert page.inner_text(".spm-app-header .spm-title") == now.payee_name
    _wait_text(page, ".spm-kpi-paid .spm-kpi-value", _money(now.paid), server)
    assert page.inner_text(".spm-kpi-ytd .spm-kpi-value") == _money(now.year_to_date)
    assert page.inner_text(".spm-kpi-status .spm-kpi-value") == "Preliminary"
    assert page.inner_text('.spm-summary tr[data-item="paid"] td.spm-num') == _money(now.paid)
    assert page.inner_text('.spm-balances tr[data-balance="draw"] td.spm-closing') == _money(now.balance("draw"))
    page.wait_for_selector(".spm-lines .ipydatagrid-widget")  # the grid draws after the widget arrives
    assert page.locator(".spm-lines .ipydatagrid-widget").count() == 1
    # the gauge is drawn with the attainment (plotly's number), not left at its initial 0
    gauge = page.inner_text(".spm-kpi-attainment .spm-kpi-value").replace(",", "")
    assert gauge.endswith("%") and gauge != "0.0%", gauge  # the rep has a measured attainment
    page.wait_for_function("v => (document.querySelector('.spm-gauge .indicatorlayer text.number') || {})"
                           ".textContent === v", arg=gauge, timeout=60_000)
    # Downloads: the kernel's PDF and XLSX renderers, as links.
    page.wait_for_selector("a.spm-download-pdf", timeout=PAGE_MS)
    href = page.get_attribute("a.spm-download-pdf", "href") or ""
    assert href.startswith("data:application/pdf;base64,")
    assert base64.b64decode(href.split(",", 1)[1]).startswith(b"%PDF")
    assert page.get_attribute("a.spm-download-xlsx", "download") == f"statement-{OPEN}-{REP}.xlsx"

    # The closed month: final, and its own figures.
    choose(page, ".spm-filter-period", CLOSED)
    _wait_text(page, ".spm-kpi-status .spm-kpi-value", "Final", server)
    _wait_text(page, ".spm-kpi-paid .spm-kpi-value", _money(before.paid), server)

    # Back to October: explain the commission line, then question the draw top-up.
    choose(page, ".spm-filter-period", OPEN)
    _wait_text(page, ".spm-kpi-status .spm-kpi-value", "Preliminary", server)
    commission = now.lines[now.lines["line_type"] == "earning"].iloc[0]
    choose(page, ".spm-line-picker", f'{commission["line_no"]}. ')
    page.wait_for_selector(f'.spm-line-head[data-line="{commission["line_id"]}"]', timeout=PAGE_MS)
    assert page.inner_text(".spm-line-amount") == _money(commission["amount"])
    assert "step on attainment" in page.inner_text(".spm-explanation")
    assert page.locator(".spm-line-credits tbody tr").count() == int(commission["credit_count"])
    draw = now.lines[now.lines["line_type"] == "draw_topup"].iloc[0]
    choose(page, ".spm-line-picker", f'{draw["line_no"]}. ')
    page.wait_for_selector(f'.spm-line-head[data-line="{draw["line_id"]}"]', timeout=PAGE_MS)
    page.fill(".spm-inquiry-text textarea", "My draw top-up should be lower: a deal closed on 31 Oct.")
    page.click("button.spm-raise-inquiry")
    page.wait_for_selector(".spm-inquiry-notice .spm-notice", timeout=PAGE_MS)
    raised = re.search(r"Inquiry (DSP-\d{6}) raised on line", page.inner_text(".spm-inquiry-notice"))
    assert raised, page.inner_text(".spm-inquiry-notice")
    dispute_id = raised.group(1)  # the session's workspace may hold other tests' inquiries
    assert page.inner_text(f'.spm-inquiries tr[data-dispute="{dispute_id}"] .spm-dispute-status') == "open"
    with spm_kernel.open(company, read_only=True) as ws:
        dispute = ws.disputes.get(dispute_id)
    assert (dispute["line_id"], dispute["raised_by"], dispute["status"]) == (draw["line_id"], REP, "open")
    assert dispute["description"] == "My draw top-up should be lower: a deal closed on 31 Oct."
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "rep_statement.png"), full_page=True)
