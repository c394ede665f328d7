"""notebooks/compensation.ipynb runs top to bottom (nbclient) on a copy of the demo company:
plan -> run -> explain -> statement -> close -> late deal -> adjustment."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "compensation.ipynb"


@pytest.mark.slow
def test_the_compensation_notebook_executes(spm_demo_template: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "northwind"
    shutil.copytree(spm_demo_template, source)
    walk, out = tmp_path / "walkthrough", tmp_path / "statements"
    monkeypatch.setenv("SPM_WORKSPACE", str(source))
    monkeypatch.setenv("SPM_WALKTHROUGH", str(walk))
    monkeypatch.setenv("SPM_STATEMENT_DIR", str(out))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    # a fresh demo: January is the month run, explained, stated and closed; February adjusts it
    assert "period 2026-01" in text and "formula:" in text                  # the explanation
    assert "paid" in text and "(ledger" in text                               # statement = ledger
    assert "prior-period adjustment for 2026-01" in text                      # linked adjustment
    html = "\n".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert 'class="spm-statement"' in html                                    # the statement, inline
    files = sorted(p.name for p in out.iterdir())
    assert [f for f in files if f.endswith(".pdf")] and [f for f in files if f.endswith(".xlsx")]
    assert all((out / f).stat().st_size > 5_000 for f in files)
    # the walkthrough changed its own copy only
    with duckdb.connect(str(source / "workspace.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM opportunities WHERE opportunity_id = 'LATE-0001'").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM calc_runs").fetchall() == [(0,)]
    with duckdb.connect(str(walk / "workspace.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM opportunities WHERE opportunity_id = 'LATE-0001'").fetchall() == [(1,)]
