"""Benchmark: building the demo company at scale, in bounded memory.

Measures, each in its own process (so each peak memory is its own):

* ``generate``  - the baseline: generating every division of the scaled company without
  writing anything;
* ``bulk``      - ``build_demo(folder, scale=N)``: generating and bulk-inserting into DuckDB in
  one transaction (the ``spm demo --scale N`` path);
* ``validated`` - ``build_demo(folder, scale=1)``: the scale-1 company through ``ws.load``.

Prints a table, the ratios (bulk time over generation time: the cost of writing; bulk rows/s
over validated rows/s: what skipping per-cell validation buys), and ends with one line of
JSON. ``--quick`` builds scale 5 instead of 50.

    .venv/bin/python benchmarks/bench_demo.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_phase(phase: str, scale: int, seed: int, workdir: Path) -> dict[str, float]:
    """Run one phase in this process and return its figures."""
    from spm_kernel.demo import build_demo, generate_division
    from spm_kernel.demo.generator import generate_company_tables

    started, cpu_started = time.perf_counter(), time.process_time()
    if phase == "generate":
        rows = sum(t.num_rows for t in generate_company_tables(seed, scale).values())
        transactions = payees = 0
        for index in range(scale):
            tables = generate_division(seed, index).tables
            rows += sum(t.num_rows for t in tables.values())
            transactions += tables["transactions"].num_rows
            payees += tables["payees"].num_rows
        payees += 1  # the VP
    else:
        folder = workdir / phase
        with build_demo(folder, scale=scale if phase == "bulk" else 1, seed=seed, progress=False) as ws:
            from spm_kernel.demo import TABLE_ORDER
            rows = sum(ws.count(name) for name in TABLE_ORDER)
            transactions, payees = ws.count("transactions"), ws.count("payees")
        shutil.rmtree(folder, ignore_errors=True)
    seconds = time.perf_counter() - started
    return {"rows": rows, "transactions": transactions, "payees": payees, "seconds": seconds,
            "cpu_s": time.process_time() - cpu_started, "rows_per_s": rows / seconds,
            "peak_rss_mb": _peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=50, help="divisions in the scaled build (default 50)")
    parser.add_argument("--quick", action="store_true", help="scale 5: a reduced run of a few minutes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--phase", choices=("generate", "bulk", "validated"), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    scale = 5 if args.quick else args.scale

    if args.phase:  # child process: one phase, figures as JSON on stdout
        print(json.dumps(run_phase(args.phase, scale, args.seed, args.workdir)))
        return

    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    results: dict[str, dict[str, float]] = {}
    try:
        for phase in ("generate", "bulk", "validated"):
            print(f"running {phase} (scale {1 if phase == 'validated' else scale}) ...", file=sys.stderr, flush=True)
            out = subprocess.run(
                [sys.executable, __file__, "--phase", phase, "--scale", str(scale), "--seed", str(args.seed),
                 "--workdir", str(workdir)], check=True, capture_output=True, text=True)
            results[phase] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    gen, bulk, val = results["generate"], results["bulk"], results["validated"]
    print(f"\nDemo company build, seed {args.seed} (load average {load_before:.1f} on {os.cpu_count()} cores: "
          f"wall seconds stretch with it, CPU seconds do not)")
    print(f"{'phase':<36}{'scale':>6}{'payees':>9}{'transactions':>14}{'all rows':>13}{'seconds':>10}"
          f"{'CPU s':>8}{'rows/s':>11}{'peak MB':>10}")
    labels = {"generate": "generate only (baseline)", "bulk": "bulk build (spm demo --scale)",
              "validated": "validated build (scale 1, ws.load)"}
    for phase, r in results.items():
        print(f"{labels[phase]:<36}{1 if phase == 'validated' else scale:>6}{r['payees']:>9,}"
              f"{r['transactions']:>14,}{r['rows']:>13,}{r['seconds']:>10.1f}{r['cpu_s']:>8.1f}{r['rows_per_s']:>11,.0f}"
              f"{r['peak_rss_mb']:>10,.0f}")
    overhead = bulk["seconds"] / gen["seconds"]
    speedup = bulk["rows_per_s"] / val["rows_per_s"]
    print(f"\nwriting overhead (bulk time / generation time): {overhead:.2f}x")
    print(f"bulk insert vs validated import (rows/s):        {speedup:.1f}x")
    print(f"memory: bulk peak {bulk['peak_rss_mb']:,.0f} MB at scale {scale} (one division in memory at a time: "
          f"it does not grow with the scale)")
    print(json.dumps({
        "benchmark": "demo", "scale": scale, "seed": args.seed, "load_average": round(load_before, 1),
        "payees": bulk["payees"], "bulk_cpu_s": round(bulk["cpu_s"], 1), "validated_cpu_s": round(val["cpu_s"], 1),
        "generate_cpu_s": round(gen["cpu_s"], 1),
        "transactions": bulk["transactions"], "rows": bulk["rows"],
        "bulk_s": round(bulk["seconds"], 2), "bulk_rows_per_s": round(bulk["rows_per_s"]),
        "bulk_peak_rss_mb": round(bulk["peak_rss_mb"]), "generate_s": round(gen["seconds"], 2),
        "generate_peak_rss_mb": round(gen["peak_rss_mb"]), "validated_s": round(val["seconds"], 2),
        "validated_rows": val["rows"], "validated_rows_per_s": round(val["rows_per_s"]),
        "validated_peak_rss_mb": round(val["peak_rss_mb"]), "write_overhead_ratio": round(overhead, 3),
        "bulk_vs_validated_speedup": round(speedup, 2),
    }))


if __name__ == "__main__":
    main()
