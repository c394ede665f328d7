"""Serving the workbench's Voila apps (``spm app``): where the apps are, how Voila is
started, and when it is ready.

Contracts:

* :func:`find_apps_dir` finds the folder of app notebooks: an explicit folder, else
  ``notebooks/apps`` of the source checkout this package was imported from, else the copy a
  wheel installs under ``<prefix>/share/spm-kernel/notebooks/apps``.
* :func:`voila_command` is the exact Voila command line: bound to 127.0.0.1 on one port
  (no silent fallback to another port), no token (local use), tracebacks hidden from app
  users, idle kernels culled after 60 s without a connection (``spm_kernel.app_kernels``:
  never a kernel a page was just given), kernels pre-heated for every app, and no JupyterLab
  extension loaded on the pages that no app uses (:data:`UNUSED_LABEXTENSIONS`). Without
  sign-in there is one user (the server's ``SPM_USER``), so a per-user app's content is the
  same for every request; behind sign-in (:mod:`spm_kernel.auth.identity`) a pre-heated
  notebook waits for the page request before it reads anything that depends on who is
  looking (:mod:`spm_kernel.auth.app_user`).
* :func:`serve` starts Voila with ``SPM_WORKSPACE`` set to the workspace folder (kernels
  inherit the server's environment), waits until it answers HTTP, reports the URL, and
  runs until Voila stops or the user presses Ctrl-C / sends SIGTERM (then Voila shuts its
  kernels down).
* **No tracebacks for app users.** :func:`serve` points the kernels' ``IPYTHONDIR`` at a
  profile (:func:`write_kernel_profile`) whose startup file calls
  :func:`install_error_handler`: an exception escaping a notebook cell is written with its
  traceback to the kernel's stderr, which is the server's log (``spm app``'s stderr), under
  a short error id, and the page shows only a friendly message with that id (an
  :class:`SPMError`, a user-level problem, shows its own message). Voila's own notice for
  the failed cell says where the details are (:data:`ERROR_INSTRUCTION`), never what they
  are (``--show_tracebacks=False``).
* :func:`app_catalogue` lists the apps (title, description, audience, per-user flag) from
  each notebook's ``metadata.spm``; :func:`index_html` is the index page that links them
  (``notebooks/apps/index.ipynb``).
"""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
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
# Voila replaces a pre-heated kernel a page took after this delay (its default is 1 s): the
# replacement runs the whole notebook, and on a small machine it would compete for the CPU
# with the page it was taken for, which is still drawing
POOL_REFILL_DELAY_SECONDS = 6
KERNEL_MANAGER = "spm_kernel.app_kernels.AppKernelManager"  # imported by Voila, not here
# JupyterLab extensions installed beside the apps' dependencies that no app page uses; Voila
# loads every installed one on every page unless told not to. jupyterlab-plotly renders
# plotly *outputs* (fig.show()) and ships a 4.8 MB bundle; the apps draw FigureWidgets
# (anywidget), whose bundle spm_widgets.charts sends once per page. (bqplot stays: ipydatagrid
# takes a shared module from it, and its grids are not drawn without it.)
UNUSED_LABEXTENSIONS = ("jupyterlab-plotly",)
READY_TIMEOUT_SECONDS = 60.0
INDEX_APP = "index.ipynb"
ERROR_INSTRUCTION = "The details are in the server log under the error id shown above."
STARTUP_FILE = "00-spm-app-errors.py"


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


def voila_command(apps_dir: Path, port: int) -> list[str]:
    """The command line that serves every notebook in ``apps_dir`` on 127.0.0.1:``port``."""
    return [
        sys.executable, "-m", "voila", str(apps_dir),
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={HOST}",
        "--Voila.port_retries=0",
        "--Voila.token=",
        "--Voila.log_level=WARN",
        "--show_tracebacks=False",
        f"--VoilaExecutor.cell_error_instruction={ERROR_INSTRUCTION}",
        "--preheat_kernel=True",
        f"--VoilaKernelManager.fill_delay={POOL_REFILL_DELAY_SECONDS}",
        f"--VoilaConfiguration.extension_denylist={json.dumps(list(UNUSED_LABEXTENSIONS))}",
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_SECONDS}",
        f"--MappingKernelManager.cull_interval={CULL_INTERVAL_SECONDS}",
        f"--VoilaConfiguration.multi_kernel_manager_class={KERNEL_MANAGER}",
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
    profile = Path(tempfile.mkdtemp(prefix="spm-app-ipython-"))
    env["IPYTHONDIR"] = str(write_kernel_profile(profile))
    from spm_kernel.auth.app_user import SIGN_IN_ENV
    from spm_kernel.auth.identity import with_authentication  # sign-in when the workspace has users (issue 9)

    plain = voila_command(apps_dir, port)
    command = with_authentication(plain, workspace)
    env.pop(SIGN_IN_ENV, None)
    if command != plain:
        env[SIGN_IN_ENV] = "1"  # kernels inherit it: they take the user from the request only
    process = subprocess.Popen(command, env=env)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        wait_until_answers(url, process, ready_timeout)
        echo(f"SPM workbench: {url}")
        index = index_url(apps_dir, port)
        if index != url:
            echo(f"Apps: {index}")
        if open_browser:
            webbrowser.open(index)
        return process.wait()
    except KeyboardInterrupt:
        stop(process)
        return 0
    except BaseException:
        stop(process)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(profile, ignore_errors=True)


# ---- errors in app kernels: a friendly message on the page, the traceback in the log ----
def error_html(message: str, error_id: str) -> str:
    """The message an app user sees in place of a traceback (inline styles: no stylesheet
    may have loaded yet when a first cell fails)."""
    return (
        '<div class="spm-error spm-app-error" style="border:1px solid #f5c2c2;background:#fff5f5;color:#7f1d1d;'
        'border-radius:10px;padding:14px 18px;margin:12px auto;max-width:900px;font-size:14px;'
        'font-family:-apple-system,Segoe UI,Roboto,Helvetica Neue,Arial,sans-serif">'
        f'<b>This app could not be shown.</b><br>{html.escape(message)}'
        f'<div class="spm-error-id" style="font-family:ui-monospace,Menlo,monospace;font-size:12px;margin-top:4px">'
        f'Error id {html.escape(error_id)}: quote it to your administrator.</div></div>')


def log_error(etype: type[BaseException], value: BaseException, tb: object, where: str = "") -> str:
    """Write the traceback to the server log (the kernel's original stderr) under a new
    error id; return the id."""
    error_id = uuid.uuid4().hex[:8].upper()
    trace = "".join(traceback.format_exception(etype, value, tb))  # type: ignore[arg-type]
    stream = sys.__stderr__
    if stream is not None:
        stream.write(f"[spm app] error {error_id}{f' in {where}' if where else ''}\n{trace}")
        stream.flush()
    return error_id


def install_error_handler(shell: object | None = None) -> None:
    """In an app kernel: every exception escaping a cell is logged (:func:`log_error`) and
    shown as :func:`error_html`; the cell still fails (Voila stops the notebook there)."""
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None:
        return

    def handler(self: object, etype: type[BaseException], value: BaseException, tb: object,
                tb_offset: int | None = None) -> list[str]:
        from IPython.display import HTML, display

        error_id = log_error(etype, value, tb, os.environ.get("VOILA_KERNEL_ID", ""))
        message = str(value) if isinstance(value, SPMError) else \
            "Something went wrong while preparing this app. Please try again later."
        display(HTML(error_html(message, error_id)))
        # an error output without details, so Voila marks the cell as failed (and strips it)
        self._showtraceback(etype, value, [f"error id {error_id}"])  # type: ignore[attr-defined]
        return []

    shell.set_custom_exc((Exception,), handler)  # type: ignore[attr-defined]


def write_kernel_profile(folder: Path) -> Path:
    """An IPython directory whose default profile installs :func:`install_error_handler` at
    kernel start; returns ``folder`` (use it as ``IPYTHONDIR``)."""
    startup = folder / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / STARTUP_FILE).write_text(
        "# written by `spm app`: app users see a friendly error with an id, the server log the traceback\n"
        "from spm_kernel.app_server import install_error_handler\n"
        "install_error_handler()\n", "utf-8")
    return folder


# ---- the index page ----
KNOWN_APPS: dict[str, dict[str, object]] = {  # used when a notebook's metadata.spm leaves a field out
    "manager_dashboard.ipynb": {"order": 10, "audience": "Managers",
                                "description": "Attainment, KPIs with trend and benchmark, leaderboard and areas "
                                               "for improvement, by period, team, region and segment."},
    "rep_statement.ipynb": {"order": 20, "audience": "Reps",
                            "description": "Your statement: every payout line explained, attainment, draws and "
                                           "balances, downloads, and inquiries on a line."},
    "plan_modeler.ipynb": {"order": 30, "audience": "Analysts and sales leaders",
                           "description": "Edit tiers, rates, caps and gates; see the payout curve and who "
                                          "earns more or less against the current plan."},
    "quota_planning.ipynb": {"order": 40, "audience": "Sales operations",
                             "description": "Allocate a company target top-down, compare it with bottom-up "
                                            "capacity at every level, and check fairness."},
    "forecast.ipynb": {"order": 50, "audience": "Managers and sales operations",
                       "description": "Bookings fan charts, commit / expected / best case, and the chance each "
                                      "rep and team reaches quota."},
    "disputes.ipynb": {"order": 60, "audience": "Analysts",
                       "description": "Review inquiries on payout lines, resolve them with an adjustment or "
                                      "reject them."},
    "overview.ipynb": {"order": 90, "audience": "Administrators",
                       "description": "What the workspace holds: tables, row counts, date ranges and plugins."},
}


def app_catalogue(apps_dir: Path) -> list[dict[str, object]]:
    """Every app notebook except the index: ``name`` (file), ``title``, ``description``,
    ``audience``, ``per_user`` and ``order`` from ``metadata.spm``, sorted by order then title."""
    apps: list[dict[str, object]] = []
    for path in sorted(Path(apps_dir).glob("*.ipynb")):
        if path.name == INDEX_APP:
            continue
        try:
            meta = json.loads(path.read_text("utf-8")).get("metadata", {}).get("spm", {})
        except (OSError, ValueError) as exc:
            raise SPMError(f"{path}: not a readable notebook ({exc})") from None
        known = KNOWN_APPS.get(path.name, {})
        apps.append({"name": path.name, "title": str(meta.get("title") or path.stem.replace("_", " ").title()),
                     "description": str(meta.get("description", known.get("description", ""))),
                     "audience": str(meta.get("audience", known.get("audience", ""))),
                     "per_user": bool(meta.get("per_user", False)),
                     "order": int(meta.get("order", known.get("order", 100)))})  # type: ignore[call-overload]
    return sorted(apps, key=lambda a: (a["order"], a["title"]))


def index_url(apps_dir: Path, port: int) -> str:
    """The index app's URL when there is one, else the server's root (Voila's tree)."""
    return app_url(port) + f"voila/render/{INDEX_APP}" if (Path(apps_dir) / INDEX_APP).exists() else app_url(port)


INDEX_CSS = """
<style>
.spm-index { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1f2937;
  max-width: 1180px; margin: 0 auto; padding: 8px 4px 32px; }
.spm-index-header { background: linear-gradient(120deg, #0f2a4a 0%, #1d4e89 100%); color: #fff; border-radius: 10px;
  padding: 20px 26px; }
.spm-index-header .spm-eyebrow { font-size: 11px; text-transform: uppercase; letter-spacing: 1.2px; opacity: .75; }
.spm-index-header .spm-title { font-size: 28px; font-weight: 650; }
.spm-index-header .spm-subtitle { font-size: 13px; opacity: .85; margin-top: 4px; }
.spm-index-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 16px; margin-top: 18px; }
.spm-index-card { display: block; background: #fff; border: 1px solid #e5e7eb; border-radius: 12px; padding: 18px 20px;
  text-decoration: none; color: inherit; box-shadow: 0 1px 2px rgba(16,24,40,.06); transition: box-shadow .15s, border-color .15s; }
.spm-index-card:hover { border-color: #1d4e89; box-shadow: 0 4px 14px rgba(16,24,40,.12); }
.spm-index-card .spm-card-title { font-size: 17px; font-weight: 650; color: #0f2a4a; }
.spm-index-card .spm-card-text { font-size: 13px; color: #4b5563; margin-top: 6px; line-height: 1.45; }
.spm-index-card .spm-card-meta { margin-top: 12px; display: flex; gap: 8px; flex-wrap: wrap; }
.spm-index-card .spm-tag { font-size: 11px; font-weight: 600; border-radius: 999px; padding: 2px 9px; background: #eef2f8;
  color: #1d4e89; }
.spm-index-card .spm-tag-user { background: #fff4e5; color: #9a4a00; }
.spm-index-foot { font-size: 12px; color: #6b7280; margin-top: 18px; }
</style>
"""


def workspace_name(folder: str | os.PathLike[str] | None = None) -> str:
    """The company name in ``workspace.yaml`` of ``folder`` (default: ``SPM_WORKSPACE``);
    '' when there is none (the database is not opened)."""
    from spm_kernel.config import read_config

    folder = folder if folder is not None else os.environ.get(WORKSPACE_ENV, "")
    if not folder:
        return ""
    try:
        return read_config(Path(folder)).name
    except Exception:  # noqa: BLE001 - the index works without a name
        return ""


def index_html(apps_dir: Path | None = None, company: str = "") -> str:
    """The index page: one card per app (:func:`app_catalogue`) linking to its Voila page
    (relative links, so it works behind any prefix)."""
    apps = app_catalogue(Path(apps_dir) if apps_dir is not None else Path.cwd())
    cards = []
    for app in apps:
        tags = f'<span class="spm-tag">{html.escape(str(app["audience"]))}</span>' if app["audience"] else ""
        if app["per_user"]:
            tags += '<span class="spm-tag spm-tag-user">uses your sign-in</span>'
        cards.append(
            f'<a class="spm-index-card" data-app="{html.escape(str(app["name"]))}" '
            f'href="{html.escape(str(app["name"]))}" target="_self">'
            f'<div class="spm-card-title">{html.escape(str(app["title"]))}</div>'
            f'<div class="spm-card-text">{html.escape(str(app["description"]))}</div>'
            f'<div class="spm-card-meta">{tags}</div></a>')
    subtitle = f"{html.escape(company)} · " if company else ""
    return (INDEX_CSS + '<div class="spm-index"><div class="spm-index-header"><div class="spm-eyebrow">SPM workbench</div>'
            '<div class="spm-title">Apps</div>'
            f'<div class="spm-subtitle">{subtitle}{len(apps)} apps for managers, reps and analysts</div></div>'
            f'<div class="spm-index-cards">{"".join(cards)}</div>'
            '<div class="spm-index-foot">Analysts work in JupyterLab notebooks on the same workspace.</div></div>')
