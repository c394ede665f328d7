"""The lean nutpie wrappers: same values, same status codes and same draws as nutpie's own."""

from __future__ import annotations

import ctypes

import numpy as np
import nutpie
import nutpie.compile_pymc as ncp
import pymc as pm
import pytensor.tensor as pt
import pytest

from spm_forecast_pymc.nutpie_compile import compile_for_nutpie, lean_wrappers_available


@pytest.fixture(scope="module")
def model() -> pm.Model:
    # pm.Data exercises nutpie's shared-data extraction; the wall makes the logp non-finite
    # below mu = -5 (nan) and at it (-inf, with an infinite gradient)
    with pm.Model() as m:
        y = pm.Data("y", np.array([1.0, 2.0, 3.5]))
        mu = pm.Normal("mu", 0.0, 1.0)
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("obs", mu, s, observed=y)
        pm.Potential("wall", pt.log(mu + 5.0))
    return m


@pytest.fixture(scope="module")
def both(model):
    return nutpie.compile_pymc_model(model, backend="numba"), compile_for_nutpie(model)


def _call_logp(compiled, x: np.ndarray, dim: int) -> tuple[int, float, np.ndarray]:
    x = np.ascontiguousarray(x, dtype=float)
    out = np.zeros(len(x))
    logp = np.zeros(1)
    fn = compiled.compiled_logp_func.ctypes
    status = fn(ctypes.c_uint64(dim), x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                logp.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                ctypes.c_void_p(compiled.user_data.ctypes.data))
    return int(status), float(logp[0]), out


def test_this_nutpie_has_the_internals_the_lean_wrappers_replace():
    # a nutpie release that renames them makes compile_for_nutpie fall back to the slow compile
    assert lean_wrappers_available()


def test_lean_logp_matches_nutpies_values_and_status_codes(both):
    stock, lean = both
    assert lean.n_dim == stock.n_dim == 2
    cases = {"finite": ([0.3, -0.2], 0), "nan logp": ([-6.0, 0.0], 4),
             "infinite gradient": ([-5.0, 0.0], 3)}
    for name, (x, expected) in cases.items():
        s_status, s_logp, s_grad = _call_logp(stock, np.array(x), 2)
        l_status, l_logp, l_grad = _call_logp(lean, np.array(x), 2)
        assert s_status == l_status == expected, name
        np.testing.assert_array_equal(l_grad, s_grad, err_msg=name)
        if expected == 0:
            assert l_logp == s_logp
    assert _call_logp(lean, np.zeros(2), 3)[0] == _call_logp(stock, np.zeros(2), 3)[0] == -1


def test_lean_compile_draws_what_nutpie_draws_and_restores_nutpie(both):
    stock, lean = both
    kwargs = dict(draws=60, tune=60, chains=2, cores=1, seed=5, progress_bar=False)
    a = nutpie.sample(stock, **kwargs).posterior
    b = nutpie.sample(lean, **kwargs).posterior
    for name in ("mu", "s"):  # s goes through the expand function (log-transformed)
        np.testing.assert_array_equal(b[name].values, a[name].values)
    from spm_forecast_pymc import nutpie_compile
    assert ncp._make_c_logp_func is not nutpie_compile._make_c_logp_func
    assert ncp._make_c_expand_func is not nutpie_compile._make_c_expand_func


def test_the_progress_bar_says_compiling_then_counts_kept_draws(model, capsys):
    from spm_forecast_pymc.config import SamplerConfig
    from spm_forecast_pymc.sampling import sample

    sampler = SamplerConfig(backend="nutpie", tune=30, draws=30, chains=2, cores=1, progressbar=True)
    idata = sample(model, sampler, "tiny model")
    err = capsys.readouterr().err
    assert "compiling tiny model (nutpie)" in err   # shown before numba starts compiling
    assert "sampling tiny model (nutpie)" in err.split("compiling tiny model (nutpie)")[-1]
    assert "60/60" in err
    assert idata.posterior.sizes["draw"] == 30
