"""How fast the workbench's Voila apps feel, in real Chromium, on the demo company.

Targets (issue 8): every app shows its content within 5 s of page load; a filter change or a
slider move updates numbers and charts within 500 ms (median of 10).

What is measured, per app (``spm app`` serving every shipped app, preheated kernels):

* **load**: from ``page.goto`` to the app's real content being visible (a selector with
  numbers, not HTTP 200); the median of ``--loads`` page loads, each on a fresh page.
* **update**: a filter change or slider move (keyboard/select, as a user would), timed from
  the input until the watched numbers or chart on the page change; the median of
  ``--repeats`` changes. The plan modeler has two: the payout curve (redrawn at once) and
  the exact what-if totals (``ws.compare``, in the background).
* **baseline**: the same kernel call without the browser, in this process (``ws.compare``,
  ``allocate_quotas``, the forecast explorer's recompute); **ratio** = update / baseline, so
  a slow machine shows up in both and the browser's overhead in the ratio.

The forecast's PyMC fit is cached on disk before timing (it is reported, not part of a page
load: the app fits once per data and reads the cache afterwards).

    python benchmarks/bench_apps.py --quick      # 1 load and 3 changes per app
    python benchmarks/bench_apps.py              # 3 loads and 10 changes per app

Prints a table; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "widgets"))

LOAD_TARGET_S = 5.0
UPDATE_TARGET_S = 0.5
CHROMIUM = "/usr/bin/chromium"


@dataclass
class AppSpec:
    """One app: its content selector, the change a user makes, and what must change."""

    notebook: str
    label: str
    content: str
    select: str | None = None          # a <select> cycled through its options
    key: str | None = None             # a slider handle moved with ArrowRight / ArrowLeft
    click: list[str] = field(default_factory=list)  # buttons clicked in turn
    watch: str = ""                    # JS expression: the text that must change
    watch_exact: str = ""              # plan modeler: the exact what-if's text
    wait_after: float = 0.0            # let a background computation settle before the next change


def _text(selector: str) -> str:
    return f"(() => {{ const e = document.querySelector({json.dumps(selector)}); return e ? e.innerText : ''; }})()"


SPECS = [
    AppSpec("index.ipynb", "Index", ".spm-index-card"),
    AppSpec("overview.ipynb", "Overview", ".spm-kpi-opportunities .spm-kpi-value"),
    AppSpec("manager_dashboard.ipynb", "Manager dashboard", ".spm-dashboard .spm-kpi .spm-kpi-value",
            select=".spm-filter-period select", watch=_text(".spm-dashboard .spm-kpis")),
    AppSpec("rep_statement.ipynb", "Rep statement", ".spm-statement .spm-kpi .spm-kpi-value",
            select=".spm-statement .spm-filter-period select", watch=_text(".spm-statement .spm-kpis")),
    AppSpec("disputes.ipynb", "Disputes queue", ".spm-app .spm-filters",
            select=".spm-filter-status select", watch=_text(".spm-app")),
    AppSpec("plan_modeler.ipynb", "Plan modeler", ".spm-pm-totals td.spm-whatif", key=".spm-pm-rate-2 .noUi-handle",
            watch="(() => { const p = document.querySelectorAll('.spm-pm-chart .js-plotly-plot path.js-line');"
                  " return p.length > 1 ? p[1].getAttribute('d') : ''; })()",
            watch_exact=_text(".spm-pm-totals tbody"), wait_after=0.0),
    AppSpec("quota_planning.ipynb", "Quota planning", ".spm-qp-nodes td.spm-top-down",
            click=[".spm-qp-method button:has-text('Even')", ".spm-qp-method button:has-text('History')"],
            watch=_text(".spm-qp-nodes tbody")),
    AppSpec("forecast.ipynb", "Forecast", ".spm-fx-expected .spm-kpi-value", select=".spm-fx-window select",
            watch=_text(".spm-kpis")),
]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# ---- the demo company and the server ----
def demo_company(workdir: Path) -> Path:
    from spm_kernel.demo import build_demo

    folder = workdir / "demo-scale1"
    if not (folder / "workspace.duckdb").exists():
        print(f"building the demo company (scale 1) in {folder} (once; not measured) ...", flush=True)
        build_demo(folder, scale=1, seed=7, progress=False).close()
    import spm_kernel

    spm_kernel.open(folder).close()  # migrate if the build is older than the code
    return folder


def a_rep(folder: Path) -> str:
    import spm_kernel

    with spm_kernel.open(folder, read_only=True) as ws:
        return str(ws.sql("SELECT min(payee_id) AS p FROM payees WHERE role = 'rep'")["p"][0])


def start_server(folder: Path, log: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spm = Path(sys.executable).parent / "spm"
    err = log.open("wb")
    process = subprocess.Popen([str(spm), "app", "--workspace", str(folder), "--port", str(port), "--no-browser"],
                               stdout=subprocess.PIPE, stderr=err, env={**os.environ, **env}, start_new_session=True)
    assert process.stdout is not None
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode(errors="replace").strip()
        if line == f"SPM workbench: {url}":
            return process, url
        if not line and process.poll() is not None:
            break
    raise SystemExit(f"spm app did not start; see {log}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


# ---- baselines: the kernel calls without the browser ----
def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        clock = time.perf_counter()
        fn()
        out.append(time.perf_counter() - clock)
    return out


def baselines(folder: Path, repeats: int, forecast_config: dict[str, Any]) -> dict[str, Any]:
    import spm_kernel
    from spm_kernel.plans import load_plan_text
    from spm_kernel.planning import allocate_quotas
    from spm_widgets.forecast_explorer import ForecastExplorerModel
    from spm_widgets.quota_planner import QuotaPlannerModel

    out: dict[str, Any] = {}
    with spm_kernel.open(folder, read_only=True) as ws:
        text = (ws.plans_dir / "fy2026-ae-plan.yaml").read_text("utf-8")
        edited = load_plan_text(text.replace("rate: 0.12", "rate: 0.125"), ws.registry.plan_types)
        ws.compare("ae-plan@1", edited, "FY2026")  # warm the credits cache, as the app's first what-if does
        out["plan_modeler"] = timed(lambda: ws.compare("ae-plan@1", edited, "FY2026"), repeats)
    qp = QuotaPlannerModel.from_path(folder)
    with spm_kernel.open(folder, read_only=True) as ws:
        out["quota_planning"] = timed(lambda: allocate_quotas(ws, **qp.options()), max(1, repeats // 2))
    clock = time.perf_counter()
    fx = ForecastExplorerModel.from_path(folder, config=forecast_config)
    fx.fit()
    out["forecast_fit_s"] = time.perf_counter() - clock
    out["forecast_fit_cached"] = fx.from_cache
    windows = fx.windows

    def recompute() -> None:
        fx.window = windows[1] if fx.window == windows[0] else windows[0]
        fx.compute()

    out["forecast"] = timed(recompute, repeats)
    return out


# ---- the browser ----
def measure_app(browser: Any, url: str, spec: AppSpec, loads: int, repeats: int) -> dict[str, Any]:
    result: dict[str, Any] = {"app": spec.notebook, "loads": [], "updates": [], "updates_exact": [], "error": ""}
    page = None
    for i in range(loads):
        if page is not None:
            page.close()
            time.sleep(2.0)  # let the preheated pool refill between loads
        page = browser.new_page(viewport={"width": 1320, "height": 1600})
        clock = time.perf_counter()
        try:
            page.goto(url + f"voila/render/{spec.notebook}", timeout=300_000)
            page.wait_for_selector(spec.content, timeout=300_000)
        except Exception as exc:  # noqa: BLE001 - reported in the table
            result["error"] = f"no content: {str(exc).splitlines()[0]}"
            page.close()
            return result
        result["loads"].append(time.perf_counter() - clock)
    assert page is not None
    if spec.select or spec.key or spec.click:
        page.wait_for_timeout(500)
        options = page.eval_on_selector_all(f"{spec.select} option", "os => os.map(o => o.value)") if spec.select else []
        for i in range(repeats):
            before = page.evaluate(spec.watch)
            exact_before = page.evaluate(spec.watch_exact) if spec.watch_exact else ""
            clock = time.perf_counter()
            try:
                if spec.select:
                    if len(options) < 2:
                        result["error"] = "the filter has one option"
                        break
                    page.select_option(spec.select, options[(i + 1) % len(options)] if i % 2 == 0 else options[0])
                elif spec.key:
                    page.focus(spec.key)
                    page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                else:
                    page.click(spec.click[i % len(spec.click)])
                page.wait_for_function(f"b => {spec.watch} !== b", arg=before, timeout=120_000)
                result["updates"].append(time.perf_counter() - clock)
                if spec.watch_exact:
                    page.wait_for_function(f"b => {spec.watch_exact} !== b", arg=exact_before, timeout=300_000)
                    result["updates_exact"].append(time.perf_counter() - clock)
            except Exception as exc:  # noqa: BLE001 - reported in the table
                result["error"] = f"no update: {str(exc).splitlines()[0]}"
                break
            if spec.wait_after:
                time.sleep(spec.wait_after)
    page.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 page load and 3 changes per app")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".cache" / "bench-apps")
    parser.add_argument("--loads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    loads = args.loads or (1 if args.quick else 3)
    repeats = args.repeats or (3 if args.quick else 10)
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTENSOR_FLAGS", f"compiledir={ROOT / '.cache' / 'pytensor'}")
    from spm_widgets.forecast_explorer import APP_CONFIG

    folder = demo_company(args.workdir)
    print("baselines: the kernel calls in this process ...", flush=True)
    base = baselines(folder, repeats, APP_CONFIG)
    rep = a_rep(folder)
    log = Path(tempfile.mkdtemp(prefix="bench-apps-")) / "server.log"
    print(f"serving every app (SPM_USER={rep} for the per-user apps); server log {log}", flush=True)
    process, url = start_server(folder, log, {"SPM_USER": rep})
    results = []
    try:
        from playwright.sync_api import sync_playwright

        time.sleep(5.0)  # the preheated kernels start rendering
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                for spec in SPECS:
                    print(f"  {spec.label} ...", flush=True)
                    results.append(measure_app(browser, url, spec, loads, repeats))
            finally:
                browser.close()
    finally:
        stop_server(process)

    keys = {"plan_modeler.ipynb": "plan_modeler", "quota_planning.ipynb": "quota_planning", "forecast.ipynb": "forecast"}
    rows, figures = [], {}
    for spec, r in zip(SPECS, results):
        load, upd, exact = median(r["loads"]), median(r["updates"]), median(r["updates_exact"])
        b = median(base.get(keys.get(spec.notebook, ""), []))
        ratio = (exact or upd) / b if b and (exact or upd) else None
        figures[spec.notebook] = {"load_s": load, "update_s": upd, "update_exact_s": exact, "baseline_s": b,
                                  "ratio": ratio, "loads": len(r["loads"]), "updates": len(r["updates"]),
                                  "load_ok": load is not None and load <= LOAD_TARGET_S,
                                  "update_ok": (upd <= UPDATE_TARGET_S) if upd is not None else None,
                                  "error": r["error"]}
        fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
        rows.append((spec.label, fmt(load), fmt(upd), fmt(exact), fmt(b), "–" if ratio is None else f"{ratio:.2f}x",
                     r["error"]))
    head = ("app", "load s (median)", "update s (median)", "exact what-if s", "baseline s", "ratio", "note")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    print()
    print(f"Apps in Chromium on the demo company: content within {LOAD_TARGET_S:.0f} s of page load, "
          f"updates within {UPDATE_TARGET_S * 1000:.0f} ms (median of {repeats}); {loads} load(s) per app")
    for line in (head, tuple("-" * w for w in widths), *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)))
    print(f"forecast fit before timing: {base['forecast_fit_s']:.1f} s (cached: {base['forecast_fit_cached']}); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    summary = {"benchmark": "bench_apps", "quick": args.quick, "loads": loads, "repeats": repeats,
               "load_target_s": LOAD_TARGET_S, "update_target_s": UPDATE_TARGET_S, "apps": figures,
               "forecast_fit_s": base["forecast_fit_s"], "load_average": os.getloadavg()[0],
               "all_loads_within_target": all(f["load_ok"] for f in figures.values()),
               "all_updates_within_target": all(f["update_ok"] for f in figures.values() if f["update_ok"] is not None)}
    print(json.dumps(summary, default=lambda v: float(v) if isinstance(v, Decimal) else str(v)))


if __name__ == "__main__":
    main()
