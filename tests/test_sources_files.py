"""The built-in ``files`` source: a folder of CSV, Parquet and Excel files and a mapping file."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from spm_kernel.sync import SourceError, configured_source, list_rejects

MAPPING = {
    "payees": {"files": "people.xlsx", "id": "Employee",
               "fields": {"payee_id": "Employee", "name": "Full name", "role": "Title", "hire_date": "Start"},
               "values": {"role": {"Account Executive": "rep", "Sales Manager": "manager"}},
               "defaults": {"currency": "EUR"}},
    "opportunities": {"files": "deals-*.csv", "id": "Deal",
                      "fields": {"opportunity_id": "Deal", "owner_id": "Owner", "amount": "Amount", "stage": "Stage",
                                 "created_date": "Created", "is_closed": "Closed", "is_won": "Won"},
                      "defaults": {"currency": "EUR"}},
    "fx_rates": {"files": "fx.parquet"},  # canonical column names: mapped to themselves
}


def write_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"Employee": ["E1", "E2"], "Full name": ["Ann", "Bob"],
                  "Title": ["Sales Manager", "Account Executive"],
                  "Start": pd.to_datetime(["2020-01-06", "2021-02-01"])}).to_excel(folder / "people.xlsx", index=False)
    (folder / "deals-2024.csv").write_text(
        "Deal,Owner,Amount,Stage,Created,Closed,Won\n"
        "D1,E2,1000.10,Closed Won,2024-01-02T09:30:00Z,yes,yes\n"
        "D2,E2,12.345,Closed Won,2024-01-03,yes,yes\n", "utf-8")
    (folder / "deals-2025.csv").write_text(
        "Deal,Owner,Amount,Stage,Created,Closed,Won\nD3,E1,-50.00,Closed Won,2025-01-02,yes,yes\n", "utf-8")
    pd.DataFrame({"rate_date": ["2024-01-01"], "from_currency": ["USD"], "to_currency": ["EUR"],
                  "rate": ["0.91234567"]}).to_parquet(folder / "fx.parquet")
    (folder / "mapping.yaml").write_text(yaml.safe_dump(MAPPING), "utf-8")


@pytest.fixture
def ws(spm_workspace: Any) -> Any:
    write_files(spm_workspace.path / "exports")
    (spm_workspace.path / "sources.yaml").write_text(yaml.safe_dump(
        {"exports": {"type": "files", "folder": "exports", "mapping": "exports/mapping.yaml"}}), "utf-8")
    return spm_workspace


def run(ws: Any, **kw: Any) -> Any:
    return configured_source(ws, "exports").sync(ws, progress=False, **kw)


def test_folder_of_files_syncs_through_the_mapping(ws):
    assert configured_source(ws, "exports").check() == f"4 file(s) in {ws.path / 'exports'} for 3 table(s)"
    result = run(ws)
    assert {t: (c.inserted, c.rejected) for t, c in result.counts.items()} == {
        "payees": (2, 0), "opportunities": (2, 1), "fx_rates": (1, 0)}
    opps = ws.table("opportunities").set_index("opportunity_id")
    assert opps.loc["D1", "amount"] == Decimal("1000.10") and opps.loc["D3", "amount"] == Decimal("-50.00")
    assert str(opps.loc["D1", "created_date"]) == "2024-01-02" and opps.loc["D1", "source_id"] == "D1"
    assert ws.table("payees").set_index("payee_id").loc["E1", "role"] == "manager"
    assert ws.table("fx_rates")["rate"].iloc[0] == Decimal("0.91234567")
    assert ws.table("fx_rates")["source_id"].iloc[0] == "2024-01-01|USD|EUR"
    reject = list_rejects(ws).iloc[0]
    assert (reject["source_id"], reject["field"], reject["reason"]) == ("D2", "amount", "has more than 2 decimal places")


def test_unchanged_files_are_skipped_and_a_changed_file_is_a_snapshot(ws):
    run(ws)
    again = run(ws)
    assert again.mode == "incremental" and set(again.counts) == {"opportunities"}  # only its pending reject
    folder = ws.path / "exports"
    (folder / "deals-2025.csv").write_text("Deal,Owner,Amount,Stage,Created,Closed,Won\n", "utf-8")
    later = time.time() + 5
    os.utime(folder / "deals-2025.csv", (later, later))
    result = run(ws)
    assert result.counts["opportunities"].deleted == 1  # D3 is gone from the files
    assert sorted(ws.table("opportunities")["opportunity_id"]) == ["D1"]


def test_unreadable_files_and_bad_mappings_are_clear_errors(ws):
    folder = ws.path / "exports"
    (folder / "deals-2025.csv").write_text("Deal,Owner,Amount\nD3,E1\n", "utf-8")
    with pytest.raises(SourceError, match="deals-2025.csv, row 2: has 2 fields, the header has 3"):
        run(ws)
    assert ws.count("payees") == 0
    (folder / "mapping.yaml").write_text(yaml.safe_dump({"salaries": {"files": "x.csv"}}), "utf-8")
    with pytest.raises(SourceError, match="'salaries' is not an importable canonical table"):
        configured_source(ws, "exports").check()
    (folder / "mapping.yaml").write_text(yaml.safe_dump({"payees": {"files": "nothing-*.csv"}}), "utf-8")
    with pytest.raises(SourceError, match="no readable file .* matches the files of: payees"):
        configured_source(ws, "exports").check()


def test_spm_sync_shows_a_progress_bar_and_the_counts(ws):
    from typer.testing import CliRunner

    from spm_kernel.cli import build_app

    path = ws.path
    ws.close()
    result = CliRunner().invoke(build_app(), ["sync", "exports", "-w", str(path)])
    assert result.exit_code == 0, result.output
    assert "sync exports" in result.stderr and "records" in result.stderr  # the tqdm bar
    assert "opportunities: 3 read, 2 inserted, 0 updated, 0 unchanged, 0 deleted, 1 rejected" in result.stdout
    assert "1 record(s) quarantined: see `spm sync --show-rejects exports`" in result.stdout
