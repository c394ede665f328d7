"""The overview app in real Chromium, served by the real ``spm app`` console script."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import spm_kernel
from spm_kernel.config import WorkspaceConfig
from tests.conftest import ARTIFACTS, AppServer
from tests.small_company import EXPECTED, fill

pytestmark = pytest.mark.browser

FIRST_LOAD_MS = 60_000  # a Voila page load runs the notebook (4-7 s, more on a busy machine)
KPI_CSS = {"payees": "payees", "opportunities": "opportunities", "transactions": "transactions",
           "fx_rates": "fx-rates"}


def _company(path: Path) -> pd.DataFrame:
    ws = spm_kernel.open(path, config=WorkspaceConfig(name="Acme Robotics"))
    try:
        fill(ws)
        return ws.summary()
    finally:
        ws.close()  # the app's kernels open it read-only: no writer may hold it


def _open_overview(browser: Any, server: AppServer) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 2000})
    page.goto(server.url + "voila/render/overview.ipynb", timeout=FIRST_LOAD_MS)
    try:
        page.wait_for_selector(".spm-kpi-opportunities .spm-kpi-value", timeout=FIRST_LOAD_MS)
    except Exception as exc:  # noqa: BLE001 - add the server's log to the failure
        raise AssertionError(f"the overview did not render: {exc}\n{server.log_tail()}") from exc
    return page


def test_overview_app_shows_the_workspace_numbers(tmp_path: Path, spm_app: Any, browser: Any) -> None:
    folder = tmp_path / "acme"
    summary = _company(folder)
    server = spm_app(folder)

    tree = browser.new_page()  # Voila's tree page (drawn by JavaScript) lists the apps
    tree.goto(server.url, timeout=FIRST_LOAD_MS)
    tree.wait_for_selector(".jp-DirListing-item:has-text('overview.ipynb')", timeout=FIRST_LOAD_MS)
    tree.close()

    page = _open_overview(browser, server)
    assert page.inner_text(".spm-overview-header .spm-company") == "Acme Robotics"
    assert str(folder.resolve()) in page.inner_text(".spm-overview-header")

    # Tiles: the counts, formatted as on the page, equal the workspace's own counts.
    with spm_kernel.open(folder, read_only=True) as ws:
        counts = {table: ws.count(table) for table in EXPECTED}
    assert counts == EXPECTED
    for table, css in KPI_CSS.items():
        assert page.inner_text(f".spm-kpi-{css} .spm-kpi-value") == f"{counts[table]:,}"
    assert page.inner_text(".spm-kpi-opportunities .spm-kpi-value") == "1,234"
    assert page.inner_text(".spm-kpi-opportunities .spm-kpi-range") == "2 Jan 2023 – 15 Jan 2025"

    # The table of tables: every table with its row count and date range.
    for rec in summary.itertuples(index=False):
        row = page.locator(f'tr[data-table="{rec.table_name}"]')
        assert row.locator("td.spm-rows").inner_text() == f"{int(rec.rows):,}", rec.table_name
    assert page.locator('tr[data-table="transactions"] td.spm-first').inner_text() == "1 Feb 2023"
    assert page.locator('tr[data-table="transactions"] td.spm-last').inner_text() == "22 Sep 2024"
    assert page.locator('tr[data-table="fx_rates"] td.spm-rows').inner_text() == "1,095"

    # Plugins: the built-ins are listed as active.
    builtin = page.locator('tr[data-plugin="spm_kernel.builtin.file_readers"]')
    assert "spm_read_table_file" in builtin.inner_text()
    assert builtin.locator(".spm-badge-active").inner_text() == "active"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

    # The app holds no lock: an import runs while it is open, and Refresh shows it.
    with spm_kernel.open(folder) as ws:
        ws.load("opportunities", pd.DataFrame({
            "opportunity_id": ["O-NEW"], "owner_id": ["P001"], "amount": ["5000.00"],
            "currency": ["USD"], "stage": ["Prospecting"], "created_date": ["2025-03-03"],
            "is_closed": ["false"], "is_won": ["false"]}))
    page.click("button.spm-refresh")
    page.wait_for_function(  # the tiles and the table are separate widgets, updated in turn
        """() => document.querySelector('.spm-kpi-opportunities .spm-kpi-value').innerText === '1,235'
              && document.querySelector('tr[data-table="opportunities"] td.spm-rows').innerText === '1,235'""",
        timeout=30_000)
    assert page.locator('tr[data-table="opportunities"] td.spm-last').inner_text() == "3 Mar 2025"
