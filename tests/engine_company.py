"""A tiny company for the crediting and engine tests, loaded through ``ws.load``; every
number the tests expect is worked out by hand in the comments.

People (currency):
    VP  (USD)  top of the tree
    M1  (USD)  manager, reports to VP
    M2  (USD)  manager, reports to VP
    R1  (USD)  rep: reports to M1 until 2026-02-14, to M2 from 2026-02-15 (mid-period change)
    R2  (EUR)  rep: reports to M1
    OV  (USD)  overlay specialist, reports to VP
    SP  (GBP)  analytics specialist (credited by a rule), no manager

Deals and transactions (all 2026):
    D1  owner R1, no splits            T1  booking      2026-02-10   10,000.00 USD
    D2  owner R1, splits R1 60 / R2 40,
        overlay OV 100                 T2  booking      2026-02-20    1,000.01 USD
    D4  owner R2, product Analytics,
        account in EMEA                T4  booking      2026-03-05    5,000.00 EUR
    (D1 cancelled)                     T5  cancellation 2026-03-10  -10,000.00 USD (no deal,
                                                                     original T1)
    (D2 refund)                        T6  refund       2026-03-12     -100.01 USD

Rule R-AN: SP gets 100% overlay credit on Analytics in EMEA, 2026-01-01 .. open.

FX (1 from = rate to):
    USD->EUR 2026-02-20 0.91234567; USD->EUR 2026-03-12 0.92000000
    USD->EUR 2026-03-05 0.90000000 (used inversely for EUR->USD)
    EUR->GBP 2026-03-05 0.84567891
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from spm_kernel.workspace import Workspace, open_workspace


def load_people(ws: Workspace) -> None:
    ws.load("regions", pd.DataFrame({"region_id": ["NA", "EMEA"], "name": ["North America", "Europe"]}))
    ws.load("teams", pd.DataFrame({"team_id": ["T1"], "name": ["West"], "region_id": ["NA"]}))
    ws.load("payees", pd.DataFrame({
        "payee_id": ["VP", "M1", "M2", "R1", "R2", "OV", "SP"],
        "name": ["Vera", "Mia", "Max", "Ria", "Rob", "Ollie", "Sam"],
        "role": ["vp", "manager", "manager", "rep", "rep", "overlay", "overlay"],
        "team_id": ["T1"] * 7,
        "currency": ["USD", "USD", "USD", "USD", "EUR", "USD", "GBP"],
        "hire_date": ["2020-01-01"] * 7,
    }))
    ws.load("hierarchy", pd.DataFrame({
        "payee_id": ["M1", "M2", "R1", "R1", "R2", "OV"],
        "valid_from": ["2020-01-01", "2020-01-01", "2020-01-01", "2026-02-15", "2020-01-01", "2020-01-01"],
        "valid_to": [None, None, "2026-02-15", None, None, None],
        "manager_id": ["VP", "VP", "M1", "M2", "M1", "VP"],
    }))


def load_deals(ws: Workspace) -> None:
    ws.load("accounts", pd.DataFrame({
        "account_id": ["A1", "A2"], "name": ["Acme", "Euro GmbH"], "region_id": ["NA", "EMEA"],
        "segment": ["enterprise", "mid"],
    }))
    ws.load("opportunities", pd.DataFrame({
        "opportunity_id": ["D1", "D2", "D4"], "account_id": ["A1", "A1", "A2"],
        "owner_id": ["R1", "R1", "R2"], "amount": ["10000.00", "1000.01", "5000.00"],
        "currency": ["USD", "USD", "EUR"], "stage": ["Closed Won"] * 3,
        "created_date": ["2026-01-05"] * 3, "close_date": ["2026-02-10", "2026-02-20", "2026-03-05"],
        "is_closed": ["true"] * 3, "is_won": ["true"] * 3,
        "product": ["Core", "Core", "Analytics"], "deal_type": ["new", "new", "expansion"],
    }))
    ws.load("opportunity_splits", pd.DataFrame({
        "opportunity_id": ["D2", "D2", "D2"], "payee_id": ["R1", "R2", "OV"],
        "split_type": ["revenue", "revenue", "overlay"], "percent": ["60", "40", "100"],
    }))
    ws.load("crediting_rules", pd.DataFrame({
        "rule_id": ["R-AN"], "payee_id": ["SP"], "credit_type": ["overlay"], "percent": ["100"],
        "region_id": ["EMEA"], "product": ["Analytics"], "valid_from": ["2026-01-01"],
        "description": ["analytics overlay in EMEA"],
    }))
    ws.load("transactions", pd.DataFrame({
        "transaction_id": ["T1", "T2", "T4", "T5", "T6"],
        "opportunity_id": ["D1", "D2", "D4", None, "D2"],
        "kind": ["booking", "booking", "booking", "cancellation", "refund"],
        "amount": ["10000.00", "1000.01", "5000.00", "-10000.00", "-100.01"],
        "currency": ["USD", "USD", "EUR", "USD", "USD"],
        "transaction_date": ["2026-02-10", "2026-02-20", "2026-03-05", "2026-03-10", "2026-03-12"],
        "original_transaction_id": [None, None, None, "T1", "T2"],
    }))
    ws.load("fx_rates", pd.DataFrame({
        "rate_date": ["2026-02-20", "2026-03-12", "2026-03-05", "2026-03-05"],
        "from_currency": ["USD", "USD", "USD", "EUR"],
        "to_currency": ["EUR", "EUR", "EUR", "GBP"],
        "rate": ["0.91234567", "0.92000000", "0.90000000", "0.84567891"],
    }))


def build(ws: Workspace) -> Workspace:
    load_people(ws)
    load_deals(ws)
    return ws


def copy_of(template: Path, destination: Path, **open_kwargs: object) -> Workspace:
    """Open a fresh copy of a workspace folder built once per test module (fast fixtures)."""
    shutil.copytree(template, destination)
    return open_workspace(destination, **open_kwargs)  # type: ignore[arg-type]


def build_template(folder: Path) -> Path:
    """Build the company in ``folder`` once, close it, and return the folder."""
    with open_workspace(folder) as ws:
        build(ws)
    return folder


# Plans (monthly runs, plan year = calendar 2026):
#   rep-plan: step tiers on year-to-date bookings credit (direct, split, rule): 4% to 5,000, 6% above.
#   mgr-plan: 1% flat on year-to-date roll-up credit.
# Worked numbers (see tests/engine_company.py's deals):
#   Feb  R1 YTD 10,600.01 -> 5,000 x 4% + 5,600.01 x 6% = 536.0006 -> 536.00
#        R2 YTD 364.94 EUR -> 14.5976 -> 14.60;  M1 10,400.00 -> 104.00;  M2 600.01 -> 6.00
#   Mar  R1 YTD 540.00 -> 21.60 - 536.00 = -514.40
#        R2 YTD 5,328.14 -> 200 + 328.14 x 6% = 219.6884 -> 219.69 - 14.60 = 205.09
#        M1 YTD 15,915.56 -> 159.1556 -> 159.16 - 104.00 = 55.16
#        M2 YTD -9,460.00 -> -94.60 - 6.00 = -100.60
REP_PLAN = """\
plan_id: rep-plan
version: 1
name: Rep plan
effective_from: 2026-01-01
effective_to: 2026-12-31
assignments:
  - role: rep
components:
  - id: commission
    type: rate_table
    measure: {name: bookings, kinds: [booking, cancellation, refund], credit_types: [direct, split, rule],
              window: plan_year}
    basis: amount
    application: step
    scope: cumulative
    tiers:
      - {from: 0, to: 5000, rate: 0.04}
      - {from: 5000, rate: 0.06}
"""
MGR_PLAN = """\
plan_id: mgr-plan
version: 1
name: Manager plan
effective_from: 2026-01-01
effective_to: 2026-12-31
assignments:
  - role: manager
components:
  - id: override
    type: rate_table
    measure: {name: team bookings, kinds: [booking, cancellation, refund], credit_types: [rollup],
              window: plan_year}
    basis: amount
    application: flat
    tiers:
      - {from: 0, rate: 0.01}
"""


def write_plans(ws: Workspace) -> None:
    ws.plans_dir.mkdir(exist_ok=True)
    (ws.plans_dir / "rep-plan-v1.yaml").write_text(REP_PLAN, encoding="utf-8")
    (ws.plans_dir / "mgr-plan-v1.yaml").write_text(MGR_PLAN, encoding="utf-8")


def build_template_with_plans(folder: Path) -> Path:
    with open_workspace(folder) as ws:
        build(ws)
        write_plans(ws)
    return folder


def late_deal(ws: Workspace, transaction_id: str = "T20", amount: str = "1000.00", day: str = "2026-02-25") -> None:
    """A booking on D1 (owner R1, whose manager is M2 from 2026-02-15) loaded after the fact."""
    ws.load("transactions", pd.DataFrame({
        "transaction_id": [transaction_id], "opportunity_id": ["D1"], "kind": ["booking"], "amount": [amount],
        "currency": ["USD"], "transaction_date": [day]}))
