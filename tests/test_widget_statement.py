"""The statement viewer, headless, on the demo company with 2026-09 closed and 2026-10 open:
the model equals ``ws.statement`` / ``run.explain``; an inquiry is written through
``ws.disputes`` with the payee as the actor."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
from decimal import Decimal
from pathlib import Path
from typing import Callable

import openpyxl
import pytest

import spm_kernel
from spm_widgets.components import UserFacingError
from spm_widgets.statement_viewer import StatementModel, StatementView, statement_app
from tests.apps_support import CLOSED, OPEN, REP, calculated_demo


@pytest.fixture(scope="module")
def company(spm_demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return calculated_demo(spm_demo_template, tmp_path_factory.mktemp("statement") / "northwind")


@pytest.fixture(scope="module")
def view(company: Path) -> StatementView:
    view = StatementView(StatementModel.from_path(company, REP, with_downloads=False))
    _on_a_loop(view, view.schedule_downloads)
    return view


def _on_a_loop(view: StatementView, act: Callable[[], None]) -> None:
    """Do ``act`` the way the app does, on a running event loop, and wait for the downloads it
    schedules to be prepared after the page has drawn. A thread of its own gives a loop of its own
    (when the session's Playwright browser is up, the main thread's loop is Playwright's and never
    runs our callback)."""

    async def scheduled() -> None:
        act()
        assert "Preparing PDF and XLSX" in view.downloads.value and not view.model.downloads
        for _ in range(1200):  # the renderers take a few seconds on a busy machine
            if view.model.downloads:
                return
            await asyncio.sleep(0.05)

    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(scheduled())
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]
    assert set(view.model.downloads) == {"pdf", "xlsx"}, "the downloads were never prepared"
    assert ".pdf" in view.downloads.value  # the page shows the links once they are ready


def test_the_statement_equals_the_kernel_statement(view: StatementView, company: Path) -> None:
    m = view.model
    assert m.period_options == [OPEN, CLOSED] and m.period == OPEN
    with spm_kernel.open(company, read_only=True) as ws:
        st = ws.statement(REP, OPEN)
    assert (m.payee_name, m.currency, m.period_status, m.run_id) == (st.payee_name, "USD", "open", st.run_id)
    assert m.paid_amount == st.paid and Decimal(m.year_to_date) == st.year_to_date
    assert [r["line_id"] for r in m.lines] == list(st.lines["line_id"])
    assert [r["amount"] for r in m.lines] == list(st.lines["amount"])
    assert all(isinstance(r["amount"], Decimal) for r in m.lines)
    # The lines add up to what is paid (exact, to the cent): commission + SPIFF + draw top-up.
    assert sum((r["amount"] for r in m.lines), Decimal(0)) == m.paid_amount
    assert {r["line_type"] for r in m.lines} == {"earning", "spiff", "draw_topup"}
    draw = [b for b in m.balances if b["balance"] == "draw"]
    assert draw and draw[0]["closing"] == st.balance("draw") > 0
    assert m.attainment["attainment"] == st.attainment[st.attainment["period_id"] == OPEN]["attainment"].iloc[0]
    # The page shows the same numbers, formatted with the currency's places.
    assert f'{m.paid_amount:,.2f} USD' in view.tile_paid.value
    assert view.gauge.data[0].value == round(float(m.attainment["attainment"]) * 100, 1)
    assert f'{draw[0]["closing"]:,.2f} USD' in view.balances.value
    assert view.tile_status.display_value == "Preliminary"


def test_selecting_a_line_explains_it_with_its_credits(view: StatementView, company: Path) -> None:
    m = view.model
    commission = next(r for r in m.lines if r["line_type"] == "earning")
    position = m.lines.index(commission)
    view.grid.select_row(position)  # a click in the grid selects the line
    assert m.selected_line == commission["line_id"] and view.line_picker.value == commission["line_id"]
    with spm_kernel.open(company, read_only=True) as ws:
        explained = ws.run(m.run_id).explain(REP)
    credits = explained.credits[explained.credits["line_id"] == commission["line_id"]]
    assert len(m.line_credits) == len(credits) == commission["credit_count"] > 0
    assert [c["amount"] for c in m.line_credits] == list(credits["amount"])
    assert "step on attainment" in view.detail.value and "Credits behind this line" in view.detail.value
    assert not view.inquiry_button.disabled
    view.line_picker.value = ""
    assert m.selected_line == "" and view.inquiry_button.disabled


def test_downloads_are_the_kernel_renderers_output(view: StatementView) -> None:
    m = view.model
    pdf = m.downloads["pdf"]
    assert pdf["filename"] == f"statement-{OPEN}-{REP}.pdf"
    assert base64.b64decode(pdf["data"]).startswith(b"%PDF")
    book = openpyxl.load_workbook(io.BytesIO(base64.b64decode(m.downloads["xlsx"]["data"])))
    numbers = [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row
               if isinstance(c.value, (int, float))]
    assert round(float(m.paid_amount), 2) in [round(n, 2) for n in numbers]
    assert f'download="statement-{OPEN}-{REP}.xlsx"' in view.downloads.value


def test_raising_an_inquiry_writes_a_dispute_as_the_payee(view: StatementView, company: Path) -> None:
    m = view.model
    draw = next(r for r in m.lines if r["line_type"] == "draw_topup")
    view.line_picker.value = draw["line_id"]
    view.inquiry_text.value = ""
    view.inquiry_button.click()
    assert "Say what looks wrong" in view.errors.value and m.inquiries == []
    view.inquiry_text.value = "  The Oak Media deal is missing from my commission.  "
    view.inquiry_button.click()
    assert view.errors.value == "" and view.inquiry_text.value == ""
    with spm_kernel.open(company, read_only=True) as ws:
        found = ws.disputes.list(payee_id=REP)
        history = ws.disputes.history(found["dispute_id"].iloc[0])
    assert len(found) == 1
    row = found.iloc[0]
    assert (row["line_id"], row["status"], row["raised_by"]) == (draw["line_id"], "open", REP)
    assert row["description"] == "The Oak Media deal is missing from my commission."
    assert list(history["action"]) == ["dispute_raised"] and list(history["actor"]) == [REP]
    assert [d["dispute_id"] for d in m.inquiries] == [row["dispute_id"]]
    assert f"Inquiry {row['dispute_id']} raised on line {draw['line_no']}" in view.notice.value
    assert 'spm-badge-open' in view.inquiries.value


def test_the_closed_period_is_final(view: StatementView, company: Path) -> None:
    def choose_closed() -> None:
        view.period.value = CLOSED

    _on_a_loop(view, choose_closed)
    m = view.model
    with spm_kernel.open(company, read_only=True) as ws:
        st = ws.statement(REP, CLOSED)
    assert m.period == CLOSED and m.period_status == "closed" and m.paid_amount == st.paid
    assert view.tile_status.display_value == "Final"
    assert m.inquiries == []  # the inquiry was on a 2026-10 line
    assert m.downloads["pdf"]["filename"] == f"statement-{CLOSED}-{REP}.pdf"


def test_who_is_shown_and_friendly_errors(company: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserFacingError, match="No payee 'P9999999'"):
        StatementModel.from_path(company, "P9999999", with_downloads=False)
    monkeypatch.delenv("SPM_USER", raising=False)
    panel = statement_app(company)
    assert "spm-error-panel" in panel._dom_classes and "nobody is signed in" in panel.value
    with spm_kernel.open(company, read_only=True) as ws:
        unpaid = ws.sql("SELECT payee_id FROM payees WHERE payee_id NOT IN "
                        "(SELECT payee_id FROM payout_lines) ORDER BY 1 LIMIT 1")
    assert len(unpaid) == 1  # some payees (not on a plan) have never been paid
    panel = statement_app(company, payee=str(unpaid["payee_id"].iloc[0]))
    assert "no statement for you yet" in panel.value


def test_a_period_shown_before_comes_from_memory_until_the_workspace_changes(
        company: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.widget_checks import count_workspace_opens, write_from_another_connection

    model = StatementModel.from_path(company, REP, OPEN, with_downloads=False)
    model.show(CLOSED, with_downloads=False)
    opened = count_workspace_opens(monkeypatch)
    model.show(OPEN, with_downloads=False)
    assert opened == [] and model.period == OPEN  # from memory
    write_from_another_connection(company, "UPDATE payees SET name = 'Renamed Payee' WHERE payee_id = ?", [REP])
    model.show(CLOSED, with_downloads=False)
    assert len(opened) == 1 and model.payee_name == "Renamed Payee"  # the change on disk is read
