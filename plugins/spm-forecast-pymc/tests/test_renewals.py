"""The renewal book: subscription ARR coming up for renewal, per payee and month, from a
workspace (worked by hand) and in Model A (its grids, its gradient and its forecasts)."""

from __future__ import annotations

import warnings
from datetime import date

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import spm_kernel
from spm_forecast_pymc import data
from spm_forecast_pymc.bookings import (
    BookingsData, BookingsModel, HistoryError, _constant_data, build_model, prepare,
)
from spm_forecast_pymc.config import BookingsConfig
from spm_forecast_pymc.forecast import WorkspaceForecast


# ---------------------------------------------------------------- from a workspace
@pytest.fixture
def book_ws(tmp_path):
    """Enterprise accounts X (owned by B today; A owned its opportunities) and Z (no
    opportunity: its owner is the account's), and SMB account Y, whose segment never books a
    renewal deal. As of 2025-03-01."""
    ws = spm_kernel.open(tmp_path / "book", load_entry_points=False)
    ws.load("payees", pd.DataFrame({
        "payee_id": ["A", "B"], "name": ["Ann", "Bob"], "role": ["rep", "rep"],
        "currency": ["USD", "USD"], "hire_date": ["2023-01-01", "2023-01-01"]}))
    ws.load("accounts", pd.DataFrame({
        "account_id": ["X", "Y", "Z"], "name": ["Xco", "Yco", "Zco"],
        "segment": ["Enterprise", "SMB", "Enterprise"], "owner_id": ["B", "A", "B"]}))
    ws.load("fx_rates", pd.DataFrame({
        "rate_date": ["2024-01-01", "2025-02-01", "2025-04-01"], "from_currency": ["EUR"] * 3,
        "to_currency": ["USD"] * 3, "rate": ["1.10", "1.20", "9.99"]}))
    ws.load("opportunities", pd.DataFrame({
        "opportunity_id": ["o1", "o2", "o3", "o4"], "account_id": ["X", "X", "Y", "X"],
        "owner_id": ["A", "A", "A", "B"], "amount": ["100", "100", "100", "100"],
        "currency": ["USD"] * 4, "stage": ["Won", "Won", "Won", "Proposal"],
        "created_date": ["2023-06-01", "2024-11-01", "2024-01-01", "2025-02-20"],
        "close_date": ["2023-07-01", "2024-12-01", "2024-02-01", None],
        "is_closed": [True, True, True, False], "is_won": [True, True, True, False],
        "segment": ["Enterprise", "Enterprise", "SMB", "Enterprise"],
        "deal_type": ["new", "renewal", "new", "new"]}))
    ws.load("subscriptions", pd.DataFrame({
        "subscription_id": ["s1", "s2", "s3", "s4", "s5", "s6"],
        "account_id": ["X", "X", "X", "Y", "Z", "X"],
        "start_date": ["2024-01-10", "2024-03-01", "2025-03-05", "2024-02-01", "2024-06-25", "2024-05-01"],
        "end_date": ["2025-01-09", "2024-04-15", "2026-03-04", "2025-01-31", "2025-06-24", "2025-04-30"],
        "arr": ["2100", "999", "999", "999", "420", "210"],
        "currency": ["USD", "USD", "USD", "USD", "USD", "EUR"]}))
    yield ws
    ws.close()


def test_renewal_book_spreads_arr_over_the_closing_window_to_the_owner_then(book_ws):
    book = data.renewals_due(book_ws, as_of=date(2025, 3, 1), months=24, months_ahead=6)
    got = {(r.series_id, f"{r.period:%Y-%m}"): round(r.renewals_due, 6) for r in book.itertuples()}
    assert got == {
        # s1 ends Jan 9: 9 of the 21 window days in January, 12 in December; A owned the
        # account's latest opportunity before the window (o2), though B owns it today
        ("A", "2024-12"): 1200.0, ("A", "2025-01"): 900.0,
        # s6, 210 EUR at 1.20 (the rate on or before as_of, not April's): ends Apr 30, all in
        # April; due to B, whose o4 on X is the latest opportunity known at as_of
        ("B", "2025-04"): 252.0,
        # s5 ends Jun 24 on Z, which has no opportunity: the account's owner
        ("B", "2025-06"): 420.0,
    }  # s2 was cancelled after 45 days, s3 starts after as_of, s4 is on an auto-renewing segment
    assert list(book.columns) == ["series_id", "period", "renewals_due"]
    assert data.renewals_due(book_ws, as_of=date(2025, 3, 1), months=24, months_ahead=3)[
        "period"].max() == pd.Timestamp("2025-05-01") - pd.DateOffset(months=1)  # 3 months ahead
    with pytest.raises(ValueError, match="window_days"):
        data.renewals_due(book_ws, as_of=date(2025, 3, 1), window_days=40)


def test_a_term_in_a_currency_without_a_rate_is_a_clear_error(book_ws):
    book_ws.load("subscriptions", pd.DataFrame({
        "subscription_id": ["s9"], "account_id": ["X"], "start_date": ["2024-08-01"],
        "end_date": ["2025-07-31"], "arr": ["100"], "currency": ["GBP"]}))
    with pytest.raises(data.ForecastDataError, match=r"GBP to USD on or before 2025-03-01 \(subscription s9\)"):
        data.renewals_due(book_ws, as_of=date(2025, 3, 1))


def test_workspace_forecast_fits_on_history_and_renewal_book(book_ws):
    fc = WorkspaceForecast(book_ws, as_of=date(2025, 3, 1), bookings_config={"history_months": 12})
    pd.testing.assert_frame_equal(fc.renewals, data.renewals_due(book_ws, date(2025, 3, 1), months=12))
    assert fc.bookings_inputs.renewals is fc.renewals and fc.bookings_inputs.history is fc.history
    off = WorkspaceForecast(book_ws, as_of=date(2025, 3, 1), bookings_config={"renewals": False})
    assert off.bookings_inputs is off.history


# ---------------------------------------------------------------- in Model A
def two_payees() -> pd.DataFrame:
    periods = pd.date_range("2024-01-01", periods=12, freq="MS")
    value = np.where(np.arange(12) % 3 == 0, 100.0, 0.0)
    return pd.concat([pd.DataFrame({"series_id": s, "period": periods, "value": value})
                      for s in ("p1", "p2")], ignore_index=True)


def book_of(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["series_id", "period", "renewals_due"])


CONFIG = BookingsConfig(ramp=False, history_months=12)
BOOK = book_of([("p1", "2024-01-01", 100.0), ("p1", "2024-04-01", 300.0), ("p1", "2025-01-01", 100.0),
                ("p1", "2025-01-01", 100.0), ("p2", "2025-02-01", 50.0), ("stranger", "2024-05-01", 5.0),
                ("p2", "2023-01-01", 7.0), ("p2", "2026-06-01", 7.0)])


def test_renewal_grids_are_log_ratios_centred_per_series_with_the_months_ahead():
    p = prepare(BookingsData(two_payees(), BOOK), CONFIG)
    assert p.due.shape == (2, 12) and p.due_ahead.shape == (2, 12)
    raw = np.zeros((2, 24))   # rows of one month add up; unknown series and far months are left out
    raw[0, [0, 3, 12]] = np.log1p(np.array([100.0, 300.0, 200.0]) / p.scale[0])
    raw[1, 13] = np.log1p(50.0 / p.scale[1])
    centred = raw - raw[:, :12].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(p.due, centred[:, :12])
    np.testing.assert_allclose(p.due_ahead, centred[:, 12:])
    # without a book, switched off, or with nothing due in the window: no renewal terms
    assert prepare(two_payees(), CONFIG).due is None
    assert prepare(BookingsData(two_payees(), BOOK), BookingsConfig(ramp=False, history_months=12,
                                                                    renewals=False)).due is None
    ahead_only = book_of([("p1", "2025-03-01", 10.0)])
    assert prepare(BookingsData(two_payees(), ahead_only), CONFIG).due is None


def test_renewal_book_errors_name_the_problem():
    with pytest.raises(HistoryError, match=r"missing column\(s\) \['renewals_due'\]"):
        prepare(BookingsData(two_payees(), BOOK.drop(columns="renewals_due")), CONFIG)
    with pytest.raises(HistoryError, match=r"missing column\(s\) \['renewals_due'\]"):  # before sampling
        BookingsModel(CONFIG).fit(BookingsData(two_payees(), BOOK.drop(columns="renewals_due")))
    bad = BOOK.assign(renewals_due=BOOK["renewals_due"].where(BOOK["period"] != "2024-04-01", -1.0))
    with pytest.raises(HistoryError, match="negative renewals_due.*'p1', 2024-04"):
        prepare(BookingsData(two_payees(), bad), CONFIG)


def test_the_book_is_part_of_the_data_hash():
    model = BookingsModel(CONFIG)
    plain = model.hash_data(two_payees())
    with_book = model.hash_data(BookingsData(two_payees(), BOOK))
    moved = model.hash_data(BookingsData(two_payees(), BOOK.assign(renewals_due=BOOK["renewals_due"] + 1)))
    assert len({plain, with_book, moved}) == 3
    assert model.hash_data(BookingsData(two_payees(), BOOK.iloc[::-1])) == with_book  # row order


def test_model_density_uses_all_three_renewal_terms():
    p = prepare(BookingsData(two_payees(), BOOK), CONFIG)
    model = build_model(p, CONFIG)
    point = model.initial_point()
    point["coef"] = np.r_[0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.1]
    gradient = model.compile_dlogp(vars=[model["coef"]])(point)
    assert np.all(gradient[4:] != 0)   # active, amount and spread
    assert list(model.coords["parameter"][4:]) == ["renewal_active", "renewal_amount", "renewal_spread"]


def hand_set(p, config: BookingsConfig, **values: np.ndarray) -> BookingsModel:
    """A model whose posterior is ``values`` in every one of 400 draws."""
    draws = 400
    base = {"level": np.zeros(2), "slope": np.zeros(2), "season": np.zeros((2, 12)),
            "quarter": np.zeros(3), "noise": np.full(2, 1e-9), "active": np.full(2, 30.0),
            "active_quarter": np.zeros(3), "active_month": np.zeros(12),
            "active_slope": np.array(0.0), "renewal": np.zeros(3)}
    dims = {"level": ("series",), "slope": ("series",), "season": ("series", "month_of_year"),
            "quarter": ("month_of_quarter",), "noise": ("series",), "active": ("series",),
            "active_quarter": ("month_of_quarter",), "active_month": ("month_of_year",),
            "active_slope": (), "renewal": ("renewal_term",)}
    base.update(values)
    posterior = xr.Dataset({k: (("chain", "draw", *dims[k]), np.broadcast_to(v, (1, draws, *v.shape)).copy())
                            for k, v in base.items()}, attrs={"spm_data_hash": "hand-set"})
    model = BookingsModel(config)
    model.idata = az.InferenceData(posterior=posterior, constant_data=_constant_data(p, config))
    return model


def test_forecast_books_the_renewals_due_ahead():
    """Only a month with more due than usual lets anything close, at 100: p1 books in the
    month its 200 is due (forecast month 1) and nowhere else, p2 in month 2; beyond the book's
    12 months ahead the month is usual (nothing closes)."""
    p = prepare(BookingsData(two_payees(), BOOK), CONFIG)
    usual = p.due_ahead[:, 2]                          # months ahead with nothing due
    due = np.array([p.due_ahead[0, 0], p.due_ahead[1, 1]])
    steep = 1000.0
    model = hand_set(p, CONFIG, active=-steep * (usual + due) / 2,
                     level=np.log(100.0 / p.scale), renewal=np.array([steep, 0.0, 0.0]))
    s = model.predict_idata(horizon=14, samples=400).posterior_predictive["bookings"].values[0]
    expected = np.zeros((2, 14))
    expected[0, 0] = expected[1, 1] = 100.0
    np.testing.assert_allclose(s, np.broadcast_to(expected, s.shape), rtol=1e-6)


def test_forecast_spread_shrinks_where_a_renewal_carries_the_month():
    p = prepare(BookingsData(two_payees(), BOOK), CONFIG)
    model = hand_set(p, CONFIG, noise=np.full(2, 0.5), renewal=np.array([0.0, 0.0, -0.5]))
    s = model.predict_idata(horizon=3, samples=400).posterior_predictive["bookings"].values[0]
    sd = np.log(s[:, 0, :]).std(axis=0)               # p1: month 1 has its 200 due, 2-3 usual
    want = 0.5 * np.exp(-0.5 * p.due_ahead[0, :3])
    np.testing.assert_allclose(sd, want, rtol=0.12)
    assert sd[0] < 0.8 * sd[1]


def test_fit_learns_a_book_that_tells_the_months_and_saves_it(history, tmp_path):
    """A tiny fit on the synthetic company with a book that names each payee's booked months
    (and half their amounts): both coefficients come out positive, the forecast reads the
    book ahead, and the model round-trips through netCDF."""
    from forecast_pymc_tiny import TINY
    positive = history[history["value"] > 0]
    last = history["period"].max()
    ahead = pd.DataFrame({"series_id": history["series_id"].unique(),
                          "period": last + pd.DateOffset(months=1),
                          "renewals_due": float(positive["value"].median())})
    book = pd.concat([positive.assign(renewals_due=positive["value"] / 2)[["series_id", "period", "renewals_due"]],
                      ahead], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # tiny chains
        model = BookingsModel(TINY).fit(BookingsData(history, book))
    renewal = model.idata.posterior["renewal"].mean(("chain", "draw")).values
    assert renewal[0] > 0.5 and renewal[1] > 0.2, renewal
    ahead_grid = model.idata.constant_data["due_ahead"].values
    assert (ahead_grid[:, 0] > ahead_grid[:, 1]).all()   # the month with the book's money
    path = model.save(tmp_path / "with-book.nc")
    again = BookingsModel.load(path, config=TINY)
    np.testing.assert_array_equal(again.predict(3, samples=50, seed=1)["value"],
                                  model.predict(3, samples=50, seed=1)["value"])


def test_pymc_backend_fits_with_the_book():
    """PyMC's NUTS keeps pm.Data inputs (the book) in a constant_data group of its own."""
    config = {"sampler": {"backend": "pymc", "tune": 30, "draws": 30, "chains": 1, "cores": 1,
                          "progressbar": False}, "ramp": False, "history_months": 12}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BookingsModel(config).fit(BookingsData(two_payees(), BOOK))
    assert model.idata.posterior["renewal"].sizes["renewal_term"] == 3
    assert model.predict(2, samples=20)["value"].notna().all()
