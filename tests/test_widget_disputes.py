"""The disputes queue, headless: filter, review, resolve with an approved adjustment or
reject, each step through ``ws.disputes`` with the analyst as the actor."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import spm_kernel
from spm_widgets.disputes_queue import DisputesModel, DisputesView, analyst_name
from tests.apps_support import CLOSED, OPEN, REP, calculated_demo


@pytest.fixture(scope="module")
def company(spm_demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = calculated_demo(spm_demo_template, tmp_path_factory.mktemp("disputes") / "northwind")
    with spm_kernel.open(folder) as ws:
        lines = ws.sql(f"""SELECT line_id, period_id, payee_id, line_type FROM payout_lines
                           WHERE payee_id = '{REP}' ORDER BY period_id DESC, line_no""")
        draw = lines[(lines["period_id"] == OPEN) & (lines["line_type"] == "draw_topup")]["line_id"].iloc[0]
        closed = lines[lines["period_id"] == CLOSED]["line_id"].iloc[0]
        other = ws.sql(f"""SELECT line_id FROM payout_lines WHERE period_id = '{OPEN}' AND payee_id <> '{REP}'
                           ORDER BY line_no LIMIT 1""")["line_id"].iloc[0]
        ws.disputes.raise_inquiry(draw, "My October draw looks too high", actor=REP)           # DSP-000001
        ws.disputes.raise_inquiry(closed, "September commission misses a deal", actor=REP)      # DSP-000002
        ws.disputes.raise_inquiry(other, "Where is my SPIFF?", actor="someone")                 # DSP-000003
    return folder


@pytest.fixture(scope="module")
def view(company: Path) -> DisputesView:
    return DisputesView(DisputesModel.from_path(company, actor="ana.analyst"))


def test_the_queue_lists_every_dispute_with_its_line(view: DisputesView, company: Path) -> None:
    m = view.model
    assert m.counts == {"open": 3, "in_review": 0, "resolved": 0, "rejected": 0}
    assert [d["dispute_id"] for d in m.queue] == ["DSP-000003", "DSP-000002", "DSP-000001"]  # newest first
    with spm_kernel.open(company, read_only=True) as ws:
        amounts = dict(ws.sql("SELECT d.dispute_id, l.amount FROM disputes d JOIN payout_lines l USING (line_id)")
                       .itertuples(index=False))
    assert {d["dispute_id"]: d["amount"] for d in m.queue} == amounts
    assert view.tiles["open"].display_value == "3"
    assert len(view.grid.frame) == 3


def test_filters_by_payee_and_status(view: DisputesView) -> None:
    m = view.model
    view.payee.value = REP
    assert [d["dispute_id"] for d in m.queue] == ["DSP-000002", "DSP-000001"]
    view.status.value = "resolved"
    assert m.queue == [] and view.grid.children[0].value == "No disputes match these filters."
    view.status.value = ""
    view.payee.value = ""
    assert len(m.queue) == 3


def test_resolve_with_an_approved_adjustment(view: DisputesView, company: Path) -> None:
    m = view.model
    view.grid.select_row([d["dispute_id"] for d in m.queue].index("DSP-000001"))
    assert m.selected == "DSP-000001" and m.detail["status"] == "open"
    assert m.detail["line_line_type"] == "draw_topup" and "My October draw" in view.detail.value
    view.review_button.click()
    assert m.detail["status"] == "in_review" and m.counts["in_review"] == 1
    view.amount.value = "12.3456"
    view.resolution.value = "Draw recalculated"
    view.resolve_button.click()  # more decimals than USD has: refused, nothing written
    assert "more decimals" in view.errors.value and m.detail["status"] == "in_review"
    view.amount.value = "-150.25"
    view.resolve_button.click()
    assert view.errors.value == "" and m.detail["status"] == "resolved"
    with spm_kernel.open(company, read_only=True) as ws:
        dispute = ws.disputes.get("DSP-000001")
        adj = ws.sql("SELECT * FROM adjustments WHERE dispute_id = 'DSP-000001'")
        steps = ws.disputes.history("DSP-000001")
    assert dispute["status"] == "resolved" and dispute["resolution"] == "Draw recalculated"
    assert adj["amount"].iloc[0] == Decimal("-150.25") and adj["status"].iloc[0] == "approved"
    assert adj["period_id"].iloc[0] == OPEN and adj["approved_by"].iloc[0] == "ana.analyst"
    assert list(steps["action"]) == ["dispute_raised", "dispute_in_review", "dispute_resolved"]
    assert list(steps["actor"]) == [REP, "ana.analyst", "ana.analyst"]
    assert m.detail["adjustment"]["amount"] == Decimal("-150.25")
    assert "-150.25 USD" in view.detail.value and "paid with 2026-10" in m.notice
    assert m.counts == {"open": 2, "in_review": 0, "resolved": 1, "rejected": 0}
    assert view.actions.layout.display == "none"  # nothing left to do on it


def test_a_closed_period_pays_the_adjustment_in_the_next_open_one(view: DisputesView, company: Path) -> None:
    m = view.model
    view.picker.value = "DSP-000002"  # on a 2026-09 line; 2026-09 is closed
    view.amount.value = "80.00"
    view.resolution.value = "Deal credited late"
    view.resolve_button.click()  # straight from open: the review starts first
    assert view.errors.value == "" and m.detail["status"] == "resolved"
    with spm_kernel.open(company, read_only=True) as ws:
        adj = ws.sql("SELECT period_id, amount FROM adjustments WHERE dispute_id = 'DSP-000002'")
        steps = ws.disputes.history("DSP-000002")
    assert (adj["period_id"].iloc[0], adj["amount"].iloc[0]) == (OPEN, Decimal("80.00"))
    assert list(steps["action"]) == ["dispute_raised", "dispute_in_review", "dispute_resolved"]


def test_reject_says_why(view: DisputesView, company: Path) -> None:
    m = view.model
    view.picker.value = "DSP-000003"
    view.resolution.value = ""
    view.reject_button.click()
    assert "Say why" in view.errors.value and m.detail["status"] == "open"
    view.resolution.value = "The SPIFF ended in June"
    view.reject_button.click()
    assert m.detail["status"] == "rejected" and view.errors.value == ""
    with spm_kernel.open(company, read_only=True) as ws:
        assert ws.disputes.get("DSP-000003")["resolution"] == "The SPIFF ended in June"
        assert ws.sql("SELECT count(*) AS n FROM adjustments WHERE dispute_id = 'DSP-000003'")["n"].iloc[0] == 0
    assert m.counts == {"open": 0, "in_review": 0, "resolved": 2, "rejected": 1}
    view.status.value = "rejected"
    assert [d["dispute_id"] for d in m.queue] == ["DSP-000003"]


def test_the_actor_is_the_signed_in_user_never_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    import __main__

    monkeypatch.delattr(__main__, "SPM_USER", raising=False)
    monkeypatch.delenv("SPM_USER", raising=False)
    monkeypatch.delenv("SPM_ANALYST", raising=False)
    monkeypatch.setenv("QUERY_STRING", "SPM_USER=mallory")
    assert analyst_name() == "analyst"
    monkeypatch.setenv("SPM_USER", "bob")
    assert analyst_name() == "bob"
    monkeypatch.setenv("SPM_ANALYST", "ana")
    assert analyst_name() == "ana"
    monkeypatch.setattr(__main__, "SPM_USER", "carol", raising=False)
    assert analyst_name() == "carol"
