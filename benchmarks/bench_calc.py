"""Benchmark of the compensation engine (issue 3, section 9).

On the demo company at ``--scale`` (50 = about 10,000 payees; the year-to-date credit
window of a fourth quarter then holds over 10 million credit rows) with a rep plan and a
manager plan of three components each (cumulative step tiers on attainment with a plan-year
cap, a SPIFF, a milestone bonus; managers paid on roll-up credit):

1. ``ws.calculate(QUARTER)``: the whole run (credits, attainment, payout lines, written in
   one transaction), in a child process so that its peak memory (RSS) is its own.
   Targets: under 30 s, under 6 GB.
2. Baseline measured in the same run: a bare DuckDB pass over the same credits,
   ``sum(amount) over (partition by payee order by credit_date)``, materialised.
3. Baseline: the plain ``Decimal`` reference implementation of the plan types on a subset
   of payees, scaled to every credit; target: the engine at least 20x faster. The subset's
   lines are also checked equal to the engine's, to the cent.
4. ``ws.compare`` of this year's plan and a proposed one on the 200-payee demo (scale 1)
   over FY2026, cold and warm (credits cached); target: warm under 1 s.

Prints a readable table, then one line of JSON with every figure. ``--quick`` runs scale 5
(about 1,000 payees). Demo workspaces are built once under ``--workdir`` and copied for
each run, so building them is not measured.

    .venv/bin/python benchmarks/bench_calc.py --quick
    .venv/bin/python benchmarks/bench_calc.py --scale 50
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import spm_kernel.plans  # noqa: E402,F401 - import order: plans before plan types

TARGET_SECONDS = 30.0
TARGET_GB = 6.0
TARGET_SPEEDUP = 20.0
TARGET_COMPARE = 1.0

REP_PLAN = """\
plan_id: bench-rep
version: 1
name: Benchmark rep plan
effective_from: 2026-01-01
effective_to: 2026-12-31
target_incentive: 60000
assignments:
  - role: rep
components:
  - id: commission
    type: rate_table
    measure: {name: bookings, kinds: [booking, cancellation, refund], credit_types: [direct, split, rule],
              window: plan_year, quota_measure: bookings_annual}
    basis: attainment
    application: step
    scope: cumulative
    tiers:
      - {from: 0, to: 0.5, rate: 0.04}
      - {from: 0.5, to: 1.0, rate: 0.08}
      - {from: 1.0, rate: 0.12}
    caps:
      - {scope: plan_year, multiple_of_target_incentive: 2}
  - id: ai_spiff
    type: spiff
    start: 2026-10-01
    end: 2026-12-31
    measure: {name: ai bookings, kinds: [booking, cancellation, refund], credit_types: [direct, split, rule],
              filter: "product == 'AI Insights'"}
    pay: per_deal
    amount: 500
  - id: club
    type: milestone_bonus
    measure: {name: bookings, kinds: [booking, cancellation, refund], credit_types: [direct, split, rule],
              window: plan_year, quota_measure: bookings_annual}
    basis: attainment
    scope: individual
    milestones:
      - {at: 1.0, amount: 5000}
      - {at: 1.25, amount: 2500}
"""
MANAGER_PLAN = (REP_PLAN.replace("bench-rep", "bench-mgr").replace("Benchmark rep plan", "Benchmark manager plan")
                .replace("  - role: rep\n", "  - role: manager\n  - role: director\n  - role: vp\n")
                .replace("credit_types: [direct, split, rule]", "credit_types: [rollup]"))


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # Linux: KiB


def demo(workdir: Path, scale: int) -> Path:
    """The demo company at ``scale``, built once under ``workdir``."""
    from spm_kernel.demo import build_demo

    folder = workdir / f"demo-scale{scale}"
    if not (folder / "workspace.duckdb").exists():
        print(f"building the demo company at scale {scale} in {folder} (once; not measured) ...", flush=True)
        started = time.perf_counter()
        build_demo(folder, scale=scale, progress=False).close()
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return folder


def fresh_copy(source: Path, target: Path, plans: dict[str, str]) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for stale in (target / "plans").glob("*.y*ml"):
        stale.unlink()
    for name, text in plans.items():
        (target / "plans" / name).write_text(text, encoding="utf-8")
    # Write the copy to disk now: a run's COMMIT syncs the database file, and would otherwise
    # pay for flushing the whole freshly copied workspace (2 s at scale 50), which a workspace
    # in use never carries.
    os.sync()
    return target


# ---- child: the measured calculation ----
def child_calc(folder: Path, period: str, subset: int) -> dict[str, Any]:
    from spm_kernel.crediting import CREDITS, compute_credits, drop_credits, read_crediting_config
    from spm_kernel.engine.calculate import credits_frame, load_book, plan_windows, plan_year_of
    from spm_kernel.periods import parse_period
    from spm_kernel.plans import calculate_period
    from spm_kernel.workspace import open_workspace

    ws = open_workspace(folder)
    ws.con.execute("SET enable_progress_bar = false")
    cpu0 = cpu_seconds()
    started = time.perf_counter()
    run = ws.calculate(period, progress=False)
    calc_seconds = time.perf_counter() - started
    peak = rss_gb()
    out: dict[str, Any] = {"calc_seconds": calc_seconds, "calc_cpu_seconds": cpu_seconds() - cpu0,
                           "peak_rss_gb": peak, "run_timings": run.timings,
                           "lines": run.line_count, "stored_credits": run.credit_count}
    # the same credits again (not timed), for the baselines
    fsm = ws.config.fiscal_year_start_month
    target = parse_period(period, fsm)
    book = load_book(ws)
    plan_year = plan_year_of(target, fsm)
    start, end, _ = plan_windows(book, target, plan_year)
    summary = compute_credits(ws.con, start, end, read_crediting_config(ws.path), fiscal_year_start_month=fsm)
    out["window_credits"] = summary.credits
    out["window_transactions"] = summary.transactions
    out["payees"] = int(ws.con.execute("SELECT count(*) FROM payees").fetchall()[0][0])
    # baseline 1: a bare DuckDB window pass over the same credits, materialised
    ws.con.execute(f"CREATE OR REPLACE TEMP TABLE __same AS SELECT payee_id, credit_date, amount FROM {CREDITS}")
    t, c = time.perf_counter(), cpu_seconds()
    ws.con.execute("CREATE OR REPLACE TEMP TABLE __bare AS SELECT payee_id, credit_date, "
                   "sum(amount) OVER (PARTITION BY payee_id ORDER BY credit_date) AS running FROM __same")
    out["bare_seconds"] = time.perf_counter() - t
    out["bare_cpu_seconds"] = cpu_seconds() - c
    ws.con.execute("DROP TABLE __bare")
    ws.con.execute("DROP TABLE __same")
    # baseline 2: the Decimal reference on a subset of assigned payees, scaled to all credits
    from spm_kernel.engine.calculate import _payees_on, calc_period, load_inputs

    credits = credits_frame(ws.con)
    inputs = load_inputs(ws, book, credits)
    people = _payees_on(inputs, target.end)
    assigned = people.loc[people["role"].isin(["rep", "manager", "director"])]
    chosen = assigned.sort_values("payee_id").iloc[:: max(1, len(assigned) // subset)].head(subset)
    ids = set(chosen["payee_id"])
    sub_credits = credits.loc[credits["payee_id"].isin(ids)].reset_index(drop=True)
    sub_people = people.loc[people["payee_id"].isin(ids)].reset_index(drop=True)
    timings = {}
    results = {}
    for impl in ("vectorised", "reference"):
        t = time.perf_counter()
        results[impl] = calculate_period(book, calc_period(target), plan_year, credits=sub_credits,
                                         payees=sub_people, quotas=inputs.quotas, prior_lines=None,
                                         scores=inputs.scores, assignments=inputs.assignments,
                                         implementation=impl)
        timings[impl] = time.perf_counter() - t
    key = ["payee_id", "plan_id", "component", "line_type", "reference"]
    a = results["vectorised"].sort_values(key).reset_index(drop=True)
    b = results["reference"].sort_values(key).reset_index(drop=True)
    out["subset_payees"] = len(ids)
    out["subset_credits"] = len(sub_credits)
    out["subset_lines"] = len(a)
    out["subset_equal_to_the_cent"] = bool(len(a) == len(b) and (a["amount"].to_numpy() == b["amount"].to_numpy()).all()
                                           and (a[key].to_numpy() == b[key].to_numpy()).all())
    out["subset_vectorised_seconds"] = timings["vectorised"]
    out["subset_reference_seconds"] = timings["reference"]
    drop_credits(ws.con)
    ws.close()
    return out


def run_child(folder: Path, period: str, subset: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(folder), "--period", period, "--subset", str(subset)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise SystemExit(f"the measured calculation failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- compare on the 200-payee demo ----
def bench_compare(workdir: Path) -> dict[str, Any]:
    from spm_kernel.workspace import open_workspace

    source = demo(workdir, 1)
    folder = workdir / "compare-ws"
    proposed = (ROOT / "spm_kernel" / "demo" / "plans" / "fy2026-ae-plan.yaml").read_text("utf-8")
    proposed = (proposed.replace("plan_id: ae-plan", "plan_id: ae-plan-proposed").replace("status: active", "status: proposed")
                .replace("rate: 0.12", "rate: 0.14").replace("rate: 0.15", "rate: 0.18"))
    plans = {p.name: p.read_text("utf-8") for p in (source / "plans").glob("*.y*ml")}
    if not plans:
        plans = {"fy2026-ae-plan.yaml": (ROOT / "spm_kernel" / "demo" / "plans" / "fy2026-ae-plan.yaml").read_text("utf-8")}
    plans["ae-plan-proposed.yaml"] = proposed
    fresh_copy(source, folder, plans)
    open_workspace(folder).close()  # brings a demo built by an older version to the current schema
    with open_workspace(folder, read_only=True) as ws:
        ws.con.execute("SET enable_progress_bar = false")
        t = time.perf_counter()
        cold = ws.compare("ae-plan", "ae-plan-proposed", "FY2026")
        cold_s = time.perf_counter() - t
        # a slider: each move edits the proposed plan (its top rate), so plan b is calculated
        # anew every time; the current plan's lines and the credits are reused
        from spm_kernel.plans import load_plan_text

        warm = []
        for step in range(1, 4):
            moved = load_plan_text(proposed.replace("rate: 0.18", f"rate: 0.18{step}"), ws.registry.plan_types,
                                   file="ae-plan-proposed.yaml (slider)")
            t = time.perf_counter()
            ws.compare("ae-plan", moved, "FY2026")
            warm.append(time.perf_counter() - t)
        result = ws.compare("ae-plan", "ae-plan-proposed", "FY2026")
        t = time.perf_counter()
        monthly = ws.compare("ae-plan", "ae-plan-proposed", "FY2026", cadence="month")
        monthly_s = time.perf_counter() - t
        totals = {r.currency: {"a": str(r.a), "b": str(r.b), "difference": str(r.difference)}
                  for r in result.totals.itertuples()}
        return {"compare_cold_seconds": cold_s, "compare_warm_seconds": min(warm),
                "compare_payees": int(len(result.by_payee)), "compare_periods": len(result.periods),
                "compare_totals": totals, "compare_same_as_cold": bool(cold.totals.equals(result.totals)),
                "compare_monthly_seconds": monthly_s, "compare_monthly_periods": len(monthly.periods)}


def table(rows: list[tuple[str, str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) if i in (0, 3) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=50, help="demo scale (50 = about 10,000 payees)")
    parser.add_argument("--period", default="2026-Q4", help="the quarter to calculate")
    parser.add_argument("--quick", action="store_true", help="a reduced run: scale 5")
    parser.add_argument("--subset", type=int, default=40, help="payees in the Decimal reference subset")
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("SPM_BENCH_DIR", "/tmp/spm-bench")))
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_calc(args.child, args.period, args.subset), default=str))
        return
    scale = 5 if args.quick else args.scale
    load = os.getloadavg()[0]
    args.workdir.mkdir(parents=True, exist_ok=True)
    source = demo(args.workdir, scale)
    folder = fresh_copy(source, args.workdir / f"calc-scale{scale}",
                        {"bench-rep.yaml": REP_PLAN, "bench-mgr.yaml": MANAGER_PLAN})
    calc = run_child(folder, args.period, args.subset)
    cmp = bench_compare(args.workdir)
    per_credit_ref = calc["subset_reference_seconds"] / max(calc["subset_credits"], 1)
    reference_estimate = per_credit_ref * calc["window_credits"]
    speedup = reference_estimate / calc["calc_seconds"]
    ratio_bare = calc["calc_seconds"] / calc["bare_seconds"]
    ok = {
        "calc_under_30s": calc["calc_seconds"] < TARGET_SECONDS,
        "memory_under_6gb": calc["peak_rss_gb"] < TARGET_GB,
        "20x_faster_than_reference": speedup >= TARGET_SPEEDUP,
        "compare_under_1s": cmp["compare_warm_seconds"] < TARGET_COMPARE,
        "subset_equal_to_the_cent": calc["subset_equal_to_the_cent"],
    }
    rows = [
        ("measure", "value", "target", "note"),
        ("payees", f"{calc['payees']:,}", "", f"demo scale {scale}"),
        ("credit rows in the window", f"{calc['window_credits']:,}", "", f"{args.period}, plan-year-to-date"),
        ("full calculation", f"{calc['calc_seconds']:.2f} s", f"< {TARGET_SECONDS:.0f} s",
         "credits + lines, one transaction"),
        ("  CPU time (all threads)", f"{calc['calc_cpu_seconds']:.2f} s", "",
         f"load average {load:.1f} on {os.cpu_count()} cores at start"),
        ("  of which", ", ".join(f"{k} {v:.2f}" for k, v in calc["run_timings"].items()
                                 if k in ("inputs", "credits", "store_credits", "frame", "restate", "calculate",
                                          "write_lines")), "", "seconds per step"),
        ("peak memory (RSS)", f"{calc['peak_rss_gb']:.2f} GB", f"< {TARGET_GB:.0f} GB", "child process"),
        ("bare DuckDB window pass", f"{calc['bare_seconds']:.2f} s", "",
         f"sum() over (partition by payee ...); CPU {calc['bare_cpu_seconds']:.2f} s"),
        ("engine / bare pass", f"{ratio_bare:.1f}x", "", "baseline ratio"),
        ("Decimal reference (est.)", f"{reference_estimate:.0f} s", "",
         f"{calc['subset_reference_seconds']:.2f} s on {calc['subset_payees']} payees / "
         f"{calc['subset_credits']:,} credits, scaled"),
        ("engine speed-up vs reference", f"{speedup:.0f}x", f">= {TARGET_SPEEDUP:.0f}x",
         "subset lines equal to the cent" if calc["subset_equal_to_the_cent"] else "SUBSET LINES DIFFER"),
        ("compare FY2026, cold", f"{cmp['compare_cold_seconds']:.2f} s", "",
         f"{cmp['compare_payees']} payees, the year as one period, scale 1"),
        ("compare FY2026, warm", f"{cmp['compare_warm_seconds']:.2f} s", f"< {TARGET_COMPARE:.0f} s",
         "a slider: proposed plan edited each time"),
        ("compare FY2026 by month", f"{cmp['compare_monthly_seconds']:.2f} s", "",
         f"{cmp['compare_monthly_periods']} monthly periods, warm"),
        ("lines written", f"{calc['lines']:,}", "", f"credits stored: {calc['stored_credits']:,}"),
    ]
    print(table(rows))
    print("targets met: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in ok.items()))
    figures = {"benchmark": "bench_calc", "scale": scale, "period": args.period, "quick": args.quick,
               "load_average_at_start": load, "cores": os.cpu_count(), **calc, **cmp,
               "reference_estimate_seconds": reference_estimate, "speedup_vs_reference": speedup,
               "engine_over_bare_ratio": ratio_bare, "targets": ok}
    print(json.dumps(figures, default=lambda v: str(v) if isinstance(v, Decimal) else v))


if __name__ == "__main__":
    main()
