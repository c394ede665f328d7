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


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:
    """A headless Chromium (Playwright sync API), closed after the test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


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
