"""Model A: the history contract, predictions, save/load and diagnostics (tiny fits)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecast_pymc_tiny import TINY
from spm_forecast_pymc.bookings import BookingsModel, HistoryError, _constant_data, build_model, prepare
from spm_forecast_pymc.builder import ModelMismatchError, NotFittedError
from spm_forecast_pymc.config import BookingsConfig, merge
from spm_forecast_pymc.diagnostics import ConvergenceWarning, check
from spm_forecast_pymc.pipeline import PipelineModel


def test_history_contract_errors_name_the_problem(history):
    with pytest.raises(HistoryError, match="missing column"):
        prepare(history.drop(columns=["value"]), BookingsConfig())
    with pytest.raises(HistoryError, match="two rows for series"):
        prepare(pd.concat([history, history.iloc[:1]]), BookingsConfig())
    with pytest.raises(HistoryError, match="no positive month"):
        prepare(history.assign(value=0.0), BookingsConfig())


def test_prepare_builds_a_dense_masked_grid(history):
    p = prepare(history, BookingsConfig(history_months=24))
    assert p.observed.shape == (history["series_id"].nunique(), 24)
    assert p.observed.sum() == len(history[history["period"] >= history["period"].max() - pd.DateOffset(months=23)])
    assert (p.positive <= p.observed).all()
    assert p.moq[-1] == (p.last_period.month - 1) % 3  # calendar fiscal year: Dec is a quarter end
    assert p.u[-1] == 0.0


def test_predict_returns_tidy_samples_and_inference_data(fitted_bookings):
    frame = fitted_bookings.predict(horizon=3, samples=50)
    n_series = len(fitted_bookings.series)
    assert list(frame.columns) == ["series_id", "period", "horizon", "sample", "value"]
    assert len(frame) == n_series * 3 * 50
    assert (frame["value"] >= 0).all()
    first = fitted_bookings.last_period + pd.DateOffset(months=1)
    assert frame.loc[frame["horizon"] == 1, "period"].eq(first).all()
    idata = fitted_bookings.predict_idata(horizon=3, samples=50)
    assert isinstance(idata, az.InferenceData)
    da = idata.posterior_predictive["bookings"]
    assert da.dims == ("chain", "draw", "series", "period") and da.shape == (1, 50, n_series, 3)
    # the tidy frame is the same numbers as the InferenceData (same seed)
    one = frame[(frame["series_id"] == da["series"].values[0]) & (frame["horizon"] == 2)]
    np.testing.assert_allclose(one.sort_values("sample")["value"].to_numpy(), da.values[0, :, 0, 1])


def test_rollups_are_sums_of_payee_samples(fitted_bookings):
    frame = fitted_bookings.predict(horizon=2, samples=40).merge(
        fitted_bookings.series, on="series_id")
    team = frame.groupby(["team", "period", "sample"])["value"].sum()
    company = frame.groupby(["period", "sample"])["value"].sum()
    np.testing.assert_allclose(team.groupby(["period", "sample"]).sum().to_numpy(), company.to_numpy())


def test_terminated_payee_forecasts_zero_after_leaving(history, fitted_bookings):
    leaver = history["series_id"].iloc[0]
    h = history.copy()
    h.loc[h["series_id"] == leaver, "end_date"] = h["period"].max() + pd.DateOffset(months=1, days=14)
    p = prepare(h, fitted_bookings.config)
    assert p.end_month[list(p.series).index(leaver)] == 1  # leaves in the first forecast month
    model = BookingsModel(fitted_bookings.config)
    model.idata = fitted_bookings.idata.copy()
    model.idata.constant_data["end_month"].values[:] = p.end_month
    frame = model.predict(horizon=3, samples=30)
    mine = frame[frame["series_id"] == leaver]
    assert (mine.loc[mine["horizon"] >= 2, "value"] == 0).all()  # gone after month 1
    assert (frame.loc[frame["series_id"] != leaver, "value"] > 0).any()


def test_save_load_round_trip_and_mismatches(fitted_bookings, fitted_pipeline, tmp_path):
    path = fitted_bookings.save(tmp_path / "a.nc")
    loaded = BookingsModel.load(path)
    assert loaded.config_hash == fitted_bookings.config_hash
    assert loaded.data_hash == fitted_bookings.data_hash
    pd.testing.assert_frame_equal(loaded.predict(2, 20, seed=5), fitted_bookings.predict(2, 20, seed=5))
    assert BookingsModel.load(path, config=TINY).is_fitted  # same config: accepted
    with pytest.raises(ModelMismatchError, match="different config"):
        BookingsModel.load(path, config={**TINY, "horizon": 3})
    with pytest.raises(ModelMismatchError, match="not pipeline"):
        PipelineModel.load(path)
    idata = az.from_netcdf(path)
    idata.posterior.attrs["spm_model_version"] = "0"
    idata.to_netcdf(tmp_path / "old.nc")
    with pytest.raises(ModelMismatchError, match="version 0"):
        BookingsModel.load(tmp_path / "old.nc")


def test_unfitted_model_says_what_to_do():
    with pytest.raises(NotFittedError, match="call fit"):
        BookingsModel().predict(3)


def test_diagnostics_warn_with_advice(fitted_bookings):
    report = check(fitted_bookings.idata, BookingsConfig().diagnostics, "bookings", warn=False)
    assert report.chains == 2 and report.draws == 40
    assert report.max_rhat > 1.0 and report.min_ess_bulk > 0
    one_chain = fitted_bookings.idata.isel(chain=[0])
    with pytest.warns(ConvergenceWarning, match="only one chain"):
        check(one_chain, BookingsConfig().diagnostics, "bookings")
    strict = BookingsConfig(diagnostics={"min_ess_bulk": 1e6}).diagnostics
    with pytest.warns(ConvergenceWarning, match="Raise sampler.draws"):
        check(fitted_bookings.idata, strict, "bookings")
    idata = fitted_bookings.idata.copy()
    idata.sample_stats["diverging"][:] = False  # exactly 3, whatever the tiny fit had
    idata.sample_stats["diverging"][0, :3] = True
    with pytest.warns(ConvergenceWarning, match="3 divergent transitions.*target_accept"):
        check(idata, BookingsConfig().diagnostics, "bookings")


def test_chains_in_parallel_draw_what_chains_in_sequence_drew(history, fitted_bookings):
    """The sampler contract for the default sampler, nutpie: same seed and data, same draws,
    whether its two chains run one after the other (the fixture, ``cores: 1``) or in two
    threads at once (which is why ``cores`` is left out of the config hash)."""
    assert BookingsConfig().sampler.backend == "nutpie"
    assert fitted_bookings.config.sampler.cores == 1
    parallel = BookingsModel(merge(fitted_bookings.config, {"sampler": {"cores": 2}})).fit(history)
    np.testing.assert_array_equal(parallel.idata.posterior["z"].values, fitted_bookings.idata.posterior["z"].values)


def echo_history() -> pd.DataFrame:
    """One payee, 24 months: 50 in the first month, 100 in the 13th, nothing otherwise; a
    second payee hired in the 18th month who books 80 every month."""
    periods = pd.date_range("2024-01-01", periods=24, freq="MS")
    first = np.zeros(24)
    first[0], first[12] = 50.0, 100.0
    return pd.concat([
        pd.DataFrame({"series_id": "p1", "period": periods, "value": first}),
        pd.DataFrame({"series_id": "p2", "period": periods[17:], "value": 80.0}),
    ], ignore_index=True)


def test_annual_echo_reads_the_same_month_a_year_before():
    p = prepare(echo_history(), BookingsConfig(annual_echo=True, ramp=False))
    not_booked, unknown, log_last_year = p.last_year()
    # p1: the first year has no year before; month 12 follows the booking of month 0
    np.testing.assert_array_equal(unknown[0], np.r_[np.ones(12), np.zeros(12)])
    np.testing.assert_array_equal(not_booked[0], np.r_[np.zeros(13), np.ones(11)])
    np.testing.assert_allclose(log_last_year[0, 12], np.log(50.0 / p.scale[0]))
    assert np.count_nonzero(log_last_year[0]) == 1
    # p2 was not employed a year before any of its months
    assert unknown[1].all() and not not_booked[1].any()
    # fitted on the last 12 months only, the window's year before comes from the older rows
    short = prepare(echo_history(), BookingsConfig(annual_echo=True, ramp=False, history_months=12))
    assert short.months == 12
    not_booked, unknown, log_last_year = short.last_year()
    assert not unknown[0].any() and unknown[1].all()
    np.testing.assert_allclose(log_last_year[0], np.r_[np.log(50.0 / short.scale[0]), np.zeros(11)])
    np.testing.assert_array_equal(not_booked[0], np.r_[0.0, np.ones(11)])
    # and the model's density uses them: every term the data speak to has a gradient (p1's
    # positive months follow a booking or nothing known, so amount_not_booked has none)
    model = build_model(p, BookingsConfig(annual_echo=True, ramp=False))
    gradient = model.compile_dlogp(vars=[model["echo"]])(model.initial_point())
    assert list(np.flatnonzero(gradient)) == [0, 1, 3, 4]


def test_annual_echo_forecast_repeats_last_years_bookings_and_its_own():
    """A hand-set posterior where only a booking a year before lets anything close, at the
    same size: the 13th month's 100 comes back in forecast month 1 and again in month 13, and
    every other month stays 0; the second payee books its 80 a year after each month it
    was employed (forecast months 6-12, then 18-24) and nothing a year after it was not."""
    config = BookingsConfig(annual_echo=True, ramp=False)
    p = prepare(echo_history(), config)
    model = BookingsModel(config)
    draws = 3

    def post(value: np.ndarray, dims: tuple[str, ...] = ()) -> tuple:
        return (("chain", "draw", *dims), np.broadcast_to(value, (1, draws, *value.shape)).copy())

    zeros = np.zeros(2)
    posterior = xr.Dataset({
        "level": post(zeros, ("series",)), "slope": post(zeros, ("series",)),
        "season": post(np.zeros((2, 12)), ("series", "month_of_year")),
        "quarter": post(np.zeros(3), ("month_of_quarter",)),
        "noise": post(np.full(2, 1e-9), ("series",)),
        "active": post(np.full(2, 30.0), ("series",)),
        "active_quarter": post(np.zeros(3), ("month_of_quarter",)),
        "active_month": post(np.zeros(12), ("month_of_year",)),
        "active_slope": post(np.array(0.0)),
        "echo": post(np.array([-60.0, -60.0, 0.0, 0.0, 1.0]), ("echo_term",)),
    }, attrs={"spm_data_hash": "hand-set"})
    model.idata = az.InferenceData(posterior=posterior, constant_data=_constant_data(p, config))
    s = model.predict_idata(horizon=24, samples=draws).posterior_predictive["bookings"].values[0]
    expected = np.zeros(24)
    expected[0] = expected[12] = 100.0
    np.testing.assert_allclose(s[:, 0, :], np.broadcast_to(expected, (draws, 24)), rtol=1e-6)
    hired = np.r_[np.zeros(5), np.full(7, 80.0)]
    np.testing.assert_allclose(s[:, 1, :], np.broadcast_to(np.r_[hired, hired], (draws, 24)), rtol=1e-6)
