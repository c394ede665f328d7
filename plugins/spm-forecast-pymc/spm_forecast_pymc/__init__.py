"""spm-forecast-pymc: Bayesian forecasts for the SPM workbench (PyMC).

Model A, :class:`BookingsModel`: hierarchical monthly bookings per payee. Model B,
:class:`PipelineModel`: win probability and time to close of open deals.
:class:`WorkspaceForecast` fits both on a workspace (cached) and feeds P(quota), quota
planning and this quarter's commit / best case / expected. See docs/forecasting.md.
"""

from spm_kernel.pytensor_setup import link_openblas

__version__ = "0.1.0"

link_openblas()  # before any submodule imports PyMC: PyTensor reads its BLAS flag once

# The public names are imported on first use (PEP 562), so that loading the plugin entry point
# does not import PyMC; ``from spm_forecast_pymc import BookingsModel`` works as before.
_LAZY = {
    "BookingsData": "bookings", "BookingsModel": "bookings", "HistoryError": "bookings",
    "ModelMismatchError": "builder", "NotFittedError": "builder",
    "BookingsConfig": "config", "PipelineConfig": "config", "SamplerConfig": "config",
    "ConvergenceWarning": "diagnostics", "DiagnosticsReport": "diagnostics",
    "PlanningInputs": "forecast", "WorkspaceForecast": "forecast",
    "PipelineModel": "pipeline",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"spm_forecast_pymc.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spm_forecast_pymc' has no attribute {name!r}")


__all__ = [
    "BookingsConfig", "BookingsData", "BookingsModel", "ConvergenceWarning", "DiagnosticsReport", "HistoryError",
    "ModelMismatchError", "NotFittedError", "PipelineConfig", "PipelineModel", "PlanningInputs",
    "SamplerConfig", "WorkspaceForecast", "__version__",
]
