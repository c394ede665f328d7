"""Training and development: the catalogue (modules, learning paths), assignments (by role,
for new hires, on KPI gaps against peers) with due dates and overdue tracking, completions
(recorded in the app or imported from an LMS export) and the measured effect of a module on
a KPI (difference in differences, PyMC). ``ws.training`` is the entry point."""

from spm_kernel.training.api import Training
from spm_kernel.training.assignments import (
    assign_by_rules,
    assign_path,
    assignment_status,
    completion_counts,
    kpi_gaps,
    overdue,
    subtree,
)
from spm_kernel.training.catalogue import TrainingError, module, modules, path_modules, paths
from spm_kernel.training.completions import CompletionImport, import_completions, record_completion
from spm_kernel.training.effect import (
    EffectEstimate,
    EffectSettings,
    TrainingEffectError,
    estimate_effect,
    latest_estimates,
    store_estimate,
)

__all__ = [
    "CompletionImport", "EffectEstimate", "EffectSettings", "Training", "TrainingEffectError", "TrainingError",
    "assign_by_rules", "assign_path", "assignment_status", "completion_counts", "estimate_effect",
    "import_completions", "kpi_gaps", "latest_estimates", "module", "modules", "overdue", "path_modules",
    "paths", "record_completion", "store_estimate", "subtree",
]
