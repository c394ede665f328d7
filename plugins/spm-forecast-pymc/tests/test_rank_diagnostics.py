"""The vectorised R-hat and bulk ESS give ArviZ's numbers, parameter by parameter."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest

from spm_forecast_pymc.config import BookingsConfig
from spm_forecast_pymc.diagnostics import check
from spm_forecast_pymc.rank_diagnostics import rank_diagnostics


def arviz_figures(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ArviZ's rank R-hat and bulk ESS of ``x`` (parameters, chains, draws), one by one."""
    ds = az.convert_to_dataset({"v": np.moveaxis(x, 0, -1)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.rhat(ds)["v"].values, az.ess(ds, method="bulk")["v"].values


def awkward_chains(chains: int, draws: int, seed: int) -> np.ndarray:
    """Random walks plus noise (slow mixing: Geyer's sequence stops at many different lags),
    with a constant parameter, one with a NaN draw, one with ties, one chain shifted and one
    alternating between two values (folded around its median, a constant)."""
    rng = np.random.default_rng(seed)
    shape = (40, chains, draws)
    x = np.cumsum(rng.normal(size=shape), axis=-1) * rng.uniform(0.0, 0.5, size=(40, 1, 1)) + rng.normal(size=shape)
    x[3] = 1.5
    x[4, 0, 2] = np.nan
    x[5] = np.round(x[5])
    x[6, -1] += 3.0
    x[7] = np.where(np.arange(draws) % 2, 1.0, -1.0)
    return x


@pytest.mark.parametrize(("chains", "draws"), [(2, 400), (2, 61), (4, 100), (2, 12), (2, 16), (1, 50), (2, 7), (3, 5)])
def test_same_figures_as_arviz(chains, draws):
    x = awkward_chains(chains, draws, seed=chains * 1000 + draws)
    rhat, ess = arviz_figures(x)
    mine_rhat, mine_ess = rank_diagnostics(x)
    np.testing.assert_array_equal(np.isnan(mine_rhat), np.isnan(rhat))
    np.testing.assert_allclose(mine_rhat, rhat, rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(mine_ess, ess, rtol=1e-10, equal_nan=True)


def test_constant_and_nan_parameters():
    x = awkward_chains(2, 100, seed=1)
    rhat, ess = rank_diagnostics(x)
    assert np.isnan(rhat[3]) and ess[3] == 200                          # constant: full count
    assert np.isnan(rhat[4]) and np.isnan(ess[4])                       # a NaN draw
    assert rhat[6] > 1.5                                                # a shifted chain
    assert np.isnan(rank_diagnostics(x[:, :1])[0]).all()                # one chain: no R-hat


def test_the_report_names_the_worst_variable_as_arviz_does(fitted_bookings):
    posterior = fitted_bookings.idata.posterior
    report = check(fitted_bookings.idata, BookingsConfig().diagnostics, "bookings", warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(posterior).max()
        ess = az.ess(posterior, method="bulk").min()
    worst_rhat = max(rhat.data_vars, key=lambda name: float(rhat[name]))
    worst_ess = min(ess.data_vars, key=lambda name: float(ess[name]))
    assert report.worst_rhat_parameter == worst_rhat
    assert report.max_rhat == pytest.approx(float(rhat[worst_rhat]), rel=1e-10)
    assert report.worst_ess_parameter == worst_ess
    assert report.min_ess_bulk == pytest.approx(float(ess[worst_ess]), rel=1e-10)
