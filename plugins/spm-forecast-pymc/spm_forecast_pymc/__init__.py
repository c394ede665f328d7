"""spm-forecast-pymc: Bayesian forecasts for the SPM workbench (PyMC).

Model A, :class:`BookingsModel`: hierarchical monthly bookings per payee. Model B,
:class:`PipelineModel`: win probability and time to close of open deals.
:class:`WorkspaceForecast` fits both on a workspace (cached) and feeds P(quota), quota
planning and this quarter's commit / best case / expected. See docs/forecasting.md.
"""

__version__ = "0.1.0"

from spm_forecast_pymc.bookings import BookingsModel, HistoryError  # noqa: E402
from spm_forecast_pymc.builder import ModelMismatchError, NotFittedError  # noqa: E402
from spm_forecast_pymc.config import BookingsConfig, PipelineConfig, SamplerConfig  # noqa: E402
from spm_forecast_pymc.diagnostics import ConvergenceWarning, DiagnosticsReport  # noqa: E402
from spm_forecast_pymc.forecast import PlanningInputs, WorkspaceForecast  # noqa: E402
from spm_forecast_pymc.pipeline import PipelineModel  # noqa: E402

__all__ = [
    "BookingsConfig", "BookingsModel", "ConvergenceWarning", "DiagnosticsReport", "HistoryError",
    "ModelMismatchError", "NotFittedError", "PipelineConfig", "PipelineModel", "PlanningInputs",
    "SamplerConfig", "WorkspaceForecast", "__version__",
]
