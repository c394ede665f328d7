"""Benchmark of scale-out (issue 11): the same calculation on the local executor and on a
2-worker Dask ``LocalCluster``, in the same run.

On the demo company at ``--scale`` (50 = about 10,000 payees; the plan-year-to-date credit
window of 2026-Q4 then holds over 10 million credits) with the rep and manager plans of
``bench_calc.py``:

1. ``ws.calculate(QUARTER)`` with the local executor (the baseline);
2. the same on a fresh copy with ``executor=client`` (payout computation fanned out by
   payee partition over 2 worker processes of 1 thread each), checked equal to the cent
   (every line's key and amount, the line numbering and the credits);
3. ``ws.metrics(by="team")`` for the quarter, local and on Dask, checked equal.

Prints a readable table (both, the ratio dask / local) and ends with one line of JSON.
``--quick`` runs scale 5 (about 1,000 payees, a few minutes). Demo workspaces are built
once under ``--workdir`` (shared with ``bench_calc.py``) and copied for each run.

    .venv/bin/python benchmarks/bench_scaleout.py --quick
    .venv/bin/python benchmarks/bench_scaleout.py            # scale 50, 10 M credits
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_calc  # noqa: E402 - the scaled workspaces and plans are bench_calc's

PERIOD = "2026-Q4"


def _lines_digest(ws: Any, run_id: str) -> tuple[int, str, str]:
    """(lines, total, a hash of every line's number, key and amount) of a run."""
    n, total, h = ws.con.execute(
        "SELECT count(*), CAST(sum(amount) AS VARCHAR), "
        "CAST(sum(CAST(hash(line_no, line_key, amount, formula) AS HUGEINT)) AS VARCHAR) "
        "FROM payout_lines WHERE run_id = ?", [run_id]).fetchall()[0]
    return int(n), str(total), str(h)


def _credits_digest(ws: Any, run_id: str) -> str:
    return str(ws.con.execute("SELECT CAST(sum(CAST(hash(credit_id, amount) AS HUGEINT)) AS VARCHAR) FROM credits "
                              "WHERE run_id = ?", [run_id]).fetchall()[0][0])


def timed_calc(folder: Path, executor: Any) -> dict[str, Any]:
    from spm_kernel.workspace import open_workspace

    ws = open_workspace(folder)
    try:
        ws.con.execute("SET enable_progress_bar = false")
        cpu0 = bench_calc.cpu_seconds()
        started = time.perf_counter()
        run = ws.calculate(PERIOD, progress=False, executor=executor)
        seconds = time.perf_counter() - started
        out = {"seconds": seconds, "driver_cpu_seconds": bench_calc.cpu_seconds() - cpu0,
               "calculate_step_seconds": run.timings.get("calculate"), "timings": run.timings,
               "lines": run.line_count, "stored_credits": run.credit_count,
               "digest": _lines_digest(ws, run.run_id),
               "credits_digest": _credits_digest(ws, run.run_id)}
        return out
    finally:
        ws.close()


def timed_metrics(folder: Path, executor: Any) -> tuple[float, Any]:
    from spm_kernel.workspace import open_workspace

    ws = open_workspace(folder, read_only=True)
    try:
        started = time.perf_counter()
        frame = ws.metrics(by="team", period=PERIOD, as_of=date(2026, 12, 31), executor=executor)
        return time.perf_counter() - started, frame
    finally:
        ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=50, help="demo scale (50 = about 10,000 payees)")
    parser.add_argument("--quick", action="store_true", help="a reduced run: scale 5")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (1 thread each)")
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("SPM_BENCH_DIR", "/tmp/spm-bench")))
    parser.add_argument("--no-metrics", action="store_true", help="skip the metrics comparison")
    args = parser.parse_args()
    scale = 5 if args.quick else args.scale
    load = os.getloadavg()[0]
    args.workdir.mkdir(parents=True, exist_ok=True)
    source = bench_calc.demo(args.workdir, scale)
    plans = {"bench-rep.yaml": bench_calc.REP_PLAN, "bench-mgr.yaml": bench_calc.MANAGER_PLAN}
    local_folder = bench_calc.fresh_copy(source, args.workdir / f"scaleout-local-{scale}", plans)
    dask_folder = bench_calc.fresh_copy(source, args.workdir / f"scaleout-dask-{scale}", plans)

    from distributed import Client, LocalCluster

    print(f"demo scale {scale}; {args.workers}-worker LocalCluster; load average {load:.1f} on "
          f"{os.cpu_count()} cores", flush=True)
    local = timed_calc(local_folder, "local")
    print(f"  local: {local['seconds']:.1f} s", flush=True)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        cluster_started = time.perf_counter()
        client.wait_for_workers(args.workers)
        spread = timed_calc(dask_folder, client)
        print(f"  dask: {spread['seconds']:.1f} s", flush=True)
        metrics: dict[str, Any] = {}
        if not args.no_metrics:
            m_local, f_local = timed_metrics(local_folder, "local")
            m_dask, f_dask = timed_metrics(local_folder, client)
            key = ["metric", "period", "team_id"]
            same = (f_local.sort_values(key).reset_index(drop=True).astype(str)
                    .equals(f_dask.sort_values(key).reset_index(drop=True).astype(str)))
            metrics = {"metrics_local_seconds": m_local, "metrics_dask_seconds": m_dask,
                       "metrics_ratio": m_dask / m_local, "metrics_equal": bool(same), "metrics_rows": len(f_local)}
        del cluster_started
    equal = local["digest"] == spread["digest"] and local["credits_digest"] == spread["credits_digest"]
    ratio = spread["seconds"] / local["seconds"]
    step_ratio = (spread["calculate_step_seconds"] or 0) / max(local["calculate_step_seconds"] or 1e-9, 1e-9)
    rows = [
        ("measure", "local", f"dask ({args.workers} workers)", "dask / local"),
        ("full calculation", f"{local['seconds']:.2f} s", f"{spread['seconds']:.2f} s", f"{ratio:.2f}x"),
        ("  payout computation (fanned out)", f"{local['calculate_step_seconds']:.2f} s",
         f"{spread['calculate_step_seconds']:.2f} s", f"{step_ratio:.2f}x"),
        ("  crediting + storage (driver, both)",
         f"{sum(local['timings'].get(k, 0) for k in ('inputs', 'credits', 'store_credits', 'frame')):.2f} s",
         f"{sum(spread['timings'].get(k, 0) for k in ('inputs', 'credits', 'store_credits', 'frame')):.2f} s", ""),
        ("driver CPU", f"{local['driver_cpu_seconds']:.2f} s", f"{spread['driver_cpu_seconds']:.2f} s", ""),
        ("payout lines", f"{local['lines']:,}", f"{spread['lines']:,}", ""),
        ("credits stored", f"{local['stored_credits']:,}", f"{spread['stored_credits']:,}", ""),
        ("equal to the cent", "", "yes" if equal else "NO", "lines, numbering, credits"),
    ]
    if metrics:
        rows.append(("metrics by team (quarter)", f"{metrics['metrics_local_seconds']:.2f} s",
                     f"{metrics['metrics_dask_seconds']:.2f} s", f"{metrics['metrics_ratio']:.2f}x"))
        rows.append(("  metrics equal", "", "yes" if metrics["metrics_equal"] else "NO", f"{metrics['metrics_rows']} rows"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    result = {"benchmark": "scaleout", "scale": scale, "period": PERIOD, "workers": args.workers,
              "cores": os.cpu_count(), "load_average_at_start": round(load, 2),
              "local_seconds": round(local["seconds"], 3), "dask_seconds": round(spread["seconds"], 3),
              "ratio_dask_over_local": round(ratio, 3),
              "local_calculate_step_seconds": local["calculate_step_seconds"],
              "dask_calculate_step_seconds": spread["calculate_step_seconds"],
              "lines": local["lines"], "stored_credits": local["stored_credits"],
              "window_transactions": local["timings"].get("transactions"), "equal_to_the_cent": equal,
              **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in metrics.items()}}
    print(json.dumps(result))
    if not equal or (metrics and not metrics["metrics_equal"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
