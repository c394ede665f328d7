"""Shared by the widget and app tests of the manager dashboard, rep statement and disputes
apps: the demo company with two calculated months, and helpers for `spm app` servers.

* :func:`calculated_demo` copies the session's scale-1 demo template once per test process
  and calculates 2026-09 (closed) and 2026-10 (open) in it; each caller gets its own copy.
* :func:`start_app_server` starts the real ``spm app`` console script (its own process
  group, extra environment variables for its kernels) and waits for its URL;
  :func:`stop_app_server` stops it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import AppServer, _stop_group, launch_app

CLOSED, OPEN = "2026-09", "2026-10"
REP = "P0000022"  # a rep paid a commission, a SPIFF line and a draw top-up in 2026-10
ANALYST = "ana.analyst"  # the disputes app's signed-in analyst (SPM_ANALYST)
_BUILT: dict[str, Path] = {}


def calculated_demo(template: Path, target: Path) -> Path:
    """A private copy of the demo with 2026-09 calculated and closed and 2026-10 calculated."""
    import spm_kernel

    key = str(template)
    if key not in _BUILT:
        base = template.parent.parent / f"{template.parent.name}-calculated" / "northwind"
        if not base.exists():
            shutil.copytree(template, base)
            with spm_kernel.open(base) as ws:
                ws.calculate(CLOSED, actor="test", progress=False)
                ws.close_period(CLOSED, actor="test")
                ws.calculate(OPEN, actor="test", progress=False)
        _BUILT[key] = base
    shutil.copytree(_BUILT[key], target)
    return target


APPS = Path(__file__).resolve().parent.parent / "notebooks" / "apps"
# A page load runs the notebook (imports, workspace reads): seconds on a quiet machine, much
# longer on a busy one. Waits are for real content, with this much patience.
PAGE_MS = 300_000


def apps_folder(target: Path, *names: str) -> Path:
    """A folder holding only the named app notebooks (so the server preheats nothing else)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(APPS / name, target / name)
    return target


def start_app_server(workspace: Path, log_dir: Path, env: dict[str, str] | None = None,
                     apps: Path | None = None, timeout: float = 180.0) -> AppServer:
    """``spm app --workspace W --port <free> --no-browser [--apps DIR]`` with ``env`` added for
    its kernels."""
    return launch_app(workspace, log_dir, apps=apps, env=env, timeout=timeout)


def stop_app_server(server: AppServer) -> None:
    _stop_group(server.process)


def choose(page: object, selector: str, starts_with: str, timeout: float = PAGE_MS) -> str:
    """Pick the option of the ``<select>`` under ``selector`` whose text starts with
    ``starts_with``, once it is there (ipywidgets writes labels with non-breaking spaces and
    uses them as values, so the option is found by its text and chosen by its index);
    returns its label."""
    finder = (f"() => [...document.querySelectorAll({selector + ' select option'!r})]"
              f".findIndex(o => o.textContent.replace(/\\u00a0/g, ' ').startsWith({starts_with!r}))")
    page.wait_for_function(f"() => ({finder})() >= 0", timeout=timeout)  # type: ignore[attr-defined]
    index = int(page.evaluate(finder))  # type: ignore[attr-defined]
    page.locator(selector + " select").select_option(index=index)  # type: ignore[attr-defined]
    return str(page.evaluate(  # type: ignore[attr-defined]
        f"() => document.querySelectorAll({selector + ' select option'!r})[{index}].textContent"))


# Plotly draws a bar as a <path> under `.barlayer .point` and a line trace as `path.js-line`;
# an empty chart has axes but none of these (what a figure whose widget never initialised shows).
BAR_HEIGHTS_JS = """sel => [...document.querySelectorAll(sel + ' .barlayer .point path')]
    .map(p => Math.round(p.getBBox().height))"""
LINE_POINTS_JS = """sel => [...document.querySelectorAll(sel + ' .scatterlayer path.js-line')]
    .map(p => (p.getAttribute('d') || '').split(/[ML]/).filter(s => s.trim()).length)"""


def drawn_bars(page: object, selector: str, expected_nonzero: int, timeout: float = 60_000) -> list[int]:
    """The pixel heights of the bars drawn under ``selector`` once exactly
    ``expected_nonzero`` of them have a height (waits: a chart redraws after its data arrive)."""
    page.wait_for_function(  # type: ignore[attr-defined]
        f"sel => ({BAR_HEIGHTS_JS})(sel).filter(h => h > 0).length === {int(expected_nonzero)}",
        arg=selector, timeout=timeout)
    return list(page.evaluate(BAR_HEIGHTS_JS, selector))  # type: ignore[attr-defined]


def drawn_line_points(page: object, selector: str, minimum: int = 2, timeout: float = 60_000) -> list[int]:
    """Points per line trace drawn under ``selector``, once at least one line has ``minimum``."""
    page.wait_for_function(  # type: ignore[attr-defined]
        f"sel => ({LINE_POINTS_JS})(sel).some(n => n >= {int(minimum)})", arg=selector, timeout=timeout)
    return list(page.evaluate(LINE_POINTS_JS, selector))  # type: ignore[attr-defined]
