"""Disputes: open -> in_review -> resolved (with an approved manual adjustment paid by the next
run of its period) or rejected; every step in the audit log with who and when."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import spm_kernel.plans  # noqa: F401 - import order: plans before plan types
from spm_kernel.engine import EngineError
from spm_kernel.workspace import Workspace
from tests.engine_company import build_template_with_plans, copy_of

D = Decimal


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template_with_plans(tmp_path_factory.mktemp("company") / "ws")


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Iterator[Workspace]:
    with copy_of(template, tmp_path / "ws") as w:
        yield w


def r1_line(ws: Workspace, period: str = "2026-02") -> str:
    run = ws.run(period=period)
    lines = run.lines()
    return str(lines.loc[lines["payee_id"] == "R1", "line_id"].iloc[0])


def test_resolved_dispute_is_paid_by_the_next_run(ws: Workspace) -> None:
    ws.calculate("2026-02", progress=False)
    line = r1_line(ws)
    d = ws.disputes.raise_inquiry(line, "my Acme expansion is missing", actor="R1")
    assert ws.disputes.get(d)["status"] == "open" and ws.disputes.get(d)["payee_id"] == "R1"
    ws.disputes.start_review(d, actor="analyst", note="checking the CRM")
    adj = ws.disputes.resolve(d, amount="120.50", resolution="expansion booked under the wrong owner",
                              actor="comp-manager")
    dispute = ws.disputes.get(d)
    assert (dispute["status"], dispute["adjustment_id"]) == ("resolved", adj)
    assert dispute["resolution"] == "expansion booked under the wrong owner"
    row = ws.table("adjustments").set_index("adjustment_id").loc[adj]
    assert (row.status, row.period_id, row.amount, row.currency, row.original_line_id, row.approved_by) == (
        "approved", "2026-02", D("120.50"), "USD", line, "comp-manager")
    # the next run of February pays it as a manual line linked to the disputed line
    run = ws.calculate("2026-02", progress=False)
    manual = run.lines().query("plan_id == 'manual'")
    assert len(manual) == 1
    m = manual.iloc[0]
    assert (m.payee_id, m.line_type, m.amount, m.corrects_line_id, m.reference) == (
        "R1", "adjustment", D("120.50"), line, adj)
    assert "approved by comp-manager" in m.formula
    totals = run.totals().set_index("payee_id")
    assert totals.loc["R1", "total"] == D("656.50")  # 536.00 + 120.50
    # and March's year-to-date arithmetic is not disturbed by it
    march = ws.calculate("2026-03", progress=False)
    assert march.lines().query("payee_id == 'R1'")["amount"].tolist() == [D("-514.40")]


def test_every_step_is_audited_with_actor_and_time(ws: Workspace) -> None:
    ws.calculate("2026-02", progress=False)
    d = ws.disputes.raise_inquiry(r1_line(ws), "rate looks wrong", actor="R1")
    ws.disputes.start_review(d, actor="analyst")
    ws.disputes.reject(d, resolution="the 6% tier starts at 5,000 as the plan says", actor="analyst")
    history = ws.disputes.history(d)
    assert list(history["action"]) == ["dispute_raised", "dispute_in_review", "dispute_rejected"]
    assert list(history["actor"]) == ["R1", "analyst", "analyst"]
    assert history["occurred_at"].is_monotonic_increasing and history["occurred_at"].notna().all()
    assert json.loads(history["detail"].iloc[2])["from"] == "in_review"
    assert ws.disputes.get(d)["status"] == "rejected"
    assert ws.count("adjustments") == 0
    seqs = ws.table("audit_log")
    assert list(seqs["seq"]) == list(range(1, len(seqs) + 1))
    assert (seqs["prev_hash"].iloc[1:].to_numpy() == seqs["hash"].iloc[:-1].to_numpy()).all()


def test_invalid_moves_are_refused(ws: Workspace) -> None:
    ws.calculate("2026-02", progress=False)
    d = ws.disputes.raise_inquiry(r1_line(ws), "why?", actor="R1")
    with pytest.raises(EngineError, match=f"dispute {d} is open: it can move to in_review, not to resolved"):
        ws.disputes.resolve(d, amount="1.00", resolution="x", actor="a")
    with pytest.raises(EngineError, match="not to rejected"):
        ws.disputes.reject(d, resolution="no", actor="a")
    ws.disputes.start_review(d, actor="a")
    with pytest.raises(EngineError, match="non-zero adjustment"):
        ws.disputes.resolve(d, amount="0", resolution="nothing", actor="a")
    with pytest.raises(EngineError, match="more decimals than USD allows"):
        ws.disputes.resolve(d, amount="1.005", resolution="x", actor="a")
    ws.disputes.reject(d, resolution="no", actor="a")
    with pytest.raises(EngineError, match="it can move to nothing"):
        ws.disputes.start_review(d, actor="a")
    with pytest.raises(EngineError, match="no payout line 'nope'"):
        ws.disputes.raise_inquiry("nope", "x", actor="R1")
    assert list(ws.disputes.list()["status"]) == ["rejected"]


def test_dispute_on_a_closed_period_is_paid_in_the_first_open_period(ws: Workspace) -> None:
    ws.calculate("2026-02", progress=False)
    ws.close_period("2026-02")
    d = ws.disputes.raise_inquiry(r1_line(ws), "missing deal", actor="R1")
    ws.disputes.start_review(d, actor="analyst")
    adj = ws.disputes.resolve(d, amount="-20.00", resolution="over-credited split", actor="analyst")
    assert ws.table("adjustments").set_index("adjustment_id").loc[adj, "period_id"] == "2026-03"
    march = ws.calculate("2026-03", progress=False)
    manual = march.lines().query("plan_id == 'manual'")
    assert manual["amount"].tolist() == [D("-20.00")]
