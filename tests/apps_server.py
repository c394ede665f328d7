"""One `spm app` server per browser-test module, serving only the notebooks a module needs
(preheating every shipped app at once would start seven kernels on a 2-core machine)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.conftest import SPM_SCRIPT, AppServer, _stop_group, free_port

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
    """`spm app --workspace W --apps A --port <free> --no-browser`, stderr to ``log``."""
    port = free_port()
    cmd = [str(SPM_SCRIPT), "app", "--workspace", str(workspace), "--apps", str(apps), "--port", str(port),
           "--no-browser"]
    with log.open("wb") as err:
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, start_new_session=True,
                                   env={**os.environ, **(env or {})})
    server = AppServer(f"http://127.0.0.1:{port}/", port, process, log)
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.put(raw.decode(errors="replace").rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    expected = f"SPM workbench: {server.url}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if lines.get(timeout=0.5) == expected:
                return server
        except queue.Empty:
            if process.poll() is not None:
                break
    _stop_group(process)
    raise AssertionError(f"`spm app` did not print {expected!r}; its log:\n{server.log_tail()}")


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
