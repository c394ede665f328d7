"""Close and prior-period adjustments: a change touching a closed period (late deal, corrected
amount, cancellation, plan fix) becomes adjustment lines in the first open period, linked to
the lines they correct; closed history is never modified (compared byte for byte)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import spm_kernel.plans  # noqa: F401 - import order: plans before plan types
from spm_kernel.engine import EngineError, Run
from spm_kernel.workspace import Workspace
from tests.engine_company import REP_PLAN, build_template_with_plans, copy_of, late_deal

D = Decimal


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template_with_plans(tmp_path_factory.mktemp("company") / "ws")


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Iterator[Workspace]:
    with copy_of(template, tmp_path / "ws") as w:
        yield w


def closed_bytes(ws: Workspace, period_id: str) -> bytes:
    """Every stored row of a closed period (its run, lines, credits, period row), serialised."""
    run_id = ws.con.execute("SELECT closed_run_id FROM periods WHERE period_id = ?", [period_id]).fetchall()[0][0]
    sink = pa.BufferOutputStream()
    for query in (f"SELECT * FROM periods WHERE period_id = '{period_id}'",
                  f"SELECT * FROM calc_runs WHERE run_id = '{run_id}'",
                  f"SELECT * FROM payout_lines WHERE run_id = '{run_id}' ORDER BY line_no",
                  f"SELECT * FROM credits WHERE run_id = '{run_id}' ORDER BY credit_no"):
        table = ws.con.sql(query).to_arrow_table()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return sink.getvalue().to_pybytes()


def adjustments(run: Run) -> dict[tuple[str, str], Decimal]:
    lines = run.lines()
    lines = lines.loc[lines["corrects_period_id"].notna()]
    return {(r.payee_id, r.corrects_period_id): r.amount for r in lines.itertuples()}


def own(run: Run) -> dict[str, Decimal]:
    lines = run.lines()
    lines = lines.loc[lines["corrects_period_id"].isna()]
    return dict(zip(lines["payee_id"], lines["amount"]))


def close_feb(ws: Workspace) -> Run:
    feb = ws.calculate("2026-02", progress=False)
    ws.close_period("2026-02", actor="controller")
    return feb


def test_close_freezes_the_latest_run(ws: Workspace) -> None:
    feb = close_feb(ws)
    row = ws.table("periods").set_index("period_id").loc["2026-02"]
    assert (row.status, row.closed_by, row.closed_run_id) == ("closed", "controller", feb.run_id)
    with pytest.raises(EngineError, match="period 2026-02 is closed"):
        ws.calculate("2026-02", progress=False)
    with pytest.raises(EngineError, match="period 2026-02 is closed"):
        ws.close_period("2026-02")
    assert ws.run(period="2026-02").run_id == feb.run_id
    assert list(ws.sql("SELECT action FROM audit_log WHERE action <> 'import' ORDER BY seq")["action"]) == [
        "calculate", "close_period"]  # imports are audited too (issue 9)


def test_late_deal_becomes_adjustments_linked_to_the_closed_lines(ws: Workspace) -> None:
    feb = close_feb(ws)
    before = closed_bytes(ws, "2026-02")
    late_deal(ws)  # 1,000.00 on 2026-02-25 for R1, whose manager is then M2
    march = ws.calculate("2026-03", progress=False)
    # Feb recalculated: R1 YTD 11,600.01 -> 596.00 (was 536.00); M2 1,600.01 -> 16.00 (was 6.00)
    assert adjustments(march) == {("R1", "2026-02"): D("60.00"), ("M2", "2026-02"): D("10.00")}
    lines = march.lines().set_index(["payee_id", "corrects_period_id"])
    feb_lines = feb.lines().set_index("payee_id")
    assert lines.loc[("R1", "2026-02"), "corrects_line_id"] == feb_lines.loc["R1", "line_id"]
    assert lines.loc[("M2", "2026-02"), "corrects_line_id"] == feb_lines.loc["M2", "line_id"]
    assert lines.loc[("R1", "2026-02"), "period_id"] == "2026-03"
    assert lines.loc[("R1", "2026-02"), "line_type"] == "earning"
    assert "recalculated 596.00 - already accounted 536.00 = 60.00" in lines.loc[("R1", "2026-02"), "formula"]
    # March counts the adjustment as already paid: 61.60 - (536.00 + 60.00)
    assert own(march) == {"R1": D("-534.40"), "R2": D("205.09"), "M1": D("55.16"), "M2": D("-100.60")}
    assert closed_bytes(ws, "2026-02") == before
    assert feb.lines()["amount"].sum() == D("660.60")
    assert march.restated["2026-02"] != feb.restated["2026-02"]


def test_corrected_amount_in_a_closed_period(ws: Workspace) -> None:
    close_feb(ws)
    before = closed_bytes(ws, "2026-02")
    ws.load("transactions", pd.DataFrame({
        "transaction_id": ["T2"], "opportunity_id": ["D2"], "kind": ["booking"], "amount": ["1500.01"],
        "currency": ["USD"], "transaction_date": ["2026-02-20"]}))
    march = ws.calculate("2026-03", progress=False)
    # T2 1,500.01 splits 900.01 / 600.00: R1 10,900.01 -> 554.00 (+18.00); R2 600.00 USD = 547.41 EUR
    # -> 21.90 (+7.30 EUR); M1 10,600.00 -> 106.00 (+2.00); M2 900.01 -> 9.00 (+3.00)
    assert adjustments(march) == {("R1", "2026-02"): D("18.00"), ("R2", "2026-02"): D("7.30"),
                                  ("M1", "2026-02"): D("2.00"), ("M2", "2026-02"): D("3.00")}
    assert own(march)["R1"] == D("-520.40")  # YTD 840.00 -> 33.60 - (536.00 + 18.00)
    assert closed_bytes(ws, "2026-02") == before


def test_cancellation_dated_in_a_closed_period(ws: Workspace) -> None:
    close_feb(ws)
    before = closed_bytes(ws, "2026-02")
    ws.load("fx_rates", pd.DataFrame({"rate_date": ["2026-02-26"], "from_currency": ["USD"],
                                      "to_currency": ["EUR"], "rate": ["0.91234567"]}))
    ws.load("transactions", pd.DataFrame({
        "transaction_id": ["T21"], "opportunity_id": ["D2"], "kind": ["cancellation"], "amount": ["-1000.01"],
        "currency": ["USD"], "transaction_date": ["2026-02-26"], "original_transaction_id": ["T2"]}))
    march = ws.calculate("2026-03", progress=False)
    # T2 fully cancelled: R1 10,000.00 -> 500.00 (-36.00); R2 0 (-14.60 EUR); M1 10,000 (-4.00); M2 0 (-6.00)
    assert adjustments(march) == {("R1", "2026-02"): D("-36.00"), ("R2", "2026-02"): D("-14.60"),
                                  ("M1", "2026-02"): D("-4.00"), ("M2", "2026-02"): D("-6.00")}
    assert closed_bytes(ws, "2026-02") == before


def test_plan_fix_for_a_closed_period(ws: Workspace) -> None:
    close_feb(ws)
    before = closed_bytes(ws, "2026-02")
    (ws.plans_dir / "rep-plan-v2.yaml").write_text(
        REP_PLAN.replace("version: 1", "version: 2").replace("rate: 0.06", "rate: 0.07"), encoding="utf-8")
    march = ws.calculate("2026-03", progress=False)
    # R1 Feb under v2: 5,000 x 4% + 5,600.01 x 7% = 592.0007 -> 592.00 (+56.00); R2 is below 5,000: unchanged
    assert adjustments(march) == {("R1", "2026-02"): D("56.00")}
    lines = march.lines().set_index(["payee_id", "corrects_period_id"])
    assert lines.loc[("R1", "2026-02"), "plan_version"] == 2
    assert own(march)["R1"] == D("-570.40")  # 21.60 - (536.00 + 56.00)
    assert closed_bytes(ws, "2026-02") == before


def test_recalculating_the_open_period_does_not_double_adjustments(ws: Workspace) -> None:
    close_feb(ws)
    late_deal(ws)
    first = ws.calculate("2026-03", progress=False)
    second = ws.calculate("2026-03", progress=False)
    assert adjustments(second) == adjustments(first) == {("R1", "2026-02"): D("60.00"), ("M2", "2026-02"): D("10.00")}
    assert own(second) == own(first)
    assert second.input_hash == first.input_hash


def test_adjustments_across_several_closed_periods(ws: Workspace) -> None:
    close_feb(ws)
    ws.calculate("2026-03", progress=False)
    ws.close_period("2026-03")
    feb_bytes, mar_bytes = closed_bytes(ws, "2026-02"), closed_bytes(ws, "2026-03")
    quiet = ws.calculate("2026-04", progress=False)
    assert adjustments(quiet) == {}  # nothing changed: nothing restated
    late_deal(ws)
    april = ws.calculate("2026-04", progress=False)
    # Feb: R1 +60.00, M2 +10.00. March recalculated on top: R1 61.60 - 596.00 = -534.40, was -514.40: -20.00;
    # M2 -84.60 - 16.00 = -100.60, as before.
    assert adjustments(april) == {("R1", "2026-02"): D("60.00"), ("M2", "2026-02"): D("10.00"),
                                  ("R1", "2026-03"): D("-20.00")}
    assert own(april).get("R1", D(0)) == D("0.00")  # 61.60 - (536.00 + 60.00 - 514.40 - 20.00)
    assert closed_bytes(ws, "2026-02") == feb_bytes and closed_bytes(ws, "2026-03") == mar_bytes


def test_adjustments_go_to_the_first_open_period(ws: Workspace) -> None:
    close_feb(ws)
    late_deal(ws)
    april = ws.calculate("2026-04", progress=False)  # March is open (never calculated): it is the first
    assert adjustments(april) == {}
    march = ws.calculate("2026-03", progress=False)
    assert adjustments(march) == {("R1", "2026-02"): D("60.00"), ("M2", "2026-02"): D("10.00")}


def test_closing_needs_current_inputs_unless_forced(ws: Workspace) -> None:
    feb = ws.calculate("2026-02", progress=False)
    late_deal(ws)
    with pytest.raises(EngineError, match="inputs of 2026-02 changed since its latest run"):
        ws.close_period("2026-02")
    assert ws.close_period("2026-02", force=True).run_id == feb.run_id
    march = ws.calculate("2026-03", progress=False)  # the forced close is corrected at once
    assert adjustments(march) == {("R1", "2026-02"): D("60.00"), ("M2", "2026-02"): D("10.00")}


def test_a_closed_quarter_closes_its_months(ws: Workspace) -> None:
    ws.calculate("2026-Q1", progress=False)
    ws.close_period("2026-Q1")
    with pytest.raises(EngineError, match="period 2026-02 overlaps closed period 2026-Q1"):
        ws.calculate("2026-02", progress=False)
