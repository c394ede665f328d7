"""The plugin as users get it: installed as a distribution, found through its entry point."""

from decimal import Decimal
from pathlib import Path

import pytest

import spm_jsonl
from spm_kernel import ImportValidationError


def test_entry_point_plugin_is_found_and_reads_jsonl(spm_workspace_factory, tmp_path: Path) -> None:
    ws = spm_workspace_factory()
    names = {row["name"]: row for row in ws.plugins.describe()}
    assert names["jsonl"]["distribution"] == "spm-jsonl"
    assert names["jsonl"]["hooks"] == ["spm_read_table_file"]
    path = tmp_path / "regions.jsonl"
    path.write_text('{"region_id": "NA", "name": "North America"}\n\n{"region_id": "EU", "name": "Europe"}\n')
    result = ws.load("regions", path)
    assert (result.inserted, result.source) == (2, "regions.jsonl")
    assert ws.table("regions")["region_id"].tolist() == ["EU", "NA"]


def test_numbers_keep_their_exact_text(spm_workspace_factory, tmp_path: Path) -> None:
    ws = spm_workspace_factory()
    ws.load("regions", _write(tmp_path / "r.jsonl", '{"region_id": "NA", "name": "NA"}'))
    lines = [
        '{"month": "2026-01-01", "category": "sales", "channel": "events", "amount": 0.1, "currency": "USD"}',
        '{"month": "2026-01-01", "category": "marketing", "channel": "events", "amount": 1234567.89, "currency": "USD"}',
    ]
    ws.load("spend", _write(tmp_path / "spend.jsonl", "\n".join(lines)))
    assert ws.table("spend")["amount"].tolist() == [Decimal("1234567.89"), Decimal("0.10")]


def test_bad_lines_are_reported_with_their_line_numbers(spm_workspace_factory, tmp_path: Path) -> None:
    ws = spm_workspace_factory()
    path = _write(tmp_path / "bad.jsonl", '{"region_id": "NA", "name": "x"}\n[1, 2]\n{oops\n')
    with pytest.raises(ImportValidationError) as err:
        ws.load("regions", path)
    assert err.value.errors["row"].tolist() == [2, 3]
    assert ws.count("regions") == 0


def test_other_files_are_left_to_other_readers(tmp_path: Path) -> None:
    assert spm_jsonl.spm_read_table_file(tmp_path / "x.csv") is None


def _write(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    return path
