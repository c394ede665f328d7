"""Exact money helpers: conversions refuse floats and fractions of a cent; rounding modes."""

from __future__ import annotations

from decimal import Decimal as D
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from spm_kernel.money import (
    MoneyError,
    decimals_to_minor,
    minor_to_decimals,
    minor_units,
    round_div,
    round_money,
    to_decimal,
)


def test_minor_units_per_currency() -> None:
    assert minor_units("USD") == 2 and minor_units("eur") == 2
    assert minor_units("JPY") == 0 and minor_units("KWD") == 3


@pytest.mark.parametrize(("value", "mode", "expected"), [
    ("0.125", "ROUND_HALF_UP", "0.13"), ("-0.125", "ROUND_HALF_UP", "-0.13"),
    ("0.125", "ROUND_HALF_EVEN", "0.12"), ("0.135", "ROUND_HALF_EVEN", "0.14"),
    ("0.125", "ROUND_HALF_DOWN", "0.12"), ("0.121", "ROUND_UP", "0.13"),
    ("0.129", "ROUND_DOWN", "0.12"), ("-0.121", "ROUND_CEILING", "-0.12"), ("-0.121", "ROUND_FLOOR", "-0.13"),
])
def test_round_money_modes(value: str, mode: str, expected: str) -> None:
    assert round_money(D(value), 2, mode) == D(expected)


def test_round_money_of_fractions_is_exact() -> None:
    # 1/8 = 0.125 exactly: a tie; 1/3 is not
    assert round_money(Fraction(1, 8)) == D("0.13")
    assert round_money(Fraction(-1, 8), 2, "ROUND_HALF_EVEN") == D("-0.12")
    assert round_money(Fraction(1, 3)) == D("0.33")
    assert round_money(Fraction(2, 3), 0) == D("1")


def test_round_div_matches_quantize_for_int64_and_big_ints() -> None:
    nums = np.array([125, -125, 135, -135, 124, -126, 0], dtype=np.int64)
    assert round_div(nums, 10, "ROUND_HALF_UP").tolist() == [13, -13, 14, -14, 12, -13, 0]
    assert round_div(nums, 10, "ROUND_HALF_EVEN").tolist() == [12, -12, 14, -14, 12, -13, 0]
    big = np.array([10**30 + 5, -(10**30) - 5], dtype=object)
    assert round_div(big, 10).tolist() == [10**29 + 1, -(10**29) - 1]
    with pytest.raises(MoneyError):
        round_div(nums, 0)


def test_to_decimal_refuses_floats_and_nonsense() -> None:
    assert to_decimal("1,234.50") == D("1234.50")
    assert to_decimal(7) == D(7)
    assert to_decimal(Fraction(1, 8)) == D("0.125")
    for bad in (0.1, True, "abc", D("NaN"), Fraction(1, 3)):
        with pytest.raises(MoneyError):
            to_decimal(bad)


def test_decimals_to_minor_and_back() -> None:
    values = pd.Series([D("1.23"), D("-4.5"), D("7"), D("0.01")], dtype=object)
    minor = decimals_to_minor(values, 2)
    assert minor.tolist() == [123, -450, 700, 1]
    assert list(minor_to_decimals(minor, 2)) == [D("1.23"), D("-4.50"), D("7.00"), D("0.01")]
    assert decimals_to_minor(pd.Series([D("5")], dtype=object), 0).tolist() == [5]
    with pytest.raises(MoneyError, match="decimal places"):
        decimals_to_minor(pd.Series([D("1.234")], dtype=object), 2)
    with pytest.raises(MoneyError, match="missing"):
        decimals_to_minor(pd.Series([D("1"), None], dtype=object), 2)
    with pytest.raises(MoneyError, match="float"):
        decimals_to_minor(pd.Series([1.5, 2.0]), 2)
