"""Territory balance: reassign accounts so reps carry similar potential and workload, moving
as few existing relationships as pays off. Solved as a mixed-integer program with HiGHS
(``scipy.optimize.milp``); the solver's optimality gap is reported.

>>> result = balance_territories(ws, move_threshold=0.05)             # doctest: +SKIP
>>> result.summary          # spread before/after, accounts moved, MIP gap, seconds
>>> result.moves            # account_id, from_rep, to_rep, potential

**Groups.** Accounts move only between reps who share the ``match`` columns (default region
and segment: an enterprise account in one region is not given to a mid-market rep in
another). Each group is an independent problem. An account whose owner is not one of the
group's reps (unowned, or the owner left) must be assigned and costs no move.

**Targets.** A rep's target potential is the group's potential times their share of the
group's capacity (``capacity`` column, default 1: a ramping rep can carry less); the same
for workload (``workload`` per account, default 1: the account count).

**Aggregation (what makes 50,000 accounts x 500 reps tractable).** Accounts are put in
geometric potential bands (``band_ratio`` 1.5: inside a band potentials differ by less than
half). Reps above their band (in potential or workload) may give accounts away; reps not
above their potential band (the ``max_candidates`` neediest) may receive. The integer
variables are, per giving rep and band, how many of their accounts leave, and per receiving
rep and band, how many arrive; each band's departures equal its arrivals (unassigned
accounts must all depart). A departing account counts with its owner's band mean, an
arriving one with the band's mean over the departing owners. So a group of 35 reps has a
few hundred integer variables whatever its number of accounts, and HiGHS proves optimality
(to ``mip_rel_gap``) in about a second. The realised balance (reported) uses each account's
own potential: the accounts that leave are those closest to their band's mean, and each
band's departures are handed to its arrivals in rep order.

**Objective.** Each rep should carry their target within a tolerance band (``tolerance``,
default +/-5% of target potential; ``workload_tolerance`` +/-10% of target workload). With
every amount relative to the group's mean target (so groups are comparable)::

    minimise   sum_r excess_r(potential)                       (outside the band, L1)
             + workload_weight x sum_r excess_r(workload)
             + move_threshold x mean account potential / mean target x (accounts moved)

    excess_r = max(0, load_r - target_r (1 + tol), target_r (1 - tol) - load_r) / mean target

so an account changes hands only when that brings reps closer to their bands by more than
``move_threshold`` times the group's average account potential (default 0.5: moving an
average account from a rep above their band to one below it cuts the excess by two average
accounts and pays; moving it between two reps inside their bands gains nothing and does
not happen). Existing relationships are kept unless moving them pays off beyond that
threshold, and a rep already inside the band loses nothing. The band makes the problem easy to solve to a proven
optimum (minimising the raw deviation instead is a partition problem whose last fraction of a
percent costs minutes to prove), and it is how territory plans are usually specified.

HiGHS runs with ``time_limit`` seconds in all (``workers`` groups at a time, each given its
share of the time left by size) and stops at
``mip_rel_gap`` (0.5%: the objective is in units of a rep's target, so that is a fraction of
one average account); the summary reports each group's status, the objective, the best bound and
the overall relative gap ``(objective - bound) / objective``.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from spm_kernel.planning.errors import PlanningError

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

ORPHAN = "\x00unassigned"


class TerritorySettings(BaseModel):
    """The knobs of :func:`balance_territories` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    match: tuple[str, ...] = ("region_id", "segment")
    workload_weight: float = Field(0.5, ge=0)
    tolerance: float = Field(0.05, ge=0, lt=1)
    workload_tolerance: float = Field(0.10, ge=0, lt=1)
    move_threshold: float = Field(0.5, ge=0)
    band_ratio: float = Field(1.5, gt=1.0)
    max_candidates: int = Field(30, ge=1)
    time_limit: float = Field(50.0, gt=0)
    workers: int = Field(2, ge=1, description="groups solved at once (HiGHS runs one thread each)")
    mip_rel_gap: float = Field(5e-3, ge=0)


@dataclass
class TerritoryPlan:
    """``assignment``: every account with ``owner_before`` and ``owner_after``; ``moves``:
    the accounts that change hands; ``by_rep``: potential, workload and accounts before and
    after per rep with targets; ``groups``: per group the solver's status, objective, bound,
    gap and seconds; ``summary``: the figures of the module docstring."""

    settings: TerritorySettings
    assignment: pd.DataFrame
    moves: pd.DataFrame
    by_rep: pd.DataFrame
    groups: pd.DataFrame
    summary: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        s = self.summary
        return (f"<TerritoryPlan {s['reps']} reps, {s['accounts']} accounts: potential spread (CV) "
                f"{s['potential_cv_before']:.3f} -> {s['potential_cv_after']:.3f}, {s['accounts_moved']} moved, "
                f"MIP gap {s['mip_gap']:.2%}, {s['seconds']:.1f} s>")


def spread(values: np.ndarray, targets: np.ndarray | None = None) -> dict[str, float]:
    """Spread of per-rep loads: coefficient of variation, (max - min) / mean, max/min, and
    the mean absolute deviation from ``targets`` relative to the mean target."""
    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean()) if len(v) else float("nan")
    out = {"cv": float(v.std(ddof=0) / mean) if mean else float("nan"),
           "range": float((v.max() - v.min()) / mean) if mean else float("nan"),
           "max_over_min": float(v.max() / v.min()) if len(v) and v.min() > 0 else float("inf")}
    if targets is not None:
        t = np.asarray(targets, dtype=np.float64)
        out["mad"] = float(np.abs(v - t).mean() / t.mean()) if t.mean() else float("nan")
    return out


def group_codes(accounts: pd.DataFrame, reps: pd.DataFrame, match: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A group code per account then per rep (equal ``match`` values, same code) and each
    group's label (``"NAE|SMB"``), vectorised."""
    if not match:
        return np.zeros(len(accounts) + len(reps), dtype=np.int64), np.array(["all"], dtype=object)
    both = pd.concat([accounts[list(match)], reps[list(match)]], ignore_index=True).astype(str)
    grouped = both.groupby(list(match), sort=True)
    codes = grouped.ngroup().to_numpy(dtype=np.int64)
    keys = grouped.size().index
    labels = np.array(["|".join(map(str, k if isinstance(k, tuple) else (k,))) for k in keys], dtype=object)
    return codes, labels


def _bands(accounts: pd.DataFrame, ratio: float) -> np.ndarray:
    """Potential band of each account: geometric bands ``[m r^k, m r^(k+1))`` from the
    smallest positive potential ``m`` (band -1 holds zeros), so the accounts of a band differ
    by less than a factor ``r`` and a band's mean stands for each of them."""
    pot = accounts["potential"].to_numpy(dtype=np.float64)
    positive = pot[pot > 0]
    if len(positive) == 0:
        return np.full(len(pot), -1, dtype=np.int64)
    smallest = positive.min()
    with np.errstate(divide="ignore"):
        band = np.floor(np.log(np.where(pot > 0, pot, smallest) / smallest) / np.log(ratio)).astype(np.int64)
    return np.where(pot > 0, band, -1)


def _solve_group(src: pd.DataFrame, reps: pd.DataFrame, s: TerritorySettings, seconds: float) -> dict[str, Any]:
    """One group's MILP (see the module docstring). ``src``: one row per source (owner,
    band) with ``count``, ``potential`` and ``workload`` (means), ``_band``, ``source_rep``
    (-1 when unassigned); ``reps``: ``target_p``, ``target_w``, ``current_p``, ``current_w``.
    Returns how many accounts leave each source (``leave``), how many of each band each rep
    receives (``arrive``: rep, band, count) and the solver's figures."""
    n_r = len(reps)
    tp, tw = reps["target_p"].to_numpy(), reps["target_w"].to_numpy()
    cp, cw = reps["current_p"].to_numpy(), reps["current_w"].to_numpy()
    mean_tp = max(float(tp.mean()), 1e-9)
    mean_tw = max(float(tw.mean()), 1e-9)
    over = (cp > tp * (1 + s.tolerance)) | (cw > tw * (1 + s.workload_tolerance))
    src_rep = src["source_rep"].to_numpy()
    movable = (src_rep < 0) | over[np.maximum(src_rep, 0)]
    nothing = {"leave": np.zeros(len(src), dtype=np.int64), "arrive": np.zeros((0, 3), dtype=np.int64),
               "status": "optimal", "objective": 0.0, "bound": 0.0, "gap": 0.0, "seconds": 0.0, "variables": 0,
               "message": "already balanced"}
    if not movable.any():
        nothing["objective"] = nothing["bound"] = _excess(cp, cw, tp, tw, mean_tp, mean_tw, s)
        return nothing
    # receivers: reps not above their potential band, the neediest first
    deficit = (tp - cp) / mean_tp + s.workload_weight * (tw - cw) / mean_tw
    candidates = np.flatnonzero(~(cp > tp * (1 + s.tolerance)))
    if len(candidates) == 0:
        candidates = np.arange(n_r)
    receivers = candidates[np.argsort(-deficit[candidates], kind="stable")][: s.max_candidates]
    sources = np.flatnonzero(movable)
    bands, band_of = np.unique(src["_band"].to_numpy()[sources], return_inverse=True)
    counts = src["count"].to_numpy(dtype=np.float64)
    p_src = src["potential"].to_numpy() / mean_tp
    w_src = src["workload"].to_numpy() / mean_tw
    weight = counts[sources]
    p_band = np.bincount(band_of, weights=weight * p_src[sources]) / np.bincount(band_of, weights=weight)
    w_band = np.bincount(band_of, weights=weight * w_src[sources]) / np.bincount(band_of, weights=weight)
    n_z, n_b, n_q = len(sources), len(bands), len(receivers)
    n_w = n_q * n_b
    w_rep = np.repeat(receivers, n_b)          # receiver of each arrival variable
    w_band_idx = np.tile(np.arange(n_b), n_q)   # band of each arrival variable
    # variables: z (accounts leaving each movable source) | a (arrivals per receiver and band)
    #            | dP+ | dP- | dW+ | dW- (n_r each): excess above / below each rep's band
    n = n_z + n_w + 4 * n_r
    z_cols, a_cols = np.arange(n_z), n_z + np.arange(n_w)
    first_p, first_w = n_z + n_w, n_z + n_w + 2 * n_r
    c = np.zeros(n)
    mean_account = float((counts * src["potential"].to_numpy()).sum() / max(counts.sum(), 1)) / mean_tp
    c[:n_z] = np.where(src_rep[sources] >= 0, s.move_threshold * mean_account, 0.0)  # unassigned: no move
    c[first_p:first_p + 2 * n_r] = 1.0
    c[first_w:first_w + 2 * n_r] = s.workload_weight
    rows, cols, vals, lo, hi = [], [], [], [], []
    # 1. every band: what leaves = what arrives
    rows += [band_of, w_band_idx]
    cols += [z_cols, a_cols]
    vals += [np.ones(n_z), -np.ones(n_w)]
    lo.append(np.zeros(n_b))
    hi.append(np.zeros(n_b))
    base = n_b
    ridx = np.arange(n_r)
    owner = src_rep[sources]
    has_owner = owner >= 0
    for per_src, per_band, current, target, tol, first in (
            (p_src, p_band, cp / mean_tp, tp / mean_tp, s.tolerance, first_p),
            (w_src, w_band, cw / mean_tw, tw / mean_tw, s.workload_tolerance, first_w)):
        # load = current - leaving + arriving;  load - up <= target (1 + tol);  load + down >= target (1 - tol)
        for var, sign_d, bound_lo, bound_hi in ((first, -1.0, -np.inf, target * (1 + tol) - current),
                                                (first + n_r, 1.0, target * (1 - tol) - current, np.inf)):
            rows += [base + owner[has_owner], base + w_rep, base + ridx]
            cols += [z_cols[has_owner], a_cols, var + ridx]
            vals += [-per_src[sources][has_owner], per_band[w_band_idx], sign_d * np.ones(n_r)]
            lo.append(np.broadcast_to(bound_lo, n_r).astype(np.float64))
            hi.append(np.broadcast_to(bound_hi, n_r).astype(np.float64))
            base += n_r
    a = sparse.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(base, n))
    lb, ub = np.zeros(n), np.full(n, np.inf)
    lb[:n_z] = np.where(has_owner, 0.0, counts[sources])  # unassigned accounts must all be placed
    ub[:n_z] = counts[sources]
    ub[a_cols] = np.bincount(band_of, weights=weight, minlength=n_b)[w_band_idx]
    integrality = np.zeros(n)
    integrality[: n_z + n_w] = 1
    clock = time.perf_counter()
    res = milp(c, constraints=LinearConstraint(a, np.concatenate(lo), np.concatenate(hi)), integrality=integrality,
               bounds=Bounds(lb, ub), options={"time_limit": max(seconds, 0.5), "mip_rel_gap": s.mip_rel_gap,
                                               "presolve": True})
    elapsed = time.perf_counter() - clock
    status = {0: "optimal", 1: "time limit", 2: "infeasible", 3: "unbounded", 4: "other"}.get(res.status, "other")
    if res.x is None:
        return {**nothing, "status": status, "objective": np.nan, "bound": np.nan, "gap": np.nan,
                "seconds": elapsed, "variables": n, "message": res.message, "leave": None}
    x = np.rint(res.x).astype(np.int64)
    leave = np.zeros(len(src), dtype=np.int64)
    leave[sources] = x[:n_z]
    arrive = np.stack([w_rep, bands[w_band_idx], x[a_cols]], axis=1)
    arrive = arrive[arrive[:, 2] > 0]
    objective = float(res.fun)
    dual = getattr(res, "mip_dual_bound", None)
    bound = objective if dual is None or not np.isfinite(dual) else min(float(dual), objective)
    return {"leave": leave, "arrive": arrive, "status": status, "objective": objective, "bound": bound,
            "gap": relative_gap(objective, bound), "seconds": elapsed, "variables": n, "message": res.message}


def relative_gap(objective: float, bound: float) -> float:
    """``(objective - bound) / objective``, 0 when both are 0 to solver precision (1e-9)."""
    if abs(objective) < 1e-9:
        return 0.0
    return max(objective - bound, 0.0) / abs(objective)


def _excess(cp: np.ndarray, cw: np.ndarray, tp: np.ndarray, tw: np.ndarray, mean_tp: float, mean_tw: float,
            s: TerritorySettings) -> float:
    """The objective of leaving everything as it is (no move)."""
    ep = np.maximum(0, cp - tp * (1 + s.tolerance)) + np.maximum(0, tp * (1 - s.tolerance) - cp)
    ew = np.maximum(0, cw - tw * (1 + s.workload_tolerance)) + np.maximum(0, tw * (1 - s.workload_tolerance) - cw)
    return float(ep.sum() / mean_tp + s.workload_weight * ew.sum() / mean_tw)


def _frames_from_workspace(ws: Workspace, on: date | None, roles: tuple[str, ...],
                           rates: dict[str, Decimal] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    from spm_kernel.planning.fx import planning_rates

    from spm_kernel.planning.roster import check_roles

    day = on or date.today()
    listed = ", ".join(f"'{r}'" for r in check_roles(roles))
    reps = ws.sql(f"""
        SELECT p.payee_id, coalesce(p.region_id, t.region_id) AS region_id, p.segment, p.team_id
        FROM payees p LEFT JOIN teams t ON t.team_id = p.team_id
        WHERE p.role IN ({listed}) AND p.hire_date <= ? AND (p.termination_date IS NULL OR p.termination_date >= ?)
        ORDER BY p.payee_id""", [day, day])
    currencies = set(ws.sql("SELECT DISTINCT currency FROM accounts WHERE currency IS NOT NULL")["currency"])
    fx = planning_rates(ws, currencies, day, rates)
    accounts = ws.sql("SELECT account_id, owner_id, region_id, segment, potential, currency FROM accounts "
                      "WHERE potential IS NOT NULL ORDER BY account_id")
    base = ws.config.base_currency
    rate = accounts["currency"].fillna(base).map(lambda c: float(fx[c])).to_numpy()
    accounts["potential"] = accounts["potential"].astype(float).to_numpy() * rate
    return accounts.drop(columns=["currency"]), reps


def balance_territories(ws: Workspace | None = None, *, accounts: pd.DataFrame | None = None,
                        reps: pd.DataFrame | None = None, on: date | None = None, roles: tuple[str, ...] = ("rep",),
                        rates: dict[str, Decimal] | None = None, settings: TerritorySettings | None = None,
                        **options: Any) -> TerritoryPlan:
    """Balance potential and workload across reps (see the module docstring).

    Give a workspace (accounts with a potential, converted at planning rates; reps with a
    role in ``roles`` employed on ``on``, default today) or the frames: ``accounts``
    (``account_id, owner_id, potential`` + the ``match`` columns, optional ``workload``)
    and ``reps`` (``payee_id`` + the ``match`` columns, optional ``capacity``).
    """
    s = settings or TerritorySettings(**options)
    if accounts is None or reps is None:
        if ws is None:
            raise PlanningError("give a workspace, or both accounts and reps frames")
        ws_accounts, ws_reps = _frames_from_workspace(ws, on, roles, rates)
        accounts = ws_accounts if accounts is None else accounts
        reps = ws_reps if reps is None else reps
    clock = time.perf_counter()
    notes: list[str] = []
    missing = [c for c in ("account_id", "owner_id", "potential", *s.match) if c not in accounts.columns]
    missing += [f"reps.{c}" for c in ("payee_id", *s.match) if c not in reps.columns]
    if missing:
        raise PlanningError(f"territory balance needs column(s) {missing}")
    if reps["payee_id"].duplicated().any() or accounts["account_id"].duplicated().any():
        raise PlanningError("account and rep ids must be unique")
    acc = accounts.reset_index(drop=True).copy()
    acc["potential"] = acc["potential"].astype(float)
    if (acc["potential"] < 0).any():
        raise PlanningError("account potential must not be negative")
    acc["workload"] = acc["workload"].astype(float) if "workload" in acc.columns else 1.0
    rp = reps.reset_index(drop=True).copy()
    rp["capacity"] = rp["capacity"].astype(float) if "capacity" in rp.columns else 1.0
    codes, uniques = group_codes(acc, rp, s.match)
    acc["_g"], rp["_g"] = codes[: len(acc)], codes[len(acc):]
    no_rep = ~acc["_g"].isin(set(rp["_g"]))
    if no_rep.any():
        notes.append(f"{int(no_rep.sum())} account(s) are in a {'/'.join(s.match) or 'group'} no rep covers: "
                     f"left with their owner")
    known = pd.MultiIndex.from_arrays([rp["_g"], rp["payee_id"].astype(str)])
    acc["_owner_ok"] = known.get_indexer(pd.MultiIndex.from_arrays(
        [acc["_g"], acc["owner_id"].astype(object).where(acc["owner_id"].notna(), "").astype(str)])) >= 0
    acc["_source"] = np.where(acc["_owner_ok"], acc["owner_id"].astype(str), ORPHAN)
    acc["_band"] = _bands(acc, s.band_ratio)
    acc["owner_after"] = acc["owner_id"].where(acc["_owner_ok"], None)

    work = acc.loc[~no_rep]
    sizes = work.groupby("_g")["account_id"].size()
    reps_per = rp.groupby("_g")["payee_id"].size()
    weight = (sizes * reps_per.reindex(sizes.index).clip(upper=s.max_candidates + 1)).astype(float)
    share = weight / max(weight.sum(), 1.0)
    jobs = []
    for g, part in work.groupby("_g", sort=True):  # independent problems, one per group
        grp_reps = rp.loc[rp["_g"] == g].reset_index(drop=True)
        local = {pid: i for i, pid in enumerate(grp_reps["payee_id"])}
        cap = grp_reps["capacity"].to_numpy()
        cap_share = cap / cap.sum() if cap.sum() > 0 else np.full(len(cap), 1.0 / len(cap))
        owned = part.loc[part["_owner_ok"]].groupby("owner_id")[["potential", "workload"]].sum()
        grp_reps = grp_reps.assign(
            target_p=part["potential"].sum() * cap_share, target_w=part["workload"].sum() * cap_share,
            current_p=owned["potential"].reindex(grp_reps["payee_id"]).fillna(0.0).to_numpy(),
            current_w=owned["workload"].reindex(grp_reps["payee_id"]).fillna(0.0).to_numpy())
        src = part.groupby(["_source", "_band"], as_index=False).agg(
            count=("account_id", "size"), potential=("potential", "mean"), workload=("workload", "mean"))
        src["source_rep"] = src["_source"].map(local).fillna(-1).astype(np.int64)
        jobs.append((g, part, src, grp_reps, float(share.get(g, 1.0))))
    jobs.sort(key=lambda j: -j[4])  # the largest first, so the small ones fill in at the end
    deadline = clock + s.time_limit
    lock = threading.Lock()
    left = {"share": float(sum(j[4] for j in jobs))}

    def solve(job: tuple[Any, ...]) -> dict[str, Any]:
        with lock:  # this group's part of the time left, by size (workers solve side by side)
            remaining = deadline - time.perf_counter()
            seconds = min(remaining * s.workers * job[4] / max(left["share"], 1e-9), remaining)
            left["share"] -= job[4]
        return _solve_group(job[2], job[3], s, max(seconds, 0.5))

    with ThreadPoolExecutor(max_workers=s.workers) as pool:  # HiGHS releases the GIL
        results = list(pool.map(solve, jobs))
    groups_out = []
    for (g, part, src, grp_reps, _), result in zip(jobs, results):
        groups_out.append({"group": uniques[g], "reps": len(grp_reps), "accounts": len(part),
                           "variables": result["variables"], "status": result["status"],
                           "objective": result["objective"], "bound": result["bound"], "gap": result["gap"],
                           "seconds": result["seconds"]})
        if result["leave"] is None:
            notes.append(f"group {uniques[g]}: the solver found no solution ({result['message']}); "
                         f"accounts stay with their owners")
            continue
        acc.loc[part.index, "owner_after"] = _realise(part, src, grp_reps, result).to_numpy()

    return _report(acc, rp, s, pd.DataFrame(groups_out), notes, time.perf_counter() - clock)


def _realise(part: pd.DataFrame, src: pd.DataFrame, reps: pd.DataFrame, result: dict[str, Any]) -> pd.Series:
    """The owner of each account after the solution: from each source, the accounts closest
    to their band's mean potential leave; each band's leaving accounts go to that band's
    arrivals, receivers in rep order; the rest stay (unassigned accounts all leave)."""
    owners = part["owner_id"].astype(object).where(part["_owner_ok"], None)
    leave = result["leave"]
    if leave is None or leave.sum() == 0:
        return owners
    key = src.set_index(["_source", "_band"]).index
    frame = part.assign(s=key.get_indexer(pd.MultiIndex.from_arrays([part["_source"], part["_band"]])))
    frame = frame.loc[leave[frame["s"].to_numpy()] > 0]
    band_mean = frame.groupby("_band")["potential"].transform("mean").to_numpy()
    frame = frame.assign(dist=np.abs(frame["potential"].to_numpy() - band_mean))
    frame = frame.sort_values(["s", "dist", "account_id"])
    frame = frame.loc[frame.groupby("s").cumcount().to_numpy() < leave[frame["s"].to_numpy()]]
    frame = frame.sort_values(["_band", "s", "dist", "account_id"])
    frame["slot"] = frame.groupby("_band").cumcount()
    arrive = pd.DataFrame(result["arrive"], columns=["r", "_band", "n"]).sort_values(["_band", "r"])
    slots = arrive.loc[arrive.index.repeat(arrive["n"])].reset_index(drop=True)
    slots["slot"] = slots.groupby("_band").cumcount()
    placed = frame.reset_index().merge(slots[["_band", "slot", "r"]], on=["_band", "slot"], how="inner") \
        .set_index("index")
    out = owners.copy()
    out.loc[placed.index] = reps["payee_id"].to_numpy()[placed["r"].to_numpy(dtype=np.int64)]
    return out


def _report(acc: pd.DataFrame, rp: pd.DataFrame, s: TerritorySettings, groups: pd.DataFrame, notes: list[str],
            seconds: float) -> TerritoryPlan:
    assignment = acc.loc[:, ["account_id", *s.match, "potential", "workload"]].assign(
        owner_before=acc["owner_id"], owner_after=acc["owner_after"])
    moved = (assignment["owner_before"].astype(object).where(assignment["owner_before"].notna(), None)
             != assignment["owner_after"].astype(object).where(assignment["owner_after"].notna(), None))
    kept_owner = acc["_owner_ok"].to_numpy()
    moves = assignment.loc[moved.to_numpy()].rename(columns={"owner_before": "from_rep", "owner_after": "to_rep"})
    before = acc.loc[acc["_owner_ok"]].groupby("owner_id")[["potential", "workload"]].sum()
    after = acc.loc[acc["owner_after"].isin(set(rp["payee_id"]))].groupby("owner_after")[
        ["potential", "workload"]].sum()
    by_rep = rp.loc[:, ["payee_id", *s.match, "capacity"]].copy()
    by_rep["potential_before"] = before["potential"].reindex(by_rep["payee_id"]).fillna(0.0).to_numpy()
    by_rep["potential_after"] = after["potential"].reindex(by_rep["payee_id"]).fillna(0.0).to_numpy()
    by_rep["workload_before"] = before["workload"].reindex(by_rep["payee_id"]).fillna(0.0).to_numpy()
    by_rep["workload_after"] = after["workload"].reindex(by_rep["payee_id"]).fillna(0.0).to_numpy()
    g_total = acc.groupby("_g")[["potential", "workload"]].sum()
    cap_sum = rp.groupby("_g")["capacity"].transform("sum").replace(0, np.nan)
    share = (rp["capacity"] / cap_sum).fillna(0.0).to_numpy()
    by_rep["target_potential"] = g_total["potential"].reindex(rp["_g"]).fillna(0.0).to_numpy() * share
    by_rep["target_workload"] = g_total["workload"].reindex(rp["_g"]).fillna(0.0).to_numpy() * share
    by_rep["moved_in"] = moves.groupby("to_rep").size().reindex(by_rep["payee_id"]).fillna(0).astype(int).to_numpy()
    by_rep["moved_out"] = moves.loc[moves["from_rep"].isin(set(rp["payee_id"]))].groupby("from_rep").size().reindex(
        by_rep["payee_id"]).fillna(0).astype(int).to_numpy()
    # spreads are measured relative to each rep's target (capacity-weighted), across all reps
    rel = by_rep["target_potential"].replace(0, np.nan)
    pb = (by_rep["potential_before"] / rel).fillna(0.0).to_numpy()
    pa = (by_rep["potential_after"] / rel).fillna(0.0).to_numpy()
    relw = by_rep["target_workload"].replace(0, np.nan)
    wb = (by_rep["workload_before"] / relw).fillna(0.0).to_numpy()
    wa = (by_rep["workload_after"] / relw).fillna(0.0).to_numpy()
    sb, sa, wsb, wsa = spread(pb, np.ones(len(pb))), spread(pa, np.ones(len(pa))), spread(wb), spread(wa)
    objective = float(groups["objective"].sum()) if len(groups) else 0.0
    bound = float(groups["bound"].sum()) if len(groups) else 0.0
    summary = {
        "reps": int(len(rp)), "accounts": int(len(acc)), "groups": int(len(groups)),
        "accounts_moved": int(moved.to_numpy()[kept_owner].sum()),
        "accounts_assigned": int((~kept_owner & acc["owner_after"].notna().to_numpy()).sum()),
        "potential_moved": float(moves.loc[moves["from_rep"].isin(set(rp["payee_id"])), "potential"].sum()),
        "potential_cv_before": sb["cv"], "potential_cv_after": sa["cv"],
        "potential_range_before": sb["range"], "potential_range_after": sa["range"],
        "potential_mad_before": sb["mad"], "potential_mad_after": sa["mad"],
        "workload_cv_before": wsb["cv"], "workload_cv_after": wsa["cv"],
        "objective": objective, "bound": bound,
        "mip_gap": relative_gap(objective, bound),
        "max_group_gap": float(groups["gap"].max()) if len(groups) else 0.0,
        "optimal_groups": int((groups["status"] == "optimal").sum()) if len(groups) else 0,
        "variables": int(groups["variables"].sum()) if len(groups) else 0,
        "seconds": seconds,
    }
    return TerritoryPlan(s, assignment.reset_index(drop=True), moves.reset_index(drop=True), by_rep, groups, summary,
                         notes)


def greedy_assignment(accounts: pd.DataFrame, reps: pd.DataFrame, match: tuple[str, ...] = ("region_id", "segment"),
                      ) -> pd.Series:
    """The textbook greedy baseline (longest processing time first): within each group,
    accounts by descending potential each go to the rep with the least potential so far,
    ignoring current owners. Returns the new owner per account (benchmarks compare with it)."""
    acc = accounts.reset_index(drop=True)
    out = pd.Series(index=acc.index, dtype=object)
    codes, _ = group_codes(acc, reps.reset_index(drop=True), match)
    key_acc, key_rep = codes[: len(acc)], codes[len(acc):]
    import heapq

    for key, part in acc.groupby(key_acc):  # a loop over accounts is what this baseline is
        ids = reps["payee_id"].to_numpy()[key_rep == key].tolist()
        if not ids:
            continue
        heap = [(0.0, i, pid) for i, pid in enumerate(ids)]
        heapq.heapify(heap)
        for idx, pot in part["potential"].sort_values(ascending=False, kind="stable").items():
            load, i, pid = heapq.heappop(heap)
            out[idx] = pid
            heapq.heappush(heap, (load + float(pot), i, pid))
    return out
