"""The learning app in real Chromium, served by the real ``spm app`` on a copy of the demo
company: a manager opens an overdue module, reads it (Markdown rendered), marks it complete,
and sees it counted in their team's view (one more completed, one fewer overdue)."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import spm_kernel
from spm_kernel.training.assignments import subtree
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

LOAD_MS = 120_000  # a per-user app is never pre-heated: each page load starts a kernel


def _manager_with_an_overdue_module(folder: Path) -> str:
    """A manager employed today with reports, assigned the rep growth path 40 days ago (due
    after 30): its two modules are 10 days overdue."""
    today = date.today()
    with spm_kernel.open(folder) as ws:
        managers = ws.sql("SELECT payee_id FROM payees WHERE role = 'manager' AND termination_date IS NULL "
                          "ORDER BY payee_id")["payee_id"]
        manager = next(m for m in managers if len(subtree(ws, m, today)) > 3)
        new = ws.training.assign_path([manager], "PATH-REP-GROW", as_of=today - timedelta(days=40), due_days=30)
        assert list(new["module_id"]) == ["TRN-PRO-01", "TRN-VAL-01"]
    return manager


def _tile(page: Any, key: str) -> int:
    return int(page.inner_text(f".spm-training-{key} .spm-kpi-value").replace(",", ""))


def test_open_a_module_complete_it_and_see_it_counted(spm_demo_template: Path, tmp_path: Path, spm_app: Any,
                                                      browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "northwind"
    shutil.copytree(spm_demo_template, folder)
    manager = _manager_with_an_overdue_module(folder)
    with spm_kernel.open(folder, read_only=True) as ws:
        before = ws.training.counts(date.today(), manager=manager)
        name = ws.sql("SELECT name FROM payees WHERE payee_id = ?", [manager])["name"].iloc[0]
    completed, overdue = int(before["completed"].sum()), int(before["overdue"].sum())
    assert overdue >= 2

    monkeypatch.setenv("SPM_USER", manager)   # the server's kernels inherit it: the signed-in user
    server = spm_app(folder)
    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    page.goto(server.url + "voila/render/learning.ipynb", timeout=LOAD_MS)
    try:
        page.wait_for_selector(".spm-learner .spm-module-TRN-VAL-01", timeout=LOAD_MS)
    except Exception as exc:  # noqa: BLE001 - add the server's log to the failure
        raise AssertionError(f"the learning app did not render: {exc}\n{server.log_tail()}") from exc
    assert page.inner_text(".spm-training-header .spm-who") == name
    assert (_tile(page, "completed"), _tile(page, "overdue")) == (completed, overdue)
    assert "overdue" in page.inner_text(".spm-module-TRN-VAL-01")

    page.click(".spm-module-TRN-VAL-01")
    page.wait_for_selector(".spm-module-content h1:has-text('Value selling and business cases')", timeout=30_000)
    assert page.inner_text(".spm-module-content strong") == "Skill:"          # Markdown, rendered
    assert "open the material" in page.inner_text(".spm-module-meta")       # the module's external link
    clicked = datetime.now().replace(microsecond=0)
    page.click("button.spm-complete")
    page.wait_for_selector(".spm-completed-at:has-text('Completed')", timeout=60_000)
    page.wait_for_function(
        f"""() => document.querySelector('.spm-training-completed .spm-kpi-value').innerText === '{completed + 1:,}'
              && document.querySelector('.spm-training-overdue .spm-kpi-value').innerText === '{overdue - 1:,}'""",
        timeout=60_000)
    # the team table is a widget of its own: it may redraw a moment after the tiles
    done = str(int(before.set_index("payee_id").loc[manager, "completed"]) + 1)
    page.wait_for_function(
        f"""() => {{ const c = document.querySelector('tr[data-payee="{manager}"] td.spm-done');
                   return c && c.innerText === '{done}'; }}""", timeout=60_000)
    row = page.locator(f'tr[data-payee="{manager}"]')
    assert row.locator("td.spm-done").inner_text() == done
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "learning.png"), full_page=True)
    page.close()

    with spm_kernel.open(folder, read_only=True) as ws:
        done = ws.sql("SELECT completed_at, source FROM training_completions "
                      "WHERE payee_id = ? AND module_id = 'TRN-VAL-01'", [manager])
    assert len(done) == 1 and done["source"].iloc[0] == "app"
    at = done["completed_at"].iloc[0].to_pydatetime()
    assert clicked - timedelta(seconds=5) <= at <= datetime.now()
