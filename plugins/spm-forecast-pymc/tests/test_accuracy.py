"""Real fits (slow): Model A beats seasonal naive and its intervals are calibrated on
held-out months of the synthetic company, whose true process is known."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import spm_kernel
from spm_forecast_pymc.bookings import BookingsModel
from spm_forecast_pymc.data import bookings_history
from spm_forecast_pymc.synthetic import load_into, synthetic_company


@pytest.mark.slow
def test_bookings_model_beats_seasonal_naive_and_covers(tmp_path):
    ws = spm_kernel.open(tmp_path / "acc", load_entry_points=False)
    load_into(ws, synthetic_company(n_payees=30, months=36, n_teams=4, seed=3))
    full = bookings_history(ws, months=36)
    ws.close()
    last = full["period"].max()
    cut = (last.to_period("M") - 5).to_timestamp()  # hold out the last 6 months
    train, test = full[full["period"] < cut], full[full["period"] >= cut]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BookingsModel({"sampler": {"tune": 250, "draws": 250, "chains": 2}}).fit(train)
    assert model.diagnostics.divergences <= 5
    pp = model.predict_idata(6, samples=1000).posterior_predictive["bookings"].isel(chain=0)
    # team level: sums of payee samples against actual team totals
    team_of = dict(zip(model.series["series_id"], model.series["team"], strict=True))
    actual = test.assign(team=test["series_id"].map(team_of)).pivot_table(
        index="team", columns="period", values="value", aggfunc="sum")
    ids = list(pp["series"].values)
    teams = list(actual.index)
    onehot = np.array([[team_of[i] == t for t in teams] for i in ids], dtype=float)
    s = np.einsum("dnh,nt->thd", pp.transpose("draw", "series", "period").values, onehot)
    lo, hi, med = (np.quantile(s, q, axis=2) for q in (0.1, 0.9, 0.5))
    y = actual.to_numpy()
    coverage80 = float(np.mean((y >= lo) & (y <= hi)))
    assert 0.55 <= coverage80 <= 0.98, coverage80
    past = train.assign(team=train["series_id"].map(team_of)).pivot_table(
        index="team", columns="period", values="value", aggfunc="sum").loc[teams]
    naive = past.to_numpy()[:, -12:-6]  # the same months a year before the held-out ones
    assert np.abs(y - med).mean() < np.abs(y - naive).mean()
