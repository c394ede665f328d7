"""Shared fixtures: a small synthetic company in a real workspace, tiny fitted models.

PyTensor's compile cache goes to ``<repo>/.cache/pytensor`` (unless PYTENSOR_FLAGS already
sets it), so compiled models are reused across test runs and never land in ~/.pytensor.
This must happen before PyTensor is first imported, hence at the top of this file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from spm_kernel.pytensor_setup import keep_compiled_code_in

_REPO = Path(__file__).resolve().parents[3]
keep_compiled_code_in(_REPO / ".cache" / "pytensor")  # OpenBLAS: the plugin links it on import

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import spm_kernel  # noqa: E402
from spm_forecast_pymc import plugin  # noqa: E402
from spm_forecast_pymc.bookings import BookingsModel  # noqa: E402
from spm_forecast_pymc.forecast import WorkspaceForecast  # noqa: E402
from spm_forecast_pymc.pipeline import PipelineModel  # noqa: E402
from spm_forecast_pymc.synthetic import load_into, synthetic_company  # noqa: E402

from forecast_pymc_tiny import TINY, TINY_PIPELINE  # noqa: E402


@pytest.fixture(scope="session")
def company() -> dict[str, pd.DataFrame]:
    return synthetic_company(n_payees=12, months=24, n_teams=3, n_regions=2, seed=11)


@pytest.fixture(scope="session")
def company_ws(company, tmp_path_factory):
    """A workspace holding the synthetic company (shared: tests must not write to it)."""
    ws = spm_kernel.open(tmp_path_factory.mktemp("forecast") / "company", plugins=[plugin],
                         load_entry_points=False)
    load_into(ws, company)
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def workspace_forecast(company_ws) -> WorkspaceForecast:
    """Both models fitted once for the whole session (and saved in the workspace cache)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny chains do not converge; diagnostics are tested apart
        fc = WorkspaceForecast(company_ws, bookings_config=TINY, pipeline_config=TINY_PIPELINE)
        fc.bookings_model, fc.pipeline_model  # noqa: B018 - fit both now
    return fc


@pytest.fixture(scope="session")
def history(workspace_forecast) -> pd.DataFrame:
    return workspace_forecast.history


@pytest.fixture(scope="session")
def fitted_bookings(workspace_forecast) -> BookingsModel:
    return workspace_forecast.bookings_model


@pytest.fixture(scope="session")
def fitted_pipeline(workspace_forecast) -> PipelineModel:
    return workspace_forecast.pipeline_model
