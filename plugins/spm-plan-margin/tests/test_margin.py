"""The margin plan type, worked by hand, and used from a plan file like a built-in."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pandas as pd
import pytest

from spm_kernel.plans import PlanValidationError, calculate_plan, load_plan_text
from spm_kernel.plantypes.contract import CalcPeriod

Q1 = CalcPeriod("2026-Q1", date(2026, 1, 1), date(2026, 3, 31))
YEAR = CalcPeriod("FY2026", date(2026, 1, 1), date(2026, 12, 31))
PLAN = """
plan_id: margin-plan
version: 1
name: Margin plan
effective_from: 2026-01-01
assignments: [{role: rep}]
components:
  - id: margin
    type: margin
    rate: 0.10
    margin: {Platform: 0.80, Services: 0.35, "*": 0.5}
    decelerator:
      - {from: 0,    multiplier: 1}
      - {from: 0.10, multiplier: 0.75}
      - {from: 0.25, multiplier: 0.5}
"""


def credits(with_discount: bool = True) -> pd.DataFrame:
    rows = [("c1", "2026-01-10", "10000", "booking", "Platform", "0.05"),
            ("c2", "2026-02-10", "20000", "booking", "Services", "0.10"),   # exactly 10%: the 0.75 band
            ("c3", "2026-03-01", "-2000", "refund", "Platform", "0.30"),
            ("c4", "2026-04-01", "99999", "booking", "Platform", "0"),      # next quarter
            ("c5", "2026-03-02", "1000", "booking", "Hardware", "0")]       # "*": 50% margin
    frame = pd.DataFrame([{"credit_id": c, "payee_id": "p1", "transaction_id": "t" + c, "opportunity_id": "o" + c,
                           "credit_date": pd.Timestamp(d), "credit_type": "direct", "kind": k, "amount": D(a),
                           "product": prod, "segment": "mid", "deal_type": "new", "region_id": "r1",
                           "original_transaction_id": None, "discount": D(disc)} for c, d, a, k, prod, disc in rows])
    return frame if with_discount else frame.drop(columns=["discount"])


PAYEES = pd.DataFrame([{"payee_id": "p1", "role": "rep", "team_id": "t1", "region_id": "r1", "manager_id": None,
                        "hire_date": date(2024, 1, 1), "termination_date": None, "target_incentive": D(50000),
                        "proration": D(1), "assigned_from": date(2026, 1, 1), "assigned_to": None, "currency": "USD"}])


@pytest.fixture
def plan(spm_workspace):  # the installed plugin registers `margin` through its entry point
    assert "margin" in spm_workspace.registry.plan_types
    assert spm_workspace.registry.plan_types.provider("margin") == "plan_margin"
    return load_plan_text(PLAN, spm_workspace.registry.plan_types, "margin.yaml")


def test_margin_commission_with_discount_decelerator(plan) -> None:
    lines = calculate_plan(plan, Q1, YEAR, credits=credits(), payees=PAYEES)
    # 10,000 x 0.80 x 10% x 1    =  800.00
    # 20,000 x 0.35 x 10% x 0.75 =  525.00
    # -2,000 x 0.80 x 10% x 0.5  =  -80.00   (a refund is negative, at its own discount)
    #  1,000 x 0.50 x 10% x 1    =   50.00
    assert lines["amount"].tolist() == [D("1295.00")]
    assert lines.loc[0, "line_type"] == "earning" and lines.loc[0, "rate"] == D("0.10")


def test_without_discount_data_no_deceleration(plan) -> None:
    lines = calculate_plan(plan, Q1, YEAR, credits=credits(with_discount=False), payees=PAYEES)
    # 800 + 20,000 x 0.35 x 10% (700) - 2,000 x 0.8 x 10% (160) + 50 = 1,390
    assert lines["amount"].tolist() == [D("1390.00")]


def test_bad_bands_are_reported_with_their_path(spm_workspace) -> None:
    bad = PLAN.replace("{from: 0,    multiplier: 1}", "{from: 0.05, multiplier: 1}").replace("multiplier: 0.5}", "multiplierr: 0.5}")
    with pytest.raises(PlanValidationError) as exc:
        load_plan_text(bad, spm_workspace.registry.plan_types, "margin.yaml")
    assert "components[0].decelerator[2].multiplierr: unknown option" in str(exc.value)
    fixed = bad.replace("multiplierr", "multiplier")
    with pytest.raises(PlanValidationError, match=r"margin.yaml:\d+: components\[0\].decelerator: bands must start at 0"):
        load_plan_text(fixed, spm_workspace.registry.plan_types, "margin.yaml")
