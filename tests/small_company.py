"""A small company loaded through ``ws.load`` with counts chosen so that thousands separators
show (1,234 opportunities, 2,345 transactions, 1,095 FX rows), for the CLI, overview widget
and overview app tests."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from spm_kernel.workspace import Workspace

N_PAYEES = 25
N_ACCOUNTS = 40
N_OPPORTUNITIES = 1_234
N_TRANSACTIONS = 2_345
FX_START = date(2024, 1, 1)
FX_DAYS = 365
OPP_START = date(2023, 1, 2)
TXN_START = date(2023, 2, 1)

# What the data spans, worked out from the generators below.
EXPECTED = {
    "regions": 2,
    "teams": 4,
    "payees": N_PAYEES,
    "accounts": N_ACCOUNTS,
    "opportunities": N_OPPORTUNITIES,
    "transactions": N_TRANSACTIONS,
    "fx_rates": 3 * FX_DAYS,
}


def _days(start: date, offsets: np.ndarray) -> list[str]:
    return [(start + timedelta(days=int(d))).isoformat() for d in offsets]


def frames() -> dict[str, pd.DataFrame]:
    """The company's tables, in load order (references first)."""
    regions = pd.DataFrame({"region_id": ["NA", "EU"], "name": ["North America", "Europe"]})
    teams = pd.DataFrame({"team_id": ["T1", "T2", "T3", "T4"],
                          "name": ["East", "West", "North", "South"],
                          "region_id": ["NA", "NA", "EU", "EU"]})
    p = np.arange(N_PAYEES)
    payees = pd.DataFrame({
        "payee_id": [f"P{i:03d}" for i in p],
        "name": [f"Rep {i}" for i in p],
        "role": np.where(p < 4, "manager", "rep"),
        "team_id": [f"T{i % 4 + 1}" for i in p],
        "currency": np.where(p % 4 < 2, "USD", "EUR"),
        "hire_date": _days(date(2020, 3, 1), p * 30),   # 1 Mar 2020 .. 720 days later
    })
    a = np.arange(N_ACCOUNTS)
    accounts = pd.DataFrame({"account_id": [f"A{i:03d}" for i in a],
                             "name": [f"Account {i}" for i in a],
                             "region_id": np.where(a % 2 == 0, "NA", "EU")})
    o = np.arange(N_OPPORTUNITIES)
    won = o % 3 == 0
    opportunities = pd.DataFrame({
        "opportunity_id": [f"O{i:05d}" for i in o],
        "account_id": [f"A{i % N_ACCOUNTS:03d}" for i in o],
        "owner_id": [f"P{i % N_PAYEES:03d}" for i in o],
        "amount": [f"{1000 + (i * 37) % 9000}.50" for i in o],
        "currency": "USD",
        "stage": np.where(won, "Closed Won", "Prospecting"),
        "created_date": _days(OPP_START, o % 700),        # 2 Jan 2023 .. 1 Dec 2024
        "close_date": [d if w else None  # won deals close 45 days later, up to 15 Jan 2025
                       for d, w in zip(_days(OPP_START, o % 700 + 45), won)],
        "is_closed": np.where(won, "true", "false"),
        "is_won": np.where(won, "true", "false"),
    })
    t = np.arange(N_TRANSACTIONS)
    transactions = pd.DataFrame({
        "transaction_id": [f"X{i:05d}" for i in t],
        "opportunity_id": [f"O{i % N_OPPORTUNITIES:05d}" for i in t],
        "kind": "booking",
        "amount": [f"{100 + i % 5000}.25" for i in t],
        "currency": "USD",
        "transaction_date": _days(TXN_START, t % 600),    # 1 Feb 2023 .. 23 Sep 2024
    })
    d = np.arange(FX_DAYS)
    fx = pd.concat([
        pd.DataFrame({"rate_date": _days(FX_START, d), "from_currency": cur, "to_currency": "USD",
                      "rate": rate})
        for cur, rate in (("EUR", "1.08500000"), ("GBP", "1.27000000"), ("CAD", "0.74000000"))
    ], ignore_index=True)
    return {"regions": regions, "teams": teams, "payees": payees, "accounts": accounts,
            "opportunities": opportunities, "transactions": transactions, "fx_rates": fx}


def fill(ws: Workspace) -> None:
    """Load the small company into ``ws`` (which must be empty)."""
    for table, frame in frames().items():
        ws.load(table, frame, source="small-company")
