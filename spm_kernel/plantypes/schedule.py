"""Rate tables as exact piecewise functions, evaluated for many credits at once.

A table is compiled for a set of *groups* (one per payee and window instance) because on an
``attainment`` basis its boundaries depend on each payee's quota: the boundary ``b`` becomes
the amount ``ceil(b x quota)`` in minor units, the first whole amount whose attainment reaches
``b`` (so a value equal to a boundary belongs to the higher tier, exactly as on the amount
basis).

Earnings functions ``E(x)`` of the cumulative measure ``x`` (minor units):

* ``step``: ``E(x) = sum_k rate_k * (portion of x inside tier k)``; below 0 the first rate
  applies (a net negative measure earns negatively at the first rate).
* ``flat``: ``E(x) = rate(tier containing x) * x``.
* ``interpolated``: ``E(x) = payout_k + (x - from_k) * (payout_{k+1} - payout_k) / (to_k -
  from_k)`` inside tier k; beyond the last boundary ``payout_last + (x - from_last) * rate``.

Values are exact: integers in units of ``10**-scale`` minor units (int64 when they surely fit,
Python ints otherwise) or ``Fraction`` objects (interpolation).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from spm_kernel.plantypes.common import ceil_mul, scale_of, to_scaled

Values = tuple[np.ndarray, int]  # (exact values, scale)


def rescale(values: Values, scale: int) -> np.ndarray:
    arr, s = values
    if s == scale:
        return arr
    if s > scale:
        raise ValueError("cannot lower the scale of exact values")
    return arr * (10 ** (scale - s))


def boundaries(froms: list[Decimal], basis: str, quotas: np.ndarray | None, minor_units: int) -> np.ndarray:
    """(G, K) int64 lower bounds in minor units for ``G`` groups (``quotas`` in minor units,
    one per group, for the attainment basis; amounts in currency for the amount basis)."""
    k = len(froms)
    if basis == "amount":
        row = np.array([to_scaled(f, minor_units) if scale_of(f) <= minor_units
                        else int(ceil_mul(np.array([1]), f * Decimal(10) ** minor_units)[0]) for f in froms],
                       dtype=np.int64)
        groups = 1 if quotas is None else len(quotas)
        return np.tile(row, (groups, 1))
    assert quotas is not None
    out = np.empty((len(quotas), k), dtype=np.int64)
    for j, f in enumerate(froms):
        out[:, j] = ceil_mul(quotas, f)
    return out


@dataclass
class Table:
    """One tier table compiled for ``G`` groups."""

    application: str
    bounds: np.ndarray  # (G, K) int64
    rates: list[int]  # scaled by 10**rate_scale (flat/step; last-tier slope for interpolated)
    rate_scale: int
    payouts: np.ndarray | None = None  # (G, K) object ints scaled by 10**payout_scale (interpolated)
    payout_scale: int = 0

    @property
    def k(self) -> int:
        return self.bounds.shape[1]

    def tier_index(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        idx = np.zeros(len(x), dtype=np.int64)
        for j in range(1, self.k):
            idx += (x >= self.bounds[g, j]).astype(np.int64)
        return idx

    def with_max_rate(self, max_rate: int) -> Table:
        return Table(self.application, self.bounds, [min(r, max_rate) for r in self.rates], self.rate_scale,
                     self.payouts, self.payout_scale)

    def value(self, x: np.ndarray, g: np.ndarray) -> Values:
        """E(x) for each element (x in minor units, g the group of each element)."""
        if self.application == "step":
            return self._step(x, g), self.rate_scale
        if self.application == "flat":
            rates = np.array(self.rates, dtype=object if x.dtype == object else np.int64)
            return rates[self.tier_index(x, g)] * x, self.rate_scale
        return self._interpolated(x, g)

    def _step(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        k = self.k
        if k == 1:
            return x * self.rates[0]
        total = np.minimum(x, self.bounds[g, 1]) * self.rates[0]
        for j in range(1, k):
            lo = self.bounds[g, j]
            part = np.maximum(x - lo, 0)
            if j + 1 < k:
                part = np.minimum(part, self.bounds[g, j + 1] - lo)
            total = total + part * self.rates[j]
        return total

    def _interpolated(self, x: np.ndarray, g: np.ndarray) -> Values:
        assert self.payouts is not None
        scale = max(self.payout_scale, self.rate_scale)
        idx = self.tier_index(x, g)
        lo = self.bounds[g, idx].astype(object)
        p_lo = self.payouts[g, idx] * 10 ** (scale - self.payout_scale)
        last = idx == self.k - 1
        nxt = np.minimum(idx + 1, self.k - 1)
        width = (self.bounds[g, nxt] - self.bounds[g, idx]).astype(object)
        p_hi = self.payouts[g, nxt] * 10 ** (scale - self.payout_scale)
        width = np.where(width == 0, 1, width)
        offset = x.astype(object) - lo
        inside = np.array([Fraction(int(n), int(d)) for n, d in zip(offset * (p_hi - p_lo), width)], dtype=object)
        beyond = offset * (self.rates[-1] * 10 ** (scale - self.rate_scale))
        out = p_lo + np.where(last, beyond, inside)
        return out.astype(object), scale


def compile_table(application: str, froms: list[Decimal], rates: list[Decimal | None],
                  payouts: list[Decimal | None], basis: str, quotas: np.ndarray | None, minor_units: int,
                  payout_factor: np.ndarray | None = None, extra_rates: list[Decimal] = (),
                  n_groups: int | None = None) -> Table:
    """Compile a table. ``payout_factor`` (per group, minor units) turns interpolated payouts
    expressed as multiples of the target incentive into money."""
    bounds = boundaries(froms, basis, quotas, minor_units)
    if n_groups is not None and bounds.shape[0] != n_groups:
        bounds = np.tile(bounds[:1], (n_groups, 1))
    rate_values = [r if r is not None else Decimal(0) for r in rates]
    rate_scale = max([scale_of(r) for r in [*rate_values, *extra_rates]] or [0])
    scaled = [to_scaled(r, rate_scale) for r in rate_values]
    table = Table(application, bounds, scaled, rate_scale)
    if application == "interpolated":
        pays = [p if p is not None else Decimal(0) for p in payouts]
        if payout_factor is None:  # payouts in currency: minor units * 10**ps
            ps = max(scale_of(p) for p in pays)
            ps = max(ps - minor_units, 0)
            row = [int(p.scaleb(minor_units + ps)) for p in pays]
            grid = np.empty((bounds.shape[0], len(pays)), dtype=object)
            for j, v in enumerate(row):
                grid[:, j] = v
        else:  # multiples of a per-group amount in minor units
            ps = max(scale_of(p) for p in pays)
            grid = np.empty((bounds.shape[0], len(pays)), dtype=object)
            factor = payout_factor.astype(object)
            for j, p in enumerate(pays):
                grid[:, j] = factor * int(p.scaleb(ps))
        table.payouts = grid
        table.payout_scale = ps
    return table


def band_multiplier(bands: np.ndarray, mults: list[int], x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The multiplier of the band containing each x (bands (G, J) lower bounds)."""
    idx = np.zeros(len(x), dtype=np.int64)
    for j in range(1, bands.shape[1]):
        idx += (x >= bands[g, j]).astype(np.int64)
    arr = np.array(mults, dtype=object if x.dtype == object else np.int64)
    return arr[idx]


def marginal_bands(inner: Any, bands: np.ndarray, mults: list[int], mscale: int, x: np.ndarray,
                   g: np.ndarray) -> Values:
    """sum_j m_j * (inner(clamp_j(x)) - inner(b_j)): each band's increment of ``inner`` at its
    own multiplier (band 0 open below)."""
    j_count = bands.shape[1]
    total: np.ndarray | None = None
    scale = 0
    for j in range(j_count):
        lo = bands[g, j]
        clamped = x if j == 0 else np.maximum(x, lo)
        if j + 1 < j_count:
            clamped = np.minimum(clamped, bands[g, j + 1])
        hi_v = inner(clamped, g)
        lo_v = inner(lo.astype(x.dtype) if x.dtype != object else lo.astype(object), g) if j > 0 else (np.zeros(len(x), dtype=x.dtype), hi_v[1])
        scale = max(hi_v[1], lo_v[1])
        part = (rescale(hi_v, scale) - rescale(lo_v, scale)) * mults[j]
        total = part if total is None else total + part
    assert total is not None
    return total, scale + mscale
