"""Benchmark: every built-in metric for every payee over 36 months, on the demo company and on
the scaled (ten-million-credit) demo, and the refreshed KPIs of one team after loading 1,000
new opportunities.

Targets (issue 4):

* demo company (scale 1): all built-in metrics, every payee, 36 monthly windows  < 1 s
* scaled demo (scale 50, ~10.8 million credited transactions): the same       < 15 s,
  peak memory of the process < 4 GB
* after loading 1,000 new opportunities (``ws.load``, validated) into the scaled workspace:
  the refreshed KPIs of one team                                               < 2 s

Each figure is printed beside a baseline measured in the same run: a naive per-payee pandas
loop (filter the payee's deals, quotas and months one by one) computing four of the metrics
(win rate, average deal size, average closing time, quota attainment), timed on a sample of
payees and scaled linearly to all of them; it is also checked to agree with ``ws.metrics`` on
the sample. Each measurement runs in its own process, so its peak memory is its own.

    python benchmarks/bench_metrics.py            # full run (builds the scale-50 demo once, cached)
    python benchmarks/bench_metrics.py --quick    # scale 2 instead of 50, fewer repeats

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / ".cache" / "bench-metrics"
SERIES = "2024-01..2026-12"          # 36 monthly windows
NAIVE_METRICS = ("win_rate", "avg_deal_size", "avg_closing_time", "quota_attainment")
TARGETS = {"demo_all_metrics_s": 1.0, "scaled_all_metrics_s": 15.0, "scaled_peak_gb": 4.0,
           "refresh_one_team_s": 2.0}


# ---- workspaces ----------------------------------------------------------------------------
def ensure_demo(folder: Path, scale: int) -> Path:
    """Build the demo at ``scale`` into ``folder`` once (reused while its marker exists)."""
    marker = folder / ".bench-complete"
    if marker.exists():
        import spm_kernel

        spm_kernel.open(folder).close()  # applies migrations added since it was built (the timed runs are read-only)
        return folder
    from spm_kernel.demo import build_demo

    started = time.perf_counter()
    build_demo(folder, scale=scale, seed=7, progress=True, force=True).close()
    marker.write_text(f"scale {scale} built in {time.perf_counter() - started:.0f} s\n")
    return folder


# ---- the naive baseline ----------------------------------------------------------------------
def naive_loop(ws: Any, payee_ids: list[str]) -> tuple[float, dict[tuple[str, str, str], float | None]]:
    """Four metrics for each payee and month, one payee and one month at a time, in pandas."""
    import pandas as pd

    from spm_kernel.metrics import parse_periods

    windows = parse_periods(SERIES, freq=None, window="period", as_of=__import__("datetime").date.today(),
                            fiscal_year_start_month=ws.config.fiscal_year_start_month)
    base = ws.config.base_currency
    started = time.perf_counter()
    opps = ws.sql("SELECT opportunity_id, owner_id, amount, currency, created_date, close_date, is_closed, is_won "
                  "FROM opportunities")
    fx = ws.sql(f"SELECT rate_date, from_currency, rate FROM fx_rates WHERE to_currency = '{base}' ORDER BY rate_date")
    quotas = ws.sql("SELECT payee_id, period_start, period_end, amount, currency FROM quotas WHERE measure = 'bookings'")
    splits = ws.sql("SELECT opportunity_id, payee_id, percent FROM opportunity_splits WHERE split_type = 'revenue'")
    payees = ws.sql("SELECT payee_id, hire_date, termination_date FROM payees").set_index("payee_id")

    def rate(currency: str, day: Any) -> float:
        if currency == base:
            return 1.0
        rows = fx[(fx["from_currency"] == currency) & (fx["rate_date"] <= day)]
        if rows.empty:
            rows = fx[fx["from_currency"] == currency]
            return float(rows["rate"].iloc[0])
        return float(rows["rate"].iloc[-1])

    out: dict[tuple[str, str, str], float | None] = {}
    split_deals = set(splits["opportunity_id"])
    won_all = opps[opps["is_won"] & opps["is_closed"]]
    for payee in payee_ids:
        mine = opps[opps["owner_id"] == payee]
        # the payee's credited won deals: their own unsplit deals, and their share of split ones
        own = won_all[(won_all["owner_id"] == payee) & ~won_all["opportunity_id"].isin(split_deals)]
        shares = splits[splits["payee_id"] == payee].merge(won_all, on="opportunity_id")
        credited_rows = [(d, float(a) * rate(c, d)) for a, c, d in zip(own["amount"], own["currency"], own["close_date"])]
        credited_rows += [(d, float(a) * rate(c, d) * float(p) / 100) for a, c, d, p in
                          zip(shares["amount"], shares["currency"], shares["close_date"], shares["percent"])]
        hire, term = payees.loc[payee, "hire_date"], payees.loc[payee, "termination_date"]
        ended = term is not None and not pd.isna(term)
        for w in windows:
            if hire > w.end or (ended and term < w.start):
                continue
            closed = mine[mine["is_closed"] & (mine["close_date"] >= w.start) & (mine["close_date"] <= w.end)]
            won = closed[closed["is_won"]]
            amounts = [float(a) * rate(c, d) for a, c, d in zip(won["amount"], won["currency"], won["close_date"])]
            out[(payee, w.label, "win_rate")] = len(won) / len(closed) if len(closed) else None
            out[(payee, w.label, "avg_deal_size")] = sum(amounts) / len(won) if len(won) else None
            days = [(c - o).days for o, c in zip(won["created_date"], won["close_date"])]
            out[(payee, w.label, "avg_closing_time")] = sum(days) / len(days) if days else None
            credited = sum(v for d, v in credited_rows if w.start <= d <= w.end)
            quota = 0.0
            for q in quotas[quotas["payee_id"] == payee].itertuples():
                lo, hi = max(q.period_start, w.start, hire), min(q.period_end, w.end)
                lo_e, hi_e = max(q.period_start, hire), q.period_end
                if ended:
                    hi, hi_e = min(hi, term), min(hi_e, term)
                if hi >= lo and hi_e >= lo_e:
                    quota += float(q.amount) * rate(q.currency, w.end) * ((hi - lo).days + 1) / ((hi_e - lo_e).days + 1)
            out[(payee, w.label, "quota_attainment")] = credited / quota if quota else None
    return time.perf_counter() - started, out


def agreement(ws: Any, naive: dict[tuple[str, str, str], float | None], payee_ids: list[str]) -> float:
    """Share of the naive values that ``ws.metrics`` reproduces (relative tolerance 1e-6)."""
    import math

    frame = ws.metrics(list(NAIVE_METRICS), by="payee", period=SERIES)
    frame = frame[frame["payee_id"].isin(payee_ids)]
    ours = {(p, per, m): (None if v is None else float(v))
            for p, per, m, v in zip(frame["payee_id"], frame["period"], frame["metric"], frame["value"])}
    same = 0
    for key, value in naive.items():
        other = ours.get(key)
        if value is None or other is None:
            same += value is None and other is None
        else:
            same += math.isclose(value, other, rel_tol=1e-6, abs_tol=0.006)
    return same / max(1, len(naive))


# ---- children: one measurement per process -------------------------------------------------
def cpu_s() -> float:
    """CPU seconds of this process (all threads): a fairer figure than wall time on a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def child_all(folder: str, repeats: int, sample: int) -> dict[str, Any]:
    import spm_kernel

    ws = spm_kernel.open(folder, read_only=True)
    payees = ws.sql("SELECT payee_id FROM payees ORDER BY payee_id")["payee_id"].tolist()
    reps = ws.sql("SELECT payee_id FROM payees WHERE role = 'rep' ORDER BY payee_id")["payee_id"].tolist()
    times, cpus = [], []
    frame = None
    for _ in range(repeats):
        del frame  # the previous answer is not kept alive while the next one is built
        started, cpu0 = time.perf_counter(), cpu_s()
        frame = ws.metrics(by="payee", period=SERIES)
        times.append(time.perf_counter() - started)
        cpus.append(cpu_s() - cpu0)
    peak = peak_gb()  # before the baseline, which holds whole tables in pandas
    started = time.perf_counter()
    ws.metrics(list(NAIVE_METRICS), by="payee", period=SERIES)
    four = time.perf_counter() - started
    step = max(1, len(reps) // sample)
    chosen = reps[::step][:sample]  # reps: a manager's attainment also counts roll-ups, which the loop skips
    naive_s, naive = naive_loop(ws, chosen)
    agree = agreement(ws, naive, chosen)
    ws.close()
    return {"seconds": min(times), "cpu_s": min(cpus), "rows": len(frame), "payees": len(payees),
            "metrics": int(frame["metric"].nunique()), "four_metrics_s": four,
            "naive_sample_payees": len(chosen), "naive_sample_s": naive_s,
            "naive_all_s": naive_s * len(payees) / max(1, len(chosen)), "naive_agreement": agree,
            "peak_gb": peak}


def child_refresh(folder: str, n_new: int) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    import spm_kernel
    from spm_kernel.metrics import parse_periods

    ws = spm_kernel.open(folder)
    try:
        team = ws.sql("SELECT team_id, count(*) AS n FROM payees WHERE role = 'rep' AND termination_date IS NULL "
                      "GROUP BY team_id ORDER BY n DESC, team_id LIMIT 1")["team_id"][0]
        reps = ws.sql(f"SELECT payee_id FROM payees WHERE team_id = '{team}' AND role = 'rep' "
                      "AND termination_date IS NULL ORDER BY payee_id")["payee_id"].tolist()
        accounts = ws.sql("SELECT account_id FROM accounts ORDER BY account_id LIMIT 500")["account_id"].tolist()
        period = "2026-Q4"
        window = parse_periods(period, freq=None, window="period", as_of=time.strftime("%Y-%m-%d") and
                               __import__("datetime").date.today(), fiscal_year_start_month=1)[0]
        rng = np.random.default_rng(11)
        stamp = time.strftime("%H%M%S")
        won = rng.random(n_new) < 0.5
        created = pd.to_datetime(window.start) + pd.to_timedelta(rng.integers(0, 20, n_new), unit="D")
        closed = created + pd.to_timedelta(rng.integers(5, 60, n_new), unit="D")
        new = pd.DataFrame({
            "opportunity_id": [f"BENCH-{stamp}-{i:05d}" for i in range(n_new)],
            "account_id": [accounts[i % len(accounts)] for i in range(n_new)],
            "owner_id": [reps[i % len(reps)] for i in range(n_new)],
            "amount": [f"{a:.2f}" for a in rng.uniform(5_000, 80_000, n_new)],
            "currency": "USD", "stage": np.where(won, "Closed Won", "Closed Lost"),
            "created_date": created.strftime("%Y-%m-%d"), "close_date": closed.strftime("%Y-%m-%d"),
            "is_closed": "true", "is_won": np.where(won, "true", "false"), "product": "Analytics Cloud",
        })
        before = ws.metrics("win_rate", by="team", period=period, scope=f"team:{team}")["value"][0]
        started = time.perf_counter()
        ws.load("opportunities", new, source="bench")
        load_s = time.perf_counter() - started
        started, cpu0 = time.perf_counter(), cpu_s()
        team_kpis = ws.metrics(by="team", period=period, scope=f"team:{team}")
        refresh_s, refresh_cpu = time.perf_counter() - started, cpu_s() - cpu0
        kpis = ws.metrics(by="payee", period=period, scope=f"team:{team}")  # the reps' breakdown, not timed
        after = team_kpis.set_index("metric").loc["win_rate", "value"]
        naive_s, _ = naive_loop(ws, reps)
        return {"seconds": refresh_s, "cpu_s": refresh_cpu, "load_s": load_s, "team": team, "reps": len(reps), "rows": len(kpis) + len(team_kpis),
                "win_rate_before": before, "win_rate_after": after, "naive_s": naive_s, "peak_gb": peak_gb()}
    finally:
        ws.con.execute("DELETE FROM opportunities WHERE opportunity_id LIKE 'BENCH-%'")
        ws.close()


def run_child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="scale 2 instead of 50, fewer repeats")
    parser.add_argument("--scale", type=int, default=None, help="scale of the large workspace (default 50)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats of each full query (default 3, quick 2)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the workspaces are built once")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, folder, *rest = args.child
        result = (child_all(folder, int(rest[0]), int(rest[1])) if kind == "all"
                  else child_refresh(folder, int(rest[0])))
        print(json.dumps(result, default=str))
        return

    scale = args.scale or (2 if args.quick else 50)
    repeats = args.repeats or (2 if args.quick else 3)
    args.cache.mkdir(parents=True, exist_ok=True)
    print(f"building (once, cached in {args.cache}) the demo at scale 1 and at scale {scale} ...", flush=True)
    demo = ensure_demo(args.cache / "scale-1", 1)
    scaled = ensure_demo(args.cache / f"scale-{scale}", scale)

    load_start = os.getloadavg()[0]
    small = run_child(["all", str(demo), str(repeats), "20"])
    large = run_child(["all", str(scaled), str(repeats), "10"])
    refresh = run_child(["refresh", str(scaled), "1000"])

    rows = [["measurement", "wall (s)", "cpu (s)", "baseline (s)", "speed-up", "target", "met (wall)", "met (cpu)"]]

    def add(name: str, result: dict[str, Any], base: float, target: float) -> None:
        ours = result["seconds"]
        rows.append([name, f"{ours:.3f}", f"{result['cpu_s']:.3f}", f"{base:.1f}", f"{base / ours:,.0f}x",
                     f"< {target:g} s", "yes" if ours < target else "NO",
                     "yes" if result["cpu_s"] < target else "NO"])

    add(f"demo (scale 1, {small['payees']} payees): {small['metrics']} metrics x 36 months", small,
        small["naive_all_s"], TARGETS["demo_all_metrics_s"])
    add(f"scale {scale} ({large['payees']} payees): {large['metrics']} metrics x 36 months", large,
        large["naive_all_s"], TARGETS["scaled_all_metrics_s"])
    add(f"scale {scale}: one team's KPIs ({refresh['reps']} reps) after 1,000 new deals", refresh,
        refresh["naive_s"], TARGETS["refresh_one_team_s"])
    load = max(load_start, os.getloadavg()[0])
    print()
    print(table(rows))
    print()
    print(f"load average: {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on "
          f"{os.cpu_count()} cores (wall times stretch when the machine is shared; cpu is the measuring "
          f"process's own time, all threads)")
    print(f"peak memory of the scale-{scale} process: {large['peak_gb']:.2f} GB (target < 4 GB: "
          f"{'yes' if large['peak_gb'] < TARGETS['scaled_peak_gb'] else 'NO'})")
    print(f"baseline: a naive per-payee pandas loop over {', '.join(NAIVE_METRICS)}, timed on "
          f"{small['naive_sample_payees']} / {large['naive_sample_payees']} sampled payees and scaled to all; "
          f"it agrees with ws.metrics on {small['naive_agreement']:.1%} / {large['naive_agreement']:.1%} of values")
    print(f"ws.metrics on the same four metrics alone: {small['four_metrics_s']:.3f} s (demo), "
          f"{large['four_metrics_s']:.3f} s (scale {scale})")
    print(f"loading the 1,000 opportunities through the validated importer took {refresh['load_s']:.2f} s; "
          f"the team's win rate moved from {float(refresh['win_rate_before']):.3f} to {float(refresh['win_rate_after']):.3f}")
    figures = {
        "benchmark": "bench_metrics", "quick": args.quick, "scale": scale,
        "load_average": round(load, 2), "load_average_start": round(load_start, 2),
        "load_average_end": round(os.getloadavg()[0], 2), "cores": os.cpu_count(),
        "demo_payees": small["payees"], "demo_rows": small["rows"], "demo_all_metrics_s": round(small["seconds"], 4),
        "demo_all_metrics_cpu_s": round(small["cpu_s"], 4),
        "demo_baseline_s": round(small["naive_all_s"], 2),
        "scaled_payees": large["payees"], "scaled_rows": large["rows"],
        "scaled_all_metrics_s": round(large["seconds"], 4), "scaled_all_metrics_cpu_s": round(large["cpu_s"], 4),
        "scaled_baseline_s": round(large["naive_all_s"], 2),
        "scaled_peak_gb": round(large["peak_gb"], 3),
        "refresh_one_team_s": round(refresh["seconds"], 4), "refresh_one_team_cpu_s": round(refresh["cpu_s"], 4),
        "refresh_baseline_s": round(refresh["naive_s"], 3),
        "load_1000_opportunities_s": round(refresh["load_s"], 3),
        "naive_agreement": round(min(small["naive_agreement"], large["naive_agreement"]), 4),
        "targets_met": bool(small["seconds"] < 1 and large["seconds"] < 15 and large["peak_gb"] < 4
                            and refresh["seconds"] < 2),
        "targets_met_cpu": bool(small["cpu_s"] < 1 and large["cpu_s"] < 15 and large["peak_gb"] < 4
                                and refresh["cpu_s"] < 2),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
