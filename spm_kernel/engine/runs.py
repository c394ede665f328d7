"""A calculation run as a value (period, inputs hash, plan versions, timings, results), and
the explanation of what it paid one payee.

>>> run = ws.calculate("2026-03")                      # doctest: +SKIP
>>> run.lines()                                        # every payout line of the run
>>> print(run.explain("P0001"))                        # why P0001 earned what they did
>>> run.explain("P0001").lines                         # the same, as a DataFrame
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd

from spm_kernel.engine.ledger import EngineError
from spm_kernel.periods import Period, parse_period

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace


@dataclass
class Run:
    """One calculation of one period. Immutable once committed: recalculating makes a new run.

    ``restated`` maps period ids to the input (data) hash this run accounted for: its own
    period, and every closed period it recomputed for prior-period adjustments.
    """

    run_id: str
    period: Period
    started_at: datetime
    created_by: str
    status: str = "running"
    finished_at: datetime | None = None
    input_hash: str | None = None
    plan_versions: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    credit_count: int = 0
    line_count: int = 0
    restated: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    ws: Workspace | None = field(default=None, repr=False, compare=False)

    # ---- loading ----
    @classmethod
    def load(cls, ws: Workspace, run_id: str) -> Run:
        """The run ``run_id`` as recorded in ``calc_runs``."""
        rows = ws.con.execute("SELECT * FROM calc_runs WHERE run_id = ?", [run_id]).df()
        if rows.empty:
            raise EngineError(f"no run {run_id!r}")
        r = rows.iloc[0]

        def _json(value: object) -> Any:
            return json.loads(value) if isinstance(value, str) and value else {}

        return cls(
            run_id=str(r.run_id), period=parse_period(str(r.period_id), ws.config.fiscal_year_start_month),
            started_at=r.started_at.to_pydatetime(), created_by=str(r.created_by), status=str(r.status),
            finished_at=None if pd.isna(r.finished_at) else r.finished_at.to_pydatetime(),
            input_hash=None if pd.isna(r.input_hash) else str(r.input_hash),
            plan_versions=_json(r.plan_versions), timings=_json(r.timings),
            credit_count=0 if pd.isna(r.credit_count) else int(r.credit_count),
            line_count=0 if pd.isna(r.line_count) else int(r.line_count),
            restated=_json(r.restated), error=None if pd.isna(r.error) else str(r.error), ws=ws,
        )

    def _ws(self) -> Workspace:
        if self.ws is None:
            raise EngineError(f"run {self.run_id} is not attached to a workspace")
        return self.ws

    # ---- results ----
    def lines(self, payee_id: str | None = None) -> pd.DataFrame:
        """The run's payout lines (money as ``Decimal``), in line order."""
        from spm_kernel.workspace import arrow_frame

        con = self._ws().con
        sql = "SELECT * FROM payout_lines WHERE run_id = ?" + (" AND payee_id = ?" if payee_id else "")
        params = [self.run_id] + ([payee_id] if payee_id else [])
        return arrow_frame(con.sql(sql + " ORDER BY line_no", params=params))

    def credits(self, payee_id: str | None = None) -> pd.DataFrame:
        """The credits the run stored: those dated in its period (and in closed periods it
        restated), money as ``Decimal``. Earlier credits that year-to-date measures used are
        stored by their own periods' runs, under the same ``credit_id``."""
        from spm_kernel.workspace import arrow_frame

        con = self._ws().con
        sql = "SELECT * FROM credits WHERE run_id = ?" + (" AND payee_id = ?" if payee_id else "")
        params = [self.run_id] + ([payee_id] if payee_id else [])
        return arrow_frame(con.sql(sql + " ORDER BY payee_id, credit_date, credit_id", params=params))

    def totals(self) -> pd.DataFrame:
        """Amount per payee and currency (payable and held), the sum of the rounded lines."""
        from spm_kernel.workspace import arrow_frame

        return arrow_frame(self._ws().con.sql(
            "SELECT payee_id, currency, sum(amount) FILTER (WHERE status = 'payable') AS payable, "
            "coalesce(sum(amount) FILTER (WHERE status = 'held'), 0) AS held, sum(amount) AS total, "
            "count(*) AS lines FROM payout_lines WHERE run_id = ? GROUP BY ALL ORDER BY payee_id, currency", params=[self.run_id]))

    def explain(self, payee: str, period: str | Period | None = None) -> Explanation:
        """Why ``payee`` was paid what they were in this run.

        ``period`` defaults to the run's period (every line of the payee); another period
        selects the run's prior-period adjustment lines that correct it.
        """
        from spm_kernel.engine.explain import explain_run

        ws = self._ws()
        target = self.period if period is None else parse_period(period, ws.config.fiscal_year_start_month)
        return explain_run(ws, self, payee, target)

    def __repr__(self) -> str:
        return (f"<Run {self.run_id} {self.period} {self.status}: {self.line_count} lines, "
                f"{self.credit_count} credits>")


@dataclass(frozen=True)
class Explanation:
    """Per payout line: the credits behind it, component, plan version, tier, rate and the
    formula with its numbers (``lines``); the credits themselves (``credits``, one row per
    (line, credit)); and the same as readable ``text``."""

    run_id: str
    payee_id: str
    period_id: str
    lines: pd.DataFrame
    credits: pd.DataFrame
    text: str

    def to_frame(self) -> pd.DataFrame:
        return self.lines

    @property
    def total(self) -> Decimal:
        return sum(self.lines["amount"], Decimal(0)) if len(self.lines) else Decimal(0)

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        return "```\n" + self.text + "\n```"
