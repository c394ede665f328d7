"""Benchmark of planning (issue 7).

1. **Quota allocation for 10,000 payees** (target: under 2 s): ``allocate_quotas`` on a
   workspace of 10,000 reps in 1,000 teams and 10 regions with a year of won deals (one a
   month each) and an account each: history and potential in SQL, ramp, over-assignment,
   company -> regions -> teams -> payees by largest remainder, bottom-up, periods and
   currencies. The same run measures a **baseline**: a naive per-payee Python loop doing the
   core allocation with ``Decimal`` (share = target x weight / total per team, quantized,
   leftover cents handed out in a second loop), on the same weights; and checks that both
   sum to the target to the cent.
2. **Territory balance of 50,000 accounts over 500 reps** (target: under 60 s, with the
   solver's optimality gap printed): ``balance_territories`` (HiGHS MILP) on synthetic
   accounts in 15 region x segment groups whose owners' potentials are skewed. **Baseline**
   in the same run: the greedy longest-processing-time assignment (each account, largest
   first, to the rep with the least potential so far), which ignores current owners.

Prints a readable table, then ONE line of JSON with every figure. ``--quick`` runs 1,000
payees and 5,000 accounts over 50 reps. The allocation workspace is built once under
``--workdir`` through the validated importer (not measured).

    .venv/bin/python benchmarks/bench_planning.py --quick
    .venv/bin/python benchmarks/bench_planning.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_ALLOCATE = 2.0
TARGET_TERRITORY = 60.0


def build_workspace(folder: Path, payees: int, seed: int = 11) -> Path:
    """``payees`` reps in teams of 10 and 10 regions, one won deal a month in 2026 each, one
    account each; managers, directors and a VP hold the nodes. Loaded through ws.load."""
    import spm_kernel

    if (folder / "workspace.duckdb").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(seed)
    n_teams = max(payees // 10, 1)
    regions = [f"R{i:02d}" for i in range(10)]
    team_region = np.array(regions)[np.arange(n_teams) % 10]
    teams = pd.DataFrame({"team_id": [f"T{i:04d}" for i in range(n_teams)], "name": "team",
                          "region_id": team_region})
    rep_team = np.arange(payees) % n_teams
    hire = pd.to_datetime("2018-01-01") + pd.to_timedelta(rng.integers(0, 3300, payees), unit="D")
    reps = pd.DataFrame({"payee_id": [f"P{i:05d}" for i in range(payees)], "name": "rep", "role": "rep",
                         "team_id": teams["team_id"].to_numpy()[rep_team], "region_id": team_region[rep_team],
                         "segment": np.array(["SMB", "MM", "ENT"])[rep_team % 3], "currency": "USD",
                         "hire_date": hire.strftime("%Y-%m-%d")})
    managers = pd.DataFrame({"payee_id": [f"M{i:04d}" for i in range(n_teams)], "name": "manager",
                             "role": "manager", "team_id": teams["team_id"], "region_id": team_region,
                             "segment": None, "currency": "USD", "hire_date": "2015-01-01"})
    directors = pd.DataFrame({"payee_id": [f"D{r}" for r in regions], "name": "director", "role": "director",
                              "team_id": None, "region_id": regions, "segment": None, "currency": "USD",
                              "hire_date": "2014-01-01"})
    vp = pd.DataFrame({"payee_id": ["VP"], "name": "vp", "role": "vp", "team_id": [None], "region_id": [None],
                       "segment": [None], "currency": ["USD"], "hire_date": ["2012-01-01"]})
    rate = rng.lognormal(9.5, 0.6, payees)
    months = pd.date_range("2026-01-31", periods=12, freq="ME")
    amounts = np.round(rate[:, None] * rng.lognormal(0, 0.4, (payees, 12)), 2)
    opps = pd.DataFrame({
        "opportunity_id": [f"O{i:05d}-{m:02d}" for i in range(payees) for m in range(12)],
        "account_id": np.repeat([f"A{i:05d}" for i in range(payees)], 12),
        "owner_id": np.repeat(reps["payee_id"].to_numpy(), 12), "amount": amounts.reshape(-1).astype(str),
        "currency": "USD", "stage": "Closed Won", "created_date": np.tile((months - pd.Timedelta(days=40))
                                                                         .strftime("%Y-%m-%d"), payees),
        "close_date": np.tile(months.strftime("%Y-%m-%d"), payees), "is_closed": "true", "is_won": "true"})
    accounts = pd.DataFrame({"account_id": [f"A{i:05d}" for i in range(payees)], "name": "account",
                             "owner_id": reps["payee_id"], "region_id": reps["region_id"], "segment": reps["segment"],
                             "potential": np.round(rate * 12 * rng.lognormal(1.0, 0.5, payees), 2).astype(str),
                             "currency": "USD"})
    with spm_kernel.open(folder, load_entry_points=False) as ws:
        ws.load("regions", pd.DataFrame({"region_id": regions, "name": regions}))
        ws.load("teams", teams)
        ws.load("payees", pd.concat([vp, directors, managers, reps], ignore_index=True))
        ws.load("accounts", accounts)
        ws.load("opportunities", opps)
    return folder


def naive_allocation(target_cents: int, team_of: np.ndarray, weights: np.ndarray, team_totals: dict[int, int]
                     ) -> dict[int, Decimal]:
    """The baseline: a per-payee Python loop with Decimal (what a spreadsheet macro does)."""
    out: dict[int, Decimal] = {}
    by_team: dict[int, list[int]] = {}
    for i, t in enumerate(team_of):
        by_team.setdefault(int(t), []).append(i)
    for team, members in by_team.items():
        total = Decimal(team_totals[team]) / 100
        weight_sum = sum(Decimal(int(weights[i])) for i in members)
        given = Decimal(0)
        for i in members:
            share = (total * Decimal(int(weights[i])) / weight_sum).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
            out[i] = share
            given += share
        left = int((total - given) * 100)
        for i in members[:left]:  # leftover cents to the first payees
            out[i] += Decimal("0.01")
    return out


def bench_allocation(workdir: Path, payees: int) -> dict[str, Any]:
    import spm_kernel
    from spm_kernel.planning import Ramp, allocate_quotas
    from spm_kernel.planning.allocation import allocate_by_group

    folder = build_workspace(workdir / f"alloc-{payees}", payees)
    target = Decimal(payees) * Decimal("123456.78")
    with spm_kernel.open(folder, load_entry_points=False) as ws:
        allocate_quotas(ws, fiscal_year=2027, target=target, cadence="quarter")  # warm caches and imports
        runs, cpu = [], []
        for _ in range(3):
            clock, cpu_clock = time.perf_counter(), time.process_time()
            plan = allocate_quotas(ws, fiscal_year=2027, target=target, method="historical", cadence="quarter",
                                   ramp=Ramp(factors=[Decimal("0.25"), Decimal("0.5"), Decimal("0.75")]),
                                   overassignment={"team": Decimal("0.95"), "region": Decimal("0.98")})
            runs.append(time.perf_counter() - clock)
            cpu.append(time.process_time() - cpu_clock)
    seconds = min(runs)
    exact = sum(plan.level("region")["top_down"], Decimal(0)) == target
    quarters = plan.lines.loc[plan.lines["measure"] == "bookings"].groupby("payee_id")["amount"].sum()
    annual = plan.lines.loc[plan.lines["measure"] == "bookings_annual"].set_index("payee_id")["amount"]
    periods_ok = bool((quarters.reindex(annual.index) == annual).all())
    # the core allocation, vectorised vs the naive loop, on the same integer weights
    team_codes, _ = pd.factorize(plan.payees["team_id"], sort=True)
    weights = np.rint(plan.payees["weight"].to_numpy() * 1e12).astype(np.int64)
    team_totals = np.asarray([int(v * 100) for v in plan.level("team")["top_down"]], dtype=np.int64)
    clock = time.perf_counter()
    vector = allocate_by_group(team_totals, team_codes, weights)
    core_vector = time.perf_counter() - clock
    clock = time.perf_counter()
    naive = naive_allocation(int(target * 100), team_codes, weights, dict(enumerate(team_totals.tolist())))
    core_naive = time.perf_counter() - clock
    naive_total = sum(naive.values(), Decimal(0))
    return {"payees": int(len(plan.payees)), "seconds": seconds, "cpu_seconds": min(cpu),
            "target_seconds": TARGET_ALLOCATE,
            "meets_target": seconds < TARGET_ALLOCATE, "sums_to_target": bool(exact),
            "periods_sum_to_annual": periods_ok,
            "core_vectorised_seconds": core_vector, "core_naive_loop_seconds": core_naive,
            "core_speedup": core_naive / max(core_vector, 1e-9),
            "naive_sums_to_teams": naive_total == Decimal(int(team_totals.sum())) / 100,
            "vector_sums_to_teams": int(vector.sum()) == int(team_totals.sum())}


def synthetic_territories(accounts: int, reps: int, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reps in 5 regions x 3 segments; each account owned by a rep of its group; owners'
    potentials skewed (log-normal factor per rep) so the book starts unbalanced."""
    rng = np.random.default_rng(seed)
    group = np.arange(reps) % 15
    rep_frame = pd.DataFrame({"payee_id": [f"R{i:04d}" for i in range(reps)],
                              "region_id": [f"REG{g // 3}" for g in group],
                              "segment": np.array(["SMB", "MM", "ENT"])[group % 3]})
    owner = rng.integers(0, reps, accounts)
    skew = rng.lognormal(0.0, 0.5, reps)
    potential = np.round(rng.lognormal(10.0, 1.0, accounts) * skew[owner], 2)
    acc = pd.DataFrame({"account_id": [f"A{i:06d}" for i in range(accounts)],
                        "owner_id": rep_frame["payee_id"].to_numpy()[owner], "potential": potential,
                        "region_id": rep_frame["region_id"].to_numpy()[owner],
                        "segment": rep_frame["segment"].to_numpy()[owner]})
    unowned = rng.random(accounts) < 0.02  # 2% of accounts have no owner yet
    acc.loc[unowned, "owner_id"] = None
    return acc, rep_frame


def bench_territory(accounts: int, reps: int, time_limit: float) -> dict[str, Any]:
    from spm_kernel.planning.territory import balance_territories, greedy_assignment, spread

    acc, rep_frame = synthetic_territories(accounts, reps)
    clock = time.perf_counter()
    plan = balance_territories(accounts=acc, reps=rep_frame, time_limit=time_limit)
    seconds = time.perf_counter() - clock
    s = plan.summary
    clock = time.perf_counter()
    greedy = greedy_assignment(acc, rep_frame)
    greedy_seconds = time.perf_counter() - clock
    loads = acc.assign(owner=greedy.to_numpy()).groupby("owner")["potential"].sum()
    by_rep = plan.by_rep.set_index("payee_id")
    rel = (loads.reindex(by_rep.index).fillna(0.0) / by_rep["target_potential"]).to_numpy()
    owned = acc["owner_id"].notna().to_numpy()
    greedy_moved = int((acc["owner_id"].to_numpy()[owned] != greedy.to_numpy()[owned]).sum())
    return {"accounts": accounts, "reps": reps, "seconds": seconds, "target_seconds": TARGET_TERRITORY,
            "meets_target": seconds < TARGET_TERRITORY, "mip_gap": s["mip_gap"], "max_group_gap": s["max_group_gap"],
            "optimal_groups": s["optimal_groups"], "groups": s["groups"], "variables": s["variables"],
            "potential_cv_before": s["potential_cv_before"], "potential_cv_after": s["potential_cv_after"],
            "workload_cv_before": s["workload_cv_before"], "workload_cv_after": s["workload_cv_after"],
            "accounts_moved": s["accounts_moved"], "accounts_assigned": s["accounts_assigned"],
            "greedy_seconds": greedy_seconds, "greedy_potential_cv": spread(rel)["cv"],
            "greedy_accounts_moved": greedy_moved,
            "moves_vs_greedy": s["accounts_moved"] / max(greedy_moved, 1),
            "seconds_vs_greedy": seconds / greedy_seconds}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 payees; 5,000 accounts over 50 reps")
    parser.add_argument("--payees", type=int, default=None)
    parser.add_argument("--accounts", type=int, default=None)
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--time-limit", type=float, default=50.0, help="solver seconds for the territories")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench" / "planning")
    args = parser.parse_args(argv)
    payees = args.payees or (1_000 if args.quick else 10_000)
    accounts = args.accounts or (5_000 if args.quick else 50_000)
    reps = args.reps or (50 if args.quick else 500)
    args.workdir.mkdir(parents=True, exist_ok=True)
    alloc = bench_allocation(args.workdir, payees)
    terr = bench_territory(accounts, reps, args.time_limit)
    rows = [
        ("quota allocation", f"{alloc['payees']:,} payees", f"{alloc['seconds']:.3f} s",
         f"< {TARGET_ALLOCATE:.0f} s", "yes" if alloc["meets_target"] else "NO",
         f"CPU {alloc['cpu_seconds']:.3f} s; sums to target: {alloc['sums_to_target']}"),
        ("  core: vectorised largest remainder", "", f"{alloc['core_vectorised_seconds']:.4f} s", "", "",
         f"exact: {alloc['vector_sums_to_teams']}"),
        ("  baseline: per-payee Decimal loop", "", f"{alloc['core_naive_loop_seconds']:.4f} s", "", "",
         f"x{alloc['core_speedup']:.1f} slower; exact: {alloc['naive_sums_to_teams']}"),
        ("territory balance (HiGHS MILP)", f"{accounts:,} acc / {reps} reps", f"{terr['seconds']:.1f} s",
         f"< {TARGET_TERRITORY:.0f} s", "yes" if terr["meets_target"] else "NO",
         f"MIP gap {terr['mip_gap']:.3%} ({terr['optimal_groups']}/{terr['groups']} groups optimal), "
         f"CV {terr['potential_cv_before']:.3f} -> {terr['potential_cv_after']:.3f}, {terr['accounts_moved']:,} moved"),
        ("  baseline: greedy LPT", "", f"{terr['greedy_seconds']:.1f} s", "", "",
         f"CV {terr['greedy_potential_cv']:.3f}, {terr['greedy_accounts_moved']:,} moved "
         f"(MILP moves x{terr['moves_vs_greedy']:.3f} of greedy's)"),
    ]
    widths = [max(len(str(r[i])) for r in rows) for i in range(6)]
    print("planning benchmark" + (" (quick)" if args.quick else ""))
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores")
    result = {"benchmark": "planning", "quick": args.quick, "load_average": load, "cores": os.cpu_count(),
              "allocation": alloc, "territory": terr}
    print(json.dumps(result, default=float))
    return result


if __name__ == "__main__":
    main()
