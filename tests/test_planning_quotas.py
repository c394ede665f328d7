"""Quotas: exact allocation, ramp, top-down and bottom-up, methods, fallback, fairness.

Numbers are worked by hand from tests/test_planning_company.py (run rates per month: A 10,000,
B 5,000, C 6,250 (5,000 EUR at 1.25), D 20,000 USD; E hired 2027-04-01 has none).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spm_kernel.planning import (
    PlanningError,
    PlanningWarning,
    Ramp,
    allocate_by_group,
    allocate_quotas,
    effective_months,
    fairness,
    gini,
    largest_remainder,
)
from spm_kernel.workspace import Workspace
from tests.test_planning_company import ForecasterPlugin, planning_template, planning_ws  # noqa: F401

D = Decimal


# ---- the allocation core ----
def test_largest_remainder_gives_the_leftover_cents_to_the_largest_remainders() -> None:
    # 100.00 / 3: floors 3,333 x 3 = 9,999; the one cent left goes to the first (ties by order)
    assert largest_remainder(10_000, [1, 1, 1]).tolist() == [3334, 3333, 3333]
    # 0.25 : 1 : 1 of 100.00 -> exact 1,111.11.. / 4,444.44.. / 4,444.44..; floors sum to 9,999;
    # the two .44 remainders tie and the earlier wins
    assert largest_remainder(10_000, [D("0.25"), D("1"), D("1")]).tolist() == [1111, 4445, 4444]
    # 7 cents by 1:2 -> 2.33 / 4.67: floors 2 + 4, the cent goes to the .67
    assert largest_remainder(7, [1, 2]).tolist() == [2, 5]
    assert largest_remainder(0, [1, 5]).tolist() == [0, 0]


def test_grouped_allocation_is_exact_per_group_and_splits_all_zero_groups_evenly() -> None:
    shares = allocate_by_group([100, 7, 5], [0, 1, 1, 0, 2, 2], [1, 1, 2, 3, 0, 0])
    assert shares.tolist() == [25, 2, 5, 75, 3, 2]
    with pytest.raises(PlanningError, match="no one to allocate to"):
        allocate_by_group([100, 5], [0, 0], [1, 1])
    with pytest.raises(PlanningError, match="negative"):
        largest_remainder(100, [1, -1])


@settings(max_examples=200, deadline=None)
@given(total=st.integers(min_value=0, max_value=10**14),
       weights=st.lists(st.one_of(st.integers(min_value=0, max_value=10**9),
                                  st.floats(min_value=0, max_value=1e9, allow_nan=False)), min_size=1, max_size=40))
def test_every_allocation_sums_to_the_cent_and_stays_within_a_cent_of_proportional(total: int, weights: list) -> None:
    shares = largest_remainder(total, weights)
    assert int(shares.sum()) == total
    assert (shares >= 0).all()
    w = np.array([float(x) for x in weights])
    if w.sum() > 0:
        # within a cent of the exact share (floats are first turned into 12-digit integers,
        # which may move a share by total x 1e-12 more)
        exact = total * w / w.sum()
        assert np.all(np.abs(shares - exact) <= 1.0 + 1e-9 * total)


# ---- ramp ----
def test_effective_months_prorate_the_hire_month_and_apply_the_ramp() -> None:
    people = pd.DataFrame({"hire_date": [date(2027, 3, 16), date(2020, 1, 1)],
                           "termination_date": [None, date(2027, 2, 14)], "segment": ["SMB", "ENT"]})
    months = [date(2027, m, 1) for m in range(1, 13)]
    eff = effective_months(people, months, Ramp(factors=[D("0.25"), D("0.5"), D("0.75")]))
    # new hire: March 16/31 x 0.25, April 0.5, May 0.75, then 1; leaver: January, then 14/28 of February
    assert eff[0].tolist()[:6] == [0, 0, round(16 / 31 * 0.25, 9), 0.5, 0.75, 1.0]
    assert eff[0].sum() == pytest.approx(7 + 0.75 + 0.5 + 16 / 31 * 0.25)
    assert eff[1].tolist()[:3] == [1.0, 0.5, 0.0]
    by_segment = effective_months(people, months, Ramp(by_segment={"ENT": [D("0.1")]}))
    assert by_segment[0][2] == round(16 / 31, 9)  # SMB has no schedule: no ramp
    with pytest.raises(ValueError, match="between 0 and 1"):
        Ramp(factors=[D("1.5")])


# ---- top-down and bottom-up on the small company ----
def _ws(planning_ws: Callable[..., Workspace], **kw: object) -> Workspace:
    return planning_ws(**kw)


def _by(frame: pd.DataFrame, key: str, value: str) -> dict:
    return dict(zip(frame[key], frame[value]))


def test_historical_quotas_follow_run_rate_times_ramped_months_to_the_cent(planning_ws) -> None:
    ws = planning_ws()
    # weights = run rate x effective months: A 120,000, B 60,000, C 75,000, D 240,000,
    # E (team T3's run rate 20,000) x (April 0.5 + May..Dec 8) = 170,000; total 665,000
    plan = allocate_quotas(ws, fiscal_year=2027, target="665000.00", method="historical",
                           ramp=Ramp(factors=[D("0.5")]), seasonality="even")
    assert plan.method_used == "historical" and plan.as_of == date(2027, 1, 1)
    assert sorted(plan.payees["payee_id"]) == ["A", "B", "C", "D", "E"]  # X left in 2026
    assert _by(plan.payees, "payee_id", "quota_base") == {
        "A": D("120000.00"), "B": D("60000.00"), "C": D("75000.00"), "D": D("240000.00"), "E": D("170000.00")}
    assert _by(plan.payees, "payee_id", "quota")["C"] == D("60000.00")  # EUR at 1.25
    assert _by(plan.level("region"), "node", "top_down") == {"R1": D("255000.00"), "R2": D("410000.00")}
    assert _by(plan.level("team"), "node", "top_down") == {
        "T1": D("180000.00"), "T2": D("75000.00"), "T3": D("410000.00")}
    assert _by(plan.level("team"), "node", "holder") == {"T1": "M1", "T2": "M2", "T3": "M3"}
    # bottom-up: SMB productivity = median(10,000, 5,000, 6,250) = 6,250, ENT = 20,000 (D only)
    # capacity A, B, C 75,000; D 240,000; E 20,000 x 8.5 = 170,000
    assert _by(plan.payees, "payee_id", "capacity_base") == {
        "A": D("75000.00"), "B": D("75000.00"), "C": D("75000.00"), "D": D("240000.00"), "E": D("170000.00")}
    assert _by(plan.level("team"), "node", "bottom_up") == {
        "T1": D("150000.00"), "T2": D("75000.00"), "T3": D("410000.00")}
    company = plan.level("company").iloc[0]
    assert (company.top_down, company.bottom_up, company.gap) == (D("665000.00"), D("635000.00"), D("30000.00"))
    assert _by(plan.payees, "payee_id", "gap_base")["B"] == D("-15000.00")
    assert company.gap_pct == pytest.approx(30000 / 635000)


def test_a_recent_hire_with_little_history_plans_at_the_team_run_rate(planning_ws) -> None:
    """B hired 2026-11-01 on a 50% first month: 0.5 + 1 = 1.5 effective months of history,
    under the default min_history_months of 3, so B plans at team T1's run rate (A's 10,000 a
    month) x 12 = 120,000, not at B's own 60,000 / 1.5 = 40,000 a month. Weights: A 120,000,
    B 120,000, C 75,000, D 240,000, E 170,000 = 725,000."""
    ws = planning_ws()
    ws.con.execute("UPDATE payees SET hire_date = DATE '2026-11-01' WHERE payee_id = 'B'")
    common = dict(fiscal_year=2027, method="historical", ramp=Ramp(factors=[D("0.5")]), seasonality="even")
    plan = allocate_quotas(ws, target="725000.00", **common)
    assert _by(plan.payees, "payee_id", "quota_base") == {
        "A": D("120000.00"), "B": D("120000.00"), "C": D("75000.00"), "D": D("240000.00"), "E": D("170000.00")}
    # with min_history_months=1, B's own run rate counts: 40,000 x 12 = 480,000 of 1,085,000
    own = allocate_quotas(ws, target="1085000.00", min_history_months=1, **common)
    assert _by(own.payees, "payee_id", "quota_base")["B"] == D("480000.00")


def test_quota_rows_split_by_period_and_currency_and_add_up_exactly(planning_ws) -> None:
    ws = planning_ws()
    plan = allocate_quotas(ws, fiscal_year=2027, target="665000.00", ramp=Ramp(factors=[D("0.5")]),
                           seasonality="even")
    lines = plan.lines
    q = lines.loc[lines["measure"] == "bookings"]

    def amounts(payee: str) -> list[Decimal]:
        return q.loc[q["payee_id"] == payee].sort_values("period_start")["amount"].tolist()

    assert amounts("A") == [D("30000.00")] * 4
    assert amounts("C") == [D("15000.00")] * 4  # EUR
    # E: Q2 2.5 of 8.5 effective months (April is ramped), Q3 and Q4 3 each; no Q1 row
    assert amounts("E") == [D("50000.00"), D("60000.00"), D("60000.00")]
    assert amounts("M1") == [D("45000.00")] * 4  # T1 = A + B
    assert amounts("M2") == [D("15000.00")] * 4  # T2 = 75,000 USD = 60,000 EUR
    assert amounts("M3") == [D("60000.00"), D("110000.00"), D("120000.00"), D("120000.00")]
    # the company: A + B + C + D = 123,750 a quarter, plus E's 0 / 50,000 / 60,000 / 60,000
    assert amounts("V0") == [D("123750.00"), D("173750.00"), D("183750.00"), D("183750.00")]
    assert amounts("D1") == [D("63750.00")] * 4
    annual = lines.loc[lines["measure"] == "bookings_annual"].set_index("payee_id")["amount"]
    assert annual["V0"] == D("665000.00") and annual["D1"] == D("255000.00") and annual["E"] == D("170000.00")
    for payee, rows in q.groupby("payee_id"):
        assert sum(rows["amount"], D(0)) == annual[payee]
    assert set(lines.loc[lines["payee_id"] == "C", "currency"]) == {"EUR"}
    assert sum(q.loc[q["level"] == "payee", "amount_base"], D(0)) == D("665000.00")


def test_a_target_that_does_not_divide_is_allocated_by_largest_remainder(planning_ws) -> None:
    ws = planning_ws()
    plan = allocate_quotas(ws, fiscal_year=2027, target="1000000.00", ramp=Ramp(factors=[D("0.5")]))
    # regions by weight 255,000 : 410,000 of 100,000,000 cents: 38,345,864.66 / 61,654,135.33
    # -> floors leave one cent, which goes to R1 (.66 > .33)
    assert _by(plan.level("region"), "node", "top_down") == {"R1": D("383458.65"), "R2": D("616541.35")}
    # R1's 38,345,865 cents by T1 180,000 : T2 75,000: 27,067,669.41 / 11,278,195.59 -> T2 gets the cent
    teams = _by(plan.level("team"), "node", "top_down")
    assert teams["T1"] == D("270676.69") and teams["T2"] == D("112781.96")
    for level in ("region", "team", "payee"):
        assert sum(plan.level(level)["top_down"], D(0)) == D("1000000.00")


def test_overassignment_factors_make_reports_carry_more_than_their_manager(planning_ws) -> None:
    ws = planning_ws()
    plan = allocate_quotas(ws, fiscal_year=2027, target="665000.00", ramp=Ramp(factors=[D("0.5")]),
                           overassignment={"team": D("0.8")})
    # manager quota = sum of reps x 0.8: T1 180,000 -> reps 225,000 (A 150,000, B 75,000)
    quotas = _by(plan.payees, "payee_id", "quota_base")
    assert quotas == {"A": D("150000.00"), "B": D("75000.00"), "C": D("93750.00"), "D": D("300000.00"),
                      "E": D("212500.00")}
    assert _by(plan.level("team"), "node", "top_down")["T1"] == D("180000.00")
    # bottom-up rolls up with the same factor: T1 = (75,000 + 75,000) x 0.8
    assert _by(plan.level("team"), "node", "bottom_up")["T1"] == D("120000.00")
    assert plan.level("company").iloc[0].bottom_up == D("508000.00")  # 635,000 x 0.8


def test_even_split_weights_by_effective_months(planning_ws) -> None:
    ws = planning_ws()
    plan = allocate_quotas(ws, fiscal_year=2027, target="57000.00", method="even")
    # 12 + 12 + 12 + 12 + 9 (E from April, no ramp) = 57 months: 1,000.00 a month
    assert _by(plan.payees, "payee_id", "quota_base") == {
        "A": D("12000.00"), "B": D("12000.00"), "C": D("12000.00"), "D": D("12000.00"), "E": D("9000.00")}


def test_potential_method_uses_owned_accounts_and_segment_potential(planning_ws) -> None:
    ws = planning_ws()
    # FY2028: everyone employed all year. A 300k + 100k, B 200k, C 100k EUR = 125k, D 500k,
    # E owns nothing: team T3's mean 500k. Total 1,725,000.
    plan = allocate_quotas(ws, fiscal_year=2028, target="1725000.00", method="potential")
    assert _by(plan.payees, "payee_id", "quota_base") == {
        "A": D("400000.00"), "B": D("200000.00"), "C": D("125000.00"), "D": D("500000.00"), "E": D("500000.00")}
    extra = allocate_quotas(ws, fiscal_year=2028, target="1815000.00", method="potential",
                            segment_potential={"SMB": D("90000")})
    # 90,000 of SMB white space shared evenly by effective months among A, B, C
    assert _by(extra.payees, "payee_id", "quota_base") == {
        "A": D("430000.00"), "B": D("230000.00"), "C": D("155000.00"), "D": D("500000.00"), "E": D("500000.00")}
    with pytest.raises(PlanningError, match="segment 'MID'"):
        allocate_quotas(ws, fiscal_year=2028, target="1.00", method="potential", segment_potential={"MID": D("1")})


def test_forecast_without_a_forecaster_falls_back_to_historical_and_says_so(planning_ws) -> None:
    ws = planning_ws()
    assert len(ws.registry.forecasters) == 0
    with pytest.warns(PlanningWarning, match="no forecaster is installed.*historical share instead"):
        plan = allocate_quotas(ws, fiscal_year=2027, target="665000.00", method="forecast",
                               ramp=Ramp(factors=[D("0.5")]))
    assert plan.method_used == "historical" and "no forecaster is installed" in plan.notes[0]
    assert _by(plan.payees, "payee_id", "quota_base")["D"] == D("240000.00")


def test_forecast_method_uses_the_installed_forecaster(planning_ws) -> None:
    ws = planning_ws(plugins=[ForecasterPlugin()])
    assert ws.registry.forecasters.names() == ["test-run-rate"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlanningWarning)
        plan = allocate_quotas(ws, fiscal_year=2027, target="665000.00", method="forecast",
                               ramp=Ramp(factors=[D("0.5")]))
    assert plan.method_used == "forecast" and plan.forecast is not None
    assert plan.forecast.forecaster == "test-run-rate" and plan.forecast.sample_count == 3
    # forecast means = run rates x 12 for A..D; E has no series: T3's mean forecast per
    # effective month (20,000) x 8.5
    assert _by(plan.payees, "payee_id", "quota_base") == {
        "A": D("120000.00"), "B": D("60000.00"), "C": D("75000.00"), "D": D("240000.00"), "E": D("170000.00")}
    assert any("no forecast series" in n for n in plan.notes)
    with pytest.raises(KeyError, match="unknown forecaster 'nope'"):
        allocate_quotas(ws, fiscal_year=2027, target="1.00", method="forecast", forecaster="nope")


def test_bad_settings_are_refused_with_the_reason(planning_ws) -> None:
    ws = planning_ws()
    with pytest.raises(ValueError, match="fraction of a cent"):
        allocate_quotas(ws, fiscal_year=2027, target="1.005")
    with pytest.raises(ValueError, match="must be positive"):
        allocate_quotas(ws, fiscal_year=2027, target="100", overassignment={"team": D("0")})
    with pytest.raises(PlanningError, match="no payee with role overlay"):
        allocate_quotas(ws, fiscal_year=2027, target="100", roles=("overlay",))


# ---- fairness ----
def test_gini_and_fences_by_hand() -> None:
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 1]) == pytest.approx(0.75)  # sum |xi - xj| = 6; 6 / (2 x 16 x 0.25)
    # sorted 0.3, 0.3, 0.48, 0.6: 2 x (0.3 + 0.6 + 1.44 + 2.4) / (4 x 1.68) - 5/4
    assert gini([0.3, 0.6, 0.3, 0.48]) == pytest.approx(9.48 / 6.72 - 1.25)


def test_fairness_flags_what_lies_outside_the_fences_and_says_why() -> None:
    payees = pd.DataFrame({"payee_id": ["a", "b", "c", "d", "e"],
                           "quota_base": [D(100), D(100), D(100), D(100), D(100)],
                           "expected_base": [D(100), D(100), D(100), D(100), D(300)],
                           "potential_base": [D(1000), D(1000), D(1000), D(500), None]})
    report = fairness(payees)
    flagged = report.by_payee.loc[report.by_payee["outlier"]]
    # attainments 1, 1, 1, 1, 3: Q1 = Q3 = 1, so the fences are [1, 1]; e is 200% away
    assert flagged["payee_id"].tolist() == ["d", "e"]
    assert "expected attainment 300% is above the upper fence 100%" in flagged["reason"].iloc[1]
    # ratios 0.1, 0.1, 0.1, 0.2 (e has no potential): Q1 (position 0.75) = 0.1, Q3 (position
    # 2.25) = 0.1 + 0.25 x 0.1 = 0.125, IQR 0.025, upper fence 0.125 + 1.5 x 0.025 = 0.1625
    assert "quota is 20.0% of potential, above the upper fence 16.2%" in flagged["reason"].iloc[0]
    s = report.summary
    assert s["attainment_median"] == 1.0 and s["attainment_max"] == 3.0 and s["without_potential"] == 1
    assert s["share_expected_at_quota"] == 1.0
    assert s["ratio_gini"] == pytest.approx(gini([0.1, 0.1, 0.1, 0.2]))
    assert s["outliers"] == 2


def test_an_allocation_reports_its_fairness(planning_ws) -> None:
    ws = planning_ws()
    plan = allocate_quotas(ws, fiscal_year=2027, target="665000.00", ramp=Ramp(factors=[D("0.5")]))
    report = plan.fairness()
    rows = report.by_payee.set_index("payee_id")
    # historical quotas = expected bookings (run rate x months): everyone expects 100%
    assert rows["expected_attainment"].tolist() == pytest.approx([1.0] * 5)
    # quota / potential: A 120/400, B 60/200, C 75/125, D 240/500, E owns nothing
    assert rows["quota_to_potential"].iloc[:4].tolist() == pytest.approx([0.3, 0.3, 0.6, 0.48])
    assert np.isnan(rows.loc["E", "quota_to_potential"])
    assert report.summary["ratio_gini"] == pytest.approx(9.48 / 6.72 - 1.25)
    assert report.summary["outliers"] == 0
