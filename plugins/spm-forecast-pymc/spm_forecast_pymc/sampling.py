"""Run NUTS on a PyMC model with a tqdm progress bar, on PyMC's sampler or nutpie.

PyTensor compiles C code for every model; where it keeps it is PyTensor's ``compiledir``,
set through the environment variable ``PYTENSOR_FLAGS`` before PyTensor is imported (the
project's Makefile and test configuration point it at ``<repo>/.cache/pytensor``).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import arviz as az
import pymc as pm
from tqdm.auto import tqdm

from spm_forecast_pymc.config import SamplerConfig


def sample(model: pm.Model, sampler: SamplerConfig, label: str) -> az.InferenceData:
    """Posterior draws of ``model`` (``sampler.chains`` x ``sampler.draws``), with sample stats.

    A tqdm bar (``tqdm.auto``: a widget in notebooks, text elsewhere) counts every draw of
    every chain, warm-up included, when ``sampler.progressbar`` is set.
    """
    if sampler.backend == "nutpie":
        return _sample_nutpie(model, sampler, label)
    total = (sampler.tune + sampler.draws) * sampler.chains
    bar = tqdm(total=total, desc=f"sampling {label}", unit="draw", disable=not sampler.progressbar,
               mininterval=0.5)

    def callback(trace: Any, draw: Any) -> None:
        bar.update(1)

    try:
        with model, warnings.catch_warnings():
            # PyMC reports divergences itself; ours come with advice (diagnostics.py)
            warnings.filterwarnings("ignore", message=".*divergen.*")
            warnings.filterwarnings("ignore", message=".*rhat.*")
            warnings.filterwarnings("ignore", message=".*effective sample size.*")
            idata = pm.sample(
                draws=sampler.draws, tune=sampler.tune, chains=sampler.chains,
                cores=min(sampler.cores, sampler.chains), target_accept=sampler.target_accept,
                random_seed=sampler.random_seed, progressbar=False, callback=callback,
                compute_convergence_checks=False, return_inferencedata=True,
                idata_kwargs={"log_likelihood": False}, mp_ctx="forkserver" if _in_thread() else None,
            )
    finally:
        bar.close()
    return idata


def _in_thread() -> bool:
    import threading
    return threading.current_thread() is not threading.main_thread()


def _sample_nutpie(model: pm.Model, sampler: SamplerConfig, label: str) -> az.InferenceData:
    """nutpie on the numba backend. The tqdm bar says "compiling" while numba compiles the
    model (30-80 s for Model A on the demo), then counts kept draws (polled once a second:
    warm-up shows as the bar standing still at 0)."""
    import nutpie

    from spm_forecast_pymc.nutpie_compile import compile_for_nutpie

    total = sampler.draws * sampler.chains
    bar = tqdm(total=total, desc=f"compiling {label} (nutpie)", unit="draw",
               disable=not sampler.progressbar, mininterval=0.5)
    done = 0
    try:
        compiled = compile_for_nutpie(model)
        bar.set_description(f"sampling {label} (nutpie)")
        background = nutpie.sample(
            compiled, draws=sampler.draws, tune=sampler.tune, chains=sampler.chains,
            cores=min(sampler.cores, sampler.chains), seed=sampler.random_seed,
            target_accept=sampler.target_accept, progress_bar=False, blocking=False,
            save_warmup=False, low_rank_modified_mass_matrix=sampler.low_rank_mass_matrix,
        )
        while not _finished(background):
            time.sleep(1.0)
            if sampler.progressbar:
                now = _kept_draws(background)
                if now > done:
                    bar.update(now - done)
                    done = now
        idata = background.wait()
        bar.update(total - done)
    finally:
        bar.close()
    return idata


def _finished(background: Any) -> bool:
    """nutpie's ``is_finished`` raises TimeoutError when the sampler thread holds its lock
    (a busy machine): that means "still running"."""
    try:
        return bool(background.is_finished)
    except TimeoutError:
        return False


def _kept_draws(background: Any) -> int:
    try:
        with warnings.catch_warnings():  # before the first kept draw ArviZ warns of 0 draws
            warnings.simplefilter("ignore")
            partial = background.inspect()
        return int(partial.posterior.sizes["draw"] * partial.posterior.sizes["chain"])
    except Exception:  # noqa: BLE001 - the bar is cosmetic; sampling goes on
        return 0
