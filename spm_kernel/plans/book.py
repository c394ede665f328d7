"""A workspace's plans: every version of every plan file in a folder, and who is on which.

Versions of one ``plan_id``: a later version takes over from its ``effective_from`` (it must
not start before an earlier version, nor end before it). On any date the governing version
is the highest one in effect; a version that only fixes an earlier one (same dates) replaces
it completely.

Assignment (:func:`resolve_assignments`): the rows of a plan file's ``assignments`` plus the
workspace's ``plan_assignments`` table. A payee matches a row by id, role or team; when rows
of several kinds match, only the most specific kind counts (payee, then team, then role). A
payee's assignment to a version is the intersection of the row's dates, the version's
governing window and the payee's employment (hire date to termination date).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from spm_kernel.plans.loader import PlanTypes, PlanValidationError, Problem, load_plan_file
from spm_kernel.plans.model import Plan
from spm_kernel.plantypes.contract import CalcPeriod

FAR_FUTURE = date(9999, 12, 31)
ASSIGNMENT_COLUMNS = ("payee_id", "plan_id", "plan_version", "assigned_from", "assigned_to", "proration",
                      "target_incentive")
SPECIFICITY = {"payee": 0, "team": 1, "role": 2}


@dataclass(frozen=True)
class Governing:
    plan: Plan
    start: date
    end: date  # inclusive


class PlanBook:
    """Plans by (plan_id, version)."""

    def __init__(self, plans: Iterable[Plan]) -> None:
        self._plans: dict[tuple[str, int], Plan] = {}
        problems: list[Problem] = []
        for plan in plans:
            if plan.key in self._plans:
                other = self._plans[plan.key]
                problems.append(Problem(str(plan.path or "<plan>"), "version", None,
                                        f"plan {plan.plan_id} version {plan.version} is also defined in {other.path}"))
                continue
            self._plans[plan.key] = plan
        problems.extend(self._check_versions())
        if problems:
            raise PlanValidationError(problems)

    @classmethod
    def load_folder(cls, folder: str | Path, plan_types: PlanTypes) -> PlanBook:
        """Every ``*.yaml``/``*.yml`` file in ``folder``; all problems of all files at once."""
        folder = Path(folder)
        plans, problems = [], []
        files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.exists() else []
        for path in files:
            try:
                plans.append(load_plan_file(path, plan_types))
            except PlanValidationError as exc:
                problems.extend(exc.problems)
        if problems:
            raise PlanValidationError(problems)
        return cls(plans)

    def _check_versions(self) -> list[Problem]:
        problems = []
        for plan_id in self.plan_ids():
            versions = self.versions(plan_id)
            for earlier, later in zip(versions, versions[1:]):
                if later.spec.effective_from < earlier.spec.effective_from:
                    problems.append(Problem(str(later.path or "<plan>"), "effective_from", None,
                                            f"version {later.version} of {plan_id} starts {later.spec.effective_from}, "
                                            f"before version {earlier.version} ({earlier.spec.effective_from}); a later "
                                            "version takes over from its start and may not start earlier"))
                if (later.spec.effective_to or FAR_FUTURE) < (earlier.spec.effective_to or FAR_FUTURE):
                    problems.append(Problem(str(later.path or "<plan>"), "effective_to", None,
                                            f"version {later.version} of {plan_id} ends before version "
                                            f"{earlier.version}; give the earlier version an effective_to instead"))
        return problems

    def __iter__(self) -> Iterator[Plan]:
        return iter(sorted(self._plans.values(), key=lambda p: p.key))

    def __len__(self) -> int:
        return len(self._plans)

    def plan_ids(self) -> list[str]:
        return sorted({k[0] for k in self._plans})

    def versions(self, plan_id: str) -> list[Plan]:
        return [self._plans[k] for k in sorted(self._plans) if k[0] == plan_id]

    def get(self, plan_id: str, version: int | None = None) -> Plan:
        """One version (the highest when ``version`` is None)."""
        versions = self.versions(plan_id)
        if not versions:
            raise KeyError(f"no plan {plan_id!r}; plans: {', '.join(self.plan_ids()) or 'none'}")
        if version is None:
            return versions[-1]
        for plan in versions:
            if plan.version == version:
                return plan
        raise KeyError(f"plan {plan_id!r} has no version {version}; versions: {[p.version for p in versions]}")

    def governing(self, plan_id: str) -> list[Governing]:
        """Each version of ``plan_id`` with the dates on which it is the one that applies."""
        versions = self.versions(plan_id)
        out = []
        for i, plan in enumerate(versions):
            end = plan.spec.effective_to or FAR_FUTURE
            for later in versions[i + 1:]:
                end = min(end, later.spec.effective_from - timedelta(days=1))
            if end >= plan.spec.effective_from:
                out.append(Governing(plan, plan.spec.effective_from, end))
        return out


def _as_date(value: object) -> date | None:
    if value is None or (not isinstance(value, date) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


def assignment_rows(book: PlanBook, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every assignment row: from the plan files (per version) and the workspace table (every
    version of its plan). Columns: plan_id, plan_version, assignee_type, assignee,
    effective_from, effective_to, target_incentive."""
    rows = []
    for plan in book:
        for a in plan.spec.assignments:
            rows.append((plan.plan_id, plan.version, a.assignee_type, a.assignee, a.effective_from, a.effective_to,
                         a.target_incentive if a.target_incentive is not None else plan.spec.target_incentive))
    if table is not None and len(table):
        for rec in table.itertuples(index=False):  # a few rows per plan: configuration, not data
            for plan in book.versions(rec.plan_id):
                ti = rec.target_incentive if rec.target_incentive is not None and not pd.isna(rec.target_incentive) \
                    else plan.spec.target_incentive
                rows.append((plan.plan_id, plan.version, rec.assignee_type, str(rec.assignee),
                             _as_date(rec.effective_from), _as_date(rec.effective_to), ti))
    return pd.DataFrame(rows, columns=["plan_id", "plan_version", "assignee_type", "assignee", "effective_from",
                                       "effective_to", "target_incentive"])


def resolve_assignments(book: PlanBook, payees: pd.DataFrame, period: CalcPeriod, plan_year: CalcPeriod,
                        table: pd.DataFrame | None = None, statuses: tuple[str, ...] = ("active",),
                        prorate: dict[str, bool] | None = None) -> pd.DataFrame:
    """Who is on which plan version in ``period``: one row per (payee, plan version) with
    :data:`ASSIGNMENT_COLUMNS`.

    ``payees`` needs payee_id, role, team_id, hire_date, termination_date. ``assigned_from``
    / ``assigned_to`` are the payee's whole assignment to the version (within the plan year
    up to the period end); ``proration`` follows the plan's ``mid_period`` option (see
    :mod:`spm_kernel.plantypes.contract`).
    """
    rows = assignment_rows(book, table)
    out_cols = list(ASSIGNMENT_COLUMNS)
    if len(rows) == 0 or len(payees) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in out_cols})
    ppl = payees[["payee_id", "role", "team_id", "hire_date", "termination_date"]].copy()
    ppl["payee_id"] = ppl["payee_id"].astype(str)
    matches = []
    for kind, column in (("payee", "payee_id"), ("team", "team_id"), ("role", "role")):
        part = rows.loc[rows["assignee_type"] == kind]
        if len(part):
            left = ppl.assign(_key=ppl[column].astype(object).where(ppl[column].notna(), None).astype(str))
            m = left.merge(part, left_on="_key", right_on="assignee", how="inner")
            m["specificity"] = SPECIFICITY[kind]
            matches.append(m)
    if not matches:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in out_cols})
    m = pd.concat(matches, ignore_index=True)
    best = m.groupby(["payee_id", "plan_id"])["specificity"].transform("min")
    m = m.loc[m["specificity"] == best]
    status_ok = {f"{p.plan_id}#{p.version}" for p in book if p.spec.status in statuses}
    m = m.loc[(m["plan_id"].astype(str) + "#" + m["plan_version"].astype(str)).isin(status_ok).to_numpy()]
    gov = {}
    for plan_id in book.plan_ids():
        for g in book.governing(plan_id):
            gov[(plan_id, g.plan.version)] = g
    out = []
    for key, grp in m.groupby(["plan_id", "plan_version"]):  # one group per plan version
        g = gov.get((key[0], int(key[1])))
        if g is None:
            continue
        f = pd.to_datetime(grp["effective_from"]).fillna(pd.Timestamp(g.start))
        t = pd.to_datetime(grp["effective_to"]).fillna(pd.Timestamp(FAR_FUTURE if g.end >= FAR_FUTURE else g.end))
        hire = pd.to_datetime(grp["hire_date"]).fillna(pd.Timestamp(date(1900, 1, 1)))
        term = pd.to_datetime(grp["termination_date"]).fillna(pd.Timestamp(FAR_FUTURE))
        af = np.maximum.reduce([f.to_numpy(), np.full(len(grp), np.datetime64(g.start)), hire.to_numpy()])
        at = np.minimum.reduce([t.to_numpy(), np.full(len(grp), np.datetime64(min(g.end, FAR_FUTURE))), term.to_numpy()])
        frame = pd.DataFrame({"payee_id": grp["payee_id"].to_numpy(), "plan_id": key[0], "plan_version": int(key[1]),
                              "af": af.astype("datetime64[D]"), "at": at.astype("datetime64[D]"),
                              "target_incentive": grp["target_incentive"].to_numpy()})
        p0, p1 = np.datetime64(period.start, "D"), np.datetime64(period.end, "D")
        frame = frame.loc[(frame["af"] <= p1) & (frame["at"] >= p0) & (frame["af"] <= frame["at"])]
        if len(frame) == 0:
            continue
        # several rows of the same kind: one assignment spanning them
        frame = frame.groupby(["payee_id", "plan_id", "plan_version"], as_index=False).agg(
            af=("af", "min"), at=("at", "max"), target_incentive=("target_incentive", "last"))
        lo = np.maximum(frame["af"].to_numpy(), p0)
        hi = np.minimum(frame["at"].to_numpy(), p1)
        frame["days"] = (hi - lo).astype("timedelta64[D]").astype(np.int64) + 1
        frame["last_day"] = hi
        frame["prorate"] = (prorate or {}).get(key[0], g.plan.spec.mid_period == "prorate_by_days")
        out.append(frame)
    if not out:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in out_cols})
    res = pd.concat(out, ignore_index=True)
    # by_credit_date: fixed amounts go to the version in effect on the payee's last assigned day
    latest = res.groupby(["payee_id", "plan_id"])["last_day"].transform("max")
    share = {d: Decimal(int(d)) / Decimal(period.days) for d in set(res["days"].tolist())}  # a few distinct day counts
    res["proration"] = np.where(res["prorate"].to_numpy(dtype=bool), res["days"].map(share).to_numpy(dtype=object),
                                np.where(res["last_day"].to_numpy() == latest.to_numpy(), Decimal(1), Decimal(0)))
    res["assigned_from"] = pd.to_datetime(res["af"]).dt.date
    far = np.datetime64(FAR_FUTURE, "D")
    res["assigned_to"] = [None if v >= far else pd.Timestamp(v).date() for v in res["at"].to_numpy()]
    res["target_incentive"] = res["target_incentive"].map(lambda v: None if v is None or pd.isna(v) else Decimal(str(v)))
    return res.loc[:, out_cols].sort_values(["plan_id", "plan_version", "payee_id"]).reset_index(drop=True)
