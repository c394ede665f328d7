"""notebooks/training.ipynb runs top to bottom (nbclient) on a copy of the demo company:
catalogue, rules, overdue, an LMS import, the fitted effect stored for reports."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import spm_kernel

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "training.ipynb"


@pytest.mark.slow
def test_the_training_notebook_executes(spm_demo_template: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "northwind"
    shutil.copytree(spm_demo_template, folder)
    monkeypatch.setenv("SPM_WORKSPACE", str(folder))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "reps below their peers' 25th percentile of win rate in 2026-Q1" in text
    assert "R-NEG would assign" in text and "overdue assignment(s) on 2026-06-30" in text
    assert "2 inserted" in text and "1 row(s) skipped" in text             # the LMS export
    assert "TRN-NEG-01 on win_rate:" in text and "90% interval" in text      # the effect
    with spm_kernel.open(folder, read_only=True) as ws:
        assert ws.count("training_effects") == 1
        assert ws.sql("SELECT count(*) AS n FROM training_completions WHERE source = 'lms_export.csv'")["n"][0] == 2
        assert ws.sql("SELECT count(*) AS n FROM training_assignments WHERE assignment_id LIKE 'R-NEG-2026%'")["n"][0] == 0
