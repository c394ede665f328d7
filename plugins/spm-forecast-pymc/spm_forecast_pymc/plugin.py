"""The spm_kernel plugin: registers the ``pymc_bookings`` forecaster.

Entry point (pyproject): ``[project.entry-points.spm_kernel] forecast_pymc =
"spm_forecast_pymc.plugin"``. Find it with ``ws.registry.forecasters["pymc_bookings"]``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

import pandas as pd

from spm_kernel import hookimpl
from spm_kernel.extensions import Forecaster
from spm_kernel.workspace import Workspace

from spm_forecast_pymc import data
from spm_forecast_pymc.config import BookingsConfig

# PyMC, PyTensor and ArviZ are imported when a forecast is made, not when the plugin is
# registered: every ``spm_kernel.open`` loads the plugins, and an app that never forecasts
# must not pay the seconds PyMC takes to import.


class PyMCBookingsForecaster(Forecaster):
    """Model A (hierarchical hurdle log-normal bookings per payee) with Model B (pipeline
    win probability and time to close) for windows that reach into the open pipeline."""

    name: ClassVar[str] = "pymc_bookings"
    label: ClassVar[str] = "Bayesian bookings forecast (PyMC)"
    description: ClassVar[str] = (
        "Monthly bookings per payee with partial pooling across team and region, plus a "
        "Monte Carlo of the open pipeline; joint samples for P(quota), planning and budgets.")

    def history(self, ws: Workspace, as_of: date | None = None) -> pd.DataFrame:
        return data.bookings_history(ws, as_of, months=BookingsConfig().months_of_history)

    def fit(self, history: pd.DataFrame, **options: Any) -> Any:
        """``options``: ``config`` (a mapping merged over the defaults), ``progressbar``.
        ``history`` may also be a :class:`~spm_forecast_pymc.bookings.BookingsData` (the history
        with the renewal book)."""
        from spm_forecast_pymc.bookings import BookingsModel

        return BookingsModel(options.get("config")).fit(history, progressbar=options.get("progressbar"))

    def predict(self, model: Any, horizon: int, **options: Any) -> pd.DataFrame:
        """``options``: ``samples`` (default: the config's ``posterior_samples``), ``seed``."""
        from spm_forecast_pymc.bookings import BookingsModel

        if not isinstance(model, BookingsModel):
            raise TypeError(f"{self.name} predicts with a BookingsModel from its fit(), got {type(model).__name__}")
        return model.predict(horizon, samples=options.get("samples"), seed=options.get("seed"))

    def payee_samples(self, ws: Workspace, start: date, end: date, samples: int = 1000,
                      **options: Any) -> pd.DataFrame:
        """``options``: ``as_of``, ``bookings_config``, ``pipeline_config``, ``cache`` (True),
        ``include_pipeline`` (True)."""
        from spm_forecast_pymc.forecast import WorkspaceForecast

        include = options.pop("include_pipeline", True)
        fc = WorkspaceForecast(ws, **options)
        return fc.payee_samples(start, end, samples, include_pipeline=include)


@hookimpl
def spm_register_forecasters() -> list[Forecaster]:
    return [PyMCBookingsForecaster()]
