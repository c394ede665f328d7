"""Forecast accuracy measures (vectorised over series and horizons).

* MASE: mean absolute error / in-sample mean absolute error of the seasonal naive forecast
  (lag ``m``); a series whose in-sample seasonal differences are all 0 has no scale and is
  left out (NaN).
* sMAPE: mean of ``200 |y - f| / (|y| + |f|)``, with 0/0 counted as 0 (both zero: perfect).
* CRPS from samples: ``E|X - y| - E|X - X'| / 2``, computed exactly from sorted samples;
  from a normal forecast (mean, sd) in closed form (for baselines that give intervals).
* Coverage: share of outcomes inside ``[lo, hi]``.
* Randomised PIT (Czado, Gneiting and Held 2009): where the outcome falls in its forecast
  distribution, drawn uniformly across an atom (the hurdle's 0). Calibrated forecasts give
  uniform PITs, so ``pit_coverage(pit, 0.8)`` is 80%. A quantile interval cannot say this of a
  distribution with an atom: when P(0) is at least 10%, ``[q10, q90]`` is ``[0, q90]``, which
  a calibrated forecast hits 90% of the time.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def mase_scale(train: np.ndarray, m: int = 12) -> float:
    """Mean absolute seasonal difference of the training series (NaN if too short or 0)."""
    y = np.asarray(train, dtype=float)
    if len(y) <= m:
        m = 1
    if len(y) <= m:
        return float("nan")
    scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    return scale if scale > 0 else float("nan")


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    return float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float))) / scale)


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    y = np.asarray(actual, dtype=float)
    f = np.asarray(forecast, dtype=float)
    denom = np.abs(y) + np.abs(f)
    ratio = np.divide(2 * np.abs(y - f), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100 * ratio.mean())


def crps_samples(samples: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """CRPS of each forecast: ``samples`` (..., n) against ``actual`` (...)."""
    x = np.sort(np.asarray(samples, dtype=float), axis=-1)
    y = np.asarray(actual, dtype=float)[..., None]
    n = x.shape[-1]
    term1 = np.abs(x - y).mean(axis=-1)
    weights = (2 * np.arange(1, n + 1) - n - 1) / (n * n)
    term2 = (x * weights).sum(axis=-1)  # = E|X - X'| / 2
    return term1 - term2


def crps_normal(mean: np.ndarray, sd: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Closed-form CRPS of Normal(mean, sd) forecasts."""
    sd = np.maximum(np.asarray(sd, dtype=float), 1e-12)
    z = (np.asarray(actual, dtype=float) - mean) / sd
    return sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    y = np.asarray(actual, dtype=float)
    return float(np.mean((y >= lo) & (y <= hi)))


def brier(probability: np.ndarray, outcome: np.ndarray) -> float:
    p = np.asarray(probability, dtype=float)
    o = np.asarray(outcome, dtype=float)
    return float(np.mean((p - o) ** 2))


def randomised_pit(samples: np.ndarray, actual: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PIT of each outcome under its sample distribution ``samples`` (..., n): ``P(X < y) +
    U * P(X = y)`` with ``U`` uniform, so ties (an atom at 0) spread evenly."""
    x = np.asarray(samples, dtype=float)
    y = np.asarray(actual, dtype=float)[..., None]
    below = (x < y).mean(axis=-1)
    at = (x == y).mean(axis=-1)
    return below + rng.random(below.shape) * at


def pit_coverage(pit: np.ndarray, level: float) -> float:
    """Share of PITs inside the central ``level`` band: what a central interval would cover if
    the atoms were split at random."""
    tail = (1.0 - level) / 2.0
    p = np.asarray(pit, dtype=float)
    return float(np.mean((p >= tail) & (p <= 1.0 - tail)))
