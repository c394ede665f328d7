"""Workspace forecasts: cache, P(quota), planning inputs, the registered forecaster."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

import spm_kernel
from forecast_pymc_tiny import TINY, TINY_PIPELINE
from spm_forecast_pymc import plugin
from spm_forecast_pymc.bookings import BookingsModel
from spm_forecast_pymc.pipeline import PipelineModel
from spm_forecast_pymc.forecast import WorkspaceForecast, quarter_bounds


@pytest.fixture(scope="module")
def forecast(workspace_forecast):
    return workspace_forecast


def test_quarter_bounds_follow_the_fiscal_year():
    assert quarter_bounds(date(2025, 2, 10)) == (date(2025, 1, 1), date(2025, 3, 31))
    assert quarter_bounds(date(2025, 2, 10), fiscal_year_start_month=2) == (date(2025, 2, 1), date(2025, 4, 30))


def test_second_forecast_loads_fits_from_the_workspace_cache(forecast, company_ws):
    again = WorkspaceForecast(company_ws, bookings_config=TINY, pipeline_config=TINY_PIPELINE)
    again.bookings_model, again.pipeline_model  # noqa: B018
    assert again.from_cache == {"bookings": True, "pipeline": True}
    assert again.bookings_model.data_hash == forecast.bookings_model.data_hash
    files = sorted(p.name for p in (company_ws.path / ".cache" / "forecasts").glob("*.nc"))
    assert any(f.startswith(f"bookings-v{BookingsModel.version}-") for f in files)
    assert any(f.startswith(f"pipeline-v{PipelineModel.version}-") for f in files)
    changed = WorkspaceForecast(company_ws, bookings_config={**TINY, "trend_damping": 0.9},
                                pipeline_config=TINY_PIPELINE)
    assert changed.bookings_config.trend_damping == 0.9  # another config -> another cache key


def test_attainment_probabilities_per_payee_and_team(forecast):
    payees, teams = forecast.attainment("current", samples=300)
    assert payees["p_quota"].between(0, 1).all()
    assert (payees["p10"] <= payees["expected"] * 10).all()
    assert teams["quota"].sum() == pytest.approx(payees["quota"].sum())
    assert teams["payees"].sum() == len(payees)
    assert set(payees["period_start"]) == {forecast.quota_window("current")[0]}
    nxt, nxt_teams = forecast.attainment("next", samples=300)
    assert set(nxt["period_start"]) == {forecast.quota_window("next")[0]}
    # a payee whose quota is 0-ish would be certain; one with a huge quota impossible
    big = forecast.payee_matrix(*forecast.quota_window("next"), samples=300, include_pipeline=False)
    assert (big >= 0).all() and big.shape == (300, len(forecast.payees))


def test_booked_to_date_counts_in_the_window(forecast):
    start, end = date(2024, 10, 1), date(2024, 12, 31)  # entirely before as_of: no uncertainty
    m = forecast.payee_matrix(start, end, samples=50)
    booked = forecast.booked(start, end).to_numpy()
    np.testing.assert_allclose(m, np.broadcast_to(booked, m.shape))


def test_planning_inputs_and_quarter_outlook(forecast):
    inputs = forecast.planning_inputs(date(2025, 4, 1), date(2025, 6, 30), samples=200)
    s = inputs.summary
    assert list(s.columns) == ["payee_id", "team", "region", "expected", "p10", "p50", "p90"]
    assert (s["p10"] <= s["p50"]).all() and (s["p50"] <= s["p90"]).all()
    assert len(inputs.samples) == 200 * len(s)
    outlook = forecast.quarter_outlook(samples=300).set_index("category")
    assert outlook.loc["commit", "amount"] <= outlook.loc["expected", "amount"] <= outlook.loc["best case", "amount"]
    assert 0 < forecast.fresh_share(90) < 1


def test_forecaster_is_registered_and_follows_the_contract(company_ws, forecast):
    ws = spm_kernel.open(company_ws.path, plugins=[plugin], load_entry_points=False)
    try:
        forecaster = ws.registry.forecasters["pymc_bookings"]
        samples = forecaster.payee_samples(ws, date(2025, 1, 1), date(2025, 3, 31), samples=100,
                                           bookings_config=TINY, pipeline_config=TINY_PIPELINE)
        assert list(samples.columns) == ["payee_id", "sample", "value"]
        assert samples.groupby("payee_id").size().eq(100).all()
        preds = forecaster.predict(forecast.bookings_model, 2, samples=10)
        assert set(preds["horizon"]) == {1, 2}
    finally:
        ws.close()
