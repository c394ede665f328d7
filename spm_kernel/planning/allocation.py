"""Exact top-down allocation: split an amount of money in proportion to weights, to the cent.

The largest-remainder method (Hamilton's method) on integer minor units:

1. each share's exact value is ``total * w_i / W`` (``W`` = sum of the weights);
2. every share gets the floor of its exact value;
3. the cents left over (fewer than the number of shares) go one each to the shares with the
   largest fractional remainders; equal remainders go to the earlier share (input order).

So the shares always sum **exactly** to the total, each share is within one cent of its exact
proportional value, and the result does not depend on floating point: weights are turned into
integers first (integers and Decimals exactly; floats via 12 significant digits relative to the
largest weight), and the products are Python integers, which cannot overflow.

Worked example: 100.00 split 1:1:1 is 10,000 cents; exact shares 3,333.33... each; floors
3,333 x 3 = 9,999; one cent left goes to the first share: 33.34, 33.33, 33.33.

Weights must be >= 0. A group whose weights are all 0 is split evenly (as if every weight
were 1), so money is never lost.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from spm_kernel.money import EXACT
from spm_kernel.planning.errors import PlanningError

FLOAT_DIGITS = 12
SAFE = 2**62


def integer_weights(weights: Any) -> np.ndarray:
    """Non-negative weights as integers with the same proportions: an int64 array, or an
    object array of Python ints when they do not fit 64 bits.

    Integers are kept; Decimals are scaled by the power of ten that makes them whole (exact);
    floats are scaled to ``10**12`` for the largest weight and rounded (12 significant
    digits). NaN, negative or infinite weights are refused.
    """
    arr = weights if isinstance(weights, np.ndarray) else np.asarray(weights, dtype=object)
    if arr.dtype.kind in "iu":
        if len(arr) and arr.min() < 0:
            raise PlanningError("allocation weights must not be negative")
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        return _float_weights(arr)
    values = list(arr.tolist())
    if any(isinstance(v, bool) for v in values):
        raise PlanningError("allocation weights must be numbers")
    if all(isinstance(v, (int, np.integer)) for v in values):
        ints = np.array([int(v) for v in values] or [], dtype=object)
        if any(v < 0 for v in ints):
            raise PlanningError("allocation weights must not be negative")
        return _narrow(ints)
    if all(isinstance(v, (Decimal, int, np.integer)) for v in values):
        decs = [Decimal(int(v)) if not isinstance(v, Decimal) else v for v in values]
        for d in decs:
            if not d.is_finite() or d < 0:
                raise PlanningError(f"allocation weight {d} is not a finite non-negative number")
        places = 0
        for d in decs:
            exponent = d.normalize(EXACT).as_tuple().exponent
            if isinstance(exponent, int) and exponent < 0:
                places = max(places, -exponent)
        return _narrow(np.array([int(d.scaleb(places, EXACT)) for d in decs], dtype=object))
    return _float_weights(np.asarray([float(v) for v in values], dtype=np.float64))


def _narrow(ints: np.ndarray) -> np.ndarray:
    """int64 when every value fits comfortably, else the object array as it is."""
    if len(ints) == 0 or int(np.max(np.abs(ints))) < SAFE:
        return ints.astype(np.int64)
    return ints


def _float_weights(arr: np.ndarray) -> np.ndarray:
    arr = arr.astype(np.float64)
    if len(arr) == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.all(np.isfinite(arr)) or arr.min() < 0:
        raise PlanningError("allocation weights must be finite and not negative")
    top = arr.max()
    if top == 0:
        return np.zeros(len(arr), dtype=np.int64)
    return np.rint(arr / top * 10.0**FLOAT_DIGITS).astype(np.int64)


def largest_remainder(total_minor: int, weights: Any) -> np.ndarray:
    """Split ``total_minor`` (an integer number of minor units, >= 0) in proportion to
    ``weights``; returns int64 shares summing exactly to ``total_minor``."""
    groups = np.zeros(len(weights), dtype=np.int64)
    return allocate_by_group(np.array([int(total_minor)], dtype=object), groups, weights)


def allocate_by_group(totals_minor: Any, groups: Any, weights: Any) -> np.ndarray:
    """Largest-remainder allocation inside every group at once (vectorised).

    ``totals_minor[g]`` (integers >= 0) is split among the rows whose ``groups`` code is
    ``g`` (codes ``0..len(totals_minor)-1``) in proportion to their ``weights``. Returns the
    int64 shares, in row order; the shares of group ``g`` sum exactly to ``totals_minor[g]``.
    A group with rows whose weights are all 0 is split evenly; a group with a non-zero total
    and no rows is an error (the money would be lost).

    Arithmetic is in int64 when every product ``total x weight`` stays below 2**62, else in
    Python integers; both are exact.
    """
    raw = np.asarray(totals_minor)
    totals = raw.astype(np.int64) if raw.dtype.kind in "iu" else \
        _narrow(np.asarray([int(t) for t in raw.astype(object)], dtype=object))
    codes = np.asarray(groups, dtype=np.int64)
    w = integer_weights(weights)
    n, k = len(codes), len(totals)
    if len(w) != n:
        raise PlanningError(f"{len(w)} weights for {n} rows")
    if k and (totals < 0).any():
        raise PlanningError("an amount to allocate is negative")
    if n and (codes.min() < 0 or codes.max() >= k):
        raise PlanningError("a group code has no total")
    rows_per_group = np.bincount(codes, minlength=k) if n else np.zeros(k, dtype=np.int64)
    empty = np.flatnonzero((rows_per_group == 0) & (totals != 0))
    if len(empty):
        raise PlanningError(f"{len(empty)} amount(s) to allocate have no one to allocate to")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    top_w = int(w.max()) if n else 0
    fast = totals.dtype == np.int64 and w.dtype == np.int64 and \
        int(totals.max()) * max(top_w, 1) < SAFE and max(top_w, 1) * n < SAFE
    if not fast:
        totals, w = totals.astype(object), w.astype(object)
    group_sum = _group_sums(w, codes, k)
    zero_groups = group_sum == 0
    if zero_groups.any():  # split evenly where every weight is 0
        w = np.where(zero_groups[codes], 1, w).astype(w.dtype)
        group_sum = np.where(zero_groups, rows_per_group, group_sum).astype(group_sum.dtype)
    den = group_sum[codes]
    num = totals[codes] * w
    floor = num // den
    rem = num - floor * den
    left = (totals - _group_sums(floor, codes, k)).astype(np.int64)  # fewer than the group's rows
    # rank the remainders inside each group: largest first, ties by row order (stable sorts)
    span = int(rem.max()) + 1
    if fast and k * span < SAFE:  # one sort on a packed key: group, then remainder descending
        order = np.argsort(codes * span + (span - 1 - rem), kind="stable")
    else:
        by_rem = np.argsort(-rem, kind="stable")
        order = by_rem[np.argsort(codes[by_rem], kind="stable")]
    sorted_codes = codes[order]
    starts = np.searchsorted(sorted_codes, np.arange(k))
    rank = np.arange(n) - starts[sorted_codes]
    bump = np.zeros(n, dtype=np.int64)
    bump[order] = (rank < left[sorted_codes]).astype(np.int64)
    return floor.astype(np.int64) + bump


def _group_sums(values: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    if values.dtype == np.int64:
        return _int_bincount(codes, values, k)
    sums = pd.Series(values, dtype=object).groupby(codes).sum()
    out = np.zeros(k, dtype=object)
    out[sums.index.to_numpy()] = sums.to_numpy(dtype=object)
    return out


def _int_bincount(codes: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Exact int64 sums per code. np.bincount sums in float64, exact below 2**53: values
    (< 2**62) are split into 31-bit halves whose sums stay exact for fewer than 2**22 rows."""
    if len(values) < 2**22 and (len(values) == 0 or values.min() >= 0):
        low = np.bincount(codes, weights=(values & (2**31 - 1)).astype(np.float64), minlength=k)
        high = np.bincount(codes, weights=(values >> 31).astype(np.float64), minlength=k)
        return (high.astype(np.int64) << 31) + low.astype(np.int64)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    csum = np.concatenate([[0], np.cumsum(values[order])])
    ends = np.searchsorted(sorted_codes, np.arange(k), side="right")
    starts = np.searchsorted(sorted_codes, np.arange(k), side="left")
    return (csum[ends] - csum[starts]).astype(np.int64)


def to_minor(amount: Decimal, places: int = 2) -> int:
    """A Decimal amount as an integer number of minor units (it must be whole in them)."""
    scaled = Decimal(amount).scaleb(places, EXACT)
    if scaled != scaled.to_integral_value():
        raise PlanningError(f"{amount} has more than {places} decimal places")
    return int(scaled)
