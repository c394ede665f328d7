"""One `spm app` server per browser-test module, serving only the notebooks a module needs
(preheating every shipped app at once would start seven kernels on a 2-core machine)."""

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
    notebook's metadata and one markdown cell (they appear on the index, cost nothing)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in real:
        shutil.copy(SHIPPED_APPS / name, target / name)
    for name in stubs:
        data = json.loads((SHIPPED_APPS / name).read_text("utf-8"))
        data["cells"] = [{"cell_type": "markdown", "id": "stub", "metadata": {}, "source": [f"stub of {name}"]}]
        (target / name).write_text(json.dumps(data), "utf-8")
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
