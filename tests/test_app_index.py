"""The index app in real Chromium (one card per app, linking to it), and what an app user
sees when a notebook fails: a friendly message with an error id, the traceback only in the
server's log under that id."""

from __future__ import annotations

import re
from typing import Any

import pytest

from spm_kernel.app_server import app_catalogue
from spm_kernel.config import read_config
from tests.apps_server import open_app
from tests.conftest import ARTIFACTS, AppServer, DemoApps

pytestmark = pytest.mark.browser
LOAD_MS = 180_000


def test_index_links_every_app(server: AppServer, browser: Any, demo_apps: DemoApps) -> None:
    company = read_config(demo_apps.workspace).name
    page = open_app(browser, server, "index.ipynb", ".spm-index-card", LOAD_MS)
    assert company in page.inner_text(".spm-index-header")
    served = app_catalogue(demo_apps.apps)
    cards = page.locator(".spm-index-card")
    names = [cards.nth(i).get_attribute("data-app") for i in range(cards.count())]
    # every app served, in the catalogue's order (the two test notebooks last: order 999)
    assert names == [a["name"] for a in served]
    assert names[-2:] == ["broken.ipynb", "refused.ipynb"]
    assert {"manager_dashboard.ipynb", "rep_statement.ipynb", "plan_modeler.ipynb", "quota_planning.ipynb",
            "forecast.ipynb", "disputes.ipynb", "overview.ipynb"} <= set(names)
    plan = page.locator('.spm-index-card[data-app="plan_modeler.ipynb"]')
    assert plan.locator(".spm-card-title").inner_text() == "Plan modeler"
    statement = page.locator('.spm-index-card[data-app="rep_statement.ipynb"]')
    assert "uses your sign-in" in statement.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "index.png"), full_page=True)
    page.click('.spm-index-card[data-app="overview.ipynb"]')
    page.wait_for_selector(".spm-overview-header .spm-company", timeout=LOAD_MS)
    assert page.url.endswith("/voila/render/overview.ipynb")
    assert page.inner_text(".spm-overview-header .spm-company") == company


def test_a_failing_app_shows_an_error_id_and_logs_the_traceback(server: AppServer, browser: Any) -> None:
    page = open_app(browser, server, "broken.ipynb", ".spm-app-error", LOAD_MS)
    text = page.inner_text(".spm-app-error")
    assert "This app could not be shown." in text and "Something went wrong" in text
    found = re.search(r"Error id ([0-9A-F]{8})", text)
    assert found, text
    content = page.content()
    assert "internal-detail-4711" not in content and "Traceback" not in content and "ValueError" not in content
    assert "The details are in the server log" in content
    log = server.log.read_text(errors="replace")
    entry = log[log.index(f"[spm app] error {found.group(1)}"):]
    assert "Traceback (most recent call last)" in entry and "ValueError: internal-detail-4711" in entry
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app_error.png"), full_page=True)

    refused = open_app(browser, server, "refused.ipynb", ".spm-app-error", LOAD_MS)
    message = refused.inner_text(".spm-app-error")
    assert "quota set Q-9 is not approved yet" in message  # a user-level error says what it is
    assert "SPMError" not in refused.content()
