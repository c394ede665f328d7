"""The restricted expression language of plan formulas and filters."""

from __future__ import annotations

from decimal import Decimal as D

import pandas as pd
import pytest

from spm_kernel.plans.expressions import MAX_LENGTH, ExpressionError, compile_expression

NAMES = ["amount", "deal_type", "product", "credit_date", "x"]


def frame() -> pd.DataFrame:
    return pd.DataFrame({"deal_type": ["new", "renewal", "expansion", None],
                         "product": ["Platform", "Platform", "Services", "Platform"],
                         "amount": pd.Series([D("10000"), D("20000"), D("9999.99"), D("-5")], dtype=object),
                         "credit_date": pd.to_datetime(["2026-01-01", "2026-03-01", "2026-04-01", "2026-05-01"])})


def test_filter_over_columns() -> None:
    expr = compile_expression("deal_type in ['new', 'expansion'] and amount >= 10000", NAMES)
    assert expr.mask(frame()).tolist() == [True, False, False, False]
    assert compile_expression("not (product == 'Platform') or amount < 0", NAMES).mask(frame()).tolist() == \
        [False, False, True, True]
    assert compile_expression("credit_date >= date('2026-03-01')", NAMES).mask(frame()).tolist() == \
        [False, True, True, True]
    assert compile_expression("deal_type not in ['renewal']", NAMES).mask(frame()).tolist() == [True, False, True, True]


def test_numbers_are_exact_decimals() -> None:
    assert compile_expression("0.1 + 0.2 == 0.3", NAMES).evaluate({}) is True
    assert compile_expression("min(amount * 0.1, 500)", NAMES).evaluate({"amount": D("1234.5")}) == D("123.45")
    values = compile_expression("min(amount * 0.1, 500)", NAMES).evaluate_frame(frame()).tolist()
    assert values == [500, 500, 500, D("-0.5")]
    assert compile_expression("100 if deal_type == 'new' else 0", NAMES).evaluate_frame(frame()).tolist() == [100, 0, 0, 0]
    assert compile_expression("round(x / 3, 2)", NAMES).evaluate({"x": D(1)}) == D("0.33")
    assert compile_expression("abs(x) ** 2", NAMES).evaluate({"x": D(-3)}) == 9


@pytest.mark.parametrize(("source", "message"), [
    ("__import__('os')", "function '__import__' is not allowed"),
    ("x.y", "attribute access"),
    ("amount.__class__", "attribute access"),
    ("x[0]", "subscripts"),
    ("lambda: 1", "lambda"),
    ("[v for v in x]", "comprehensions"),
    ("open('/etc/passwd')", "function 'open' is not allowed"),
    ("eval('1')", "function 'eval' is not allowed"),
    ("_secret", "may not start with _"),
    ("__builtins__", "may not start with _"),
    ("unknown + 1", "unknown name 'unknown'"),
    ("'a' * 1000", "arithmetic on text"),
    ("9 ** 9 ** 9", "constant whole exponent"),
    ("{'a': 1}", "dict literals"),
    ("(x := 1)", "assignment"),
    ("f'{x}'", "f-strings"),
    ("min(x=1)", "keyword arguments"),
    ("1 +", "does not parse"),
    ("", "non-empty"),
])
def test_refused(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        compile_expression(source, NAMES).evaluate({"x": 1, "amount": 1})


def test_work_is_bounded() -> None:
    with pytest.raises(ExpressionError, match="characters long"):
        compile_expression("1 + " * (MAX_LENGTH // 4 + 1) + "1", NAMES)
    with pytest.raises(ExpressionError, match="too complex"):
        compile_expression(" + ".join(["x"] * 150), NAMES)
    with pytest.raises(ExpressionError, match="bases up to"):
        compile_expression("((999 ** 8) ** 8) ** 8", NAMES).evaluate({})


def test_text_arithmetic_on_columns_is_refused() -> None:
    with pytest.raises(ExpressionError, match="arithmetic on text"):
        compile_expression("deal_type * 3", NAMES).evaluate_frame(frame())
