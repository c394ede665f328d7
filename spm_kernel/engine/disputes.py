"""Disputes: a payee's inquiry on a payout line, reviewed, then resolved with an approved
manual adjustment or rejected. Every step is written to the audit log with who and when.

::

    d = ws.disputes.raise_inquiry(line_id, "the Acme renewal is missing", actor="R1")
    ws.disputes.start_review(d, actor="analyst")
    adj = ws.disputes.resolve(d, amount="120.00", resolution="renewal credited late", actor="analyst")
    # or: ws.disputes.reject(d, resolution="renewals are not commissionable", actor="analyst")

States: ``open`` -> ``in_review`` -> ``resolved`` | ``rejected``; any other move is an
:class:`~spm_kernel.engine.ledger.EngineError` naming the dispute and its state. A
resolution creates an approved row in ``adjustments`` for the period of the disputed line,
or, when that period is closed, for the first open period after it; the next calculation of
that period pays it as a ``line_type='adjustment'`` line (``plan_id='manual'``) linked to the
disputed line (``corrects_line_id``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd

from spm_kernel.engine.audit import append_audit, now
from spm_kernel.engine.ledger import EngineError, first_open_period, is_closed
from spm_kernel.money import minor_units, round_money, to_decimal
from spm_kernel.periods import parse_period

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

TRANSITIONS = {"open": ("in_review",), "in_review": ("resolved", "rejected"), "resolved": (), "rejected": ()}


class Disputes:
    """The dispute workflow of one workspace (``ws.disputes``)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # ---- reading ----
    def get(self, dispute_id: str) -> dict[str, Any]:
        rows = self.ws.con.execute("SELECT * FROM disputes WHERE dispute_id = ?", [dispute_id]).df()
        if rows.empty:
            raise EngineError(f"no dispute {dispute_id!r}")
        return {k: (None if not isinstance(v, (list, dict)) and pd.isna(v) else v) for k, v in rows.iloc[0].items()}

    def list(self, status: str | None = None, payee_id: str | None = None) -> pd.DataFrame:
        """Disputes, newest first, optionally of one status or payee."""
        return self.ws.con.execute(
            "SELECT * FROM disputes WHERE (? IS NULL OR status = ?) AND (? IS NULL OR payee_id = ?) "
            "ORDER BY raised_at DESC, dispute_id DESC", [status, status, payee_id, payee_id]).df()

    def history(self, dispute_id: str) -> pd.DataFrame:
        """Every recorded step of a dispute, oldest first (from the audit log)."""
        return self.ws.con.execute(
            "SELECT seq, occurred_at, actor, action, detail FROM audit_log WHERE entity = ? ORDER BY seq",
            [f"dispute:{dispute_id}"]).df()

    # ---- steps ----
    def raise_inquiry(self, line_id: str, description: str, *, actor: str) -> str:
        """Open a dispute on payout line ``line_id``; returns the dispute id."""
        if not description or not description.strip():
            raise EngineError("a dispute needs a description of what is wrong")
        con = self.ws.con
        line = con.execute("SELECT payee_id, period_id, amount, currency FROM payout_lines WHERE line_id = ?",
                           [line_id]).fetchall()
        if not line:
            raise EngineError(f"no payout line {line_id!r}")
        payee_id, period_id, amount, currency = line[0]
        self.ws._check_writable()
        at = now()
        with _transaction(con):
            n = con.execute("SELECT count(*) FROM disputes").fetchall()[0][0]
            dispute_id = f"DSP-{int(n) + 1:06d}"
            con.execute(
                "INSERT INTO disputes (dispute_id, line_id, payee_id, status, description, raised_by, raised_at, "
                "updated_at) VALUES (?, ?, ?, 'open', ?, ?, ?, ?)",
                [dispute_id, line_id, payee_id, description.strip(), actor, at, at])
            append_audit(con, actor, "dispute_raised", f"dispute:{dispute_id}", {
                "line_id": line_id, "payee_id": payee_id, "period_id": period_id,
                "amount": str(amount), "currency": currency, "description": description.strip()}, at=at)
        return dispute_id

    def start_review(self, dispute_id: str, *, actor: str, note: str = "") -> None:
        """``open`` -> ``in_review``."""
        self._move(dispute_id, "in_review", actor, {"note": note} if note else {})

    def reject(self, dispute_id: str, *, resolution: str, actor: str) -> None:
        """``in_review`` -> ``rejected``, saying why."""
        if not resolution or not resolution.strip():
            raise EngineError("rejecting a dispute needs a resolution saying why")
        self._move(dispute_id, "rejected", actor, {"resolution": resolution.strip()},
                   resolution=resolution.strip())

    def resolve(self, dispute_id: str, *, amount: Decimal | str | int, resolution: str, actor: str,
                component: str | None = None) -> str:
        """``in_review`` -> ``resolved`` with an approved manual adjustment of ``amount``
        (the payee's currency; negative to take money back). Returns the adjustment id."""
        if not resolution or not resolution.strip():
            raise EngineError("resolving a dispute needs a resolution saying what was decided")
        dispute = self.get(dispute_id)
        con = self.ws.con
        line = con.execute("SELECT period_id, currency, plan_id, component FROM payout_lines WHERE line_id = ?",
                           [dispute["line_id"]]).fetchall()[0]
        period_id, currency, plan_id, line_component = line
        value = to_decimal(amount)
        places = minor_units(currency)
        if value != round_money(value, places):
            raise EngineError(f"adjustment amount {value} has more decimals than {currency} allows ({places})")
        if value == 0:
            raise EngineError("a resolution pays a non-zero adjustment; reject the dispute instead")
        fsm = self.ws.config.fiscal_year_start_month
        period = parse_period(period_id, fsm)
        pay_in = first_open_period(con, period, fsm) if is_closed(con, period_id) else period
        at = now()
        adjustment_id = f"ADJ-{dispute_id}"
        with _transaction(con):
            self._check_move(dispute, "resolved")
            con.execute(
                "INSERT INTO adjustments (adjustment_id, payee_id, period_id, plan_id, component, amount, currency, "
                "reason, original_line_id, dispute_id, status, created_by, created_at, approved_by, approved_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'approved', ?, ?, ?, ?)",
                [adjustment_id, dispute["payee_id"], pay_in.period_id, plan_id, component or line_component,
                 value, currency, resolution.strip(), dispute["line_id"], dispute_id, actor, at, actor, at])
            self._update(dispute_id, "resolved", at, resolution=resolution.strip(), adjustment_id=adjustment_id)
            append_audit(con, actor, "dispute_resolved", f"dispute:{dispute_id}", {
                "from": dispute["status"], "to": "resolved", "resolution": resolution.strip(),
                "adjustment_id": adjustment_id, "amount": str(value), "currency": currency,
                "paid_in_period": pay_in.period_id}, at=at)
            append_audit(con, actor, "adjustment_approved", f"adjustment:{adjustment_id}", {
                "dispute_id": dispute_id, "amount": str(value), "period_id": pay_in.period_id}, at=at)
        return adjustment_id

    # ---- internals ----
    def _check_move(self, dispute: dict[str, Any], to: str) -> None:
        if to not in TRANSITIONS[dispute["status"]]:
            allowed = ", ".join(TRANSITIONS[dispute["status"]]) or "nothing (it is final)"
            raise EngineError(f"dispute {dispute['dispute_id']} is {dispute['status']}: it can move to {allowed}, "
                              f"not to {to}")

    def _move(self, dispute_id: str, to: str, actor: str, detail: dict[str, Any], resolution: str | None = None) -> None:
        self.ws._check_writable()
        con = self.ws.con
        at = now()
        with _transaction(con):
            dispute = self.get(dispute_id)
            self._check_move(dispute, to)
            self._update(dispute_id, to, at, resolution=resolution)
            append_audit(con, actor, f"dispute_{to}", f"dispute:{dispute_id}",
                         {"from": dispute["status"], "to": to, **detail}, at=at)

    def _update(self, dispute_id: str, to: str, at: datetime, resolution: str | None = None,
                adjustment_id: str | None = None) -> None:
        self.ws.con.execute(
            "UPDATE disputes SET status = ?, updated_at = ?, resolution = coalesce(?, resolution), "
            "adjustment_id = coalesce(?, adjustment_id) WHERE dispute_id = ?",
            [to, at, resolution, adjustment_id, dispute_id])


class _transaction:
    def __init__(self, con: Any) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("BEGIN TRANSACTION")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.con.execute("ROLLBACK" if exc_type else "COMMIT")
