"""Convergence checks run after every fit: R-hat, effective sample size, divergences.

Problems are raised as :class:`ConvergenceWarning` (a ``UserWarning``) with plain advice, and
kept on the model as a :class:`DiagnosticsReport` so apps and notebooks can show them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd

from spm_forecast_pymc.config import DiagnosticsConfig
from spm_forecast_pymc.rank_diagnostics import rank_diagnostics


class ConvergenceWarning(UserWarning):
    """The sampler's output is not trustworthy as it stands; the message says what to do."""


@dataclass(frozen=True)
class DiagnosticsReport:
    """The worst R-hat and bulk ESS over every parameter, the number of divergences, and
    one plain-language message per breached threshold (empty when all is well)."""

    max_rhat: float
    min_ess_bulk: float
    divergences: int
    draws: int
    chains: int
    worst_rhat_parameter: str
    worst_ess_parameter: str
    messages: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.messages

    def as_frame(self) -> pd.DataFrame:
        return pd.DataFrame([
            {"check": "R-hat (max)", "value": self.max_rhat, "parameter": self.worst_rhat_parameter},
            {"check": "bulk ESS (min)", "value": self.min_ess_bulk, "parameter": self.worst_ess_parameter},
            {"check": "divergences", "value": float(self.divergences), "parameter": ""},
        ])


def _parameters(posterior: object) -> tuple[np.ndarray, np.ndarray]:
    """Every scalar of every variable as one array (parameters, chains, draws), and the
    variable each row belongs to."""
    blocks, names = [], []
    for name, values in posterior.data_vars.items():  # type: ignore[attr-defined]
        arr = np.asarray(values, dtype=float)          # (chain, draw, *shape)
        if arr.size == 0:
            continue
        blocks.append(np.moveaxis(arr.reshape(arr.shape[0], arr.shape[1], -1), -1, 0))
        names += [str(name)] * blocks[-1].shape[0]
    if not blocks:
        return np.empty((0, 0, 0)), np.array([], dtype=object)
    return np.concatenate(blocks), np.array(names, dtype=object)


def _worst(values: np.ndarray, names: np.ndarray, pick: str) -> tuple[float, str]:
    """The largest (``max``) or smallest value, ignoring NaN, and its variable's name (the
    first variable in the posterior's order on a tie)."""
    if np.isnan(values).all():
        return np.nan, ""
    at = int(np.nanargmax(values) if pick == "max" else np.nanargmin(values))
    return float(values[at]), str(names[at])


def check(idata: az.InferenceData, thresholds: DiagnosticsConfig, label: str,
          warn: bool = True) -> DiagnosticsReport:
    """Compute the checks on ``idata.posterior`` and warn (``ConvergenceWarning``) on each
    breached threshold. Deterministic variables are checked too (they are what forecasts use)."""
    posterior = idata.posterior
    chains = int(posterior.sizes["chain"])
    draws = int(posterior.sizes["draw"])
    # ArviZ's rank-normalised R-hat and bulk ESS, all parameters at once (rank_diagnostics)
    x, names = _parameters(posterior)
    rhats, esss = rank_diagnostics(x)
    rhat, rhat_name = _worst(rhats, names, "max") if chains > 1 else (np.nan, "")
    ess, ess_name = _worst(esss, names, "min")
    divergences = int(idata.sample_stats["diverging"].sum()) if "sample_stats" in idata else 0
    messages = []
    if chains < 2:
        messages.append(
            f"{label}: only one chain was run, so R-hat cannot tell whether sampling converged; "
            "run at least 2 chains (sampler.chains=2) before trusting these forecasts.")
    elif not np.isnan(rhat) and rhat > thresholds.max_rhat:
        messages.append(
            f"{label}: the chains disagree (R-hat {rhat:.3f} for {rhat_name!r}, above "
            f"{thresholds.max_rhat}). Run longer (raise sampler.tune and sampler.draws) and treat "
            "these forecasts as provisional until R-hat is below the threshold.")
    if not np.isnan(ess) and ess < thresholds.min_ess_bulk:
        messages.append(
            f"{label}: only {ess:.0f} effective draws for {ess_name!r} (minimum "
            f"{thresholds.min_ess_bulk:.0f}). Raise sampler.draws; until then the P10/P90 "
            "bands and probabilities are noisy.")
    if divergences > thresholds.max_divergences:
        messages.append(
            f"{label}: {divergences} divergent transitions: the sampler could not explore part "
            "of the posterior, so intervals may be too narrow. Raise sampler.target_accept "
            "(0.95, then 0.99); if divergences persist, look for payees or deals with almost "
            "no history, or loosen the prior scales.")
    report = DiagnosticsReport(
        max_rhat=rhat, min_ess_bulk=ess, divergences=divergences, draws=draws, chains=chains,
        worst_rhat_parameter=rhat_name, worst_ess_parameter=ess_name, messages=tuple(messages))
    if warn:
        for message in messages:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
    return report
