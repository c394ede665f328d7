"""Model A's options for panels of long positive series (M3, txhousing): the centred
parameterisation and AR(1) errors. No sampling: the model's structure is checked, and the
forecast recursion runs on a hand-set posterior whose forecasts are worked by hand."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from spm_forecast_pymc.bookings import (BookingsModel, _centring, _constant_data, _partly_centred,
                                        build_model, prepare)
from spm_forecast_pymc.config import BookingsConfig

PANEL = {"scale": "series", "series_seasonality": True, "ramp": False, "history_months": 36,
         "parameterisation": "centred", "ar_errors": True}


def panel(n_series: int = 3, months: int = 36) -> pd.DataFrame:
    periods = pd.date_range("2021-01-01", periods=months, freq="MS")
    rng = np.random.default_rng(5)
    return pd.DataFrame({
        "series_id": np.repeat([f"s{i}" for i in range(n_series)], months),
        "period": np.tile(periods, n_series),
        "value": rng.uniform(50, 150, n_series * months),
    })


def test_centred_panel_model_draws_series_effects_directly_and_has_ar_errors():
    config = BookingsConfig.model_validate(PANEL)
    p = prepare(panel(), config)
    assert not p.hurdle and len(p.knots) == 2  # all months positive; knots 12 and 24 back
    model = build_model(p, config)
    names = set(model.named_vars)
    assert {"level", "slope", "series_month", "changepoint", "log_noise", "phi", "last_resid"} <= names
    assert {"level", "slope", "series_month", "changepoint", "log_noise"} <= {v.name for v in model.free_RVs}
    # the standard-normal block keeps only team x month 12 + AR 3 = 15 (series and group
    # effects are centred, quarter and month patterns zero-sum, each drawn apart)
    assert model.initial_point()["z"].shape == (15,)
    noncentred = build_model(p, BookingsConfig.model_validate({**PANEL, "parameterisation": "noncentred"}))
    assert "log_noise" not in noncentred.named_vars
    assert noncentred.initial_point()["z"].shape == (15 + 3 + 3 + 3 * 12 + 3 * 2 + 3,)


def test_ar_forecast_starts_from_the_last_deviation_and_decays_to_the_trend():
    config = BookingsConfig.model_validate({**PANEL, "trend_damping": 1.0})
    p = prepare(panel(n_series=2), config)
    model = BookingsModel(config)
    draws = 4

    def post(name: str, value: np.ndarray, dims: tuple[str, ...] = ()) -> tuple:
        return (("chain", "draw", *dims), np.broadcast_to(value, (1, draws, *value.shape)).copy())

    # series 0: flat at its scale, last month 0.8 above the trend on the log scale, phi 0.5;
    # series 1: log-slope 0.12 a year, no deviation, phi 0.9. Noise tiny: forecasts are exact.
    posterior = xr.Dataset({
        "level": post("level", np.array([0.0, 0.0]), ("series",)),
        "slope": post("slope", np.array([0.0, 0.12]), ("series",)),
        "season": post("season", np.zeros((2, 12)), ("series", "month_of_year")),
        "quarter": post("quarter", np.zeros(3), ("month_of_quarter",)),
        "noise": post("noise", np.array([1e-9, 1e-9]), ("series",)),
        "phi": post("phi", np.array([0.5, 0.9]), ("series",)),
        "last_resid": post("last_resid", np.array([0.8, 0.0]), ("series",)),
    }, attrs={"spm_data_hash": "hand-set"})
    model.idata = az.InferenceData(posterior=posterior, constant_data=_constant_data(p, config))
    s = model.predict_idata(horizon=3, samples=draws).posterior_predictive["bookings"].values[0]
    scale = p.scale
    h = np.arange(1, 4)
    np.testing.assert_allclose(s[:, 0, :], np.broadcast_to(scale[0] * np.exp(0.8 * 0.5 ** h), (draws, 3)), rtol=1e-6)
    np.testing.assert_allclose(s[:, 1, :], np.broadcast_to(scale[1] * np.exp(0.12 * h / 12), (draws, 3)), rtol=1e-6)


def test_mixed_parameterisation_centres_levels_only():
    """The payee default: levels (pinned by every month) are drawn around their group;
    slopes, changepoints, seasons and noise spreads stay spread x standard normal."""
    config = BookingsConfig.model_validate({**PANEL, "parameterisation": "mixed", "scale": "global"})
    assert BookingsConfig().parameterisation == "mixed"
    apart = panel()
    apart["value"] *= np.repeat([1.0, 20.0, 400.0], 36)  # 36 months each, levels far apart
    model = build_model(prepare(apart, config), config)
    free = {v.name for v in model.free_RVs}
    assert "level" in free
    assert not {"slope", "series_month", "changepoint", "log_noise"} & free
    # slope 3 + team x month 12 + series x month 36 + changepoints 3 x 2 + noise 3 + AR 3 = 63
    assert model.initial_point()["z"].shape == (63,)


def test_teams_are_drawn_around_the_base_which_adds_nothing_on_top():
    """Teams are drawn directly around ``coef[level_base]`` (plus their region's effect), so
    the base is the teams' mean, not a second shift on top of them that the sampler would
    have to trade against their mean; region effects sum to zero."""
    frame = panel(n_series=4)
    frame["team"] = np.repeat(["t1", "t1", "t2", "t2"], 36)
    frame["region"] = np.repeat(["r1", "r1", "r2", "r2"], 36)
    config = BookingsConfig.model_validate(PANEL)  # centred: teams and regions drawn directly
    model = build_model(prepare(frame, config), config)
    assert {"level_region", "level_team"} <= {v.name for v in model.free_RVs}
    # the teams' prior: its log-density over the base peaks at the teams' mean, (7 - 1) / 2
    team_term = model.compile_fn(model.logp(vars=[model["level_team"]], sum=True),
                                 inputs=model.value_vars, on_unused_input="ignore", point_fn=False)
    point = model.initial_point()
    point["level_team"] = np.array([7.0, -1.0])
    point["level_region_zerosum__"] = np.zeros_like(point["level_region_zerosum__"])

    def at(base: float) -> float:
        point["coef"] = np.array([base, 0.0, 0.0, 0.0])
        return float(team_term(**point))

    assert at(3.0) > at(2.5) and at(3.0) > at(3.5)
    np.testing.assert_allclose(at(2.0), at(4.0))
    draws = pm.draw(model["level_region"], draws=5, random_seed=1)
    np.testing.assert_allclose(draws.sum(axis=1), 0.0, atol=1e-9)


def test_month_effects_leave_the_quarter_pattern_to_the_quarter_effects():
    """Month-of-year effects have no month-of-quarter part (that is the quarter effects'), and
    team deviations average zero over teams: no two effects can trade the same pattern."""
    frame = panel(n_series=4)
    frame["team"] = np.repeat(["t1", "t1", "t2", "t2"], 36)
    frame.loc[::5, "value"] = 0.0  # some months without bookings: the hurdle has month effects too
    config = BookingsConfig.model_validate({**PANEL, "fiscal_year_start_month": 2})
    model = build_model(prepare(frame, config), config)
    season = pm.draw(model["season"], draws=20, random_seed=2)        # (draw, series, month)
    position = (np.arange(1, 13) - 2) % 3
    company = season.mean(axis=1)                                      # teams average out
    for q in range(3):
        np.testing.assert_allclose(company[:, position == q].sum(axis=1), 0.0, atol=1e-9)
    assert np.abs(season - company[:, None, :]).max() > 1e-3          # teams and series differ
    active = pm.draw(model["active_month"], draws=20, random_seed=3)
    for q in range(3):
        np.testing.assert_allclose(active[:, position == q].sum(axis=1), 0.0, atol=1e-9)


def test_each_unit_is_drawn_centred_only_when_its_own_months_pin_it():
    """Under ``mixed``, a payee with three years of bookings is drawn centred, one with three
    months non-centred (payees differ by about as much as one month's noise). Either way its
    level has the same prior, N(around, spread)."""
    rng = np.random.default_rng(11)
    months = np.array([36] * 4 + [3] * 4)
    true_level = rng.normal(0.0, 0.5, len(months))
    periods = pd.date_range("2021-01-01", periods=36, freq="MS")
    frame = pd.DataFrame([
        {"series_id": f"p{i}", "period": periods[-1 - m], "team": f"t{i % 2}",
         "value": float(np.exp(5 + true_level[i] + rng.normal(0.0, 1.0)))}
        for i, n in enumerate(months) for m in range(n)])
    config = BookingsConfig.model_validate({**PANEL, "parameterisation": "mixed", "scale": "global"})
    p = prepare(frame, config)
    centring = _centring(p, "level", "mixed")
    long_ones = np.isin(p.series, [f"p{i}" for i in range(4)])
    assert centring.series[long_ones].all() and not centring.series[~long_ones].any()
    assert _centring(p, "level", "centred").series.all()
    assert not _centring(p, "level", "noncentred").series.any()
    model = build_model(p, config)
    assert {"level_centred", "level_offset"} <= {v.name for v in model.free_RVs}

    with pm.Model(coords={"unit": ["a", "b", "c"]}):
        effect = _partly_centred("effect", pt.as_tensor([0.0, 10.0, 20.0]), pt.as_tensor(2.0),
                                 np.array([True, False, True]), "unit")
        draws = pm.draw(effect, draws=4000, random_seed=4)
    np.testing.assert_allclose(draws.mean(axis=0), [0.0, 10.0, 20.0], atol=0.15)
    np.testing.assert_allclose(draws.std(axis=0), [2.0, 2.0, 2.0], rtol=0.05)
