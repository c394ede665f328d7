"""Folders of app notebooks for the browser tests' `spm app` servers, and helpers to start one
and open a page: the session's shared server on the demo company (``demo_apps`` in
tests/conftest.py, folder from :func:`demo_apps_folder`), or one of a module's own when it
needs another company (the forecast's synthetic company)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.conftest import AppServer, _stop_group, launch_app

SHIPPED_APPS = Path(__file__).resolve().parent.parent / "notebooks" / "apps"


def apps_folder(target: Path, real: Iterable[str], stubs: Iterable[str] = ()) -> Path:
    """Copy the shipped notebooks ``real`` into ``target``; ``stubs`` get the shipped
    notebook's metadata and one markdown cell (they appear on the index; their preheated
    kernels run nothing)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in real:
        shutil.copy(SHIPPED_APPS / name, target / name)
    for name in stubs:
        data = json.loads((SHIPPED_APPS / name).read_text("utf-8"))
        data["cells"] = [{"cell_type": "markdown", "id": "stub", "metadata": {}, "source": [f"stub of {name}"]}]
        (target / name).write_text(json.dumps(data), "utf-8")
    return target


DEMO_APPS = ("index.ipynb", "overview.ipynb", "manager_dashboard.ipynb", "rep_statement.ipynb", "disputes.ipynb",
             "plan_modeler.ipynb", "quota_planning.ipynb")
FAILING = {  # notebooks that fail, for the index test: a bug (traceback hidden) and a user-level refusal
    "broken.ipynb": "raise ValueError('internal-detail-4711')",
    "refused.ipynb": "from spm_kernel.errors import SPMError\nraise SPMError('quota set Q-9 is not approved yet')",
}


def failing_notebook(source: str, title: str) -> dict[str, Any]:
    """A one-cell notebook running ``source``, last on the index (order 999); per-user, so
    it runs when its page is asked for (no preheated kernel kept for it)."""
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
                       "source": [source]}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "spm": {"title": title, "order": 999, "per_user": True}},
            "nbformat": 4, "nbformat_minor": 5}


def demo_apps_folder(target: Path) -> Path:
    """The shared server's folder: the real :data:`DEMO_APPS`, stubs of the other shipped apps
    (so the index lists every app) and the :data:`FAILING` notebooks."""
    stubs = [p.name for p in sorted(SHIPPED_APPS.glob("*.ipynb")) if p.name not in DEMO_APPS]
    apps_folder(target, DEMO_APPS, stubs)
    for name, source in FAILING.items():
        (target / name).write_text(json.dumps(failing_notebook(source, name.split(".")[0].title())), "utf-8")
    return target


def start_server(workspace: Path, apps: Path, log: Path, env: dict[str, str] | None = None,
                 timeout: float = 180.0) -> AppServer:
    """`spm app --workspace W --apps A --port <free> --no-browser`, its log in ``log``'s folder."""
    return launch_app(workspace, log.parent, apps=apps, env=env, timeout=timeout)


def stop_server(server: AppServer) -> None:
    _stop_group(server.process)


def open_app(browser: Any, server: AppServer, notebook: str, selector: str, timeout_ms: int = 240_000,
             height: int = 1500) -> Any:
    """A page of ``notebook`` once ``selector`` is visible (real content, not HTTP 200)."""
    page = browser.new_page(viewport={"width": 1320, "height": height})
    page.goto(server.url + f"voila/render/{notebook}", timeout=timeout_ms)
    try:
        page.wait_for_selector(selector, timeout=timeout_ms)
    except Exception as exc:  # noqa: BLE001 - add the server's log to the failure
        raise AssertionError(f"{notebook} did not render {selector}: {exc}\n{server.log_tail()}") from exc
    return page
