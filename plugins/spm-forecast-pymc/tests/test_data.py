"""Model inputs from a workspace, checked against a small company worked by hand."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

import spm_kernel
from spm_forecast_pymc import data


@pytest.fixture
def small_ws(tmp_path):
    ws = small_workspace(tmp_path / "small")
    yield ws
    ws.close()


def small_workspace(folder, reverse_deals: bool = False):
    """The small company; ``reverse_deals`` loads its opportunities last-first."""
    ws = spm_kernel.open(folder, load_entry_points=False)
    ws.load("regions", pd.DataFrame({"region_id": ["R1"], "name": ["One"]}))
    ws.load("teams", pd.DataFrame({"team_id": ["T1"], "name": ["Team"], "region_id": ["R1"]}))
    ws.load("payees", pd.DataFrame({
        "payee_id": ["A", "B", "M"], "name": ["Ann", "Bob", "Max"], "role": ["rep", "rep", "manager"],
        "team_id": ["T1", "T1", "T1"], "currency": ["USD", "EUR", "USD"],
        "hire_date": ["2024-01-15", "2024-02-01", "2020-01-01"],
        "termination_date": [None, "2024-03-20", None]}))
    ws.load("fx_rates", pd.DataFrame({
        "rate_date": ["2024-02-01", "2024-02-15"], "from_currency": ["EUR", "EUR"],
        "to_currency": ["USD", "USD"], "rate": ["1.10", "1.20"]}))
    ws.load("opportunities", pd.DataFrame({
        "opportunity_id": ["o1", "o2", "o3", "o4", "o5", "o6"],
        "owner_id": ["A", "B", "A", "A", "A", "A"],
        "amount": ["1000", "500", "2000", "300", "700", "900"],
        "currency": ["USD", "EUR", "USD", "USD", "USD", "USD"],
        "stage": ["Won", "Won", "Won", "Lost", "Won", "Proposal"],
        "created_date": ["2024-01-02", "2024-02-01", "2024-02-01", "2024-01-10", "2024-03-01", "2024-03-01"],
        "close_date": ["2024-01-20", "2024-02-10", "2024-03-05", "2024-02-01", "2024-04-10", "2024-06-30"],
        "is_closed": [True, True, True, True, True, False],
        "is_won": [True, True, True, False, True, False],
        "segment": ["SMB"] * 6}).iloc[::-1 if reverse_deals else 1])
    ws.load("opportunity_splits", pd.DataFrame({
        "opportunity_id": ["o3", "o3"], "payee_id": ["A", "B"], "split_type": ["revenue", "revenue"],
        "percent": ["60", "40"]}))
    ws.load("opportunity_stage_history", pd.DataFrame({
        "opportunity_id": ["o6", "o6"], "stage": ["Prospecting", "Proposal"],
        "entered_date": ["2024-03-01", "2024-04-12"]}))
    return ws


def test_history_credits_splits_converts_fx_and_fills_zero_months(small_ws):
    h = data.bookings_history(small_ws, as_of=date(2024, 4, 15))
    got = {(r.series_id, r.period.strftime("%Y-%m")): r.value for r in h.itertuples()}
    assert got == {
        ("A", "2024-01"): 1000.0, ("A", "2024-02"): 0.0, ("A", "2024-03"): 1200.0,  # 60% of o3
        ("B", "2024-02"): pytest.approx(550.0),  # 500 EUR at 1.10, the rate on or before Feb 10
        ("B", "2024-03"): 800.0,                 # 40% of o3; terminated Mar 20, March still counts
    }  # April is partial at as_of (o5 not history); the manager owns nothing
    assert set(h.columns) >= {"team", "region", "start_date", "end_date"}
    assert (h["team"] == "T1").all() and (h["region"] == "R1").all()


def test_credited_rows_come_in_deal_and_payee_order_however_they_were_loaded(small_ws, tmp_path):
    """Sums of floats depend on their order: a fixed order gives the same history to the last
    bit, so the same workspace gives the same data hash and the same compiled model."""
    reversed_ws = small_workspace(tmp_path / "reversed", reverse_deals=True)
    try:
        got = data.credited_bookings(reversed_ws, as_of=date(2024, 4, 15))
        want = data.credited_bookings(small_ws, as_of=date(2024, 4, 15))
    finally:
        reversed_ws.close()
    keys = list(zip(got["opportunity_id"], got["payee_id"], strict=True))
    assert keys == sorted(keys) == [("o1", "A"), ("o2", "B"), ("o3", "A"), ("o3", "B"), ("o5", "A")]
    pd.testing.assert_frame_equal(got, want)


def test_default_as_of_is_day_after_last_won_close(small_ws):
    assert data.default_as_of(small_ws) == date(2024, 4, 11)


def test_missing_fx_rate_is_a_clear_error(small_ws):
    small_ws.load("opportunities", pd.DataFrame({
        "opportunity_id": ["o9"], "owner_id": ["A"], "amount": ["10"], "currency": ["GBP"],
        "stage": ["Won"], "created_date": ["2024-01-01"], "close_date": ["2024-01-05"],
        "is_closed": [True], "is_won": [True]}))
    with pytest.raises(data.ForecastDataError, match="GBP"):
        data.bookings_history(small_ws, as_of=date(2024, 4, 1))


def test_open_pipeline_uses_stage_as_it_was_on_as_of(small_ws):
    deals = data.open_pipeline(small_ws, as_of=date(2024, 4, 1)).set_index("opportunity_id")
    assert sorted(deals.index) == ["o5", "o6"]  # o5 closed after as_of, so it was open then
    assert deals.loc["o6", "stage"] == "Prospecting"  # Proposal was entered on Apr 12
    assert deals.loc["o6", "age_days"] == 31
    assert deals.loc["o5", "stage"] == "unknown"  # no stage history for a now-closed deal
    later = data.open_pipeline(small_ws, as_of=date(2024, 4, 20)).set_index("opportunity_id")
    assert list(later.index) == ["o6"] and later.loc["o6", "stage"] == "Proposal"


def test_training_snapshots_every_30_days_until_close(small_ws):
    t = data.pipeline_training(small_ws, as_of=date(2024, 4, 15), months=6, every_days=30)
    # days open: o1 18 -> 1 snapshot; o2 9 -> 1; o3 33 -> 2; o4 22 -> 1; o5 40 -> 2; o6 still open
    assert t.groupby("opportunity_id").size().to_dict() == {"o1": 1, "o2": 1, "o3": 2, "o4": 1, "o5": 2}
    o3 = t[t["opportunity_id"] == "o3"].sort_values("age_days")
    assert list(o3["days_to_close"]) == [33, 3] and list(o3["won"]) == [1, 1]
    assert t.loc[t["opportunity_id"] == "o4", "won"].item() == 0
