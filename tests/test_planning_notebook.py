"""notebooks/planning.ipynb runs top to bottom (nbclient) on a copy of the demo company:
markets -> quotas -> quota set -> budget -> territories."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "planning.ipynb"


@pytest.mark.slow
def test_the_planning_notebook_executes(spm_demo_template: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "northwind"
    shutil.copytree(spm_demo_template, source)
    work = tmp_path / "planning"
    monkeypatch.setenv("SPM_WORKSPACE", str(source))
    monkeypatch.setenv("SPM_PLANNING_WORK", str(work))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors[0].get("evalue") if errors else ""
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "ranks 1 of 3 segments" in text                              # markets explain themselves
    assert "regions sum exactly to the target: True" in text            # exact top-down
    assert "forecaster:" in text and "<FairnessReport" in text
    assert "<CompensationBudget ae-plan v2 FY2027" in text               # the engine priced the plan
    assert "<TerritoryPlan" in text and "MIP gap" in text
    html = "\n".join(str(o.get("data", {}).get("application/vnd.plotly.v1+json", "")) for o in outputs)
    assert html  # plotly figures rendered
    with duckdb.connect(str(work / "workspace.duckdb"), read_only=True) as con:
        # version 3 (the final historical allocation) is what the quotas table holds for FY2027
        assert con.execute("SELECT DISTINCT source FROM quotas WHERE year(period_start) = 2027").fetchall() == [
            ("quota_set:FY2027-bookings@3",)]
        assert con.execute("SELECT count(*) FROM quota_sets WHERE status = 'approved'").fetchall() == [(3,)]
    with duckdb.connect(str(source / "workspace.duckdb"), read_only=True) as con:  # the demo itself is untouched
        assert con.execute("SELECT count(*) FROM quota_sets").fetchall() == [(0,)]
