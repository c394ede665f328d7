"""Is an allocation fair? Expected attainment spread, quota-to-potential and its Gini, outliers.

For each quota carrier (a row of :attr:`QuotaPlan.payees`):

* **expected attainment** = expected bookings / quota (both base currency). Expected bookings
  are the forecast mean when the plan was made from a forecast, else the payee's run rate x
  their effective months. A fair plan gives everyone a similar chance: a narrow spread.
* **quota-to-potential** = quota / potential of the accounts they own. Similar ratios mean
  everyone is asked for the same share of what their territory can give; the **Gini
  coefficient** of the ratios (0 = all equal, towards 1 = concentrated) summarises it:
  ``G = sum_i sum_j |x_i - x_j| / (2 n^2 mean)``.
* **outliers**: a value outside Tukey's fences ``[Q1 - k IQR, Q3 + k IQR]`` (``k = 1.5`` by
  default; quartiles by linear interpolation) for either measure, and more than
  ``tolerance`` (default 5%) away from the median in relative terms, is flagged with the
  reason in words. The tolerance keeps near-identical values (a plan by potential gives
  everyone the same ratio up to a cent) from being flagged by a fence of width zero.

Payees with a zero quota have no attainment; payees without potential have no ratio; both are
left out of the statistics of that measure (and listed as such).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


def gini(values: Any) -> float:
    """The Gini coefficient of non-negative values (NaN for none, or when all are 0)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0 or x.sum() == 0:
        return float("nan")
    if x[0] < 0:
        raise ValueError("the Gini coefficient needs non-negative values")
    index = np.arange(1, n + 1)
    return float((2.0 * (index * x).sum()) / (n * x.sum()) - (n + 1.0) / n)


def fences(values: np.ndarray, k: float = 1.5) -> tuple[float, float]:
    """Tukey's fences ``(Q1 - k IQR, Q3 + k IQR)`` of the non-NaN values."""
    x = values[~np.isnan(values)]
    if len(x) == 0:
        return float("nan"), float("nan")
    q1, q3 = np.quantile(x, [0.25, 0.75])
    return float(q1 - k * (q3 - q1)), float(q3 + k * (q3 - q1))


@dataclass(frozen=True)
class FairnessReport:
    """``by_payee``: one row per payee with ``expected_attainment``, ``quota_to_potential``,
    ``outlier`` and ``reason``; ``summary``: the statistics as a dict."""

    by_payee: pd.DataFrame
    summary: dict[str, float]

    def __repr__(self) -> str:
        s = self.summary
        return (f"<FairnessReport {int(s['payees'])} payees: expected attainment median {s['attainment_median']:.0%} "
                f"(P10 {s['attainment_p10']:.0%}, P90 {s['attainment_p90']:.0%}), quota/potential Gini "
                f"{s['ratio_gini']:.3f}, {int(s['outliers'])} outlier(s)>")


def _ratio(num: pd.Series, den: pd.Series) -> np.ndarray:
    n = pd.to_numeric(num.map(lambda v: None if v is None else float(v)), errors="coerce").to_numpy(dtype=np.float64)
    d = pd.to_numeric(den.map(lambda v: None if v is None else float(v)), errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((d > 0) & ~np.isnan(n), n / np.where(d > 0, d, 1.0), np.nan)


def _flag(values: np.ndarray, lo: float, hi: float, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    x = values[~np.isnan(values)]
    median = float(np.median(x)) if len(x) else np.nan
    far = np.abs(values - median) > tolerance * abs(median) if len(x) else np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        return (values > hi) & far, (values < lo) & far


def fairness(payees: pd.DataFrame, k: float = 1.5, tolerance: float = 0.05) -> FairnessReport:
    """The fairness of an allocation: see the module docstring for every figure.

    ``payees`` needs ``payee_id``, ``quota_base``, ``expected_base`` and ``potential_base``
    (as :attr:`QuotaPlan.payees` has them); other columns are carried along.
    """
    attainment = _ratio(payees["expected_base"], payees["quota_base"])
    ratio = _ratio(payees["quota_base"], payees["potential_base"])
    a_lo, a_hi = fences(attainment, k)
    r_lo, r_hi = fences(ratio, k)
    a_high, a_low = _flag(attainment, a_lo, a_hi, tolerance)
    r_high, r_low = _flag(ratio, r_lo, r_hi, tolerance)
    reasons = []
    for i in np.flatnonzero(a_high | a_low | r_high | r_low):  # words for the flagged few
        parts = []
        a, r = attainment[i], ratio[i]
        if a_high[i]:
            parts.append(f"expected attainment {a:.0%} is above the upper fence {a_hi:.0%} (quota looks too low)")
        if a_low[i]:
            parts.append(f"expected attainment {a:.0%} is below the lower fence {a_lo:.0%} (quota looks too high)")
        if r_high[i]:
            parts.append(f"quota is {r:.1%} of potential, above the upper fence {r_hi:.1%}")
        if r_low[i]:
            parts.append(f"quota is {r:.1%} of potential, below the lower fence {r_lo:.1%}")
        reasons.append((i, "; ".join(parts)))
    reason = np.full(len(payees), "", dtype=object)
    for i, text in reasons:
        reason[i] = text
    keep = [c for c in ("payee_id", "name", "team_id", "region_id", "segment", "quota_base", "expected_base",
                        "potential_base") if c in payees.columns]
    by_payee = payees.loc[:, keep].copy()
    by_payee["expected_attainment"] = attainment
    by_payee["quota_to_potential"] = ratio
    by_payee["outlier"] = a_high | a_low | r_high | r_low
    by_payee["reason"] = reason
    a = attainment[~np.isnan(attainment)]
    quantiles = np.quantile(a, [0.1, 0.5, 0.9]) if len(a) else [np.nan] * 3
    summary = {
        "payees": float(len(payees)),
        "attainment_mean": float(a.mean()) if len(a) else np.nan,
        "attainment_median": float(quantiles[1]),
        "attainment_std": float(a.std(ddof=0)) if len(a) else np.nan,
        "attainment_p10": float(quantiles[0]),
        "attainment_p90": float(quantiles[2]),
        "attainment_spread": float(quantiles[2] - quantiles[0]),
        "attainment_min": float(a.min()) if len(a) else np.nan,
        "attainment_max": float(a.max()) if len(a) else np.nan,
        "share_expected_at_quota": float((a >= 1.0).mean()) if len(a) else np.nan,
        "attainment_fence_low": a_lo, "attainment_fence_high": a_hi,
        "ratio_mean": float(np.nanmean(ratio)) if (~np.isnan(ratio)).any() else np.nan,
        "ratio_gini": gini(ratio),
        "ratio_fence_low": r_lo, "ratio_fence_high": r_hi,
        "without_attainment": float(np.isnan(attainment).sum()),
        "without_potential": float(np.isnan(ratio).sum()),
        "outliers": float(by_payee["outlier"].sum()),
    }
    return FairnessReport(by_payee.reset_index(drop=True), summary)
