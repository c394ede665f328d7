pytest_plugins = ["tests.plugin_dists"]


# ---- browser tests: Chromium via Playwright, and `spm app` servers --------------------------
import os  # noqa: E402
import queue  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SPM_SCRIPT = Path(sys.executable).parent / "spm"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, or a skip that says how to get it (never a silent skip)."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}: install it with "
                    "`sudo apt-get install -y chromium`, or run `make test` as root, which "
                    "installs it")
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def chromium_browser(chromium_path: str) -> Iterator[Any]:
    """One headless Chromium (Playwright sync API) for the whole session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def browser(chromium_browser: Any) -> Iterator[Any]:
    """The session's Chromium; every page (and context) a test opens is closed after it, so
    no page of one test keeps a kernel busy during the next."""
    yield chromium_browser
    for context in list(chromium_browser.contexts):
        context.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AppServer:
    """A running ``spm app``: its URL (ending in '/'), process and log file."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (Voila then stops its kernels); SIGKILL if stuck."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass


def launch_app(workspace: Path, log_dir: Path, *, apps: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 90.0) -> AppServer:
    """``spm app --workspace W --port <free> --no-browser [--apps DIR]`` (the installed console
    script) in its own process group, with ``env`` added; returns once it printed its URL, and
    stops it and fails with its log when it does not within ``timeout`` seconds."""
    port = free_port()
    cmd = [str(SPM_SCRIPT), "app", "--workspace", str(workspace), "--port", str(port), "--no-browser"]
    if apps is not None:
        cmd += ["--apps", str(apps)]
    log = log_dir / f"spm-app-{port}.log"
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
    raise AssertionError(f"`spm app` did not print {expected!r} (exit code {process.poll()}); "
                         f"its log:\n{server.log_tail()}")


@pytest.fixture
def spm_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., AppServer]]:
    """Start ``spm app --workspace W --port <free> --no-browser`` (the installed console
    script) in its own process group; returns once it printed its URL. Stopped after the test."""
    started: list[AppServer] = []
    logs = tmp_path_factory.mktemp("spm-app")

    def start(workspace: Path, apps: Path | None = None, timeout: float = 90.0) -> AppServer:
        server = launch_app(workspace, logs, apps=apps, timeout=timeout)
        started.append(server)
        return server

    yield start
    for server in started:
        _stop_group(server.process)


@dataclass
class DemoApps:
    """The session's ``spm app`` on the calculated demo company (:func:`demo_apps`)."""

    server: AppServer
    workspace: Path
    apps: Path


@pytest.fixture(scope="session")
def demo_apps(spm_demo_template: Path, tmp_path_factory: pytest.TempPathFactory,
              chromium_path: str) -> Iterator[DemoApps]:
    """One ``spm app`` for every browser test of the demo company's apps (index, overview,
    manager dashboard, rep statement, disputes, plan modeler, quota planning), started once
    per session on a private copy of the demo with 2026-09 closed and 2026-10 calculated
    (``tests.apps_support.calculated_demo``). Its kernels see ``SPM_USER`` = the rep of
    ``tests.apps_support.REP`` and ``SPM_ANALYST`` = ``ANALYST``. Tests that write (an
    inquiry, a resolution) compute what they expect from the workspace as they find it."""
    from tests.apps_server import demo_apps_folder
    from tests.apps_support import ANALYST, REP, calculated_demo

    root = tmp_path_factory.mktemp("demo-apps")
    workspace = calculated_demo(spm_demo_template, root / "northwind")
    apps = demo_apps_folder(root / "apps")
    server = launch_app(workspace, root, apps=apps, env={"SPM_USER": REP, "SPM_ANALYST": ANALYST}, timeout=180.0)
    try:
        yield DemoApps(server, workspace, apps)
    finally:
        _stop_group(server.process)


@pytest.fixture
def server(demo_apps: DemoApps) -> AppServer:
    """The shared ``spm app`` of the demo company's browser tests (a module whose server runs
    another company or sign-in defines its own ``server``)."""
    return demo_apps.server


@pytest.fixture
def company(demo_apps: DemoApps) -> Path:
    """The demo workspace ``server`` serves (modules with a company of their own override it)."""
    return demo_apps.workspace
