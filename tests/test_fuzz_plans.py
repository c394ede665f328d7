"""Adversarial plan files and formulas: the plan parser (``spm_kernel.plans.loader``) and the
formula evaluator (``spm_kernel.plans.expressions``).

Every input must give a valid plan or a :class:`PlanValidationError` / :class:`ExpressionError`
(both :class:`SPMError`) that names the file, line or character: never a raw Python exception,
and always within a time bound. The evaluator must refuse imports, attribute access, dunder
names and runaway expressions (``9**9**9``, ``[0] * 999999**2``, deep nesting) before they
cost time or memory.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from spm_kernel.errors import SPMError
from spm_kernel.plans.expressions import ExpressionError, compile_expression
from spm_kernel.plans.loader import PlanValidationError, load_plan_text
from spm_kernel.registry import Registry
from spm_kernel.plugins import make_plugin_manager

EXAMPLES = int(os.environ.get("SPM_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES * 2, deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DEMO_PLAN = (Path(__file__).resolve().parents[1] / "spm_kernel" / "demo" / "plans" / "fy2026-ae-plan.yaml").read_text()
NAMES = ["amount", "attainment", "deal_type", "target_incentive"]
SECONDS = 2.0  # each parse or evaluation must finish well within this on a loaded machine


@pytest.fixture(scope="module")
def plan_types() -> Any:
    return Registry(make_plugin_manager()).plan_types


def parse(text: str, plan_types: Any, file: str = "fuzz.yaml") -> Any:
    """Load a plan; the only acceptable failure is a PlanValidationError naming the file."""
    started = time.perf_counter()
    try:
        return load_plan_text(text, plan_types, file)
    except PlanValidationError as exc:
        assert file in str(exc) and exc.problems, str(exc)
        return exc
    finally:
        assert time.perf_counter() - started < SECONDS * 5, f"parsing took {time.perf_counter() - started:.1f} s"


# ---------------------------------------------------------------- plan files
@FUZZ
@given(text=st.text(max_size=400))
def test_any_text_is_a_plan_or_a_clear_plan_error(plan_types: Any, text: str) -> None:
    parse(text, plan_types)


VALUES = st.one_of(
    st.sampled_from([".nan", ".inf", "-.inf", "1e999999999", "1e-999999999", "9" * 5000, "-60000", "0", "2026-02-30",
                     "9999-12-31", "0001-01-01", "\"\\ud800\"", "\u202e\u05e9\u05dc\u05d5\u05dd", "~", "[]", "{}",
                     "!!python/object/apply:os.system ['true']", "&a [*a]", "*undefined", "!!binary aGk=", "\"=1+1\"",
                     "\"__import__('os')\"", "\"[0] * 999999**2\"", "\"9**9**9\"", "[" * 200 + "]" * 200, "'x' * 10",
                     "!!set {a}", "0x7fffffffffffffffffff", "1_000", "12:30:00", "yes", "null", "\"\"", "\t"]),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.integers().map(str),
    st.text(max_size=20).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
)


@FUZZ
@given(data=st.data())
def test_the_demo_plan_with_any_value_replaced_is_valid_or_clearly_refused(plan_types: Any, data: st.DataObject) -> None:
    """Replace one scalar of a real plan (a rate, a date, a filter, an id) by an adversarial
    value: the plan loads, or the error names this file and a line."""
    lines = DEMO_PLAN.splitlines()
    candidates = [i for i, line in enumerate(lines) if ": " in line and not line.rstrip().endswith(":")
                  and not line.lstrip().startswith("#")]
    index = data.draw(st.sampled_from(candidates))
    value = data.draw(VALUES)
    key, _, _ = lines[index].partition(": ")
    lines[index] = f"{key}: {value}"
    outcome = parse("\n".join(lines), plan_types, "mutated.yaml")
    if isinstance(outcome, PlanValidationError):
        assert all(p.file == "mutated.yaml" for p in outcome.problems)


@pytest.mark.parametrize(("text", "reason"), [
    ("a: &a ['x','x','x','x','x','x','x','x','x']\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)),
     "expands to more than"),
    ("a: " + "[" * 5000 + "]" * 5000, "nested more than"),
    ("a: " + "{b: " * 300 + "1" + "}" * 300, "nested more than"),
    (DEMO_PLAN + "\nplan_id: other-plan\n", "'plan_id' is given twice"),
    (DEMO_PLAN.replace("effective_from: 2026-01-01", "effective_from: 2026-02-30"), "day is out of range"),
    (DEMO_PLAN.replace("target_incentive: 60000", "target_incentive: " + "9" * 5000), "cannot be read"),
    (DEMO_PLAN.replace("name: FY2026", "na\x00me: FY2026"), "not valid YAML"),
    (DEMO_PLAN.replace("target_incentive: 60000", "target_incentive: .nan"), "not a finite number"),
    (DEMO_PLAN.replace("deal_type in ['new', 'expansion']", "__import__('os').system('true')"), "not allowed"),
    (DEMO_PLAN.replace("deal_type in ['new', 'expansion']", "[0] * 999999**2"), "arithmetic on lists"),
    ("!!python/object/apply:os.system ['true']", "not valid YAML"),
])
def test_known_attacks_on_the_plan_parser_are_refused_quickly(plan_types: Any, text: str, reason: str) -> None:
    """Each was found by the fuzzing or is a classic: alias bombs ("billion laughs") took
    gigabytes, deep nesting and duplicate keys, bad dates and huge integers crashed or were
    silently accepted before."""
    outcome = parse(text, plan_types)
    assert isinstance(outcome, PlanValidationError), "accepted"
    assert reason in str(outcome), str(outcome)


def test_the_demo_plans_still_load(plan_types: Any) -> None:
    folder = Path(__file__).resolve().parents[1] / "spm_kernel" / "demo" / "plans"
    for path in sorted(folder.glob("*.yaml")):
        plan = load_plan_text(path.read_text(), plan_types, path.name)
        assert plan.components


# ---------------------------------------------------------------- formulas
ATOMS = st.sampled_from(["amount", "attainment", "deal_type", "target_incentive", "1", "0", "-1", "0.1", "999999",
                         "1e308", "'new'", "['new', 'renewal']", "[0]", "True", "None", "date('2026-01-01')",
                         "__class__", "amount.__class__", "x", "__import__('os')", "'a' * 10"])
OPS = st.sampled_from([" + ", " - ", " * ", " / ", " // ", " % ", " ** ", " ** 8 ** ", " == ", " < ", " in ",
                       " not in ", " and ", " or ", " if amount else "])
FUNCS = st.sampled_from(["min({}, {})", "max({}, {})", "abs({})", "round({}, 2)", "round({}, 999999)", "({})",
                         "-{}", "not {}", "{}[0]", "{}.real", "open({})", "({} for x in [1])", "lambda: {}"])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 4 or draw(st.booleans()):
        return draw(ATOMS)
    if draw(st.booleans()):
        return draw(FUNCS).format(draw(expressions(depth + 1)), draw(expressions(depth + 1)))
    return draw(expressions(depth + 1)) + draw(OPS) + draw(expressions(depth + 1))


CONTEXT = {"amount": 12500, "attainment": 1.25, "deal_type": "new", "target_incentive": 60000}


@FUZZ
@example(source="deal_type in deal_type")  # column in column reached pyarrow as a raw ArrowInvalid
@given(source=expressions() | st.text(max_size=60))
def test_any_formula_evaluates_or_is_refused_within_bounds(source: str) -> None:
    """Scalar and column-wise evaluation: a value or an ExpressionError, quickly."""
    started = time.perf_counter()
    try:
        expression = compile_expression(source, NAMES)
    except ExpressionError as exc:
        assert str(exc)
        return
    frame = pd.DataFrame({k: [v, v] for k, v in CONTEXT.items()})
    for evaluate in (lambda: expression.evaluate(CONTEXT), lambda: expression.evaluate_frame(frame)):
        try:
            value = evaluate()
        except ExpressionError:
            continue
        assert not isinstance(value, (list, tuple)) or len(value) <= 50, "a formula built a large list"
    assert time.perf_counter() - started < SECONDS, f"{source!r} took {time.perf_counter() - started:.2f} s"


@pytest.mark.parametrize("source", [
    "9**9**9", "(9**8)**8", "[0] * 999999**2", "max([1], [2]) * 1000000", "'a' * 10**8",
    "('a' if amount else 'b') * 999999", "__import__('os').system('true')", "amount.__class__.__mro__",
    "__builtins__", "_private", "open('/etc/passwd')", "eval('1')", "exec('1')", "getattr(amount, 'real')",
    "[x for x in [1]]", "lambda: 1", "(x := 1)", "f'{amount}'", "amount[0]", "{1: 2}", "{1}", "import os",
    "1e999", "round(amount, 999999)", "round(amount, 10**9)", "abs('x')", "min(1, 'a')", "-'abc'",
    "amount in 'abc'", "-" * 900 + "amount", "(" * 300 + "amount" + ")" * 300, "not " * 240 + "amount",
    "amount\x00", "a" * 1001, "1 + " * 199 + "1",
])
def test_runaway_and_forbidden_formulas_are_expression_errors(source: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError):
        expression = compile_expression(source, NAMES)
        expression.evaluate(CONTEXT)
    assert time.perf_counter() - started < SECONDS


def test_evaluation_failures_name_the_expression() -> None:
    with pytest.raises(ExpressionError, match=r"cannot compute.*abs\(deal_type\)"):
        compile_expression("abs(deal_type)", NAMES).evaluate(CONTEXT)
    assert isinstance(ExpressionError("x"), SPMError)

