"""A tiny company whose KPIs for 2026-Q3 are worked out by hand (the numbers are in the
comments and in ``tests/test_metrics_builtin.py``). Shared by the metric, benchmarking and
report tests; it also checks the fixture itself loads cleanly.

People (base currency USD, hierarchy from 2024-01-01):

=====  ========  =====  ======  ========  =========  ==============================
id     role      team   region  segment   currency   hired
=====  ========  =====  ======  ========  =========  ==============================
M1     manager   T_NA   NA      -         USD        2024-01-01
R1     rep       T_NA   NA      SMB       USD        2024-01-01
R2     rep       T_NA   NA      SMB       USD        2026-08-16 (joined mid-quarter:
                                                      Q3 quota 9,200 = 46/92 of 18,400)
M2     manager   T_EU   EU      -         EUR        2024-01-01
R3     rep       T_EU   EU      ENT       EUR        2024-01-01
R4     rep       T_EU   EU      ENT       EUR        2025-01-01 (zero quota, no deals)
=====  ========  =====  ======  ========  =========  ==============================

FX to USD: EUR 1.10 from 2026-06-30, 1.20 from 2026-08-01, 1.25 from 2026-09-15; GBP is
quoted the other way round (USD->GBP 0.80 from 2026-06-30, so 1 GBP = 1.25 USD).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import spm_kernel
from spm_kernel.config import WorkspaceConfig
from spm_kernel.workspace import Workspace

AS_OF = date(2026, 11, 27)  # after Q3: the pipeline snapshot of 2026-Q3 is its first day
Q3 = "2026-Q3"


def frames() -> dict[str, pd.DataFrame]:
    """The company's importable tables, in load order."""
    regions = pd.DataFrame({"region_id": ["NA", "EU"], "name": ["North America", "Europe"]})
    teams = pd.DataFrame({"team_id": ["T_NA", "T_EU"], "name": ["Americas", "EMEA"],
                          "region_id": ["NA", "EU"]})
    payees = pd.DataFrame([
        ("M1", "Mia Manager", "manager", "T_NA", None, "USD", "2024-01-01"),
        ("R1", "Rae One", "rep", "T_NA", "SMB", "USD", "2024-01-01"),
        ("R2", "Ray Two", "rep", "T_NA", "SMB", "USD", "2026-08-16"),
        ("M2", "Max Manager", "manager", "T_EU", None, "EUR", "2024-01-01"),
        ("R3", "Rita Three", "rep", "T_EU", "ENT", "EUR", "2024-01-01"),
        ("R4", "Rob Four", "rep", "T_EU", "ENT", "EUR", "2025-01-01"),
    ], columns=["payee_id", "name", "role", "team_id", "segment", "currency", "hire_date"])
    hierarchy = pd.DataFrame({"payee_id": ["R1", "R2", "R3", "R4"], "valid_from": "2024-01-01",
                              "manager_id": ["M1", "M1", "M2", "M2"]})
    accounts = pd.DataFrame({
        "account_id": [f"A{i}" for i in range(1, 11)],
        "name": [f"Account {i}" for i in range(1, 11)],
        "owner_id": ["R1", "R1", "R2", "R3", "R3", "R3", "R3", "R1", "R1", "R3"],
    })
    fx = pd.DataFrame([
        ("2026-06-30", "EUR", "USD", "1.10000000"),
        ("2026-08-01", "EUR", "USD", "1.20000000"),
        ("2026-09-15", "EUR", "USD", "1.25000000"),
        ("2026-06-30", "USD", "GBP", "0.80000000"),
        ("2025-01-01", "EUR", "USD", "1.05000000"),
    ], columns=["rate_date", "from_currency", "to_currency", "rate"])
    won, lost, open_ = ("Closed Won", True, True), ("Closed Lost", True, False), ("Proposal", False, False)
    opp_rows = [
        # id, account, owner, amount, cur, stage, created, close, product
        ("O1", "A1", "R1", "10000.00", "USD", won, "2026-06-01", "2026-07-15", "A"),
        ("O2", "A2", "R1", "20000.00", "USD", won, "2026-07-01", "2026-08-20", "B"),  # split R1/R2
        ("O3", "A1", "R1", "5000.00", "USD", lost, "2026-07-10", "2026-09-01", "A"),
        ("O4", "A1", "R1", "30000.00", "USD", open_, "2026-08-01", "2026-12-15", "A"),
        ("O5", "A2", "R1", "8000.00", "USD", open_, "2026-05-01", "2026-09-25", "A"),
        ("O6", "A3", "R2", "4000.00", "USD", won, "2026-08-20", "2026-09-10", "A"),
        ("O7", "A4", "R3", "10000.00", "EUR", won, "2026-06-15", "2026-07-20", "B"),   # x1.10
        ("O8", "A5", "R3", "8000.00", "EUR", won, "2026-07-01", "2026-09-20", "A"),    # x1.25
        ("O9", "A7", "R3", "5000.00", "EUR", lost, "2026-07-05", "2026-08-10", "B"),   # x1.20
        ("O10", "A6", "R3", "1000.00", "GBP", won, "2026-07-02", "2026-08-05", "A"),   # /0.80
        ("O11", "A5", "R3", "2000.00", "EUR", won, "2025-01-10", "2025-03-01", "A"),   # A5 is no new customer
    ]
    opportunities = pd.DataFrame([
        (i, a, o, amt, cur, st[0], cr, cl, str(st[1]).lower(), str(st[2]).lower(), prod)
        for i, a, o, amt, cur, st, cr, cl, prod in opp_rows
    ], columns=["opportunity_id", "account_id", "owner_id", "amount", "currency", "stage",
                "created_date", "close_date", "is_closed", "is_won", "product"])
    splits = pd.DataFrame({"opportunity_id": ["O2", "O2"], "payee_id": ["R1", "R2"],
                           "split_type": "revenue", "percent": ["50", "50"]})
    quotas = pd.DataFrame([
        ("R1", "40000.00", "USD"), ("R2", "9200.00", "USD"), ("R3", "20000.00", "EUR"),
        ("R4", "0.00", "EUR"), ("M1", "60000.00", "USD"), ("M2", "30000.00", "EUR"),
    ], columns=["payee_id", "amount", "currency"]).assign(
        measure="bookings", period_start="2026-07-01", period_end="2026-09-30")
    spend = pd.DataFrame([
        ("2026-07-01", "sales", "sdr", "3000.00", "USD"),
        ("2026-08-01", "marketing", "events", "1000.00", "EUR"),    # x1.20 = 1,200
        ("2026-09-01", "marketing", "search", "1800.00", "USD"),
        ("2026-06-01", "marketing", "search", "9999.00", "USD"),    # before Q3
    ], columns=["month", "category", "channel", "amount", "currency"])
    subscriptions = pd.DataFrame([
        ("S1", "A5", "A", "2025-03-01", "2026-08-31", "1000.00", "EUR"),   # churns in Q3
        ("S2", "A8", "A", "2025-01-01", None, "5000.00", "USD"),
        ("S3", "A8", "B", "2026-08-01", None, "2000.00", "USD"),           # expansion in Q3
        ("S4", "A9", "B", "2024-01-01", "2026-06-30", "3000.00", "USD"),   # gone before Q3
        ("S5", "A10", "A", "2025-06-01", "2027-05-31", "2000.00", "EUR"),
    ], columns=["subscription_id", "account_id", "product", "start_date", "end_date", "arr", "currency"])
    return {"regions": regions, "teams": teams, "payees": payees, "hierarchy": hierarchy,
            "accounts": accounts, "fx_rates": fx, "opportunities": opportunities,
            "opportunity_splits": splits, "quotas": quotas, "spend": spend,
            "subscriptions": subscriptions}


def insert_payouts(ws: Workspace) -> None:
    """Runs and payout lines as the engine writes them: two succeeded runs of 2026-07 (the
    later one is current), a failed and a succeeded run of 2026-08.

    Current payouts in Q3: R1 1,000 + 600 = 1,600 USD; R2 400 USD; M1 300 USD;
    R3 EUR 500 x 1.10 (at 2026-07-31) + EUR 400 x 1.20 (at 2026-08-31) = 1,030 USD."""
    runs = [
        ("run1", "2026-07", "2026-08-01 09:00", "2026-08-01 09:01", "succeeded"),
        ("run2", "2026-07", "2026-08-05 09:00", "2026-08-05 09:01", "succeeded"),
        ("run3", "2026-08", "2026-09-02 09:00", None, "failed"),
        ("run4", "2026-08", "2026-09-03 09:00", "2026-09-03 09:01", "succeeded"),
    ]
    ws.con.executemany("INSERT INTO calc_runs (run_id, period_id, started_at, finished_at, status) "
                       "VALUES (?, ?, ?, ?, ?)", runs)
    lines = [
        ("L1", "run1", "2026-07", "R1", "999.00", "USD"),
        ("L2", "run2", "2026-07", "R1", "1000.00", "USD"),
        ("L3", "run2", "2026-07", "R3", "500.00", "EUR"),
        ("L4", "run3", "2026-08", "R1", "5000.00", "USD"),
        ("L5", "run4", "2026-08", "R1", "600.00", "USD"),
        ("L6", "run4", "2026-08", "R2", "400.00", "USD"),
        ("L7", "run4", "2026-08", "R3", "400.00", "EUR"),
        ("L8", "run4", "2026-08", "M1", "300.00", "USD"),
    ]
    ws.con.executemany(
        "INSERT INTO payout_lines (line_id, run_id, period_id, line_no, line_key, payee_id, plan_id, "
        "plan_version, component, line_type, amount, currency, status) "
        "VALUES (?, ?, ?, 1, ?, ?, 'plan', 1, 'commission', 'earning', CAST(? AS DECIMAL(18,2)), ?, 'payable')",
        [(lid, run, per, lid, payee, amt, cur) for lid, run, per, payee, amt, cur in lines])


def build(folder: Path, **open_kwargs: object) -> Workspace:
    """Create the hand-worked company in ``folder``."""
    ws = spm_kernel.open(folder, config=WorkspaceConfig(name="Acme", base_currency="USD"), **open_kwargs)
    for table, frame in frames().items():
        ws.load(table, frame, source="hand-worked")
    insert_payouts(ws)
    return ws


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The hand-worked company, shared by a module's tests (which must not change it)."""
    ws = build(tmp_path_factory.mktemp("acme") / "ws")
    yield ws
    ws.close()


@pytest.fixture
def acme_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Workspace]:
    """A fresh hand-worked company per call (for tests that load more data)."""
    opened: list[Workspace] = []

    def make(**kwargs: object) -> Workspace:
        ws = build(tmp_path_factory.mktemp("acme") / "ws", **kwargs)
        opened.append(ws)
        return ws

    yield make
    for ws in opened:
        ws.close()


def test_the_hand_worked_company_loads(acme: Workspace) -> None:
    counts = {t: acme.count(t) for t in frames()}
    assert counts["opportunities"] == 11 and counts["payees"] == 6 and counts["subscriptions"] == 5
    assert acme.count("payout_lines") == 8
