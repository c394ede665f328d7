"""The overview model and view, headless: the model holds what ``ws.summary()`` says."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import spm_kernel
from spm_kernel.config import WorkspaceConfig
from spm_widgets import OverviewModel, OverviewView
from spm_widgets.overview import (
    error_panel, format_count, format_date, format_range, overview_app, plugins_html,
)
from tests.small_company import EXPECTED, fill


@pytest.fixture(scope="module")
def company_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("overview") / "acme"
    with spm_kernel.open(folder, config=WorkspaceConfig(name="Acme <Robotics>")) as ws:
        fill(ws)
    return folder


@pytest.fixture
def company(company_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the small company (built once per module) for each test."""
    folder = tmp_path / "acme"
    shutil.copytree(company_template, folder)
    return folder


def _none_if_missing(value: Any) -> Any:
    return None if pd.isna(value) else value


def test_model_fields_equal_the_workspace_summary(company: Path) -> None:
    with spm_kernel.open(company, read_only=True) as ws:
        model = OverviewModel.from_workspace(ws)
        summary = ws.summary()
        described = ws.plugins.describe()
        schema = ws.schema_version
    assert model.company_name == "Acme <Robotics>"
    assert model.workspace_path == str(company.resolve())
    assert model.base_currency == "USD"
    assert model.schema_version == schema
    assert [r["table"] for r in model.tables] == list(summary["table_name"])
    for row, rec in zip(model.tables, summary.itertuples(index=False)):
        assert row["rows"] == int(rec.rows)
        assert row["first_date"] == _none_if_missing(rec.first_date)
        assert row["last_date"] == _none_if_missing(rec.last_date)
        assert row["description"] == rec.description
    for table, count in EXPECTED.items():
        assert model.rows(table) == count
    assert model.table_row("opportunities")["first_date"] == "2023-01-02"
    assert model.table_row("opportunities")["last_date"] == "2025-01-15"
    assert model.total_rows == int(summary["rows"].sum())
    assert [p["name"] for p in model.plugins] == [p["name"] for p in described]
    assert "spm_kernel.builtin.file_readers" in [p["name"] for p in model.plugins]


def test_kpis_are_the_key_tables_with_their_ranges(company: Path) -> None:
    model = OverviewModel.from_path(company)
    assert [(k["table"], k["rows"]) for k in model.kpis] == [
        ("payees", 25), ("opportunities", 1234), ("transactions", 2345), ("fx_rates", 1095)]
    fx = model.kpis[3]
    assert (fx["first_date"], fx["last_date"]) == ("2024-01-01", "2024-12-30")


def test_view_shows_formatted_counts_escaped_names_and_classes(company: Path) -> None:
    view = OverviewView(OverviewModel.from_path(company))
    assert "spm-overview" in view._dom_classes
    assert "Acme &lt;Robotics&gt;" in view.header.value  # escaped, never raw HTML
    tile = view.tiles["opportunities"]
    assert {"spm-kpi", "spm-kpi-opportunities"} <= set(tile._dom_classes)
    assert '<div class="spm-kpi-value">1,234</div>' in tile.value
    assert "2 Jan 2023 – 15 Jan 2025" in tile.value
    assert '<div class="spm-kpi-value">2,345</div>' in view.tiles["transactions"].value
    assert "spm-kpi-fx-rates" in view.tiles["fx_rates"]._dom_classes
    assert ('<tr class="spm-table-row" data-table="fx_rates"><td class="spm-name">fx_rates</td>'
            '<td class="spm-num spm-rows">1,095</td>') in view.tables.value
    assert 'data-table="quotas"><td class="spm-name">quotas</td><td class="spm-num spm-rows">0</td>' \
        in view.tables.value
    assert 'spm-table-row spm-empty" data-table="quotas"' in view.tables.value
    assert 'data-plugin="spm_kernel.builtin.commands"' in view.plugins.value
    assert "spm-refresh" in view.refresh_button._dom_classes


def test_refresh_reads_a_later_import_and_redraws(company: Path) -> None:
    model = OverviewModel.from_path(company)  # holds no connection
    view = OverviewView(model)
    with spm_kernel.open(company) as ws:  # a writer can open it while the model exists
        ws.load("payees", pd.DataFrame({"payee_id": ["P900"], "name": ["New Hire"], "role": ["rep"],
                                        "currency": ["GBP"], "hire_date": ["2025-06-30"]}))
    assert model.rows("payees") == 25
    view.refresh_button.click()
    assert model.rows("payees") == 26
    assert model.table_row("payees")["last_date"] == "2025-06-30"
    assert '<div class="spm-kpi-value">26</div>' in view.tiles["payees"].value
    assert "1 Mar 2020 – 30 Jun 2025" in view.tiles["payees"].value


def test_refresh_failure_is_shown_not_raised(company: Path, tmp_path: Path) -> None:
    model = OverviewModel.from_path(company)
    view = OverviewView(model)
    model.workspace_path = str(tmp_path / "gone")
    view.refresh_button.click()
    assert "could not refresh" in view.status.value and "no workspace at" in view.status.value
    assert model.rows("payees") == 25  # the last good figures stay


def test_failed_and_disabled_plugins_are_badged_with_their_error() -> None:
    model = OverviewModel(plugins=[
        {"name": "good", "distribution": "spm-good", "version": "1.0", "hooks": ["spm_register_metrics"],
         "status": "active"},
        {"name": "off", "distribution": "spm-off", "version": "2.0", "hooks": [], "status": "disabled"},
        {"name": "bad", "distribution": "spm-bad", "version": "", "hooks": [],
         "status": "failed: ModuleNotFoundError: No module named 'x<y>'"},
        {"name": "raises", "distribution": "spm-raises", "version": "0.1", "hooks": ["spm_register_metrics"],
         "status": "error: spm_register_metrics: boom"},
    ])
    out = plugins_html(model)
    assert '<span class="spm-badge spm-badge-active">active</span>' in out
    assert '<span class="spm-badge spm-badge-disabled">disabled</span>' in out
    assert '<span class="spm-badge spm-badge-failed">failed</span>' in out
    assert "ModuleNotFoundError: No module named &#x27;x&lt;y&gt;&#x27;" in out
    assert '<span class="spm-badge spm-badge-error">error</span>' in out
    assert "spm_register_metrics: boom" in out


def test_overview_app_explains_a_missing_workspace(tmp_path: Path) -> None:
    panel = overview_app(None)
    assert "spm-error-panel" in panel._dom_classes and "spm app --workspace DIR" in panel.value
    missing = overview_app(tmp_path / "nowhere")
    assert "spm-error-panel" in missing._dom_classes and "no workspace at" in missing.value
    assert "&lt;b&gt;" in error_panel("<b>").value


def test_formatting_helpers() -> None:
    assert format_count(0) == "0"
    assert format_count(1234567) == "1,234,567"
    assert format_date("2023-01-02") == "2 Jan 2023"
    assert format_date(None) == "" and format_date(float("nan")) == ""
    assert format_range("2024-01-01", "2024-12-30") == "1 Jan 2024 – 30 Dec 2024"
    assert format_range("2024-05-05", "2024-05-05") == "5 May 2024"
    assert format_range(None, None) == ""
