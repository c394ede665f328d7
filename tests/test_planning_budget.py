"""Compensation budget: the engine runs the plan on hypothetical credits with the quota set.

Worked by hand on tests/test_planning_company.py with the FY2027 quota set of target
665,000.00 (historical, ramp [0.5], even seasonality): quotas A 120,000, B 60,000,
C 60,000 EUR (75,000 USD), D 240,000, E 170,000. budget-plan pays 5% of bookings up to 100%
of the annual quota and 10% above (step on attainment); previous-plan paid 4% of FY2026
bookings.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from spm_kernel.planning import PlanningWarning, Ramp, allocate_quotas
from spm_kernel.planning.budget import compensation_budget
from tests.test_planning_company import (  # noqa: F401
    BUDGET_PLAN,
    PREVIOUS_PLAN,
    ForecasterPlugin,
    planning_template,
    planning_ws,
)

D = Decimal
MANAGER_PLAN = """\
plan_id: manager-plan
version: 1
name: FY2027 manager override
effective_from: 2027-01-01
effective_to: 2027-12-31
assignments:
  - role: manager
components:
  - id: override
    type: rate_table
    measure: {name: team bookings, kinds: [booking], credit_types: [rollup], window: plan_year}
    basis: amount
    application: flat
    scope: cumulative
    tiers:
      - {from: 0, rate: 0.01}
"""


def _setup(planning_ws, **kw):
    ws = planning_ws(**kw)
    for name, text in (("budget-plan", BUDGET_PLAN), ("previous-plan", PREVIOUS_PLAN), ("manager-plan", MANAGER_PLAN)):
        (ws.plans_dir / f"{name}.yaml").write_text(text, encoding="utf-8")
    plan = allocate_quotas(ws, fiscal_year=2027, target="665000.00", ramp=Ramp(factors=[D("0.5")]),
                           seasonality="even")
    return ws, ws.quota_sets.create(plan)


@pytest.mark.slow
def test_without_a_forecaster_the_budget_is_the_cost_at_quota_against_last_year(planning_ws) -> None:
    ws, qs = _setup(planning_ws)
    with pytest.warns(PlanningWarning, match="no forecaster is installed.*100% of quota"):
        budget = compensation_budget(ws, "budget-plan", qs, progress=False)
    assert budget.bookings_source == "quota" and budget.samples == 0
    cost = dict(zip(budget.by_payee["payee_id"], budget.by_payee["cost"]))
    # everyone books exactly their quota: 5% of it; C earns 3,000 EUR = 3,750 USD
    assert cost == {"A": D("6000.00"), "B": D("3000.00"), "C": D("3750.00"), "D": D("12000.00"), "E": D("8500.00")}
    assert budget.by_payee.set_index("payee_id").loc["C", "cost_local"] == D("3000.00")
    assert budget.total["cost"] == D("33250.00") and budget.total["bookings"] == D("665000.00")
    assert budget.total["cost_of_sales"] == pytest.approx(0.05) and budget.total["p50"] is None
    teams = budget.by_team.set_index("team_id")
    assert teams.loc["T1", "cost"] == D("9000.00") and teams.loc["T3", "cost"] == D("20500.00")
    assert budget.by_region.set_index("region_id").loc["R1", "cost"] == D("12750.00")
    # FY2026: 495,000 booked, previous-plan paid 4% = 19,800 (recomputed by the engine: no run)
    prev = budget.previous
    assert (prev["cost"], prev["bookings"]) == (D("19800.00"), D("495000.00"))
    assert prev["source"] == "recomputed: previous-plan v1" and prev["cost_of_sales"] == pytest.approx(0.04)
    table = budget.comparison().set_index("figure")
    assert table.loc["compensation cost", "change"] == pytest.approx(33250 / 19800 - 1)
    assert ws.count("payout_lines") == 0 and ws.count("calc_runs") == 0  # nothing written


@pytest.mark.slow
def test_forecast_samples_give_the_cost_distribution(planning_ws) -> None:
    ws, qs = _setup(planning_ws, plugins=[ForecasterPlugin()])
    budget = compensation_budget(ws, "budget-plan", qs, compare_previous=False, progress=False)
    assert budget.bookings_source == "forecast (test-run-rate, 3 samples)" and budget.samples == 3
    assert "no forecast series (E)" in budget.notes[0]  # the new hire is budgeted at quota
    # point estimate: the forecast means are the run rates, i.e. the quotas: 33,250
    assert budget.total["cost"] == D("33250.00")
    # samples 0.5x / 1x / 1.5x of run rate (E at quota in every sample):
    #   A at 50% earns 3,000; at 150% 120,000 x 5% + 60,000 x 10% = 12,000
    #   s0 = 3,000 + 1,500 + 1,875 + 6,000 + 8,500 = 20,875
    #   s1 = 33,250
    #   s2 = 12,000 + 6,000 + 7,500 + 24,000 + 8,500 = 58,000
    company = budget.distribution.query("level == 'company'").sort_values("sample")
    assert company["cost_cents"].tolist() == [2_087_500, 3_325_000, 5_800_000]
    assert company["bookings_cents"].tolist() == [41_750_000, 66_500_000, 91_250_000]
    # linear quantiles of 3 samples: P10 = s0 + 0.2 (s1 - s0); P90 = s1 + 0.8 (s2 - s1)
    assert (budget.total["p10"], budget.total["p50"], budget.total["p90"]) == (
        D("23350.00"), D("33250.00"), D("53050.00"))
    t1 = budget.by_team.set_index("team_id").loc["T1"]
    # T1 = A + B: s0 4,500, s1 9,000, s2 18,000 -> P10 5,400, P90 16,200
    assert (t1["p10"], t1["p50"], t1["p90"]) == (D("5400.00"), D("9000.00"), D("16200.00"))


@pytest.mark.slow
def test_managers_are_budgeted_on_roll_ups_in_their_currency(planning_ws) -> None:
    ws, qs = _setup(planning_ws)
    budget = compensation_budget(ws, "manager-plan", qs, bookings="quota", compare_previous=False, progress=False)
    rows = budget.by_payee.set_index("payee_id")
    # 1% of the team's bookings at quota: M1 A + B = 180,000 -> 1,800; M2 (EUR) C 60,000 EUR
    # -> 600 EUR = 750 USD; M3 D + E = 410,000 -> 4,100
    assert rows.loc["M1", "cost"] == D("1800.00") and rows.loc["M3", "cost"] == D("4100.00")
    assert (rows.loc["M2", "cost_local"], rows.loc["M2", "cost"]) == (D("600.00"), D("750.00"))
    assert budget.total["cost"] == D("6650.00") and budget.total["cost_of_sales"] == pytest.approx(0.01)
