"""Serving the workbench's Voila apps (``spm app``): where the apps are, how Voila is
started, and when it is ready.

Contracts:

* :func:`find_apps_dir` finds the folder of app notebooks: an explicit folder, else
  ``notebooks/apps`` of the source checkout this package was imported from, else the copy a
  wheel installs under ``<prefix>/share/spm-kernel/notebooks/apps``.
* :func:`voila_command` is the exact Voila command line: bound to 127.0.0.1 on one port
  (no silent fallback to another port), no token (local use), tracebacks hidden from app
  users, idle kernels culled after 60 s, and kernels pre-heated for every app except those
  whose notebook metadata says ``{"spm": {"per_user": true}}`` (an app whose content
  depends on who is looking must never be rendered before the request).
* :func:`serve` starts Voila with ``SPM_WORKSPACE`` set to the workspace folder (kernels
  inherit the server's environment), waits until it answers HTTP, reports the URL, and
  runs until Voila stops or the user presses Ctrl-C / sends SIGTERM (then Voila shuts its
  kernels down).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from spm_kernel.errors import SPMError

HOST = "127.0.0.1"
DEFAULT_PORT = 8866
WORKSPACE_ENV = "SPM_WORKSPACE"
INSTALLED_APPS = Path("share") / "spm-kernel" / "notebooks" / "apps"
CULL_IDLE_SECONDS = 60
CULL_INTERVAL_SECONDS = 30
READY_TIMEOUT_SECONDS = 60.0


def candidate_apps_dirs(prefix: Path | None = None) -> list[Path]:
    """Where the app notebooks are looked for, in order (without an explicit ``--apps``)."""
    checkout = Path(__file__).resolve().parent.parent / "notebooks" / "apps"
    installed = Path(prefix if prefix is not None else sys.prefix) / INSTALLED_APPS
    return [checkout, installed]


def _has_notebooks(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.ipynb"))


def find_apps_dir(explicit: Path | None = None, prefix: Path | None = None) -> Path:
    """The folder holding the app notebooks; raises SPMError naming every place looked at."""
    if explicit is not None:
        folder = explicit.expanduser().resolve()
        if not _has_notebooks(folder):
            raise SPMError(f"--apps {explicit}: no folder with .ipynb notebooks there")
        return folder
    candidates = candidate_apps_dirs(prefix)
    for folder in candidates:
        if _has_notebooks(folder):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise SPMError(f"cannot find the app notebooks (looked in {looked}); pass --apps DIR")


def per_user_apps(apps_dir: Path) -> list[str]:
    """Notebooks (relative paths) marked ``{"spm": {"per_user": true}}``: never pre-heated."""
    names = []
    for path in sorted(apps_dir.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        try:
            metadata = json.loads(path.read_text("utf-8")).get("metadata", {})
        except (OSError, ValueError) as exc:
            raise SPMError(f"{path}: not a readable notebook ({exc})") from None
        if metadata.get("spm", {}).get("per_user"):
            names.append(path.relative_to(apps_dir).as_posix())
    return names


def voila_command(apps_dir: Path, port: int) -> list[str]:
    """The command line that serves every notebook in ``apps_dir`` on 127.0.0.1:``port``."""
    denylist = per_user_apps(apps_dir)
    return [
        sys.executable, "-m", "voila", str(apps_dir),
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={HOST}",
        "--Voila.port_retries=0",
        "--Voila.token=",
        "--Voila.log_level=WARN",
        "--show_tracebacks=False",
        "--preheat_kernel=True",
        f"--VoilaKernelManager.preheat_denylist={json.dumps(denylist)}",
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_SECONDS}",
        f"--MappingKernelManager.cull_interval={CULL_INTERVAL_SECONDS}",
    ]


def app_url(port: int) -> str:
    return f"http://{HOST}:{port}/"


def check_port_free(port: int) -> None:
    """Raise SPMError if something already listens on 127.0.0.1:``port``."""
    if not 1 <= port <= 65535:
        raise SPMError(f"--port {port}: a port is a number from 1 to 65535")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            raise SPMError(f"port {port} on {HOST} is in use; choose another with --port") from None


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when an HTTP server answers ``url`` with any status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def wait_until_answers(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll ``url`` until it answers; SPMError if the server exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise SPMError(f"the app server stopped with exit code {code} before answering at {url} "
                           f"(its messages are above)")
        if answers(url):
            return
        time.sleep(0.25)
    raise SPMError(f"the app server did not answer at {url} within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """Ask Voila to stop (SIGTERM: it shuts its kernels down), then kill it after ``grace``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve(
    apps_dir: Path,
    workspace: Path,
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    echo: Callable[[str], object] = print,
    ready_timeout: float = READY_TIMEOUT_SECONDS,
) -> int:
    """Serve the apps until Voila stops; return its exit code (0 after Ctrl-C or SIGTERM)."""
    check_port_free(port)
    env = dict(os.environ)
    env[WORKSPACE_ENV] = str(workspace)
    url = app_url(port)
    process = subprocess.Popen(voila_command(apps_dir, port), env=env)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        wait_until_answers(url, process, ready_timeout)
        echo(f"SPM workbench: {url}")
        if open_browser:
            webbrowser.open(url)
        return process.wait()
    except KeyboardInterrupt:
        stop(process)
        return 0
    except BaseException:
        stop(process)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
