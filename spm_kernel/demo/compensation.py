"""The demo company's compensation: its plan files, who is on them, and a year of runs.

* :func:`register_demo_plans` copies every plan file shipped in ``spm_kernel/demo/plans``
  (this year's AE plan and the proposed version) into the workspace's ``plans`` folder,
  validates them with the registered plan types, and records them in the ``plans`` table
  (version, dates, file, content hash) and their role assignments in ``plan_assignments``
  (source ``spm demo plans``), with the target incentive each file gives the role, so the
  table agrees with the files. The build calls it, so every demo workspace has its plans.
* :func:`calculate_demo` calculates every month of the fiscal year that holds the data's
  last day, up to that day, and closes all but the last ``open_months`` of them, so apps,
  statements and notebooks have real payouts, closed history and open periods to adjust.
  ``spm demo`` runs it unless ``--no-calc``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tqdm.auto import tqdm

from spm_kernel.errors import SPMError
from spm_kernel.periods import Period, fiscal_year_of, months_in, year

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

PLANS_FOLDER = Path(__file__).with_name("plans")
PLAN_SOURCE = "spm demo plans"
DEMO_ACTOR = "spm demo"
OPEN_MONTHS = 3


def demo_plan_files() -> list[Path]:
    """The plan files the demo ships, in name order."""
    return sorted([*PLANS_FOLDER.glob("*.yaml"), *PLANS_FOLDER.glob("*.yml")])


def register_demo_plans(ws: Workspace) -> pd.DataFrame:
    """Copy the demo's plan files into ``ws.plans_dir``, validate them, and record them in
    ``plans`` and (one row per plan and role the files assign) ``plan_assignments``.
    Returns the ``plans`` rows written. Nothing is written if a file does not validate."""
    from spm_kernel.engine.calculate import load_book
    from spm_kernel.plans import PlanBook
    from spm_kernel.plans.loader import load_plan_file

    files = demo_plan_files()
    if not files:
        raise SPMError(f"no demo plan files in {PLANS_FOLDER}")
    plans = [load_plan_file(path, ws.registry.plan_types) for path in files]
    PlanBook(plans)  # versions must fit together before anything is copied
    ws.plans_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copyfile(path, ws.plans_dir / path.name)
    book = load_book(ws)  # the workspace's folder as the engine will read it
    rows = pd.DataFrame([{
        "plan_id": p.plan_id, "version": p.version, "name": p.name, "effective_from": p.spec.effective_from,
        "effective_to": p.spec.effective_to, "file": f"plans/{p.path.name if p.path else ''}",
        "content_hash": p.content_hash} for p in book if any(p.path and p.path.name == f.name for f in files)])
    assignments = []
    for plan_id in sorted({p.plan_id for p in plans}):  # the files' role rows, mirrored in the table
        versions = [p for p in plans if p.plan_id == plan_id]
        first = min(p.spec.effective_from for p in versions)
        ends = [p.spec.effective_to for p in versions]
        last = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
        for role in sorted({a.role for p in versions for a in p.spec.assignments if a.role}):
            # a table row applies to every version: its target incentive must be the one each
            # version's file gives that role (an explicit override shared by all, or none)
            explicit = {a.target_incentive for p in versions for a in p.spec.assignments if a.role == role}
            if len(explicit) != 1:
                continue
            assignments.append({"assignment_id": f"demo-{plan_id}-{role}", "plan_id": plan_id,
                                "assignee_type": "role", "assignee": role, "effective_from": first,
                                "effective_to": last, "target_incentive": explicit.pop()})
    ws.load("plans", rows, source=PLAN_SOURCE)
    if assignments:
        ws.load("plan_assignments", pd.DataFrame(assignments), source=PLAN_SOURCE)
    return rows


@dataclass
class DemoRuns:
    """What :func:`calculate_demo` did: the months calculated, those closed, the seconds each
    calculation took, and the run ids."""

    calculated: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    run_ids: dict[str, str] = field(default_factory=dict)

    @property
    def open(self) -> list[str]:
        return [p for p in self.calculated if p not in self.closed]

    def __str__(self) -> str:
        if not self.calculated:
            return "no period calculated"
        total = sum(self.seconds.values())
        closed = f"{self.closed[0]}..{self.closed[-1]} closed" if self.closed else "none closed"
        return (f"calculated {self.calculated[0]}..{self.calculated[-1]} ({len(self.calculated)} months, "
                f"{total:.1f} s), {closed}, {', '.join(self.open) or 'none'} open")


def demo_months(ws: Workspace, through: date | None = None) -> list[Period]:
    """The months of the fiscal year holding ``through`` (default: the last transaction
    date), from its first month to the month holding ``through``."""
    if through is None:
        rows = ws.con.execute("SELECT max(transaction_date) FROM transactions").fetchall()
        if not rows or rows[0][0] is None:
            raise SPMError("the workspace has no transactions to calculate")
        through = rows[0][0]
    fsm = ws.config.fiscal_year_start_month
    fiscal_year = year(fiscal_year_of(through, fsm), fsm)
    return [m for m in months_in(fiscal_year, fsm) if m.start <= through]


def calculate_demo(ws: Workspace, open_months: int = OPEN_MONTHS, through: date | None = None,
                   progress: bool = True) -> DemoRuns:
    """Calculate each month of the current fiscal year up to the data's end (see
    :func:`demo_months`) in order, closing each one except the last ``open_months`` right
    after its run. Months already closed are skipped; an open month is recalculated."""
    from spm_kernel.engine.ledger import is_closed

    months = demo_months(ws, through)
    keep_open = {m.period_id for m in months[len(months) - open_months:]} if open_months > 0 else set()
    done = DemoRuns()
    for month in tqdm(months, desc="spm demo: calculate", unit="month", disable=not progress):
        if is_closed(ws.con, month.period_id):
            done.closed.append(month.period_id)
            done.calculated.append(month.period_id)
            continue
        started = time.perf_counter()
        run = ws.calculate(month.period_id, actor=DEMO_ACTOR, progress=False)
        done.seconds[month.period_id] = round(time.perf_counter() - started, 2)
        done.calculated.append(month.period_id)
        done.run_ids[month.period_id] = run.run_id
        if month.period_id not in keep_open:
            ws.close_period(month.period_id, actor=DEMO_ACTOR)
            done.closed.append(month.period_id)
    return done
