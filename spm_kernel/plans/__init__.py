"""Plans as files: the plan file model, its loader, the restricted expression language, the
plan book (versions and assignments) and the functions that run plans for a period.

>>> book = PlanBook.load_folder(ws.plans_dir, ws.registry.plan_types)     # doctest: +SKIP
>>> lines = calculate_period(book, period, plan_year, credits=..., payees=...)  # doctest: +SKIP

Names are imported on first use, so that ``spm_kernel.plans.expressions`` (which the plan
types use) can be imported without pulling in the orchestrator (which uses the plan types).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ASSIGNMENT_COLUMNS": "book", "PlanBook": "book", "assignment_rows": "book", "resolve_assignments": "book",
    "RESULT_COLUMNS": "calculate", "calculate_period": "calculate", "calculate_plan": "calculate",
    "Expression": "expressions", "ExpressionError": "expressions", "compile_expression": "expressions",
    "PlanValidationError": "loader", "Problem": "loader", "load_plan_file": "loader", "load_plan_text": "loader",
    "AssignmentSpec": "model", "Plan": "model", "PlanComponent": "model", "PlanFile": "model",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from spm_kernel.plans.book import ASSIGNMENT_COLUMNS, PlanBook, assignment_rows, resolve_assignments
    from spm_kernel.plans.calculate import RESULT_COLUMNS, calculate_period, calculate_plan
    from spm_kernel.plans.expressions import Expression, ExpressionError, compile_expression
    from spm_kernel.plans.loader import PlanValidationError, Problem, load_plan_file, load_plan_text
    from spm_kernel.plans.model import AssignmentSpec, Plan, PlanComponent, PlanFile


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'spm_kernel.plans' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"spm_kernel.plans.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
