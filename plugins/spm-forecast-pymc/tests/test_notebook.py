"""notebooks/forecasting.ipynb runs top to bottom (nbclient) on the demo company."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "forecasting.ipynb"


@pytest.fixture(scope="module")
def demo_folder(request, tmp_path_factory) -> Path:
    """The kernel's session demo template when its pytest plugin is active, else a build."""
    try:
        return request.getfixturevalue("spm_demo_template")
    except pytest.FixtureLookupError:
        from spm_kernel.demo import build_demo
        folder = tmp_path_factory.mktemp("forecast-demo") / "northwind"
        build_demo(folder, scale=1, seed=7, progress=False).close()
        return folder


@pytest.mark.slow
def test_the_forecasting_notebook_executes(demo_folder: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = tmp_path / "northwind"
    shutil.copytree(demo_folder, workspace)
    monkeypatch.setenv("SPM_WORKSPACE", str(workspace))
    monkeypatch.setenv("SPM_AS_OF", "2026-07-01")
    monkeypatch.setenv("SPM_FORECAST_DRAWS", "60")
    monkeypatch.setenv("PYTENSOR_FLAGS", os.environ["PYTENSOR_FLAGS"])  # set by conftest
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=1200, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "from cache: False" in text
    assert "probability_at_least" in text and "p_quota" in text
    assert "bookings-model.nc" in text
    assert (workspace / ".cache" / "forecasts").is_dir()
    assert any(o.get("data", {}).get("image/png") for o in outputs)  # the ArviZ plots rendered
