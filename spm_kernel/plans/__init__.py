"""Plans as files: the plan file model, its loader, the restricted expression language, the
plan book (versions and assignments) and the functions that run plans for a period.

>>> book = PlanBook.load_folder(ws.plans_dir, ws.registry.plan_types)     # doctest: +SKIP
>>> lines = calculate_period(book, period, plan_year, credits=..., payees=...)  # doctest: +SKIP
"""

from spm_kernel.plans.book import ASSIGNMENT_COLUMNS, PlanBook, assignment_rows, resolve_assignments
from spm_kernel.plans.calculate import RESULT_COLUMNS, calculate_period, calculate_plan
from spm_kernel.plans.expressions import Expression, ExpressionError, compile_expression
from spm_kernel.plans.loader import PlanValidationError, Problem, load_plan_file, load_plan_text
from spm_kernel.plans.model import AssignmentSpec, Plan, PlanComponent, PlanFile

__all__ = [
    "ASSIGNMENT_COLUMNS", "AssignmentSpec", "Expression", "ExpressionError", "Plan", "PlanBook", "PlanComponent",
    "PlanFile", "PlanValidationError", "Problem", "RESULT_COLUMNS", "assignment_rows", "calculate_period",
    "calculate_plan", "compile_expression", "load_plan_file", "load_plan_text", "resolve_assignments",
]
