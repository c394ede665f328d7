"""notebooks/performance.ipynb runs top to bottom (nbclient) on the demo company and writes
its report in every format."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "performance.ipynb"


@pytest.mark.slow
def test_the_performance_notebook_executes(spm_demo_template: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = tmp_path / "northwind"
    shutil.copytree(spm_demo_template, workspace)
    out = tmp_path / "reports"
    monkeypatch.setenv("SPM_WORKSPACE", str(workspace))
    monkeypatch.setenv("SPM_REPORT_DIR", str(out))
    monkeypatch.setenv("SPM_PERIOD", "2026-Q3")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    for fmt in ("html", "pdf", "xlsx"):
        assert (out / f"performance-2026-Q3.{fmt}").stat().st_size > 5_000
    text = "\n".join(str(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "after one more won deal" in text
    assert "reaching it is worth about" in text or "cannot be estimated" in text
    last_table = nb.cells[-2].outputs[-1]["data"]["text/plain"]
    assert "deals_created" in last_table
