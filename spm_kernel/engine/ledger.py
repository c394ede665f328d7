"""The run ledger: periods and their status, which run holds each period's results, and the
lines that count as already paid.

* A period's **effective run** is the run its close froze (``periods.closed_run_id``) or,
  while it is open, its latest succeeded run. Superseded runs stay in the ledger untouched.
* A payout line's **accounting period** is the period it corrects (``corrects_period_id``)
  for a prior-period adjustment, else its own period. "Already paid" for a period means the
  lines of every effective run whose accounting period it is: the original lines plus every
  adjustment booked for it since.
* A workspace calculates with one kind of period at a time (months, say): the lines of
  earlier periods of the same kind are the prior lines of the next one.
"""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pandas as pd

from spm_kernel.errors import SPMError
from spm_kernel.periods import Period, previous_period
from spm_kernel.plantypes.contract import LINE_COLUMNS


class EngineError(SPMError):
    """A calculation, close or adjustment that cannot be done as asked."""


def ensure_period(con: duckdb.DuckDBPyConnection, period: Period) -> None:
    """Register ``period`` in the ``periods`` table (open) if it is not there yet."""
    con.execute(
        "INSERT INTO periods (period_id, kind, start_date, end_date, status) VALUES (?, ?, ?, ?, 'open') "
        "ON CONFLICT (period_id) DO NOTHING",
        [period.period_id, period.kind, period.start, period.end],
    )


def closed_overlapping(con: duckdb.DuckDBPyConnection, period: Period) -> list[tuple[str, object, object]]:
    """Closed periods that share a day with ``period``: (period_id, closed_at, closed_by)."""
    return [(str(r[0]), r[1], r[2]) for r in con.execute(
        "SELECT period_id, closed_at, closed_by FROM periods WHERE status = 'closed' "
        "AND start_date <= ? AND end_date >= ? ORDER BY start_date",
        [period.end, period.start],
    ).fetchall()]


def is_closed(con: duckdb.DuckDBPyConnection, period_id: str) -> bool:
    rows = con.execute("SELECT status FROM periods WHERE period_id = ?", [period_id]).fetchall()
    return bool(rows) and rows[0][0] == "closed"


def refuse_closed(con: duckdb.DuckDBPyConnection, period: Period) -> None:
    """Raise :class:`EngineError` if ``period`` is closed or lies within a closed period."""
    closed = closed_overlapping(con, period)
    if closed:
        pid, at, by = closed[0]
        what = f"period {period} is closed" if pid == period.period_id else \
            f"period {period} overlaps closed period {pid}"
        raise EngineError(
            f"{what} (closed {at:%Y-%m-%d %H:%M} by {by}): its results are frozen. Changes that touch "
            f"it are booked as prior-period adjustments when the first open period after it is calculated"
        )


def closed_block_before(con: duckdb.DuckDBPyConnection, period: Period, fiscal_year_start_month: int) -> list[Period]:
    """The closed periods of ``period``'s kind immediately before it (no open period between),
    oldest first: the periods whose corrections ``period`` is the first open period for."""
    closed = {str(r[0]) for r in con.execute(
        "SELECT period_id FROM periods WHERE status = 'closed' AND kind = ? AND end_date < ?",
        [period.kind, period.start]).fetchall()}
    out: list[Period] = []
    current = previous_period(period, fiscal_year_start_month)
    while current.period_id in closed:
        out.append(current)
        closed.discard(current.period_id)
        current = previous_period(current, fiscal_year_start_month)
    return list(reversed(out))


def effective_runs(con: duckdb.DuckDBPyConnection, before: date | None = None,
                   exclude: str | None = None) -> pd.DataFrame:
    """One row per calculated period (starting before ``before``, other than ``exclude``):
    ``period_id``, ``kind``, ``start_date``, ``end_date``, ``closed`` and ``run_id``."""
    frame = con.execute(
        """
        WITH latest AS (
            SELECT period_id, run_id,
                   row_number() OVER (PARTITION BY period_id ORDER BY finished_at DESC, run_id DESC) AS rn
            FROM calc_runs WHERE status = 'succeeded')
        SELECT p.period_id, p.kind, p.start_date, p.end_date, p.status = 'closed' AS closed,
               CASE WHEN p.status = 'closed' THEN p.closed_run_id ELSE l.run_id END AS run_id
        FROM periods p LEFT JOIN latest l ON l.period_id = p.period_id AND l.rn = 1
        WHERE (? IS NULL OR p.start_date < ?) AND (? IS NULL OR p.period_id <> ?)
        ORDER BY p.start_date
        """,
        [before, before, exclude, exclude],
    ).df()
    return frame.loc[frame["run_id"].notna()].reset_index(drop=True)


def latest_run_id(con: duckdb.DuckDBPyConnection, period_id: str) -> str | None:
    rows = con.execute(
        "SELECT run_id FROM calc_runs WHERE period_id = ? AND status = 'succeeded' "
        "ORDER BY finished_at DESC, run_id DESC LIMIT 1", [period_id]).fetchall()
    return str(rows[0][0]) if rows else None


def effective_run_id(con: duckdb.DuckDBPyConnection, period_id: str) -> str | None:
    """The closed run of a closed period, else the latest succeeded run (None if never run)."""
    rows = con.execute("SELECT status, closed_run_id FROM periods WHERE period_id = ?", [period_id]).fetchall()
    if rows and rows[0][0] == "closed":
        return str(rows[0][1])
    return latest_run_id(con, period_id)


LEDGER_LINE_COLUMNS = ("line_id", "run_id", "plan_id", "plan_version", "currency", "period_id", "period_start",
                       "period_end", "corrects_line_id", *[c for c in LINE_COLUMNS if c != "plan_version"])


def ledger_lines(con: duckdb.DuckDBPyConnection, run_ids: list[str], kind: str,
                 accounting_from: date | None = None, accounting_before: date | None = None,
                 accounting_period: str | None = None) -> pd.DataFrame:
    """Lines of ``run_ids`` by accounting period, as the plan types' ``prior_lines`` want
    them: ``period_id``/``period_start``/``period_end`` are the accounting period's."""
    if not run_ids:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in LEDGER_LINE_COLUMNS})
    frame = con.sql(
        f"""
        SELECT l.line_id, l.run_id, l.plan_id, l.plan_version, l.currency,
               coalesce(l.corrects_period_id, l.period_id) AS period_id,
               pr.start_date AS period_start, pr.end_date AS period_end, l.corrects_line_id,
               l.payee_id, l.component, l.line_type, l.amount, l.status, l.measure, l.measure_value,
               l.attainment, l.tier, l.rate, l.formula, l.credit_ids, l.reference
        FROM payout_lines l
        JOIN periods pr ON pr.period_id = coalesce(l.corrects_period_id, l.period_id)
        WHERE l.run_id IN (SELECT unnest(?::VARCHAR[])) AND pr.kind = ?
          AND (?::DATE IS NULL OR pr.start_date >= ?::DATE)
          AND (?::DATE IS NULL OR pr.start_date < ?::DATE)
          AND (?::VARCHAR IS NULL OR pr.period_id = ?::VARCHAR)
        ORDER BY pr.start_date, l.run_id, l.line_no
        """,
        params=[run_ids, kind, accounting_from, accounting_from, accounting_before, accounting_before,
                accounting_period, accounting_period],
    ).to_arrow_table().to_pandas()
    frame["reference"] = frame["reference"].fillna("")
    frame["credit_ids"] = [list(v) if v is not None else [] for v in frame["credit_ids"]]
    for col in ("period_start", "period_end"):
        frame[col] = pd.to_datetime(frame[col]).dt.date if len(frame) else frame[col]
    return frame.reset_index(drop=True)


def last_accounted_hash(con: duckdb.DuckDBPyConnection, run_ids: list[str], period_id: str) -> str | None:
    """The input hash of ``period_id`` as last accounted for by one of ``run_ids`` (each run
    records, in ``calc_runs.restated``, the data hash of its own period and of every closed
    period it recomputed)."""
    if not run_ids:
        return None
    rows = con.execute(
        "SELECT restated FROM calc_runs WHERE run_id IN (SELECT unnest(?::VARCHAR[])) AND restated IS NOT NULL "
        "ORDER BY finished_at DESC, run_id DESC", [run_ids]).fetchall()
    for (text,) in rows:
        hashes = json.loads(text)
        if period_id in hashes:
            return str(hashes[period_id])
    return None


def first_open_period(con: duckdb.DuckDBPyConnection, after: Period, fiscal_year_start_month: int) -> Period:
    """The first period of ``after``'s kind, after it, that is not closed."""
    from spm_kernel.periods import next_period

    current = next_period(after, fiscal_year_start_month)
    while is_closed(con, current.period_id):
        current = next_period(current, fiscal_year_start_month)
    return current
