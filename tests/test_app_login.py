"""Identity in the apps (issue 9, section 2), in real Chromium against the real ``spm app``.

The workspace has users (tests/test_trust_scope.py's company), so ``spm app`` serves the apps
behind the Jupyter server's sign-in (:mod:`spm_kernel.auth.identity`). The app here is a
small notebook of this test's own: it shows the statement of the payee named in the query
string (default: the signed-in user's own) through ``ws.as_user(SPM_USERNAME)``, and the
payout totals of everyone the user may see. The kernel is pre-heated: the notebook runs its
imports before anybody asks, then ``spm_kernel.auth.app_user.signed_in()`` waits for the page
request and reads the identity headers the server wrote for the signed-in user. The test tries
to override the user and the payee through the URL, and the user through headers of its own.

Worked numbers (tests/engine_company.py): March 2026 lines are R1 -514.40, R2 205.09,
M1 55.16, M2 -100.60; February R1 536.00, R2 14.60, M1 104.00, M2 6.00.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AppServer, _stop_group, launch_app
from tests.test_trust_scope import PASSWORD, build_trust_company

pytestmark = pytest.mark.browser

LOAD_MS = 150_000  # generous: a busy machine refills the kernel pool slowly

APP_SOURCE = '''\
import html, os, urllib.parse
import spm_kernel
from IPython.display import HTML, display
from spm_kernel.auth.app_user import signed_in
from spm_kernel.errors import PermissionDenied

preheated = os.environ.get("VOILA_PREHEAT") == "True"
username = signed_in().username  # a pre-heated kernel waits here for the page request
query = urllib.parse.parse_qs(os.environ.get("QUERY_STRING", ""))  # the request's, after the wait
ws = spm_kernel.open(os.environ["SPM_WORKSPACE"], read_only=True)
try:
    me = ws.as_user(username)
    wanted = query.get("payee", [me.user.payee_id])[0]
    period = query.get("period", ["2026-03"])[0]
    parts = [f'<div class="spm-test-who" data-user="{html.escape(me.user.username)}" '
             f'data-preheated="{preheated}">{html.escape(str(me.user))}</div>']
    try:
        statement = me.statement(wanted, period)
        parts.append(f'<div class="spm-test-statement" data-payee="{html.escape(wanted)}">'
                     f'<pre>{html.escape(statement.to_text())}</pre></div>')
    except PermissionDenied as exc:
        parts.append(f'<div class="spm-test-denied">{html.escape(str(exc))}</div>')
    totals = me.sql("SELECT payee_id, CAST(sum(amount) AS VARCHAR) AS total FROM payout_lines "
                    "GROUP BY payee_id ORDER BY payee_id")
    parts.append('<table class="spm-test-team">' + "".join(
        f'<tr data-payee="{r.payee_id}"><td>{r.payee_id}</td><td>{r.total}</td></tr>' for r in totals.itertuples())
        + "</table>")
    me.close()
finally:
    ws.close()
display(HTML("".join(parts)))
'''


def _notebook(source: str, per_user: bool = True) -> dict[str, Any]:
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "id": "app", "metadata": {}, "outputs": [],
                   "source": source.splitlines(keepends=True)}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "spm": {"per_user": per_user}},
        "nbformat": 4, "nbformat_minor": 5,
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppServer, Path]]:
    root = tmp_path_factory.mktemp("app-login")
    folder = build_trust_company(root / "ws")
    apps = root / "apps"
    apps.mkdir()
    (apps / "statement.ipynb").write_text(json.dumps(_notebook(APP_SOURCE)), "utf-8")
    for attempt in range(3):  # another test run may take the free port first
        try:
            server = launch_app(folder, root, apps=apps, timeout=120.0)
            break
        except AssertionError as exc:
            if "in use" not in str(exc) or attempt == 2:
                raise
    try:
        yield server, folder
    finally:
        _stop_group(server.process)


@pytest.fixture
def chromium(browser: Any) -> Any:
    """The session's Chromium; each sign-in gets its own context (cookies), closed after the test."""
    return browser


def sign_in(chromium: Any, server: AppServer, username: str, password: str | None = None) -> Any:
    page = chromium.new_context().new_page()
    page.goto(server.url + "login", timeout=LOAD_MS)
    page.fill("#spm-username", username)
    page.fill("#spm-password", password or PASSWORD.format(username))
    page.click("button.spm-login-submit")
    page.wait_for_load_state()
    return page


def open_app(page: Any, server: AppServer, query: str = "") -> Any:
    page.goto(server.url + "voila/render/statement.ipynb" + query, timeout=LOAD_MS)
    try:
        page.wait_for_selector(".spm-test-team", timeout=LOAD_MS)
    except Exception as exc:  # noqa: BLE001 - add the server's log to the failure
        raise AssertionError(f"the app did not render: {exc}\n{server.log_tail()}") from exc
    return page


def team(page: Any) -> dict[str, str]:
    return {row.get_attribute("data-payee"): row.locator("td").nth(1).inner_text()
            for row in page.locator(".spm-test-team tr").all()}


def test_an_unauthenticated_request_gets_the_login_page(served: tuple[AppServer, Path], chromium: Any) -> None:
    server, _ = served
    page = chromium.new_context().new_page()
    for path in ("voila/render/statement.ipynb?payee=R2", "", "voila/render/statement.ipynb?token=anything"):
        page.goto(server.url + path, timeout=LOAD_MS)
        assert "/login" in page.url, page.url
        assert page.locator("input#spm-username").is_visible() and page.locator("input#spm-password").is_visible()
        assert "205.09" not in page.content()
    with urllib.request.urlopen(server.url + "voila/render/statement.ipynb?payee=R2", timeout=60) as plain:
        assert "/login" in plain.url  # a client without a browser is sent to the login page too
        body = plain.read().decode()
    assert 'name="username"' in body and "205.09" not in body
    wrong = sign_in(chromium, server, "ria", "not-her-password")
    assert "/login" in wrong.url
    assert "Invalid credentials" in wrong.inner_text(".spm-login-error")


def test_a_rep_sees_only_their_statement_even_after_editing_the_url(served: tuple[AppServer, Path],
                                                                    chromium: Any) -> None:
    server, _ = served
    page = sign_in(chromium, server, "ria")
    open_app(page, server)
    assert page.get_attribute(".spm-test-who", "data-user") == "ria"
    assert page.get_attribute(".spm-test-who", "data-preheated") == "True"  # it waited for this request
    assert page.get_attribute(".spm-test-statement", "data-payee") == "R1"
    text = page.inner_text(".spm-test-statement")
    assert "Ria (R1)" in text and "-514.40" in text
    assert team(page) == {"R1": "21.60"}  # 536.00 - 514.40 over both months

    # Ask for Rob's statement, and claim to be Rob, in the query string.
    open_app(page, server, "?payee=R2&period=2026-02&SPM_USERNAME=rob&SPM_USER=R2&user=rob&username=rob")
    assert page.get_attribute(".spm-test-who", "data-user") == "ria"
    assert page.locator(".spm-test-statement").count() == 0
    assert "may not see payee 'R2'" in page.inner_text(".spm-test-denied")
    content = page.content()
    assert "205.09" not in content and "14.60" not in content and "Rob" not in content
    assert team(page) == {"R1": "21.60"}

    # Claim to be Rob, an analyst, in the headers the server writes for the kernel.
    page.set_extra_http_headers({"X-SPM-Username": "rob", "X-SPM-User": "R2", "X-SPM-Role": "analyst"})
    open_app(page, server, "?payee=R2")
    assert page.get_attribute(".spm-test-who", "data-user") == "ria"
    assert "may not see payee 'R2'" in page.inner_text(".spm-test-denied")
    assert team(page) == {"R1": "21.60"} and "205.09" not in page.content()

    page.goto(server.url + "logout", timeout=LOAD_MS)
    assert "You are signed out" in page.inner_text(".spm-logged-out")
    page.goto(server.url + "voila/render/statement.ipynb", timeout=LOAD_MS)
    assert "/login" in page.url


def test_a_manager_sees_their_team_only(served: tuple[AppServer, Path], chromium: Any) -> None:
    server, _ = served
    page = sign_in(chromium, server, "mia")  # M1: R2 reports to her today, R1 moved to M2 in February
    open_app(page, server, "?payee=R1")
    assert page.get_attribute(".spm-test-who", "data-user") == "mia"
    assert "may not see payee 'R1'" in page.inner_text(".spm-test-denied")
    assert team(page) == {"M1": "159.16", "R2": "219.69"}  # 104.00 + 55.16; 14.60 + 205.09
    assert "-514.40" not in page.content() and "21.60" not in page.content()


def test_a_deactivated_user_is_signed_out(served: tuple[AppServer, Path], chromium: Any) -> None:
    server, folder = served
    page = sign_in(chromium, server, "rob")
    assert "/login" not in page.url  # signed in
    secret = folder / ".spm" / "cookie_secret"
    assert secret.exists() and oct(secret.stat().st_mode & 0o777) == "0o600"
    assert secret.read_text().strip() not in (folder / ".spm" / "voila" / "voila.py").read_text()  # read at start
    from spm_kernel.auth.users import set_active
    from spm_kernel.workspace import open_workspace

    from spm_kernel.errors import WorkspaceLockedError

    for attempt in range(60):  # the server and the app kernels open the file briefly, read-only
        try:
            with open_workspace(folder) as ws:
                set_active(ws, "rob", False, actor="ada")
            break
        except WorkspaceLockedError:
            if attempt == 59:
                raise
            time.sleep(0.5)
    time.sleep(6)  # the server re-reads the users at most every 5 s
    page.goto(server.url + "voila/render/statement.ipynb", timeout=LOAD_MS)
    assert "/login" in page.url
