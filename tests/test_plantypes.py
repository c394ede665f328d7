"""Worked numeric examples, by hand, for every option of every built-in plan type.

Each test states the arithmetic in a comment. Amounts are exact Decimals; a line is the
window-to-date amount minus what earlier periods already paid.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spm_kernel.plans.calculate import calculate_plan
from spm_kernel.plans.model import Plan, PlanComponent, PlanFile
from spm_kernel.plantypes.bonuses import Mbo, MilestoneBonus, Spiff
from spm_kernel.plantypes.common import walk_permutation
from spm_kernel.plantypes.contract import CalcPeriod
from spm_kernel.plantypes.pay import Draw, Formula, PayCap
from spm_kernel.plantypes.rate_table import PlanCalculationError, RateTable

YEAR = CalcPeriod("FY2026", date(2026, 1, 1), date(2026, 12, 31))
Q = {n: CalcPeriod(f"2026-Q{n}", date(2026, 3 * n - 2, 1), (pd.Timestamp(2026, 3 * n, 1) + pd.offsets.MonthEnd(0)).date())
     for n in (1, 2, 3, 4)}
TYPES = {"rate_table": RateTable(), "milestone_bonus": MilestoneBonus(), "spiff": Spiff(), "mbo": Mbo(), "draw": Draw(),
         "pay_cap": PayCap(), "formula": Formula()}
STEP_4_6 = [{"from": 0, "to": 10000, "rate": "0.04"}, {"from": 10000, "rate": "0.06"}]


def credit(cid: str, payee: str, day: str, amount: str, kind: str = "booking", opp: str | None = None,
           orig: str | None = None, product: str = "Platform", deal_type: str = "new", credit_type: str = "direct") -> dict:
    return {"credit_id": cid, "payee_id": payee, "transaction_id": "t" + cid, "opportunity_id": opp or "o" + cid,
            "credit_date": pd.Timestamp(day), "credit_type": credit_type, "kind": kind, "amount": D(amount),
            "product": product, "segment": "mid", "deal_type": deal_type, "region_id": "r1",
            "original_transaction_id": orig}


def payee(pid: str = "p1", team: str = "t1", ti: str | None = "60000", hire: date = date(2024, 1, 1),
          assigned_from: date = date(2026, 1, 1), assigned_to: date | None = None, proration: str = "1") -> dict:
    return {"payee_id": pid, "role": "rep", "team_id": team, "region_id": "r1", "manager_id": None, "hire_date": hire,
            "termination_date": None, "target_incentive": D(ti) if ti is not None else None, "proration": D(proration),
            "assigned_from": assigned_from, "assigned_to": assigned_to, "currency": "USD"}


def quota(pid: str, amount: str, start: date = date(2026, 1, 1), end: date = date(2026, 12, 31)) -> dict:
    return {"payee_id": pid, "measure": "bookings", "period_start": start, "period_end": end, "amount": D(amount)}


def plan(*components: tuple[str, str, dict], rounding: str = "ROUND_HALF_UP") -> Plan:
    spec = PlanFile(plan_id="worked", version=1, name="worked examples", effective_from=date(2026, 1, 1), rounding=rounding,
                    assignments=[{"role": "rep"}], components=[{"id": c[0], "type": c[1]} for c in components])
    comps = []
    for cid, type_name, options in components:
        pt = TYPES[type_name]
        config = pt.config_model.model_validate(options)
        assert not pt.validate_plan_config(config), pt.validate_plan_config(config)
        comps.append(PlanComponent(cid, type_name, cid, "", pt, config))
    return Plan(spec, tuple(comps))


def run(p: Plan, credits: list[dict], periods: tuple[int, ...] = (1,), payees: list[dict] | None = None,
        quotas: list[dict] | None = None, scores: list[dict] | None = None) -> dict[int, pd.DataFrame]:
    """Calculate the quarters in order, each with the lines of the earlier ones as prior lines."""
    frame = pd.DataFrame(credits, columns=list(credit("x", "p", "2026-01-01", "0")))
    frame["amount"] = frame["amount"].astype(object)
    people = pd.DataFrame(payees or [payee()])
    q = pd.DataFrame(quotas or [], columns=["payee_id", "measure", "period_start", "period_end", "amount"])
    s = pd.DataFrame(scores or [], columns=["payee_id", "objective", "period_id", "score"])
    prior = None
    out = {}
    for n in periods:
        lines = calculate_plan(p, Q[n], YEAR, credits=frame, payees=people, quotas=q, prior_lines=prior, scores=s)
        out[n] = lines
        done = lines.assign(period_id=Q[n].period_id, period_start=Q[n].start, period_end=Q[n].end)
        prior = done if prior is None else pd.concat([prior, done], ignore_index=True)
    return out


def amounts(lines: pd.DataFrame, payee_id: str | None = None) -> dict[str, D]:
    """line_type (or line_type:reference for caps) -> amount, for one payee."""
    out = {}
    for rec in lines.itertuples(index=False):
        if payee_id is not None and rec.payee_id != payee_id:
            continue
        key = rec.line_type if rec.line_type not in ("cap_forfeit", "carry_forward", "carry_forward_release") \
            else f"{rec.line_type}:{rec.reference}"
        key = f"{rec.component}.{key}"
        out[key] = out.get(key, D(0)) + rec.amount
    return out


def commission(**options: object) -> Plan:
    return plan(("c", "rate_table", options))


# ---- rate tables: application, scope, basis, boundaries ----
def test_guide_step_example_pays_640_and_flat_840() -> None:
    # step: 10,000 x 4% + 4,000 x 6% = 400 + 240 = 640; flat: 14,000 x 6% = 840
    credits = [credit("1", "p1", "2026-02-01", "14000")]
    step = run(commission(application="step", tiers=STEP_4_6), credits)[1]
    flat = run(commission(application="flat", tiers=STEP_4_6), credits)[1]
    assert amounts(step) == {"c.earning": D("640.00")}
    assert amounts(flat) == {"c.earning": D("840.00")}
    assert step.loc[0, "formula"].startswith("step on amount: 10,000.00 x 4% + 4,000.00 x 6%")
    assert step.loc[0, "tier"] == "10,000+" and step.loc[0, "rate"] == D("0.06")
    assert step.loc[0, "credit_ids"] == ["1"] and step.loc[0, "measure_value"] == D("14000.00")


def test_value_equal_to_a_boundary_belongs_to_the_higher_tier() -> None:
    # flat: exactly 10,000 is in [10,000, inf): 10,000 x 6% = 600, not 400
    out = run(commission(application="flat", tiers=STEP_4_6), [credit("1", "p1", "2026-01-05", "10000")])[1]
    assert amounts(out) == {"c.earning": D("600.00")}
    # one cent less stays in the first tier: 9,999.99 x 4% = 399.9996 -> 400.00
    out = run(commission(application="flat", tiers=STEP_4_6), [credit("1", "p1", "2026-01-05", "9999.99")])[1]
    assert amounts(out) == {"c.earning": D("400.00")}


def test_cumulative_versus_per_transaction_scope() -> None:
    credits = [credit("1", "p1", "2026-01-10", "6000"), credit("2", "p1", "2026-02-10", "8000")]
    # cumulative: the two walk up together: 14,000 -> 640
    assert amounts(run(commission(application="step", tiers=STEP_4_6), credits)[1]) == {"c.earning": D("640.00")}
    # per transaction: each from the first tier: 6,000 x 4% + 8,000 x 4% = 240 + 320 = 560
    per_tx = commission(application="step", scope="per_transaction", tiers=STEP_4_6)
    assert amounts(run(per_tx, credits)[1]) == {"c.earning": D("560.00")}


def test_flat_is_retroactive_across_periods() -> None:
    # Q1 8,000 x 4% = 320. Q2 +4,000: 12,000 x 6% = 720 to date, minus 320 paid = 400 (re-rates Q1's credits)
    out = run(commission(application="flat", tiers=STEP_4_6),
              [credit("1", "p1", "2026-02-01", "8000"), credit("2", "p1", "2026-05-01", "4000")], periods=(1, 2))
    assert amounts(out[1]) == {"c.earning": D("320.00")}
    assert amounts(out[2]) == {"c.earning": D("400.00")}
    assert "window-to-date 720.00 - already earned 320.00 = 400.00" in out[2].loc[0, "formula"]


def test_attainment_basis_and_boundaries_on_the_quota() -> None:
    # quota 100,000: 100,000 x 5% + 20,000 x 10% = 7,000
    tiers = [{"from": 0, "to": 1, "rate": "0.05"}, {"from": 1, "rate": "0.10"}]
    out = run(commission(application="step", basis="attainment", tiers=tiers),
              [credit("1", "p1", "2026-03-01", "120000")], quotas=[quota("p1", "100000")])[1]
    assert amounts(out) == {"c.earning": D("7000.00")}
    assert out.loc[0, "attainment"] == D("1.2")
    # quota 33,333.33: the 100% boundary is 33,333.33, so exactly that amount is already at 10%
    out = run(commission(application="flat", basis="attainment", tiers=tiers),
              [credit("1", "p1", "2026-03-01", "33333.33")], quotas=[quota("p1", "33333.33")])[1]
    assert amounts(out) == {"c.earning": D("3333.33")}


def test_attainment_plan_refuses_a_payee_without_quota() -> None:
    tiers = [{"from": 0, "to": 1, "rate": "0.05"}, {"from": 1, "rate": "0.10"}]
    with pytest.raises(PlanCalculationError, match="p1"):
        run(commission(application="step", basis="attainment", tiers=tiers), [credit("1", "p1", "2026-03-01", "100")])


def test_ties_on_credit_date_walk_in_credit_id_order() -> None:
    # same day: credit "a" (5,000) walks before "b" (10,000): a earns 200, b earns 5,000x4% + 5,000x6% = 500.
    # Cancelling b's transaction claws back b's own 500, not an average.
    credits = [credit("b", "p1", "2026-01-10", "10000"), credit("a", "p1", "2026-01-10", "5000"),
               credit("x", "p1", "2026-02-01", "-10000", kind="cancellation", orig="tb", opp="ob")]
    out = run(commission(application="step", tiers=STEP_4_6, clawback={"window_days": 90}), credits)[1]
    assert amounts(out) == {"c.earning": D("700.00"), "c.clawback": D("-500.00")}
    clawback = out.loc[out["line_type"] == "clawback"].iloc[0]
    assert clawback["credit_ids"] == ["x"] and clawback["reference"] == "tb"


def test_interpolated_amount_table() -> None:
    tiers = [{"from": 0, "to": 10000, "payout": 0}, {"from": 10000, "to": 20000, "payout": 500},
             {"from": 20000, "payout": 1500, "rate": "0.2"}]
    p = commission(application="interpolated", tiers=tiers)
    # 15,000: 500 + 5,000 x (1,000 / 10,000) = 1,000
    assert amounts(run(p, [credit("1", "p1", "2026-01-02", "15000")])[1]) == {"c.earning": D("1000.00")}
    # 25,000: 1,500 + 5,000 x 20% = 2,500
    assert amounts(run(p, [credit("1", "p1", "2026-01-02", "25000")])[1]) == {"c.earning": D("2500.00")}
    # 3,333.33: 3,333.33 x 500 / 10,000 = 166.6665 -> 166.67
    assert amounts(run(p, [credit("1", "p1", "2026-01-02", "3333.33")])[1]) == {"c.earning": D("166.67")}


def test_interpolated_payout_as_multiples_of_target_incentive() -> None:
    # TI 60,000, quota 100,000: 0% -> 0, 50% -> 0.25 TI = 15,000, 100% -> 1.0 TI = 60,000.
    # 75%: 15,000 + 25,000 x 45,000 / 50,000 = 37,500
    tiers = [{"from": 0, "to": "0.5", "payout": 0}, {"from": "0.5", "to": 1, "payout": "0.25"}, {"from": 1, "payout": 1}]
    p = commission(application="interpolated", basis="attainment", payout_unit="target_incentive", tiers=tiers)
    out = run(p, [credit("1", "p1", "2026-01-02", "75000")], quotas=[quota("p1", "100000")])[1]
    assert amounts(out) == {"c.earning": D("37500.00")}


@pytest.mark.parametrize(("mode", "expected"), [("ROUND_HALF_UP", "61.73"), ("ROUND_HALF_EVEN", "61.72"),
                                                ("ROUND_DOWN", "61.72"), ("ROUND_CEILING", "61.73")])
def test_rounding_mode_per_plan(mode: str, expected: str) -> None:
    # 1,234.50 x 5% = 61.725: the plan's mode decides the cent
    p = plan(("c", "rate_table", {"application": "flat", "tiers": [{"from": 0, "rate": "0.05"}]}), rounding=mode)
    assert amounts(run(p, [credit("1", "p1", "2026-01-02", "1234.50")])[1]) == {"c.earning": D(expected)}


def test_negative_rounding_is_symmetric_for_half_up() -> None:
    # -1,234.50 x 5% = -61.725 -> -61.73 (half away from zero)
    p = commission(application="flat", tiers=[{"from": 0, "rate": "0.05"}])
    assert amounts(run(p, [credit("1", "p1", "2026-01-02", "-1234.50", kind="refund")])[1]) == {"c.earning": D("-61.73")}


# ---- accelerators and decelerators as multipliers ----
def test_multipliers_retroactive_and_not() -> None:
    base = {"application": "flat", "basis": "attainment", "tiers": [{"from": 0, "rate": "0.10"}]}
    bands = [{"from": 0, "to": 1, "multiplier": 1}, {"from": 1, "multiplier": "1.5"}]
    credits, quotas = [credit("1", "p1", "2026-01-02", "120000")], [quota("p1", "100000")]
    # retroactive: 120,000 x 10% x 1.5 = 18,000
    retro = commission(**base, multipliers={"retroactive": True, "bands": bands})
    assert amounts(run(retro, credits, quotas=quotas)[1]) == {"c.earning": D("18000.00")}
    # not retroactive: 100,000 x 10% + 20,000 x 10% x 1.5 = 13,000
    marginal = commission(**base, multipliers={"retroactive": False, "bands": bands})
    assert amounts(run(marginal, credits, quotas=quotas)[1]) == {"c.earning": D("13000.00")}
    # decelerator below 50%: 50,000 x 10% x 0.5 + 30,000 x 10% = 2,500 + 3,000 = 5,500
    decel = commission(**base, multipliers={"retroactive": False, "bands": [{"from": 0, "to": "0.5", "multiplier": "0.5"},
                                                                            {"from": "0.5", "multiplier": 1}]})
    assert amounts(run(decel, [credit("1", "p1", "2026-01-02", "80000")], quotas=quotas)[1]) == {"c.earning": D("5500.00")}


# ---- thresholds ----
def test_threshold_not_retroactive_pays_only_above_it() -> None:
    # 50% of 100,000: only 80,000 - 50,000 = 30,000 earns 10% = 3,000
    p = commission(application="step", basis="attainment", tiers=[{"from": 0, "rate": "0.10"}],
                   threshold={"value": "0.5", "retroactive": False})
    assert amounts(run(p, [credit("1", "p1", "2026-01-02", "80000")], quotas=[quota("p1", "100000")])[1]) == \
        {"c.earning": D("3000.00")}


def test_retroactive_threshold_pays_everything_once_crossed() -> None:
    p = commission(application="step", basis="attainment", tiers=[{"from": 0, "rate": "0.10"}],
                   threshold={"value": "0.5", "retroactive": True})
    q = [quota("p1", "100000")]
    # Q1 40,000: below 50%, nothing. Q2 +20,000 = 60,000 crosses: 6,000 to date, all paid in Q2
    out = run(p, [credit("1", "p1", "2026-02-01", "40000"), credit("2", "p1", "2026-05-01", "20000")], (1, 2), quotas=q)
    assert amounts(out[1]) == {"c.earning": D("0.00")}
    assert amounts(out[2]) == {"c.earning": D("6000.00")}
    # once crossed it stays crossed: 60,000 then a -30,000 cancellation (no clawback: it walks the table)
    out = run(p, [credit("1", "p1", "2026-02-01", "60000"),
                  credit("2", "p1", "2026-03-01", "-30000", kind="cancellation", orig="t1", opp="o1")], quotas=q)
    assert amounts(out[1]) == {"c.earning": D("3000.00")}
    # a reduced rate below the threshold: 40,000 x 10% x 0.5 = 2,000
    half = commission(application="step", basis="attainment", tiers=[{"from": 0, "rate": "0.10"}],
                      threshold={"value": "0.5", "retroactive": True, "below_multiplier": "0.5"})
    assert amounts(run(half, [credit("1", "p1", "2026-02-01", "40000")], quotas=q)[1]) == {"c.earning": D("2000.00")}


# ---- gates ----
ACCEL = [{"from": 0, "to": 1, "rate": "0.08"}, {"from": 1, "rate": "0.12"}]


def test_gate_on_another_measure_caps_accelerators_until_met() -> None:
    gate = {"name": "platform quota", "measure": {"filter": "product == 'Platform'"}, "min_attainment": 1,
            "effect": "cap_rate", "max_rate": "0.08"}
    p = commission(application="step", basis="attainment", tiers=ACCEL, gates=[gate])
    q = [quota("p1", "100000")]
    # Platform 120,000 meets the gate: 100,000 x 8% + 20,000 x 12% = 10,400
    met = run(p, [credit("1", "p1", "2026-01-10", "120000")], quotas=q)[1]
    assert amounts(met) == {"c.earning": D("10400.00")}
    assert "gate 'platform quota' met" in met.loc[0, "formula"]
    # only 50,000 of it is Platform: the gate is not met, everything at most 8%: 120,000 x 8% = 9,600
    not_met = run(p, [credit("1", "p1", "2026-01-10", "50000"),
                      credit("2", "p1", "2026-01-11", "70000", product="Services")], quotas=q)[1]
    assert amounts(not_met) == {"c.earning": D("9600.00")}


def test_gate_retroactive_or_from_the_day_it_is_met() -> None:
    tiers = [{"from": 0, "to": 50000, "rate": "0.08"}, {"from": 50000, "rate": "0.12"}]
    gate = {"name": "100k", "measure": {}, "min_amount": 100000, "effect": "cap_rate", "max_rate": "0.08"}
    credits = [credit("1", "p1", "2026-01-10", "60000"), credit("2", "p1", "2026-02-10", "60000"),
               credit("3", "p1", "2026-03-01", "30000")]
    # retroactive: met by the end, everything re-rated: 50,000 x 8% + 100,000 x 12% = 16,000
    retro = commission(application="step", tiers=tiers, gates=[{**gate, "retroactive": True}])
    assert amounts(run(retro, credits)[1]) == {"c.earning": D("16000.00")}
    # not retroactive: Jan 10 before the gate: 60,000 x 8% = 4,800; met on Feb 10 (that credit counts):
    # 60,000 x 12% = 7,200; Mar 1: 30,000 x 12% = 3,600; total 15,600
    forward = commission(application="step", tiers=tiers, gates=[{**gate, "retroactive": False}])
    assert amounts(run(forward, credits)[1]) == {"c.earning": D("15600.00")}


def test_gate_multiplier_and_no_pay() -> None:
    gate = {"name": "g", "measure": {}, "min_amount": 100000}
    credits = [credit("1", "p1", "2026-01-10", "50000")]
    mult = commission(application="flat", tiers=[{"from": 0, "rate": "0.1"}], gates=[{**gate, "effect": "multiplier", "multiplier": "0.5"}])
    assert amounts(run(mult, credits)[1]) == {"c.earning": D("2500.00")}
    nothing = commission(application="flat", tiers=[{"from": 0, "rate": "0.1"}], gates=[{**gate, "effect": "no_pay"}])
    assert amounts(run(nothing, credits)[1]) == {"c.earning": D("0.00")}


def test_score_gate_adjusts_the_period() -> None:
    # 10,000 x 10% = 1,000; csat 0.7 < 0.8: x0.9 -> a -100.00 gate adjustment
    gate = {"name": "quality", "score": "csat", "min_score": "0.8", "effect": "multiplier", "multiplier": "0.9"}
    p = commission(application="flat", tiers=[{"from": 0, "rate": "0.1"}], gates=[gate])
    out = run(p, [credit("1", "p1", "2026-01-10", "10000")],
              scores=[{"payee_id": "p1", "objective": "csat", "period_id": "2026-Q1", "score": D("0.7")}])[1]
    assert amounts(out) == {"c.earning": D("1000.00"), "c.gate_adjustment": D("-100.00")}
    ok = run(p, [credit("1", "p1", "2026-01-10", "10000")],
             scores=[{"payee_id": "p1", "objective": "csat", "period_id": "2026-Q1", "score": D("0.8")}])[1]
    assert amounts(ok) == {"c.earning": D("1000.00")}


# ---- caps ----
def test_transaction_cap() -> None:
    # 10%: a 5,000 deal earns 500, capped at 300 -> 200 forfeited; two 2,000 deals (200 each) are under it
    p = commission(application="flat", scope="per_transaction", tiers=[{"from": 0, "rate": "0.1"}],
                   caps=[{"scope": "transaction", "amount": 300}])
    assert amounts(run(p, [credit("1", "p1", "2026-01-10", "5000")])[1]) == \
        {"c.earning": D("500.00"), "c.cap_forfeit:cap:transaction": D("-200.00")}
    assert amounts(run(p, [credit("1", "p1", "2026-01-10", "2000"), credit("2", "p1", "2026-01-11", "2000")])[1]) == \
        {"c.earning": D("400.00")}


def test_period_cap_forfeit_and_carry_forward() -> None:
    base = {"application": "flat", "tiers": [{"from": 0, "rate": "0.1"}]}
    credits = [credit("1", "p1", "2026-01-10", "15000"), credit("2", "p1", "2026-05-10", "7000")]
    forfeit = run(commission(**base, caps=[{"scope": "period", "amount": 1000}]), credits, (1, 2))
    # Q1 1,500 earned, 500 over the 1,000 cap is forfeited; Q2 700 is under it
    assert amounts(forfeit[1]) == {"c.earning": D("1500.00"), "c.cap_forfeit:cap:period": D("-500.00")}
    assert amounts(forfeit[2]) == {"c.earning": D("700.00")}
    carry = run(commission(**base, caps=[{"scope": "period", "amount": 1000, "excess": "carry_forward"}]), credits, (1, 2))
    # carry forward: Q1 defers 500; Q2 700 + 300 of the 500 fills the cap; 200 stays deferred
    assert amounts(carry[1]) == {"c.earning": D("1500.00"), "c.carry_forward:cap:period": D("-500.00")}
    assert amounts(carry[2]) == {"c.earning": D("700.00"), "c.carry_forward_release:cap:period": D("300.00")}


def test_plan_year_cap_and_multiple_of_target_incentive() -> None:
    base = {"application": "flat", "tiers": [{"from": 0, "rate": "0.1"}]}
    credits = [credit("1", "p1", "2026-01-10", "15000"), credit("2", "p1", "2026-05-10", "10000")]
    # plan-year cap 2,000: Q1 1,500 paid; Q2 1,000 more would make 2,500: 500 forfeited
    out = run(commission(**base, caps=[{"scope": "plan_year", "amount": 2000}]), credits, (1, 2))
    assert amounts(out[1]) == {"c.earning": D("1500.00")}
    assert amounts(out[2]) == {"c.earning": D("1000.00"), "c.cap_forfeit:cap:plan_year": D("-500.00")}
    # 0.03 x TI 60,000 = 1,800: Q1 1,500, Q2 forfeits 700
    out = run(commission(**base, caps=[{"scope": "plan_year", "multiple_of_target_incentive": "0.03"}]), credits, (1, 2))
    assert amounts(out[2]) == {"c.earning": D("1000.00"), "c.cap_forfeit:cap:plan_year": D("-700.00")}


# ---- clawbacks and the sign of cancellations ----
def test_clawback_at_the_rate_originally_paid_in_the_period_processed() -> None:
    p = commission(application="flat", tiers=[{"from": 0, "rate": "0.1"}], clawback={"window_days": 120})
    credits = [credit("1", "p1", "2026-01-15", "50000"),
               credit("2", "p1", "2026-04-10", "-50000", kind="cancellation", orig="t1", opp="o1")]
    out = run(p, credits, (1, 2))
    # Q1 pays 5,000; the April cancellation is reversed in Q2 as -5,000; Q1 is not touched
    assert amounts(out[1]) == {"c.earning": D("5000.00")}
    # (the earning line of 0 stays: the measure did not move, the cancellation never enters it)
    assert amounts(out[2]) == {"c.earning": D("0.00"), "c.clawback": D("-5000.00")}
    # a partial refund of 10,000 claws back 1,000
    partial = run(p, [credits[0], credit("2", "p1", "2026-04-10", "-10000", kind="refund", orig="t1", opp="o1")], (1, 2))
    assert amounts(partial[2]) == {"c.earning": D("0.00"), "c.clawback": D("-1000.00")}
    # outside the window (85 days, window 30): not clawed back
    late = commission(application="flat", tiers=[{"from": 0, "rate": "0.1"}], clawback={"window_days": 30})
    assert amounts(run(late, credits, (1, 2))[2]) == {"c.earning": D("0.00")}


def test_clawback_on_a_flat_table_uses_the_rate_in_effect_after_the_original() -> None:
    # flat 4% below 10,000, 6% from it. A 8,000 (Jan 5) paid at 4%; B 4,000 (Jan 20) takes the total to 12,000 at 6%
    p = commission(application="flat", tiers=STEP_4_6, clawback={"window_days": 90})
    base = [credit("a", "p1", "2026-01-05", "8000"), credit("b", "p1", "2026-01-20", "4000")]
    cancel_a = run(p, [*base, credit("x", "p1", "2026-02-01", "-8000", kind="cancellation", orig="ta", opp="oa")])[1]
    assert amounts(cancel_a) == {"c.earning": D("720.00"), "c.clawback": D("-320.00")}   # 8,000 x 4%
    cancel_b = run(p, [*base, credit("x", "p1", "2026-02-01", "-4000", kind="cancellation", orig="tb", opp="ob")])[1]
    assert amounts(cancel_b) == {"c.earning": D("720.00"), "c.clawback": D("-240.00")}   # 4,000 x 6%


def test_cancellations_without_clawback_walk_the_table_downwards() -> None:
    # step: 14,000 then -5,000 leaves 9,000: 9,000 x 4% = 360 (the 6% portion is undone first)
    out = run(commission(application="step", tiers=STEP_4_6),
              [credit("1", "p1", "2026-01-05", "14000"), credit("2", "p1", "2026-02-05", "-5000", kind="cancellation")])[1]
    assert amounts(out) == {"c.earning": D("360.00")}
    # per transaction: a -5,000 refund on its own earns -5,000 x 4% = -200
    out = run(commission(application="step", scope="per_transaction", tiers=STEP_4_6),
              [credit("1", "p1", "2026-01-05", "14000"), credit("2", "p1", "2026-02-05", "-5000", kind="refund")])[1]
    assert amounts(out) == {"c.earning": D("440.00")}  # 640 - 200
    # a refund in a later period is a negative line then (history untouched)
    out = run(commission(application="step", tiers=STEP_4_6),
              [credit("1", "p1", "2026-01-05", "14000"), credit("2", "p1", "2026-05-05", "-5000", kind="refund")], (1, 2))
    assert amounts(out[1]) == {"c.earning": D("640.00")}
    assert amounts(out[2]) == {"c.earning": D("-280.00")}  # 360 - 640


# ---- holds ----
def test_hold_until_the_invoice_is_paid_then_release() -> None:
    p = commission(application="flat", tiers=[{"from": 0, "rate": "0.1"}], hold={"until": "payment"})
    credits = [credit("1", "p1", "2026-01-10", "10000", opp="o1"),
               credit("2", "p1", "2026-02-10", "5000", opp="o2"),
               credit("p2", "p1", "2026-03-01", "5000", kind="payment", opp="o2"),
               credit("p1", "p1", "2026-05-03", "10000", kind="payment", opp="o1")]
    out = run(p, credits, (1, 2))
    # Q1: 1,500 earned; o1 (1,000) not paid yet -> held; o2 paid in March -> not held
    assert amounts(out[1]) == {"c.earning": D("1500.00"), "c.hold": D("-1000.00")}
    hold = out[1].loc[out[1]["line_type"] == "hold"].iloc[0]
    assert hold["status"] == "held" and hold["credit_ids"] == ["1"]
    # Q2: o1 paid in May -> released
    assert amounts(out[2]) == {"c.earning": D("0.00"), "c.release": D("1000.00")}


# ---- assignment by credit date ----
def test_only_credits_inside_the_assignment_earn_but_all_count_toward_the_measure() -> None:
    # on the plan from Feb 11. Jan 10: 20,000 (counts, does not earn); Mar 1: 20,000 walks 20,000 -> 40,000:
    # 10,000 x 5% + 10,000 x 10% = 1,500
    tiers = [{"from": 0, "to": 30000, "rate": "0.05"}, {"from": 30000, "rate": "0.10"}]
    out = run(commission(application="step", tiers=tiers),
              [credit("1", "p1", "2026-01-10", "20000"), credit("2", "p1", "2026-03-01", "20000")],
              payees=[payee(assigned_from=date(2026, 2, 11))])[1]
    assert amounts(out) == {"c.earning": D("1500.00")}


def test_measure_filter_and_credit_types() -> None:
    # only new/expansion deals, direct and split credit: 10,000 new (direct) + 5,000 expansion (split) = 15,000
    # renewal and overlay/rollup credit are left out
    p = commission(application="flat", tiers=[{"from": 0, "rate": "0.1"}],
                   measure={"filter": "deal_type in ['new', 'expansion']", "credit_types": ["direct", "split"]})
    credits = [credit("1", "p1", "2026-01-10", "10000"), credit("2", "p1", "2026-01-11", "5000", deal_type="expansion", credit_type="split"),
               credit("3", "p1", "2026-01-12", "7000", deal_type="renewal"), credit("4", "p1", "2026-01-12", "9000", credit_type="overlay"),
               credit("5", "p1", "2026-01-12", "9000", credit_type="rollup")]
    assert amounts(run(p, credits)[1]) == {"c.earning": D("1500.00")}


def test_quarter_window_resets_each_quarter() -> None:
    # quarterly window: Q1 14,000 -> 640; Q2 8,000 starts again at the first tier -> 320 (not 8,000 x 6%)
    p = commission(application="step", tiers=STEP_4_6, measure={"window": "quarter"})
    out = run(p, [credit("1", "p1", "2026-02-01", "14000"), credit("2", "p1", "2026-05-01", "8000")], (1, 2))
    assert amounts(out[1]) == {"c.earning": D("640.00")}
    assert amounts(out[2]) == {"c.earning": D("320.00")}


# ---- milestone bonuses ----
MILESTONES = [{"at": 1, "amount": 5000, "label": "100%"}, {"at": "1.25", "amount": 2500, "label": "125%"}]


def test_milestones_individual() -> None:
    p = plan(("club", "milestone_bonus", {"milestones": MILESTONES}))
    q = [quota("p1", "100000")]
    # 130,000 of 100,000 reaches both: 5,000 + 2,500
    out = run(p, [credit("1", "p1", "2026-01-10", "130000")], quotas=q)[1]
    assert amounts(out) == {"club.bonus": D("7500.00")}
    assert out.loc[0, "tier"] == "100%, 125%"
    # exactly 100% reaches the first (>=)
    assert amounts(run(p, [credit("1", "p1", "2026-01-10", "100000")], quotas=q)[1]) == {"club.bonus": D("5000.00")}


def test_milestone_kept_or_reversed_when_cancellations_pull_back() -> None:
    credits = [credit("1", "p1", "2026-01-10", "110000"),
               credit("2", "p1", "2026-05-10", "-20000", kind="cancellation", orig="t1", opp="o1")]
    q = [quota("p1", "100000")]
    kept = run(plan(("club", "milestone_bonus", {"milestones": MILESTONES})), credits, (1, 2), quotas=q)
    assert amounts(kept[1]) == {"club.bonus": D("5000.00")}
    assert amounts(kept[2]) == {"club.bonus": D("0.00")}
    follow = run(plan(("club", "milestone_bonus", {"milestones": MILESTONES, "keep_once_reached": False})), credits, (1, 2), quotas=q)
    assert amounts(follow[2]) == {"club.bonus": D("-5000.00")}


def test_team_milestone() -> None:
    # team t1: 60,000 + 50,000 = 110,000 of 200,000 = 55%: the 50% milestone pays each member 1,000
    p = plan(("team", "milestone_bonus", {"scope": "team", "milestones": [{"at": "0.5", "amount": 1000}]}))
    out = run(p, [credit("1", "p1", "2026-01-10", "60000"), credit("2", "p2", "2026-01-11", "50000")],
              payees=[payee("p1"), payee("p2"), payee("p3", team="t2")],
              quotas=[quota("p1", "100000"), quota("p2", "100000"), quota("p3", "100000")])[1]
    assert amounts(out, "p1") == {"team.bonus": D("1000.00")}
    assert amounts(out, "p2") == {"team.bonus": D("1000.00")}
    assert amounts(out, "p3") == {}


# ---- SPIFFs ----
SPIFF = {"start": "2026-04-01", "end": "2026-06-30", "measure": {"filter": "product == 'Platform'"},
         "pay": "per_deal", "amount": 500, "min_deal_amount": 25000}


def test_spiff_per_deal_time_boxed_and_reversed_on_cancellation() -> None:
    credits = [credit("1", "p1", "2026-05-10", "30000"),                       # qualifies
               credit("2", "p1", "2026-05-11", "20000"),                       # below 25,000
               credit("3", "p1", "2026-05-12", "40000", product="Services"),    # not Platform
               credit("4", "p1", "2026-03-30", "90000"),                       # before the SPIFF
               credit("5", "p1", "2026-08-01", "-30000", kind="cancellation", orig="t1", opp="o1")]
    out = run(plan(("spiff", "spiff", SPIFF)), credits, (1, 2, 3))
    assert amounts(out[1]) == {}
    assert amounts(out[2]) == {"spiff.spiff": D("500.00")}
    assert amounts(out[3]) == {"spiff.spiff": D("-500.00")}


def test_spiff_rate() -> None:
    # 2% of 30,000 qualifying Platform credit = 600
    p = plan(("spiff", "spiff", {**SPIFF, "pay": "rate", "rate": "0.02", "amount": None, "min_deal_amount": 0}))
    assert amounts(run(p, [credit("1", "p1", "2026-05-10", "30000")], (2,))[2]) == {"spiff.spiff": D("600.00")}


# ---- MBOs ----
def test_mbo_weighted_scores_from_table_and_plan() -> None:
    # TI 60,000 x 20% x 3/12 = 3,000 per quarter; csat 0.6 x 0.9 + pipeline 0.4 x min(1.2, 1) = 0.94 -> 2,820
    p = plan(("mbo", "mbo", {"share_of_target_incentive": "0.2", "objectives": [{"id": "csat", "weight": "0.6"},
                                                                                {"id": "pipeline", "weight": "0.4"}],
                             "scores": [{"payee": "*", "period": "2026-Q1", "objective": "pipeline", "score": "1.2"}]}))
    out = run(p, [], scores=[{"payee_id": "p1", "objective": "csat", "period_id": "2026-Q1", "score": D("0.9")}])[1]
    assert amounts(out) == {"mbo.mbo": D("2820.00")}
    # half the quarter on the plan (prorate_by_days gives proration 0.5): 1,410
    half = run(p, [], payees=[payee(proration="0.5")],
               scores=[{"payee_id": "p1", "objective": "csat", "period_id": "2026-Q1", "score": D("0.9")}])[1]
    assert amounts(half) == {"mbo.mbo": D("1410.00")}


# ---- draws ----
def test_recoverable_draw_with_recovery_and_floor() -> None:
    comm = ("c", "rate_table", {"application": "flat", "tiers": [{"from": 0, "rate": "0.1"}], "measure": {"window": "quarter"}})
    draw = ("draw", "draw", {"amount": 3000, "recoverable": True, "eligible_months_after_hire": 6})
    credits = [credit("1", "p1", "2026-02-01", "10000"), credit("2", "p1", "2026-05-01", "45000"),
               credit("3", "p1", "2026-08-01", "50000")]
    out = run(plan(comm, draw), credits, (1, 2, 3), payees=[payee(hire=date(2026, 1, 1))])
    # Q1 earns 1,000: top-up 2,000 (balance 2,000)
    assert amounts(out[1]) == {"c.earning": D("1000.00"), "draw.draw_topup": D("2000.00")}
    # Q2 earns 4,500, draw still active (3,000 kept): recover min(2,000, 1,500) = 1,500
    assert amounts(out[2]) == {"c.earning": D("4500.00"), "draw.draw_recovery": D("-1500.00")}
    # Q3 (from July, after 6 months) no draw: recover the remaining 500
    assert amounts(out[3]) == {"c.earning": D("5000.00"), "draw.draw_recovery": D("-500.00")}
    floor = run(plan(comm, ("draw", "draw", {"amount": 3000, "recoverable": True, "floor": 4000})), credits, (1, 2),
                payees=[payee(hire=date(2026, 1, 1))])
    # with a floor of 4,000 kept: Q2 recovers min(2,000, 4,500 - 4,000) = 500
    assert amounts(floor[2]) == {"c.earning": D("4500.00"), "draw.draw_recovery": D("-500.00")}
    nonrec = run(plan(comm, ("draw", "draw", {"amount": 3000, "recoverable": False})), credits, (1, 2))
    assert amounts(nonrec[2]) == {"c.earning": D("4500.00")}


def test_draw_recovery_start_and_negative_earnings() -> None:
    comm = ("c", "rate_table", {"application": "flat", "tiers": [{"from": 0, "rate": "0.1"}], "measure": {"window": "quarter"}})
    draw = ("draw", "draw", {"amount": 1000, "recoverable": True, "recovery_start": "2026-07-01"})
    # Q1: a refund makes earnings -500: the top-up is 1,500 (the sign is kept)
    credits = [credit("1", "p1", "2026-02-01", "-5000", kind="refund"), credit("2", "p1", "2026-05-01", "30000"),
               credit("3", "p1", "2026-08-01", "30000")]
    out = run(plan(comm, draw), credits, (1, 2, 3))
    assert amounts(out[1]) == {"c.earning": D("-500.00"), "draw.draw_topup": D("1500.00")}
    assert amounts(out[2]) == {"c.earning": D("3000.00")}            # recovery starts in July
    assert amounts(out[3]) == {"c.earning": D("3000.00"), "draw.draw_recovery": D("-1500.00")}


# ---- total pay cap and formulas ----
def test_total_pay_cap_across_components() -> None:
    comm = ("c", "rate_table", {"application": "flat", "tiers": [{"from": 0, "rate": "0.1"}]})
    club = ("club", "milestone_bonus", {"basis": "amount", "milestones": [{"at": 100000, "amount": 3000}]})
    cap = ("cap", "pay_cap", {"amount": 12000, "scope": "plan_year"})
    out = run(plan(comm, club, cap), [credit("1", "p1", "2026-02-01", "80000"), credit("2", "p1", "2026-05-01", "40000")], (1, 2))
    # Q1: 8,000. Q2: 4,000 + 3,000 bonus: 15,000 in the year, 3,000 over 12,000 forfeited
    assert amounts(out[1]) == {"c.earning": D("8000.00")}
    assert amounts(out[2]) == {"c.earning": D("4000.00"), "club.bonus": D("3000.00"), "cap.cap_forfeit:cap:plan_year": D("-3000.00")}


def test_formula_component() -> None:
    # max(12,345.67 - 5,000, 0) x 2% = 146.9134 -> 146.91
    p = plan(("f", "formula", {"formula": "max(measure - 5000, 0) * 0.02", "line_type": "bonus"}))
    assert amounts(run(p, [credit("1", "p1", "2026-01-10", "12345.67")])[1]) == {"f.bonus": D("146.91")}
    # a refund below 5,000 gives 0 (not negative)
    assert amounts(run(p, [credit("1", "p1", "2026-01-10", "-500", kind="refund")])[1]) == {}


def test_every_line_is_a_rounded_decimal_and_totals_are_sums_of_lines() -> None:
    p = plan(("c", "rate_table", {"application": "flat", "tiers": [{"from": 0, "rate": "0.0333"}]}))
    out = run(p, [credit(str(i), "p1", f"2026-0{1 + i % 6}-0{1 + i % 9}", f"{1000 + i * 7.77:.2f}") for i in range(12)], (1, 2))
    total = sum(out[1]["amount"]) + sum(out[2]["amount"])
    # window-to-date rounding: the two quarters add up to the rounded year-to-date amount exactly
    measure = sum(D(f"{1000 + i * 7.77:.2f}") for i in range(12))
    assert total == (measure * D("0.0333")).quantize(D("0.01"))
    for frame in out.values():
        assert all(isinstance(a, D) and a == a.quantize(D("0.01")) for a in frame["amount"])


def test_row_order_walk_order_and_extra_rows_do_not_change_the_lines() -> None:
    # ties on one day, negative credits, a clawback: the walk order decides the clawback rate
    p = commission(application="step", tiers=STEP_4_6, clawback={"window_days": 90})
    rows = [credit("b", "p1", "2026-01-10", "10000"), credit("a", "p1", "2026-01-10", "5000"),
            credit("c", "p1", "2026-01-12", "2500"), credit("d", "p2", "2026-01-10", "12000"),
            credit("x", "p1", "2026-02-01", "-10000", kind="cancellation", orig="tb", opp="ob")]
    people = [payee("p1"), payee("p2")]
    expected = run(p, rows, payees=people)[1]
    # a 5,000 x 4% = 200; b 5,000 x 4% + 5,000 x 6% = 500; c 2,500 x 6% = 150: 850; b cancelled: -500
    assert amounts(expected, "p1") == {"c.earning": D("850.00"), "c.clawback": D("-500.00")}
    shuffled = [rows[i] for i in (4, 2, 0, 3, 1)]
    assert run(p, shuffled, payees=people)[1]["amount"].tolist() == expected["amount"].tolist()
    # an engine-given walk_order (integers ordered like credit_id) gives the same walk
    frame = pd.DataFrame(shuffled)
    frame["walk_order"] = frame["credit_id"].rank(method="first").astype("int64")
    frame["amount_minor"] = [int(a * 100) for a in frame["amount"]]
    lines = calculate_plan(p, Q[1], YEAR, credits=frame, payees=pd.DataFrame(people))
    assert lines["amount"].tolist() == expected["amount"].tolist()
    # rows of payees on no plan and credits of last year are ignored
    extra = [*rows, credit("z", "p9", "2026-01-10", "99999"), credit("y", "p1", "2025-06-01", "77777")]
    assert run(p, extra, payees=people)[1]["amount"].tolist() == expected["amount"].tolist()


# ---- remaining options, one worked example each ----
def test_hold_until_invoice_and_plan_year_end() -> None:
    p = commission(application="flat", tiers=[{"from": 0, "rate": "0.1"}],
                   hold={"until": "invoice", "at_plan_year_end": "release"})
    credits = [credit("1", "p1", "2026-11-10", "10000", opp="o1"),
               credit("2", "p1", "2026-11-12", "5000", opp="o2"),
               credit("i2", "p1", "2026-12-01", "5000", kind="invoice", opp="o2")]
    q3, q4 = (run(p, credits, (n,))[n] for n in (3, 4))
    assert amounts(q3) == {}
    # Q4 (the last period of the plan year): o1 is never invoiced, but what is held is released at year end
    assert amounts(q4) == {"c.earning": D("1500.00"), "c.hold": D("-1000.00"), "c.release": D("1000.00")}
    keep = commission(application="flat", tiers=[{"from": 0, "rate": "0.1"}], hold={"until": "invoice", "at_plan_year_end": "keep"})
    assert amounts(run(keep, credits, (4,))[4]) == {"c.earning": D("1500.00"), "c.hold": D("-1000.00")}


def test_period_window_and_quota_measure() -> None:
    # window: period pays each quarter on its own credits; attainment against the quarter's quota rows of
    # the measure named in quota_measure: Q2 quota 10,000, 12,000 booked: 10,000 x 5% + 2,000 x 10% = 700
    p = commission(application="step", basis="attainment", measure={"window": "period", "quota_measure": "bookings_q"},
                   tiers=[{"from": 0, "to": 1, "rate": "0.05"}, {"from": 1, "rate": "0.10"}])
    quotas = [{**quota("p1", "10000", date(2026, 1, 1), date(2026, 3, 31)), "measure": "bookings_q"},
              {**quota("p1", "10000", date(2026, 4, 1), date(2026, 6, 30)), "measure": "bookings_q"}]
    out = run(p, [credit("1", "p1", "2026-02-01", "5000"), credit("2", "p1", "2026-05-01", "12000")], (1, 2), quotas=quotas)
    assert amounts(out[1]) == {"c.earning": D("250.00")}
    assert amounts(out[2]) == {"c.earning": D("700.00")}


def test_mbo_amount_per_period_default_scores_and_cap() -> None:
    # 1,000 per period: quality 0.5 x min(1.5, 1.2) + speed 0.5 x default 0.6 = 0.9 -> 900
    p = plan(("mbo", "mbo", {"amount": 1000, "max_score": "1.2",
                             "objectives": [{"id": "quality", "weight": "0.5"}, {"id": "speed", "weight": "0.5", "default_score": "0.6"}]}))
    out = run(p, [], scores=[{"payee_id": "p1", "objective": "quality", "period_id": "2026-Q1", "score": D("1.5")}])[1]
    assert amounts(out) == {"mbo.mbo": D("900.00")}
    assert "quality 0.5 x 1.5 + speed 0.5 x 0.6" in out.loc[0, "formula"]
    # no score and no default: nothing for that objective (0.5 x 0.6 = 300)
    assert amounts(run(p, [])[1]) == {"mbo.mbo": D("300.00")}


def test_pay_cap_per_period_multiple_of_target_incentive_and_refunds() -> None:
    comm = ("c", "rate_table", {"application": "flat", "tiers": [{"from": 0, "rate": "0.1"}], "measure": {"window": "quarter"}})
    cap = ("cap", "pay_cap", {"multiple_of_target_incentive": "0.05", "scope": "period"})  # 5% of 60,000 = 3,000
    credits = [credit("1", "p1", "2026-02-01", "45000"), credit("2", "p1", "2026-05-01", "-20000", kind="refund")]
    out = run(plan(comm, cap), credits, (1, 2))
    assert amounts(out[1]) == {"c.earning": D("4500.00"), "cap.cap_forfeit:cap:period": D("-1500.00")}
    # a refund makes the quarter negative: nothing to cap, nothing restored
    assert amounts(out[2]) == {"c.earning": D("-2000.00")}


def test_formula_per_period_and_names() -> None:
    # not cumulative: this period's credits only; attainment and target incentive are available
    p = plan(("f", "formula", {"formula": "min(attainment, 1.5) * target_incentive * 0.01", "cumulative": False}))
    out = run(p, [credit("1", "p1", "2026-01-10", "50000"), credit("2", "p1", "2026-05-10", "150000")], (1, 2),
              quotas=[quota("p1", "100000")])
    # Q1: 50,000 / 100,000 = 0.5 x 60,000 x 1% = 300; Q2: min(1.5, 1.5) x 600 = 900
    assert amounts(out[1]) == {"f.earning": D("300.00")}
    assert amounts(out[2]) == {"f.earning": D("900.00")}


def test_plan_currency_restriction() -> None:
    p = plan(("c", "rate_table", {"application": "flat", "tiers": [{"from": 0, "rate": "0.1"}]}))
    p = Plan(p.spec.model_copy(update={"currency": "EUR"}), p.components)
    with pytest.raises(PlanCalculationError, match="pays in EUR, but 1 assigned payee"):
        run(p, [credit("1", "p1", "2026-01-10", "100")])


def test_yen_payees_round_to_whole_yen() -> None:
    # JPY has no minor unit: 12,345 x 3.3% = 407.385 -> 407 (half up)
    p = plan(("c", "rate_table", {"application": "flat", "tiers": [{"from": 0, "rate": "0.033"}]}))
    yen = {**payee("p1"), "currency": "JPY"}
    out = run(p, [credit("1", "p1", "2026-01-10", "12345")], payees=[yen, payee("p2")])[1]
    assert amounts(out) == {"c.earning": D("407")}
    assert out.loc[0, "currency"] == "JPY"


@given(st.lists(st.tuples(st.integers(-1, 4), st.integers(0, 5), st.integers(0, 40)), min_size=1, max_size=200),
       st.sampled_from([1, 2**20, 2**61]))
def test_walk_permutation_equals_a_stable_lexsort(rows: list[tuple[int, int, int]], spread: int) -> None:
    """The packed-key sort behind ``walk_permutation`` (and its fallbacks: repeated keys, keys
    too wide for 63 bits) orders exactly like ``np.lexsort((walk_order, day, pos))``."""
    pos, day, order = (np.array(column, dtype=np.int64) for column in zip(*rows, strict=True))
    order = order * spread
    expected = np.lexsort((order, day, pos))
    got = walk_permutation(pos, day, pd.Series([""] * len(pos)), order)
    assert got.tolist() == expected.tolist()


def test_walk_permutation_of_millions_sorts_in_two_halves_like_a_lexsort() -> None:
    """Above a million credits the packed keys are sorted as two halves on two threads; the
    order is still exactly ``np.lexsort`` (payees outside the plan first, stably)."""
    from spm_kernel.plantypes import common

    rng = np.random.default_rng(7)
    n = common._HALVES_FROM + 200_000
    pos = rng.integers(-1, 5_000, n)
    day = rng.integers(0, 365, n)
    order = rng.permutation(n).astype(np.int64) * 3  # unique per credit, like credit ids
    got = walk_permutation(pos, day, pd.Series([""] * n), order)
    assert np.array_equal(got, np.lexsort((order, day, pos)))
