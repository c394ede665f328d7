"""ws.calculate / spm calc: payout lines for every payee in one transaction, the run record,
identical results for unchanged inputs, explanations, the CLI. Numbers are worked by hand in
tests/engine_company.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import spm_kernel.plans  # noqa: F401 - import order: plans before plan types
from spm_kernel.cli import build_app
from spm_kernel.engine import EngineError, Run
from spm_kernel.periods import PeriodError
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


def amounts(run: Run) -> dict[tuple[str, str], Decimal]:
    lines = run.lines()
    return {(r.payee_id, r.component): r.amount for r in lines.itertuples()}


def test_february_lines_for_every_payee(ws: Workspace) -> None:
    run = ws.calculate("2026-02", progress=False)
    assert amounts(run) == {
        ("R1", "commission"): D("536.00"),  # 5,000 x 4% + 5,600.01 x 6% = 536.0006
        ("R2", "commission"): D("14.60"),   # 364.94 EUR x 4% = 14.5976
        ("M1", "override"): D("104.00"),    # 1% of roll-ups 10,000.00 + 400.00
        ("M2", "override"): D("6.00"),      # 1% of 600.01
    }
    lines = run.lines().set_index("payee_id")
    assert lines.loc["R2", "currency"] == "EUR" and lines.loc["R1", "currency"] == "USD"
    assert lines.loc["R1", "plan_id"] == "rep-plan" and lines.loc["R1", "plan_version"] == 1
    assert lines.loc["R1", "tier"] == "5,000+" and lines.loc["R1", "rate"] == D("0.06")
    assert "5,000.00 x 4% + 5,600.01 x 6%" in lines.loc["R1", "formula"]
    assert lines.loc["R1", "measure_value"] == D("10600.01")
    assert sorted(lines.loc["R1", "credit_ids"]) == ["T1/R1/direct", "T2/R1/split"]


def test_the_run_is_recorded(ws: Workspace) -> None:
    run = ws.calculate("2026-02", actor="ana", progress=False)
    row = ws.table("calc_runs").set_index("run_id").loc[run.run_id]
    assert row.status == "succeeded" and row.period_id == "2026-02" and row.created_by == "ana"
    assert row.credit_count == 10 and row.line_count == 4  # credits Jan 1 .. Feb 28: T1 x3, T2 x7
    assert len(row.input_hash) == 32
    versions = json.loads(row.plan_versions)
    assert versions["rep-plan"][0]["version"] == 1 and versions["rep-plan"][0]["used"] is True
    assert len(versions["rep-plan"][0]["content_hash"]) == 64
    timings = json.loads(row.timings)
    steps = ("inputs", "credits", "store_credits", "frame", "restate", "calculate", "write_lines", "total")
    assert set(steps) | {f"{k}_cpu" for k in steps} <= set(timings)
    assert ws.count("credits") == 10 and set(ws.table("credits")["run_id"]) == {run.run_id}
    period = ws.table("periods").set_index("period_id").loc["2026-02"]
    assert (period.status, period.kind, str(period.end_date)[:10]) == ("open", "month", "2026-02-28")
    audit = ws.sql("SELECT * FROM audit_log WHERE action <> 'import' ORDER BY seq")  # imports: issue 9
    assert list(audit["action"]) == ["calculate"] and audit["entity"].iloc[0] == f"run:{run.run_id}"
    assert Run.load(ws, run.run_id).input_hash == run.input_hash


def test_recalculating_unchanged_inputs_gives_identical_results(ws: Workspace) -> None:
    first = ws.calculate("2026-02", progress=False)
    second = ws.calculate("2026-02", progress=False)
    assert first.run_id != second.run_id and first.input_hash == second.input_hash
    drop = ["line_id", "run_id"]
    pd.testing.assert_frame_equal(first.lines().drop(columns=drop), second.lines().drop(columns=drop))
    pd.testing.assert_frame_equal(first.credits().drop(columns=["credit_no", "run_id"]),
                                  second.credits().drop(columns=["credit_no", "run_id"]))
    # the latest run is the period's result; the first stays in the ledger untouched
    assert ws.run(period="2026-02").run_id == second.run_id
    assert len(first.lines()) == 4


def test_march_after_february_pays_year_to_date_minus_paid(ws: Workspace) -> None:
    ws.calculate("2026-02", progress=False)
    march = ws.calculate("2026-03", progress=False)
    assert amounts(march) == {
        ("R1", "commission"): D("-514.40"),  # YTD 540.00 -> 21.60, already paid 536.00
        ("R2", "commission"): D("205.09"),   # YTD 5,328.14 EUR -> 219.69 - 14.60
        ("M1", "override"): D("55.16"),      # 159.16 - 104.00
        ("M2", "override"): D("-100.60"),    # -94.60 - 6.00: the cancellation rolls to R1's new manager
    }
    assert march.lines()["corrects_period_id"].isna().all()


def test_a_quarter_is_calculated_as_one_period(ws: Workspace) -> None:
    q1 = ws.calculate("2026-Q1", progress=False)
    assert amounts(q1)[("R1", "commission")] == D("21.60")
    assert amounts(q1)[("R2", "commission")] == D("219.69")
    assert ws.table("periods").set_index("period_id").loc["2026-Q1", "kind"] == "quarter"


def test_progress_bar(ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    ws.calculate("2026-02", progress=True)
    assert "spm calc 2026-02" in capsys.readouterr().err


def test_explain_as_data_and_text(ws: Workspace) -> None:
    run = ws.calculate("2026-02", progress=False)
    exp = run.explain("R1")
    line = exp.lines.iloc[0]
    assert (line.component, line.plan_version, line.tier, line.rate, line.amount) == (
        "commission", 1, "5,000+", D("0.06"), D("536.00"))
    assert line.credit_count == 2 and line.credit_total == D("10600.01")
    assert list(exp.credits["transaction_id"]) == ["T1", "T2"]
    assert list(exp.credits["rule"]) == ["owner", "revenue_split"]
    text = str(exp)
    assert "Payee R1 (Ria), period 2026-02" in text
    assert "step on amount: 5,000.00 x 4% + 5,600.01 x 6%" in text
    assert "2026-02-20 T2 booking split 60.00% by revenue_split: 600.01 USD" in text
    assert text.rstrip().endswith("Total: 536.00 USD")
    # R2's credit came from USD: the text shows the conversion
    assert "from 400.00 USD at 0.91234567, USD->EUR 2026-02-20" in str(run.explain("R2"))
    assert exp.total == D("536.00")
    assert run.explain("VP").lines.empty and "No payout lines." in str(run.explain("VP"))


def test_unknown_or_closed_periods_are_refused(ws: Workspace) -> None:
    with pytest.raises(PeriodError, match="unknown period '2026-13': month must be 1..12"):
        ws.calculate("2026-13", progress=False)
    with pytest.raises(EngineError, match="has never been calculated"):
        ws.close_period("2026-04")
    with pytest.raises(EngineError, match="no succeeded run"):
        ws.run(period="2026-04")


def test_cli_calc_close_explain(ws: Workspace) -> None:
    folder = ws.path
    ws.close()
    runner = CliRunner()
    result = runner.invoke(build_app(), ["calc", "2026-02", "-w", str(folder), "--quiet", "--actor", "ops"])
    assert result.exit_code == 0, result.output
    assert "4 lines" in result.output and "10 credits" in result.output
    assert "USD" in result.output and "646.00" in result.output  # 536.00 + 104.00 + 6.00
    result = runner.invoke(build_app(), ["explain", "R1", "2026-02", "-w", str(folder)])
    assert result.exit_code == 0 and "536.00 USD" in result.output
    result = runner.invoke(build_app(), ["close", "2026-02", "-w", str(folder), "--actor", "ops"])
    assert result.exit_code == 0 and "closed 2026-02" in result.output
    result = runner.invoke(build_app(), ["calc", "2026-02", "-w", str(folder), "--quiet"])
    assert result.exit_code == 1 and "period 2026-02 is closed" in result.output


OVERLAY_PLAN = """\
plan_id: overlay-plan
version: 1
name: Overlay plan
effective_from: 2026-01-01
effective_to: 2026-12-31
assignments:
  - role: overlay
components:
  - id: revenue_only
    type: rate_table
    measure: {name: bookings, kinds: [booking, cancellation, refund], window: plan_year}
    basis: amount
    application: flat
    tiers:
      - {from: 0, rate: 0.05}
  - id: overlay_commission
    type: rate_table
    measure: {name: overlay bookings, kinds: [booking, cancellation, refund], credit_types: [overlay],
              window: plan_year}
    basis: amount
    application: flat
    tiers:
      - {from: 0, rate: 0.02}
"""


def test_overlay_credit_counts_only_when_the_plan_asks(ws: Workspace) -> None:
    (ws.plans_dir / "overlay-plan.yaml").write_text(OVERLAY_PLAN, encoding="utf-8")
    march = ws.calculate("2026-Q1", progress=False)
    lines = march.lines().query("plan_id == 'overlay-plan'")
    paid = lines.groupby(["payee_id", "component"])["amount"].sum().to_dict()
    # the default measure (direct, split, rule credit) leaves overlay credit out
    assert all(v == 0 for (p, c), v in paid.items() if c == "revenue_only")
    # asked for: OV 2% of 1,000.01 - 100.01 = 18.00; SP 2% of 4,228.39 GBP (rule credit labelled overlay) = 84.57
    assert paid[("OV", "overlay_commission")] == D("18.00")
    assert paid[("SP", "overlay_commission")] == D("84.57")


def test_walk_order_orders_like_credit_id(ws: Workspace) -> None:
    import sys

    from spm_kernel.crediting import compute_credits, drop_credits

    calculate_module = sys.modules["spm_kernel.engine.calculate"]
    # same owner, same day: "T7-1/R1/direct" sorts before "T7/R1/direct" ('-' < '/'),
    # although "T7" < "T7-1" as plain ids
    ws.load("transactions", pd.DataFrame({
        "transaction_id": ["T7", "T7-1"], "opportunity_id": ["D1", "D1"], "kind": ["booking", "booking"],
        "amount": ["1.00", "2.00"], "currency": ["USD", "USD"], "transaction_date": ["2026-02-20", "2026-02-20"]}))
    compute_credits(ws.con, date(2026, 2, 1), date(2026, 3, 31))
    try:
        frame = calculate_module.credits_frame(ws.con).astype({"payee_id": str})
    finally:
        drop_credits(ws.con)
    by_id = frame.sort_values(["payee_id", "credit_date", "credit_id"])["credit_id"].tolist()
    by_walk = frame.sort_values(["payee_id", "credit_date", "walk_order"])["credit_id"].tolist()
    assert by_id == by_walk
    r1 = [c for c in by_walk if c.split("/")[1] == "R1" and c.startswith("T7")]
    assert r1 == ["T7-1/R1/direct", "T7/R1/direct"]
