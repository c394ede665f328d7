"""Closing a period: freeze the results of its latest run.

``spm close PERIOD`` / ``ws.close_period(period)``. A closed period's run, lines and credits
are never modified again. A period can be closed when it has a succeeded run whose inputs
are still current (else recalculate first, or pass ``force=True`` to freeze the run as it
is: later differences then arrive as prior-period adjustments). Closing is recorded in the
audit log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spm_kernel.crediting import read_crediting_config
from spm_kernel.engine.audit import append_audit, now
from spm_kernel.engine.calculate import data_hash, default_actor, load_book, plan_windows, plan_year_of
from spm_kernel.engine.ledger import EngineError, is_closed, latest_run_id, refuse_closed
from spm_kernel.engine.runs import Run
from spm_kernel.periods import Period, parse_period

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace


def close_period(ws: Workspace, period: str | Period, *, actor: str | None = None, force: bool = False) -> Run:
    """Close ``period`` on its latest succeeded run and return that run."""
    ws._check_writable()
    fsm = ws.config.fiscal_year_start_month
    target = parse_period(period, fsm)
    con = ws.con
    if is_closed(con, target.period_id):
        refuse_closed(con, target)
    run_id = latest_run_id(con, target.period_id)
    if run_id is None:
        raise EngineError(f"period {target} has never been calculated: run `spm calc {target}` before closing it")
    run = Run.load(ws, run_id)
    if not force:
        book = load_book(ws)
        start, _, _ = plan_windows(book, target, plan_year_of(target, fsm))
        current = data_hash(con, start, target.end, book, read_crediting_config(ws.path))
        if run.restated.get(target.period_id) != current:
            raise EngineError(
                f"the inputs of {target} changed since its latest run {run_id} (data, plans or settings): "
                f"recalculate it before closing, or close with force=True to freeze that run as it is")
    who = actor or default_actor()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "UPDATE periods SET status = 'closed', closed_at = ?, closed_by = ?, closed_run_id = ? "
            "WHERE period_id = ? AND status = 'open'",
            [now(), who, run_id, target.period_id])
        append_audit(con, who, "close_period", f"period:{target.period_id}", {"run_id": run_id, "forced": force})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return run
