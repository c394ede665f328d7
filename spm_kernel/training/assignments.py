"""Training assignments: who must take which module by when, where each one stands, and the
rules that assign learning paths (by role, to new hires, or on a KPI gap against peers).

**Status of an assignment on a day** (``as_of``), see :func:`assignment_status`:

* it is *completed* by the first completion of the same module by the same payee on or
  after the assigned date, up to ``as_of``, and before the next assignment of that module to
  that payee (so last year's compliance course does not count for this year's);
* ``completed`` when that completion is on or before the due date (or there is no due
  date), ``completed late`` after it;
* without a completion: ``overdue`` once the due date has passed (``days_overdue`` =
  ``as_of - due_date``), else ``open``.

**Rules** (table ``training_rules``), see :func:`assign_by_rules`; each assigns every module
of its learning path, due ``due_days`` later:

* ``role``: every payee of ``role`` (any role when empty) employed on ``as_of``;
* ``new_hire``: payees of ``role`` hired in the ``due_days`` days up to ``as_of``; assigned
  on their hire date, due ``due_days`` after it;
* ``kpi_gap``: payees of ``role`` whose ``metric`` in ``period`` (default: the fiscal
  quarter before ``as_of``'s) is *worse* than the ``percentile``-th percentile of their peers
  (same role, tenure band and segment, see :func:`spm_kernel.benchmarking.peer_benchmarks`):
  below it when higher is better, above the ``100 - percentile``-th when lower is better.
  Peer groups with fewer than ``min_peers`` values (default 4) are not judged.

A payee is not assigned a module they already have an assignment of (or, with
``repeat_days``, one assigned less than ``repeat_days`` ago). Assignment ids are
``<rule>-<yyyymmdd>-<payee>-<module>``, so running the same rules twice adds nothing.
Assignments are written through ``ws.load`` (validated, all or nothing).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from spm_kernel.training.catalogue import TrainingError, path_modules

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

STATUSES = ("completed", "completed late", "overdue", "open")
DEFAULT_MIN_PEERS = 4
ASSIGNMENT_COLUMNS = ["assignment_id", "payee_id", "module_id", "assigned_date", "due_date", "reason"]


def _day(value: date | str | None) -> date:
    if value is None:
        return date.today()
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def subtree(ws: Workspace, manager_id: str, as_of: date | str | None = None) -> list[str]:
    """``manager_id`` and everyone reporting to them (directly or not) on ``as_of``, by the
    hierarchy effective that day."""
    rows = ws.sql("""
        WITH RECURSIVE lines AS (
            SELECT payee_id, manager_id FROM hierarchy
            WHERE valid_from <= $d AND (valid_to IS NULL OR valid_to > $d)),
        tree(payee_id) AS (
            SELECT $m
            UNION SELECT l.payee_id FROM lines l JOIN tree t ON l.manager_id = t.payee_id)
        SELECT payee_id FROM tree ORDER BY payee_id""", {"d": _day(as_of), "m": manager_id})
    return list(rows["payee_id"])


def assignment_status(ws: Workspace, as_of: date | str | None = None, *, manager: str | None = None,
                      payee: str | None = None) -> pd.DataFrame:
    """Every assignment with its status on ``as_of`` (see the module docstring): assignment_id,
    payee_id, name, role, team_id, module_id, title, assigned_date, due_date, reason,
    completed_at, status, days_overdue. ``manager`` keeps their subtree; ``payee`` one payee.
    Assignments made after ``as_of``, and those of payees who left before it, are left out."""
    day = _day(as_of)
    keep = subtree(ws, manager, day) if manager else None
    frame = ws.sql("""
        WITH a AS (
            SELECT *, lead(assigned_date) OVER (PARTITION BY payee_id, module_id
                                               ORDER BY assigned_date, assignment_id) AS next_assigned
            FROM training_assignments WHERE assigned_date <= $d),
        done AS (
            SELECT a.assignment_id, min(c.completed_at) AS completed_at
            FROM a JOIN training_completions c
              ON c.payee_id = a.payee_id AND c.module_id = a.module_id
             AND CAST(c.completed_at AS DATE) >= a.assigned_date
             AND CAST(c.completed_at AS DATE) <= $d
             AND (a.next_assigned IS NULL OR CAST(c.completed_at AS DATE) < a.next_assigned)
            GROUP BY a.assignment_id)
        SELECT a.assignment_id, a.payee_id, p.name, p.role, p.team_id, a.module_id, m.title,
               a.assigned_date, a.due_date, a.reason, done.completed_at,
               CASE WHEN done.completed_at IS NOT NULL THEN
                        CASE WHEN a.due_date IS NULL OR CAST(done.completed_at AS DATE) <= a.due_date
                             THEN 'completed' ELSE 'completed late' END
                    WHEN a.due_date < $d THEN 'overdue' ELSE 'open' END AS status,
               CASE WHEN done.completed_at IS NULL AND a.due_date < $d
                    THEN datediff('day', a.due_date, $d) ELSE 0 END AS days_overdue
        FROM a JOIN payees p USING (payee_id) JOIN training_modules m USING (module_id)
        LEFT JOIN done USING (assignment_id)
        WHERE ($payee IS NULL OR a.payee_id = $payee)
          AND (p.termination_date IS NULL OR p.termination_date >= $d)
        ORDER BY a.payee_id, a.assigned_date, a.module_id, a.assignment_id""",
        {"d": day, "payee": payee})
    if keep is not None:
        frame = frame[frame["payee_id"].isin(keep)].reset_index(drop=True)
    frame["days_overdue"] = frame["days_overdue"].astype("int64")
    return frame


def overdue(ws: Workspace, as_of: date | str | None = None, *, manager: str | None = None) -> pd.DataFrame:
    """The overdue assignments on ``as_of`` (of ``manager``'s subtree), most overdue first."""
    frame = assignment_status(ws, as_of, manager=manager)
    frame = frame[frame["status"] == "overdue"]
    return frame.sort_values(["days_overdue", "payee_id", "module_id"],
                             ascending=[False, True, True]).reset_index(drop=True)


def completion_counts(ws: Workspace, as_of: date | str | None = None, *, manager: str | None = None,
                      by: str = "payee_id") -> pd.DataFrame:
    """Per ``by`` (``payee_id``, ``team_id`` or ``module_id``): assigned, completed (on time or
    late), completed_late, overdue, open and completion_rate (completed / assigned)."""
    frame = assignment_status(ws, as_of, manager=manager)
    keys = [by, "name"] if by == "payee_id" else ([by, "title"] if by == "module_id" else [by])
    flags = pd.DataFrame({
        "assigned": 1,
        "completed": frame["status"].isin(["completed", "completed late"]).astype("int64"),
        "completed_late": (frame["status"] == "completed late").astype("int64"),
        "overdue": (frame["status"] == "overdue").astype("int64"),
        "open": (frame["status"] == "open").astype("int64")})
    out = pd.concat([frame[keys], flags], axis=1).groupby(keys, dropna=False, sort=True).sum().reset_index()
    out["completion_rate"] = out["completed"] / out["assigned"]
    return out


# ---- assigning ----
def assign_path(ws: Workspace, payees: list[str], path_id: str, *, as_of: date | str | None = None,
                due_days: int = 30, reason: str | None = None, dry_run: bool = False) -> pd.DataFrame:
    """Assign every module of ``path_id`` to ``payees`` on ``as_of``, due ``due_days`` later
    (modules a payee already has an assignment of are skipped). Returns the new rows."""
    day = _day(as_of)
    mods = path_modules(ws, path_id)
    rows = pd.DataFrame([(p, m) for p in payees for m in mods], columns=["payee_id", "module_id"])
    rows["assigned_date"] = day
    rows["due_date"] = day + timedelta(days=due_days)
    rows["reason"] = reason or f"path {path_id}"
    rows["rule_id"] = "MANUAL"
    return _write(ws, _not_yet_assigned(ws, rows, None, day), dry_run, source=f"path {path_id}")


def _not_yet_assigned(ws: Workspace, rows: pd.DataFrame, repeat_days: Any, day: date) -> pd.DataFrame:
    if rows.empty:
        return rows
    existing = ws.sql("SELECT payee_id, module_id, max(assigned_date) AS last FROM training_assignments "
                      "GROUP BY ALL")
    merged = rows.merge(existing, on=["payee_id", "module_id"], how="left")
    fresh = merged["last"].isna()
    if repeat_days is not None and not pd.isna(repeat_days):
        cutoff = day - timedelta(days=int(repeat_days))
        fresh |= merged["last"].map(lambda d: d is not None and not pd.isna(d) and d <= cutoff)
    return merged[fresh.to_numpy()].drop(columns=["last"]).drop_duplicates(["payee_id", "module_id"])


def _write(ws: Workspace, rows: pd.DataFrame, dry_run: bool, source: str) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame(columns=ASSIGNMENT_COLUMNS)
    rows = rows.copy()
    stamp = rows["assigned_date"].map(lambda d: d.strftime("%Y%m%d"))
    rows["assignment_id"] = rows["rule_id"] + "-" + stamp + "-" + rows["payee_id"] + "-" + rows["module_id"]
    out = rows[ASSIGNMENT_COLUMNS].sort_values("assignment_id").reset_index(drop=True)
    if not dry_run:
        ws.load("training_assignments", out, source=source)
    return out


def previous_quarter(ws: Workspace, as_of: date) -> str:
    """The fiscal quarter before the one holding ``as_of`` (e.g. ``2026-Q1``)."""
    from spm_kernel.periods import period_containing, previous_period

    fsm = ws.config.fiscal_year_start_month
    return previous_period(period_containing(as_of, "quarter", fsm), fsm).period_id


def kpi_gaps(ws: Workspace, metric: str, percentile: float, *, period: str, role: str = "rep",
             min_peers: int = DEFAULT_MIN_PEERS, as_of: date | None = None) -> pd.DataFrame:
    """Payees of ``role`` whose ``metric`` in ``period`` is worse than the ``percentile``-th
    percentile of their peers: payee_id, value, threshold, peers, higher_is_better."""
    from spm_kernel.benchmarking import PEER_KEYS, peer_benchmarks

    bench = peer_benchmarks(ws, period, [metric], roles=(role,), as_of=as_of)
    bench = bench[bench["value"].notna()].copy()
    if bench.empty:
        return pd.DataFrame(columns=["payee_id", "value", "threshold", "peers", "higher_is_better"])
    hib = bool(bench["higher_is_better"].iloc[0])
    q = percentile / 100.0 if hib else 1.0 - percentile / 100.0
    groups = bench.groupby(list(PEER_KEYS), dropna=False, sort=False)["value"]
    bench["threshold"] = groups.transform(lambda s: s.quantile(q))
    bench["peers"] = groups.transform("count").astype("int64")
    worse = bench["value"] < bench["threshold"] if hib else bench["value"] > bench["threshold"]
    out = bench[worse & (bench["peers"] >= min_peers)]
    return out.assign(higher_is_better=hib)[["payee_id", "value", "threshold", "peers",
                                              "higher_is_better"]].reset_index(drop=True)


def _fmt(values: pd.Series, unit: str) -> pd.Series:
    """KPI values as text: 10.0% for ratios, 1,234.50 otherwise."""
    v = values.astype(float)
    return (v * 100).round(1).map("{:.1f}%".format) if unit == "ratio" else v.round(2).map("{:,.2f}".format)


def _rule_targets(ws: Workspace, rule: dict[str, Any], day: date, period: str | None) -> pd.DataFrame:
    """(payee_id, assigned_date, reason) for one rule."""
    kind, role = rule["kind"], rule["role"]
    role = None if role is None or pd.isna(role) else str(role)
    due_days = int(rule["due_days"])
    if kind == "role":
        who = ws.sql("""SELECT payee_id FROM payees WHERE ($role IS NULL OR role = $role)
                        AND hire_date <= $d AND (termination_date IS NULL OR termination_date >= $d)""",
                     {"role": role, "d": day})
        return who.assign(assigned_date=day, reason=f"role: {role or 'everyone'} (rule {rule['rule_id']})")
    if kind == "new_hire":
        who = ws.sql("""SELECT payee_id, hire_date AS assigned_date FROM payees
                        WHERE ($role IS NULL OR role = $role) AND hire_date <= $d
                          AND hire_date > $d - to_days(CAST($n AS INTEGER))
                          AND (termination_date IS NULL OR termination_date >= $d)""",
                     {"role": role, "d": day, "n": due_days})
        return who.assign(reason=f"onboarding (rule {rule['rule_id']})")
    if kind == "kpi_gap":
        metric = rule["metric"]
        if metric is None or pd.isna(metric) or rule["percentile"] is None or pd.isna(rule["percentile"]):
            raise TrainingError(f"rule {rule['rule_id']}: a kpi_gap rule needs a metric and a percentile")
        pct = float(rule["percentile"])
        min_peers = rule["min_peers"]
        min_peers = DEFAULT_MIN_PEERS if min_peers is None or pd.isna(min_peers) else int(min_peers)
        used = period or previous_quarter(ws, day)
        gaps = kpi_gaps(ws, str(metric), pct, period=used, role=role or "rep", min_peers=min_peers, as_of=day)
        unit = ws.registry.metrics[str(metric)].unit
        side = "below" if gaps["higher_is_better"].all() else "above"
        reasons = (f"kpi gap: {metric} " + _fmt(gaps["value"], unit) + f" in {used} {side} the peers' p{pct:g} "
                   + _fmt(gaps["threshold"], unit) + f" (rule {rule['rule_id']})")
        return pd.DataFrame({"payee_id": gaps["payee_id"], "assigned_date": day, "reason": reasons})
    raise TrainingError(f"rule {rule['rule_id']}: unknown kind {kind!r}")


def assign_by_rules(ws: Workspace, as_of: date | str | None = None, *, rules: list[str] | None = None,
                    period: str | None = None, dry_run: bool = False) -> pd.DataFrame:
    """Apply the ``training_rules`` (all, or the ids in ``rules``) on ``as_of``; write and
    return the new assignments (``dry_run`` only returns them)."""
    day = _day(as_of)
    table = ws.sql("SELECT * FROM training_rules ORDER BY rule_id")
    if rules is not None:
        unknown = sorted(set(rules) - set(table["rule_id"]))
        if unknown:
            raise TrainingError(f"unknown training rule(s): {', '.join(unknown)}")
        table = table[table["rule_id"].isin(rules)]
    parts = []
    for rule in table.to_dict("records"):  # a handful of rules; each is vectorised over payees
        targets = _rule_targets(ws, rule, day, period)
        if targets.empty:
            continue
        mods = pd.DataFrame({"module_id": path_modules(ws, rule["path_id"])})
        rows = targets.merge(mods, how="cross")
        rows["due_date"] = rows["assigned_date"].map(lambda d: d + timedelta(days=int(rule["due_days"])))
        rows["rule_id"] = rule["rule_id"]
        parts.append(_not_yet_assigned(ws, rows, rule["repeat_days"], day))
    if not parts:
        return pd.DataFrame(columns=ASSIGNMENT_COLUMNS)
    rows = pd.concat(parts, ignore_index=True).drop_duplicates(["payee_id", "module_id"])
    rows["assigned_date"] = rows["assigned_date"].map(lambda d: d if isinstance(d, date) else pd.Timestamp(d).date())
    return _write(ws, rows, dry_run, source=f"training rules {day.isoformat()}")


__all__ = ["ASSIGNMENT_COLUMNS", "DEFAULT_MIN_PEERS", "STATUSES", "assign_by_rules", "assign_path",
           "assignment_status", "completion_counts", "kpi_gaps", "overdue", "previous_quarter", "subtree"]
