"""Exact money: rounding modes, currency minor units, exact conversions.

Money is never a binary float here. Amounts are ``decimal.Decimal`` (object columns) or
integers in a currency's minor unit (cents). Plan types compute with integers scaled by a
power of ten (exact) and round once per payout line with :func:`round_div`, which gives the
same result as ``Decimal.quantize`` with the same mode (a property test checks it).

Rounding modes are the ``decimal`` module's names; the default is ``ROUND_HALF_UP`` (ties
away from zero: 0.125 -> 0.13, -0.125 -> -0.13).
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from spm_kernel.errors import SPMError

DEFAULT_ROUNDING = "ROUND_HALF_UP"
ROUNDING_MODES: dict[str, str] = {
    "ROUND_HALF_UP": decimal.ROUND_HALF_UP,
    "ROUND_HALF_EVEN": decimal.ROUND_HALF_EVEN,
    "ROUND_HALF_DOWN": decimal.ROUND_HALF_DOWN,
    "ROUND_UP": decimal.ROUND_UP,
    "ROUND_DOWN": decimal.ROUND_DOWN,
    "ROUND_CEILING": decimal.ROUND_CEILING,
    "ROUND_FLOOR": decimal.ROUND_FLOOR,
}
# ISO 4217 minor units of the currencies the workbench knows; anything else has 2.
MINOR_UNITS: dict[str, int] = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "BHD": 3, "KWD": 3, "OMR": 3}
# A context wide enough that products and quotients of money never lose a digit that matters.
EXACT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, Emin=-999999, Emax=999999,
                        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])


class MoneyError(SPMError):
    """A value that cannot be money exactly (a float, a fraction of a minor unit, NaN)."""


def minor_units(currency: str) -> int:
    """Digits after the decimal point of ``currency`` (2 for USD, 0 for JPY)."""
    return MINOR_UNITS.get(currency.upper(), 2)


def quantum(places: int) -> Decimal:
    """``Decimal('0.01')`` for 2 places, ``Decimal('1')`` for 0."""
    return Decimal(1).scaleb(-places)


def check_mode(mode: str) -> str:
    if mode not in ROUNDING_MODES:
        raise MoneyError(f"unknown rounding mode {mode!r}; expected one of {', '.join(ROUNDING_MODES)}")
    return mode


def to_decimal(value: Any) -> Decimal:
    """An exact ``Decimal`` from a Decimal, int, str or Fraction with a finite decimal expansion.

    A float is refused (``0.1`` is not one tenth in binary): pass a string instead.
    """
    if isinstance(value, bool):
        raise MoneyError(f"{value!r} is not an amount")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise MoneyError(f"{value!r} is not a finite amount")
        return value
    if isinstance(value, (int, np.integer)):
        return Decimal(int(value))
    if isinstance(value, str):
        try:
            out = Decimal(value.strip().replace(",", "").replace("_", ""))
        except decimal.InvalidOperation:
            raise MoneyError(f"{value!r} is not a number") from None
        if not out.is_finite():
            raise MoneyError(f"{value!r} is not a finite amount")
        return out
    if isinstance(value, Fraction):
        den = value.denominator
        twos = fives = 0
        while den % 2 == 0:
            den //= 2
            twos += 1
        while den % 5 == 0:
            den //= 5
            fives += 1
        if den != 1:
            raise MoneyError(f"{value} has no finite decimal expansion")
        places = max(twos, fives)
        return Decimal(value.numerator * 10**places // value.denominator).scaleb(-places)
    if isinstance(value, (float, np.floating)):
        raise MoneyError(f"{value!r} is a binary float; money must be given as a string, int or Decimal")
    raise MoneyError(f"{value!r} ({type(value).__name__}) is not an amount")


def round_money(value: Decimal | int | str | Fraction, places: int = 2, mode: str = DEFAULT_ROUNDING) -> Decimal:
    """``value`` rounded to ``places`` decimals with ``mode`` (exact, no float anywhere)."""
    check_mode(mode)
    if isinstance(value, Fraction):
        n = round_div(np.array([value.numerator * 10**places], dtype=object),
                      np.array([value.denominator], dtype=object), mode)[0]
        return Decimal(int(n)).scaleb(-places)
    return to_decimal(value).quantize(quantum(places), rounding=ROUNDING_MODES[mode], context=EXACT)


def round_div(num: np.ndarray, den: np.ndarray | int, mode: str = DEFAULT_ROUNDING) -> np.ndarray:
    """``num / den`` rounded to an integer with ``mode``, element by element, exactly.

    ``num`` and ``den`` are integer arrays (int64, or object arrays of Python ints when the
    values may not fit 64 bits); ``den`` must be positive. The result has ``num``'s dtype.
    """
    check_mode(mode)
    num = np.asarray(num)
    den_arr = np.asarray(den)
    if np.any(den_arr <= 0):
        raise MoneyError("round_div needs a positive denominator")
    q = num // den_arr  # floor division, so 0 <= r < den
    r = num - q * den_arr
    has_rest = r != 0
    twice = r * 2
    above = twice > den_arr
    tie = twice == den_arr
    positive = num > 0
    negative = num < 0
    if mode == "ROUND_FLOOR":
        bump = np.zeros(num.shape, dtype=bool)
    elif mode == "ROUND_CEILING":
        bump = has_rest
    elif mode == "ROUND_DOWN":
        bump = has_rest & negative
    elif mode == "ROUND_UP":
        bump = has_rest & positive
    elif mode == "ROUND_HALF_UP":
        bump = above | (tie & positive)
    elif mode == "ROUND_HALF_DOWN":
        bump = above | (tie & negative)
    else:  # ROUND_HALF_EVEN
        bump = above | (tie & ((q % 2) == 1))
    bump = np.asarray(bump, dtype=bool)
    if q.dtype == object:
        return q + np.where(bump, 1, 0).astype(object)
    return q + bump.astype(q.dtype)


def decimals_to_minor(values: pd.Series | list[Any], places: int = 2, what: str = "amount") -> np.ndarray:
    """Decimal amounts as integer minor units (int64), converted in C through Arrow.

    A value with more decimals than ``places`` (a fraction of a cent), a missing value, a
    float or a value beyond 64-bit minor units is a :class:`MoneyError`.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if len(series) == 0:
        return np.zeros(0, dtype=np.int64)
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.to_numpy(dtype=np.int64) * (10**places)
    if pd.api.types.is_float_dtype(series.dtype):
        raise MoneyError(f"{what} is a float column; money must be Decimal or integer minor units")
    try:
        arr = pa.array(series.array, type=pa.decimal128(38, places), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise MoneyError(f"{what}: {exc} (more than {places} decimal places, or not a Decimal)") from None
    if arr.null_count:
        raise MoneyError(f"{what} has {arr.null_count} missing value(s)")
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset * 2:(arr.offset + len(arr)) * 2]
    low, high = words[0::2], words[1::2]
    if not np.array_equal(high, low >> 63):
        raise MoneyError(f"{what} has a value too large for 64-bit minor units")
    return low.copy()


def minor_to_decimals(values: np.ndarray | pd.Series, places: int = 2) -> np.ndarray:
    """Integer minor units (int64) back to exact ``Decimal`` values (an object array)."""
    low = np.ascontiguousarray(np.asarray(values, dtype=np.int64))
    if len(low) == 0:
        return np.empty(0, dtype=object)
    words = np.empty(len(low) * 2, dtype=np.int64)
    words[0::2] = low
    words[1::2] = low >> 63
    arr = pa.Array.from_buffers(pa.decimal128(38, places), len(low), [None, pa.py_buffer(words)])
    return arr.to_numpy(zero_copy_only=False)


def decimal_scale(values: list[Decimal] | tuple[Decimal, ...]) -> int:
    """The number of decimal places needed to write every value in ``values`` exactly."""
    places = 0
    for value in values:
        exponent = value.normalize(EXACT).as_tuple().exponent
        if isinstance(exponent, int) and exponent < 0:
            places = max(places, -exponent)
    return places


def scaled_int(value: Decimal, places: int) -> int:
    """``value * 10**places`` as an int; a :class:`MoneyError` if that is not a whole number."""
    scaled = value.scaleb(places, EXACT)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{value} has more than {places} decimal places")
    return int(scaled)


def fits_int64(*bounds: int) -> bool:
    """Whether products and sums bounded by ``bounds`` stay far from int64 overflow."""
    limit = 2**62
    return all(abs(int(b)) < limit for b in bounds)
