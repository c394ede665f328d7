"""Ramp time worked by hand.

SMB has two tenured reps (hired 2020) who win one deal a month from January 2024: T1 10,000 and
T2 20,000, so their trailing-three-month bookings are 30,000 and 60,000 and the tenured median
is 45,000; with ``ramp_share`` 0.8 a new SMB rep is ramped once their own trailing three months
reach 36,000.

N (SMB) is hired 2026-01-10 and wins 10,000 in February, 10,000 in March and 20,000 in April:
trailing three months 20,000 at the end of March, 40,000 at the end of April, so N is ramped on
2026-04-30, 110 days after their hire (21 + 28 + 31 + 30). E (Enterprise) has no tenured peer to
be measured against and never counts.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import spm_kernel
from spm_kernel.config import WorkspaceConfig
from spm_kernel.workspace import Workspace


@pytest.fixture(scope="module")
def ramp_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = spm_kernel.open(tmp_path_factory.mktemp("ramp") / "ws", config=WorkspaceConfig(name="Ramp"))
    ws.load("payees", pd.DataFrame([
        ("T1", "Tenured One", "rep", "SMB", "2020-01-01"),
        ("T2", "Tenured Two", "rep", "SMB", "2020-01-01"),
        ("N", "New Rep", "rep", "SMB", "2026-01-10"),
        ("E", "Enterprise Rep", "rep", "ENT", "2026-01-10"),
    ], columns=["payee_id", "name", "role", "segment", "hire_date"]).assign(currency="USD"))
    rows = []
    for month in pd.date_range("2024-01-15", "2026-12-15", freq="MS") + pd.Timedelta(days=14):
        for owner, amount in (("T1", "10000.00"), ("T2", "20000.00")):
            rows.append((f"{owner}-{month:%Y%m}", owner, amount, month.date()))
    rows += [("N-1", "N", "10000.00", date(2026, 2, 15)), ("N-2", "N", "10000.00", date(2026, 3, 15)),
             ("N-3", "N", "20000.00", date(2026, 4, 15)), ("E-1", "E", "90000.00", date(2026, 2, 15))]
    ws.load("opportunities", pd.DataFrame([{
        "opportunity_id": i, "owner_id": o, "amount": a, "currency": "USD", "stage": "Closed Won",
        "created_date": (pd.Timestamp(d) - pd.Timedelta(days=10)).date().isoformat(),
        "close_date": d.isoformat(), "is_closed": "true", "is_won": "true"} for i, o, a, d in rows]))
    yield ws
    ws.close()


OPTIONS = {"ramp_share": 0.8, "tenure_days": 365}


def test_a_new_rep_ramps_when_they_sell_like_tenured_peers(ramp_ws: Workspace) -> None:
    df = ramp_ws.metrics("ramp_time", by="payee", period="2026-Q2", options=OPTIONS)
    values = dict(zip(df["payee_id"], df["value"]))
    assert values["N"] == 110.0
    assert values["E"] is None and values["T1"] is None  # no peer to ramp against; hired long ago
    n = df[df["payee_id"] == "N"].iloc[0]
    assert (n["numerator"], n["denominator"]) == (110, 1)


def test_ramp_counts_in_the_window_it_happened(ramp_ws: Workspace) -> None:
    months = ramp_ws.metrics("ramp_time", by="company", period="2026-03..2026-05", options=OPTIONS)
    assert list(months["value"]) == [None, 110.0, None]
    # a stricter ramp share: N needs 45,000 and never gets there
    strict = ramp_ws.metrics("ramp_time", by="company", period="FY2026", options={"ramp_share": 1.0})
    assert strict["value"][0] is None and strict["denominator"][0] == 0


def test_ramp_by_segment_and_with_a_scope(ramp_ws: Workspace) -> None:
    by_segment = ramp_ws.metrics("ramp_time", by="segment", period="2026-Q2", options=OPTIONS)
    assert dict(zip(by_segment["segment"], by_segment["value"])) == {"ENT": None, "SMB": 110.0}
    # scoped to N alone, the tenured peers still set the bar
    scoped = ramp_ws.metrics("ramp_time", by="payee", period="2026-Q2", scope="payee:N", options=OPTIONS)
    assert list(scoped["value"]) == [110.0]
