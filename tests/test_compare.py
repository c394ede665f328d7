"""ws.compare: two plans through the same credits, per payee and in total, persisting nothing."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import spm_kernel.plans  # noqa: F401 - import order: plans before plan types
from spm_kernel.plans import load_plan_text
from spm_kernel.workspace import Workspace, open_workspace
from tests.engine_company import REP_PLAN, build_template_with_plans, copy_of

D = Decimal
# A proposed successor: 7% above 5,000, dated next year and not active (compare ignores both).
PROPOSED = (REP_PLAN.replace("plan_id: rep-plan", "plan_id: rep-plan-next").replace("rate: 0.06", "rate: 0.07")
            .replace("effective_from: 2026-01-01", "effective_from: 2027-01-01")
            .replace("effective_to: 2026-12-31", "effective_to: 2027-12-31")
            .replace("name: Rep plan", "name: Rep plan (proposed)\nstatus: proposed"))
TABLES = ("calc_runs", "credits", "payout_lines", "periods", "audit_log", "adjustments")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = build_template_with_plans(tmp_path_factory.mktemp("company") / "ws")
    (folder / "plans" / "rep-plan-next.yaml").write_text(PROPOSED, encoding="utf-8")
    return folder


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Iterator[Workspace]:
    with copy_of(template, tmp_path / "ws") as w:
        yield w


def test_per_payee_differences_and_totals(ws: Workspace) -> None:
    before = {t: ws.count(t) for t in TABLES}
    cmp = ws.compare("rep-plan", "rep-plan-next", "2026-Q1", cadence="month")
    assert cmp.periods == ("2026-01", "2026-02", "2026-03")
    assert (cmp.plan_a, cmp.plan_b) == ("rep-plan v1", "rep-plan-next v1")
    by = cmp.by_payee.set_index("payee_id")
    assert sorted(by.index) == ["R1", "R2"]  # reps only: managers are on neither plan
    # R1 ends the quarter at 540.00 (below 5,000): both plans pay 21.60 in all
    assert (by.loc["R1", "a"], by.loc["R1", "b"], by.loc["R1", "difference"]) == (D("21.60"), D("21.60"), D("0.00"))
    # R2 ends at 5,328.14 EUR: 200 + 328.14 x 6% = 219.69 against 200 + 328.14 x 7% = 222.97
    assert (by.loc["R2", "a"], by.loc["R2", "b"], by.loc["R2", "difference"]) == (D("219.69"), D("222.97"), D("3.28"))
    assert by.loc["R2", "change"] == D("0.0149") and by.loc["R2", "currency"] == "EUR"
    per = cmp.by_period.set_index(["period_id", "currency"])
    # February: 536.00 at 6% against 592.00 at 7%; March gives it back (year-to-date minus paid)
    assert (per.loc[("2026-02", "USD"), "a"], per.loc[("2026-02", "USD"), "b"]) == (D("536.00"), D("592.00"))
    assert per.loc[("2026-03", "USD"), "difference"] == D("-56.00")
    totals = cmp.totals.set_index("currency")
    assert totals.loc["EUR", "difference"] == D("3.28") and totals.loc["USD", "difference"] == D("0.00")
    assert totals.loc["USD", "payees"] == 1
    assert {t: ws.count(t) for t in TABLES} == before  # nothing persisted
    assert "rep-plan v1 vs rep-plan-next v1" in repr(cmp)


def test_plans_given_many_ways(ws: Workspace) -> None:
    edited = load_plan_text(REP_PLAN.replace("rate: 0.06", "rate: 0.10"), ws.registry.plan_types)
    cmp = ws.compare(("rep-plan", 1), edited, ["2026-02", "2026-03"])
    by = cmp.by_payee.set_index("payee_id")
    assert by.loc["R2", "b"] == D("232.81")  # 200 + 328.14 x 10% = 232.814
    cmp2 = ws.compare("rep-plan@1", "rep-plan-v1.yaml", "2026-Q1")
    assert cmp2.periods == ("2026-Q1",) and (cmp2.by_payee["difference"] == 0).all()
    with pytest.raises(KeyError, match="no plan 'nope'"):
        ws.compare("nope", "rep-plan", "2026-Q1")


def test_periods_as_given_or_split(ws: Workspace) -> None:
    year = ws.compare("rep-plan", "rep-plan-next", "FY2026")
    assert year.periods == ("FY2026",)
    quarters = ws.compare("rep-plan", "rep-plan-next", "FY2026", cadence="quarter")
    assert quarters.periods == ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4")
    # year-to-date rates: the year's total is the same however it is cut
    for cmp in (year, quarters):
        assert cmp.by_payee.set_index("payee_id").loc["R2", "b"] == D("222.97")
    with pytest.raises(Exception, match="overlap"):
        ws.compare("rep-plan", "rep-plan-next", ["2026-Q1", "2026-02"])


def test_compare_on_a_read_only_workspace(ws: Workspace) -> None:
    folder = ws.path
    ws.close()
    with open_workspace(folder, read_only=True) as ro:
        cmp = ro.compare("rep-plan", "rep-plan-next", "2026-Q1")
        assert cmp.totals.set_index("currency").loc["EUR", "difference"] == D("3.28")


def test_a_slider_reuses_the_unchanged_plan_and_never_serves_a_stale_one(ws: Workspace) -> None:
    """compare caches each plan's lines by what they depend on (plan content, data, periods):
    editing plan b (as a slider does) recalculates b, never a; changing the data recalculates both."""
    from spm_kernel.engine import compare as compare_module

    first = ws.compare("rep-plan", "rep-plan-next", "2026-Q1", cadence="month")
    seven_and_half = load_plan_text(PROPOSED.replace("rate: 0.07", "rate: 0.075"), ws.registry.plan_types)
    calls: list[str] = []
    real = compare_module._run_plan

    def counting(inputs, periods):  # type: ignore[no-untyped-def]
        calls.append(next(iter(inputs.book)).plan_id)
        return real(inputs, periods)

    compare_module._run_plan = counting
    try:
        moved = ws.compare("rep-plan", seven_and_half, "2026-Q1", cadence="month")
        assert calls == ["rep-plan-next"]  # plan a came from the cache
        # R2: 200 + 328.14 x 7.5% = 224.61 (a fresh plan b, not the cached 7% one)
        by = moved.by_payee.set_index("payee_id")
        assert (by.loc["R2", "a"], by.loc["R2", "b"]) == (D("219.69"), D("224.61"))
        assert moved.totals.set_index("currency").loc["EUR", "a"] == first.totals.set_index("currency").loc["EUR", "a"]
        # the returned lines are the caller's own: changing them does not change the cache
        moved.lines_a["amount"] = D("0")
        again = ws.compare("rep-plan", seven_and_half, "2026-Q1", cadence="month")
        assert calls == ["rep-plan-next"]
        assert again.by_payee.set_index("payee_id").loc["R2", "a"] == D("219.69")
        # new data: both plans run again
        ws.con.execute("UPDATE transactions SET amount = amount * 2")
        doubled = ws.compare("rep-plan", seven_and_half, "2026-Q1", cadence="month")
        assert sorted(calls[1:]) == ["rep-plan", "rep-plan-next"]
        assert doubled.by_payee.set_index("payee_id").loc["R2", "a"] > D("219.69")
    finally:
        compare_module._run_plan = real
