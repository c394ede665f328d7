"""Property test: the vectorised plan types equal the plain Decimal reference to the cent.

Random plans (every rate-table option, plus milestone, SPIFF, MBO, draw, pay cap and formula
components) run over random credits (negative cancellations and refunds, amounts equal to
tier boundaries, several credits on the same day) for two consecutive quarters, each
implementation fed its own Q1 lines as prior lines for Q2.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from spm_kernel.plans.calculate import calculate_plan
from spm_kernel.plans.model import Plan, PlanComponent, PlanFile
from spm_kernel.plantypes.bonuses import MboConfig, MilestoneBonus, MilestoneConfig, Mbo, Spiff, SpiffConfig
from spm_kernel.plantypes.contract import CalcPeriod
from spm_kernel.plantypes.pay import Draw, DrawConfig, Formula, FormulaConfig, PayCap, PayCapConfig
from spm_kernel.plantypes.rate_table import PlanCalculationError, RateTable, RateTableConfig, validate_rate_table

YEAR = CalcPeriod("FY2026", date(2026, 1, 1), date(2026, 12, 31))
Q1 = CalcPeriod("2026-Q1", date(2026, 1, 1), date(2026, 3, 31))
Q2 = CalcPeriod("2026-Q2", date(2026, 4, 1), date(2026, 6, 30))
DAYS = [date(2026, 1, 1) + timedelta(days=d) for d in (0, 10, 10, 31, 45, 59, 89, 90, 100, 120, 150, 180)]
BOUNDARY_AMOUNTS = ["1000", "2500", "5000", "10000", "12345.67", "-1000", "-2500", "0.01", "-0.01", "7777.77"]

money = st.one_of(
    st.sampled_from(BOUNDARY_AMOUNTS),
    st.integers(min_value=-300000, max_value=3000000).map(lambda c: str(Decimal(c).scaleb(-2))),
)
rate = st.integers(min_value=0, max_value=2000).map(lambda v: Decimal(v).scaleb(-4))  # 0 .. 20%, 4 decimals
mult = st.sampled_from([Decimal("0"), Decimal("0.5"), Decimal("0.75"), Decimal("1"), Decimal("1.25"), Decimal("1.5"),
                        Decimal("2"), Decimal("1.333")])


@st.composite
def table_bounds(draw: st.DrawFn, basis: str) -> list[Decimal]:
    if basis == "attainment":
        pool = [Decimal(x) for x in ("0.25", "0.5", "0.75", "1", "1.2", "1.5", "2")]
    else:
        pool = [Decimal(x) for x in ("1000", "2500", "5000", "10000", "12345.67", "20000", "50000")]
    inner = sorted(draw(st.sets(st.sampled_from(pool), max_size=3)))
    return [Decimal(0), *inner]


@st.composite
def rate_table_config(draw: st.DrawFn) -> dict:
    basis = draw(st.sampled_from(["amount", "attainment"]))
    application = draw(st.sampled_from(["flat", "step", "interpolated"]))
    froms = draw(table_bounds(basis))
    tiers = []
    for i, f in enumerate(froms):
        tier: dict = {"from": str(f)}
        if i + 1 < len(froms):
            tier["to"] = str(froms[i + 1])
        if application == "interpolated":
            tier["payout"] = "0" if i == 0 else str(draw(st.integers(0, 20000)))
            if i + 1 == len(froms) and draw(st.booleans()):
                tier["rate"] = str(draw(rate))
        else:
            tier["rate"] = str(draw(rate))
        tiers.append(tier)
    cfg: dict = {"application": application, "basis": basis, "tiers": tiers,
                 "scope": draw(st.sampled_from(["cumulative", "per_transaction"]))}
    window = draw(st.sampled_from(["plan_year", "quarter", "period"]))
    measure: dict = {"window": window,
                     "credit_types": draw(st.sampled_from([["direct", "split", "rule"], ["direct", "split", "rollup", "overlay", "rule"]]))}
    if draw(st.booleans()):
        measure["filter"] = draw(st.sampled_from(["deal_type in ['new', 'expansion']", "amount >= 1000 or amount < 0",
                                                  "product != 'Services'"]))
    cfg["measure"] = measure
    if application == "interpolated" and draw(st.booleans()):
        cfg["payout_unit"] = "target_incentive"
        for t in tiers:
            t["payout"] = str(Decimal(t["payout"]) / 10000)
    if draw(st.booleans()):
        mb = draw(table_bounds(draw(st.sampled_from(["amount", "attainment"]))))
        cfg["multipliers"] = {"retroactive": draw(st.booleans()),
                              "basis": "attainment" if mb and mb[-1] < 10 and len(mb) > 1 else "amount",
                              "bands": [{"from": str(f), **({"to": str(mb[i + 1])} if i + 1 < len(mb) else {}),
                                         "multiplier": str(draw(mult))} for i, f in enumerate(mb)]}
    if draw(st.booleans()):
        cfg["threshold"] = {"value": draw(st.sampled_from(["0.5", "1", "5000", "10000"])),
                            "basis": draw(st.sampled_from(["amount", "attainment"])),
                            "below_multiplier": str(draw(st.sampled_from([Decimal(0), Decimal("0.5")]))),
                            "retroactive": draw(st.booleans())}
    gates = []
    if draw(st.booleans()):
        effect = draw(st.sampled_from(["cap_rate", "no_pay", "multiplier"] if application != "interpolated"
                                      else ["no_pay", "multiplier"]))
        gate: dict = {"name": "annual", "measure": {"window": draw(st.sampled_from(["plan_year", "quarter"]))},
                      "effect": effect, "retroactive": draw(st.booleans())}
        if draw(st.booleans()):
            gate["min_attainment"] = draw(st.sampled_from(["0.5", "1"]))
        else:
            gate["min_amount"] = draw(st.sampled_from(["5000", "20000"]))
        if effect == "cap_rate":
            gate["max_rate"] = str(draw(rate))
        if effect == "multiplier":
            gate["multiplier"] = str(draw(mult))
        gates.append(gate)
    if draw(st.booleans()):
        gates.append({"name": "quality", "score": "csat", "min_score": "0.8", "effect": draw(st.sampled_from(["multiplier", "no_pay"])),
                      "multiplier": "0.9", "missing_score": draw(st.sampled_from(["met", "not_met"]))})
        if gates[-1]["effect"] == "no_pay":
            del gates[-1]["multiplier"]
    cfg["gates"] = gates
    caps = []
    for scope in draw(st.sets(st.sampled_from(["transaction", "period", "plan_year"]))):
        cap: dict = {"scope": scope}
        if draw(st.booleans()):
            cap["amount"] = draw(st.sampled_from(["100", "250.5", "1000", "5000"]))
        else:
            cap["multiple_of_target_incentive"] = draw(st.sampled_from(["0.01", "0.05", "1.5"]))
        if scope == "period" and draw(st.booleans()):
            cap["excess"] = "carry_forward"
        caps.append(cap)
    cfg["caps"] = caps
    if draw(st.booleans()):
        cfg["clawback"] = {"window_days": draw(st.sampled_from([0, 30, 90, 400]))}
    if draw(st.booleans()):
        cfg["hold"] = {"until": draw(st.sampled_from(["payment", "invoice"])),
                       "at_plan_year_end": draw(st.sampled_from(["release", "keep"]))}
    return cfg


@st.composite
def scenario(draw: st.DrawFn) -> dict:
    n_payees = draw(st.integers(1, 3))
    payees = []
    for i in range(n_payees):
        ti = draw(st.one_of(st.none(), st.integers(0, 10_000_000).map(lambda c: Decimal(c).scaleb(-2))))
        start = draw(st.sampled_from([date(2026, 1, 1), date(2026, 2, 11), date(2026, 4, 15)]))
        end = draw(st.sampled_from([None, date(2026, 5, 20), date(2026, 3, 1)]))
        if end is not None and end < start:
            end = None
        payees.append({"payee_id": f"p{i}", "role": "rep", "team_id": f"t{i % 2}", "region_id": "r1", "manager_id": None,
                       "hire_date": draw(st.sampled_from([date(2025, 1, 1), date(2026, 1, 20)])), "termination_date": None,
                       "target_incentive": ti, "proration": draw(st.sampled_from([Decimal(1), Decimal("0.5"), Decimal("0.333")])),
                       "assigned_from": start, "assigned_to": end, "currency": "USD"})
    quotas = []
    for p in payees:
        if draw(st.integers(0, 9)) == 0:
            continue  # no quota: an attainment plan must refuse this payee, in both implementations
        if draw(st.booleans()):
            quotas.append({"payee_id": p["payee_id"], "measure": "bookings", "period_start": date(2026, 1, 1),
                           "period_end": date(2026, 12, 31), "amount": Decimal(draw(st.integers(100000, 20000000))).scaleb(-2)})
        else:
            for qs in (date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1), date(2026, 10, 1)):
                quotas.append({"payee_id": p["payee_id"], "measure": "bookings", "period_start": qs,
                               "period_end": qs + timedelta(days=89), "amount": Decimal(draw(st.integers(50000, 5000000))).scaleb(-2)})
    n_credits = draw(st.integers(0, 18))
    credits = []
    for i in range(n_credits):
        pid = f"p{draw(st.integers(0, n_payees - 1))}"
        day = draw(st.sampled_from(DAYS))
        kind = draw(st.sampled_from(["booking"] * 5 + ["cancellation", "refund", "invoice", "payment"]))
        amount = Decimal(draw(money))
        original = None
        opp = f"o{draw(st.integers(0, 6))}"
        if kind in ("cancellation", "refund"):
            amount = -abs(amount)
            earlier = [c for c in credits if c["payee_id"] == pid and c["kind"] == "booking"]
            if earlier and draw(st.booleans()):
                target = draw(st.sampled_from(earlier))
                original, opp = target["transaction_id"], target["opportunity_id"]
                day = max(day, target["credit_date"].date())
            else:
                original = draw(st.sampled_from([None, "t-missing"]))
        credits.append({"credit_id": f"c{i:02d}", "payee_id": pid, "transaction_id": f"t{i:02d}", "opportunity_id": opp,
                        "credit_date": pd.Timestamp(day), "credit_type": draw(st.sampled_from(["direct", "split", "rollup", "overlay"])),
                        "kind": kind, "amount": amount, "product": draw(st.sampled_from(["Platform", "Services"])),
                        "segment": "mid", "deal_type": draw(st.sampled_from(["new", "expansion", "renewal"])),
                        "region_id": "r1", "original_transaction_id": original})
    scores = [{"payee_id": p["payee_id"], "objective": o, "period_id": per, "score": Decimal(draw(st.integers(0, 120))).scaleb(-2)}
              for p in payees for o in ("csat", "pipeline") for per in ("2026-Q1", "2026-Q2") if draw(st.booleans())]
    return {"payees": payees, "quotas": quotas, "credits": credits, "scores": scores,
            "rounding": draw(st.sampled_from(["ROUND_HALF_UP", "ROUND_HALF_EVEN", "ROUND_DOWN", "ROUND_CEILING"]))}


CREDIT_COLS = ["credit_id", "payee_id", "transaction_id", "opportunity_id", "credit_date", "credit_type", "kind", "amount",
               "product", "segment", "deal_type", "region_id", "original_transaction_id"]


def frames(sc: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    credits = pd.DataFrame(sc["credits"], columns=CREDIT_COLS)
    credits["amount"] = credits["amount"].astype(object)
    payees = pd.DataFrame(sc["payees"])
    quotas = pd.DataFrame(sc["quotas"], columns=["payee_id", "measure", "period_start", "period_end", "amount"])
    scores = pd.DataFrame(sc["scores"], columns=["payee_id", "objective", "period_id", "score"])
    return credits, payees, quotas, scores


def make_plan(components: list[tuple[str, object, object]], rounding: str) -> Plan:
    spec = PlanFile(plan_id="prop", version=1, name="property plan", effective_from=date(2026, 1, 1), rounding=rounding,
                    assignments=[{"role": "rep"}], components=[{"id": c[0], "type": c[1].name} for c in components])
    comps = tuple(PlanComponent(cid, pt.name, cid, "", pt, cfg) for cid, pt, cfg in components)  # type: ignore[attr-defined]
    return Plan(spec, comps)


def as_prior(lines: pd.DataFrame, period: CalcPeriod) -> pd.DataFrame:
    out = lines.copy()
    out["period_id"] = period.period_id
    out["period_start"] = period.start
    out["period_end"] = period.end
    return out


def key_amounts(lines: pd.DataFrame) -> dict:
    out: dict = {}
    for rec in lines.itertuples(index=False):
        if rec.amount != 0:
            k = (rec.payee_id, rec.component, rec.line_type, rec.reference or "", rec.status)
            out[k] = out.get(k, Decimal(0)) + rec.amount
    return out


def run_both(plan: Plan, sc: dict) -> None:
    credits, payees, quotas, scores = frames(sc)
    prior = {"vectorised": None, "reference": None}
    for period in (Q1, Q2):
        results = {}
        for impl in ("vectorised", "reference"):
            try:
                results[impl] = calculate_plan(plan, period, YEAR, credits=credits, payees=payees, quotas=quotas,
                                               prior_lines=prior[impl], scores=scores, implementation=impl)
            except PlanCalculationError as exc:
                results[impl] = type(exc)
        if results["vectorised"] is PlanCalculationError or results["reference"] is PlanCalculationError:
            assert results["vectorised"] is results["reference"], "one implementation refused the inputs, the other did not"
            return
        vec, ref = results["vectorised"], results["reference"]
        assert key_amounts(vec) == key_amounts(ref), f"{period.period_id}\nvectorised:\n{vec}\nreference:\n{ref}"
        earning_payees = lambda f: set(f.loc[f["line_type"] == "earning", "payee_id"])  # noqa: E731
        assert earning_payees(vec) == earning_payees(ref)
        for impl, lines in results.items():
            p = as_prior(lines, period)
            prior[impl] = p if prior[impl] is None else pd.concat([prior[impl], p], ignore_index=True)


SETTINGS = settings(max_examples=int(__import__("os").environ.get("SPM_PROPERTY_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.slow
@SETTINGS
@given(cfg=rate_table_config(), sc=scenario())
def test_rate_table_equals_reference(cfg: dict, sc: dict) -> None:
    config = RateTableConfig.model_validate(cfg)
    assume(not validate_rate_table(config))
    run_both(make_plan([("commission", RateTable(), config)], sc["rounding"]), sc)


@st.composite
def other_components(draw: st.DrawFn) -> list[tuple[str, object, object]]:
    comps: list[tuple[str, object, object]] = []
    comps.append(("commission", RateTable(), RateTableConfig.model_validate({
        "application": "step", "tiers": [{"from": 0, "to": 5000, "rate": "0.05"}, {"from": 5000, "rate": "0.1"}]})))
    if draw(st.booleans()):
        basis = draw(st.sampled_from(["amount", "attainment"]))
        ms = [{"at": "0.5", "amount": "100"}, {"at": "1", "amount": "250.25"}] if basis == "attainment" else \
            [{"at": "5000", "amount": "100"}, {"at": "12345.67", "amount": "300"}]
        comps.append(("milestone", MilestoneBonus(), MilestoneConfig.model_validate({
            "basis": basis, "scope": draw(st.sampled_from(["individual", "team"])), "milestones": ms,
            "keep_once_reached": draw(st.booleans()), "measure": {"window": draw(st.sampled_from(["plan_year", "quarter"]))}})))
    if draw(st.booleans()):
        per_deal = draw(st.booleans())
        comps.append(("spiff", Spiff(), SpiffConfig.model_validate({
            "start": "2026-01-11", "end": draw(st.sampled_from(["2026-02-15", "2026-04-30"])),
            "measure": {"filter": "product == 'Platform'"}, "pay": "per_deal" if per_deal else "rate",
            **({"amount": "150", "min_deal_amount": draw(st.sampled_from(["0", "2500"]))} if per_deal else {"rate": "0.015"})})))
    if draw(st.booleans()):
        share = draw(st.booleans())
        comps.append(("mbo", Mbo(), MboConfig.model_validate({
            **({"share_of_target_incentive": "0.2"} if share else {"amount": "1000"}),
            "objectives": [{"id": "csat", "weight": "0.6", "default_score": draw(st.sampled_from([None, "0.5"]))},
                           {"id": "pipeline", "weight": "0.4"}],
            "max_score": draw(st.sampled_from(["1", "1.1"])),
            "scores": [{"payee": "*", "period": "2026-Q1", "objective": "pipeline", "score": "0.7"}]})))
    if draw(st.booleans()):
        comps.append(("formula", Formula(), FormulaConfig.model_validate({
            "formula": draw(st.sampled_from(["max(measure - 5000, 0) * 0.02", "min(measure, 20000) * 0.015 + credit_count",
                                             "measure * 0.01 if measure > 0 else 0"])),
            "cumulative": draw(st.booleans()), "line_type": "bonus"})))
    if draw(st.booleans()):
        comps.append(("cap", PayCap(), PayCapConfig.model_validate({
            "amount": draw(st.sampled_from(["500", "2000"])), "scope": draw(st.sampled_from(["period", "plan_year"]))})))
    if draw(st.booleans()):
        comps.append(("draw", Draw(), DrawConfig.model_validate({
            "amount": draw(st.sampled_from(["300", "1000"])), "recoverable": draw(st.booleans()),
            "recovery_start": draw(st.sampled_from([None, "2026-04-01"])), "floor": draw(st.sampled_from(["0", "100"])),
            "eligible_months_after_hire": draw(st.sampled_from([None, 3]))})))
    return comps


@pytest.mark.slow
@SETTINGS
@given(comps=other_components(), sc=scenario())
def test_whole_plans_equal_reference(comps: list, sc: dict) -> None:
    run_both(make_plan(comps, sc["rounding"]), sc)


@pytest.mark.parametrize("mode", ["ROUND_HALF_UP", "ROUND_HALF_EVEN", "ROUND_HALF_DOWN", "ROUND_UP", "ROUND_DOWN",
                                  "ROUND_CEILING", "ROUND_FLOOR"])
@given(num=st.integers(-10**12, 10**12), places=st.integers(0, 6))
@settings(max_examples=200, deadline=None)
def test_round_div_equals_decimal_quantize(mode: str, num: int, places: int) -> None:
    import numpy as np

    from spm_kernel.money import round_div, round_money
    expected = round_money(Decimal(num).scaleb(-places), 0, mode)
    got = round_div(np.array([num], dtype=np.int64), 10**places, mode)[0]
    assert Decimal(int(got)) == expected
    got_obj = round_div(np.array([num * 10**30], dtype=object), 10 ** (places + 30), mode)[0]
    assert Decimal(int(got_obj)) == expected
