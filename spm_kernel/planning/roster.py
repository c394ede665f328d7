"""Who plans cover: the plan year's months, the payees who carry quotas, and who holds each
team, region and the company (their managers, directors and VP).

* **Quota carriers**: payees with a role in ``roles`` (default ``rep``) employed on at least
  one day of the plan year (hired on or before its last day, not terminated before its
  first). Their team and region come from the ``payees`` table (the region of their team
  when the payee has none); a payee without one is placed in the node ``(none)``.
* **Node holders**: a team's quota is held by its manager (role ``manager`` with that
  ``team_id``), a region's by its director (role ``director`` with that ``region_id``), the
  company's by the VP (role ``vp``); when several are employed in the plan year, the one
  hired last holds it. A node without a holder still has a quota in the plan; no quota row
  is written for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from spm_kernel.periods import Period, months_in, parse_period
from spm_kernel.planning.errors import PlanningError
from spm_kernel.planning.ramp import month_starts

NONE = "(none)"
COMPANY = "company"
LEVELS = ("company", "region", "team", "payee")


@dataclass(frozen=True)
class PlanYear:
    """A fiscal year and its months (first-of-month dates)."""

    fiscal_year: int
    start: date
    end: date
    months: tuple[date, ...]

    @property
    def period_id(self) -> str:
        return f"FY{self.fiscal_year}"


def plan_year(fiscal_year: int, fiscal_year_start_month: int = 1) -> PlanYear:
    period = parse_period(f"FY{int(fiscal_year)}", fiscal_year_start_month)
    return PlanYear(int(fiscal_year), period.start, period.end, tuple(month_starts(period.start, 12)))


def periods_of(year: PlanYear, cadence: str, fiscal_year_start_month: int = 1) -> list[Period]:
    """The plan year's periods of ``cadence`` (month, quarter or year)."""
    fy = parse_period(year.period_id, fiscal_year_start_month)
    if cadence == "year":
        return [fy]
    if cadence == "month":
        return months_in(fy, fiscal_year_start_month)
    if cadence == "quarter":
        return [parse_period(f"{year.fiscal_year}-Q{i}", fiscal_year_start_month) for i in range(1, 5)]
    raise PlanningError(f"unknown cadence {cadence!r}: expected month, quarter or year")


def check_roles(roles: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``roles`` if each is a payee role (``payees.role`` choices), else a PlanningError: a
    whitelist, because the roles are written into SQL text."""
    from spm_kernel.store.schema import get_table

    allowed = get_table("payees").column("role").choices or ()
    wrong = [r for r in roles if r not in allowed]
    if wrong:
        raise PlanningError(f"unknown role(s) {wrong}; payee roles are: {', '.join(allowed)}")
    return tuple(roles)


def carriers(ws: object, year: PlanYear, roles: tuple[str, ...] = ("rep",)) -> pd.DataFrame:
    """The quota carriers of the plan year: ``payee_id, name, role, team_id, region_id,
    segment, currency, hire_date, termination_date`` (team and region ``(none)`` if missing)."""
    if not roles:
        raise PlanningError("no roles given: name the roles that carry quotas, e.g. ('rep',)")
    listed = ", ".join(f"'{r}'" for r in check_roles(roles))
    frame = ws.sql(f"""
        SELECT p.payee_id, p.name, p.role, coalesce(p.team_id, '{NONE}') AS team_id,
               coalesce(p.region_id, t.region_id, '{NONE}') AS region_id, p.segment, p.currency,
               p.hire_date, p.termination_date
        FROM payees p LEFT JOIN teams t ON t.team_id = p.team_id
        WHERE p.role IN ({listed}) AND p.hire_date <= DATE '{year.end}'
          AND (p.termination_date IS NULL OR p.termination_date >= DATE '{year.start}')
        ORDER BY p.payee_id""")  # type: ignore[attr-defined]
    if frame.empty:
        raise PlanningError(f"no payee with role {', '.join(roles)} is employed in {year.period_id}: "
                            f"there is nobody to give a quota to")
    return frame


def holders(ws: object, year: PlanYear) -> pd.DataFrame:
    """Who holds each node's quota: ``level, node, payee_id, currency``."""
    return ws.sql(f"""
        SELECT level, node, payee_id, currency FROM (
            SELECT CASE role WHEN 'manager' THEN 'team' WHEN 'director' THEN 'region' ELSE '{COMPANY}' END AS level,
                   CASE role WHEN 'manager' THEN team_id WHEN 'director' THEN coalesce(region_id, (
                        SELECT t.region_id FROM teams t WHERE t.team_id = p.team_id)) ELSE '{COMPANY}' END AS node,
                   payee_id, currency, hire_date
            FROM payees p
            WHERE role IN ('manager', 'director', 'vp') AND hire_date <= DATE '{year.end}'
              AND (termination_date IS NULL OR termination_date >= DATE '{year.start}'))
        WHERE node IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY level, node ORDER BY hire_date DESC, payee_id) = 1
        ORDER BY level, node""")  # type: ignore[attr-defined]
