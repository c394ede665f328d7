"""Quota sets: allocations saved in the workspace, versioned, approved into ``quotas``.

>>> qs = ws.quota_sets.create(plan, name="FY2027 bookings, historical")   # doctest: +SKIP
>>> ws.quota_sets.approve(qs.quota_set_id, qs.version)                     # doctest: +SKIP

Life cycle:

* :meth:`QuotaSets.create` saves a :class:`~spm_kernel.planning.quotas.QuotaPlan` as a new
  **draft** version of a quota set (id default ``FY<year>-<measure>``; versions 1, 2, ...):
  its settings, notes, quota rows (``quota_set_lines``) and allocation report
  (``quota_set_nodes``). A draft can be deleted.
* :meth:`QuotaSets.approve` makes a draft the quota the engine uses for its periods, in ONE
  transaction: quota rows of the set's measures whose period starts inside the set's plan
  year and that the set does not have are deleted; the set's rows are upserted into
  ``quotas`` **through the validated importer** (:func:`spm_kernel.ingest.load_table`) with
  ``source = 'quota_set:<id>@<version>'``; the set becomes ``approved`` (with who, when and
  what was written in ``approval``); the audit log records it. Any failure rolls it all back.
* An approved set is immutable: it cannot be approved again, edited or deleted. Approving a
  later version (or another set) for the same periods replaces those quotas; the earlier set
  stays in the record. The set in force for a plan year is the one approved last
  (:meth:`QuotaSets.in_force`).
* Closed periods are never rewritten: approval is refused when any of the set's periods
  overlaps a closed period (``periods.status = 'closed'``), naming them. Plan such changes
  for open periods only (a set for a later plan year, or a mid-year set without an annual
  measure whose cadence periods are all open).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from spm_kernel.engine.audit import append_audit, now
from spm_kernel.ingest import load_table
from spm_kernel.planning.errors import PlanningError
from spm_kernel.store.schema import get_table

if TYPE_CHECKING:
    from spm_kernel.planning.fairness import FairnessReport
    from spm_kernel.planning.quotas import QuotaPlan
    from spm_kernel.workspace import Workspace

SOURCE_PREFIX = "quota_set:"
_LINE_SCHEMA = pa.schema([
    ("quota_set_id", pa.string()), ("version", pa.int32()), ("payee_id", pa.string()), ("measure", pa.string()),
    ("period_start", pa.date32()), ("period_end", pa.date32()), ("amount", pa.decimal128(18, 2)),
    ("currency", pa.string()), ("amount_base", pa.decimal128(18, 2)), ("level", pa.string()), ("node", pa.string()),
])
_NODE_SCHEMA = pa.schema([
    ("quota_set_id", pa.string()), ("version", pa.int32()), ("node_no", pa.int32()), ("level", pa.string()),
    ("node", pa.string()), ("parent", pa.string()), ("holder", pa.string()), ("payees", pa.int32()),
    ("top_down", pa.decimal128(18, 2)), ("bottom_up", pa.decimal128(18, 2)), ("gap", pa.decimal128(18, 2)),
    ("effective_months", pa.decimal128(18, 6)), ("expected", pa.decimal128(18, 2)),
    ("potential", pa.decimal128(18, 2)),
])


def _actor(actor: str | None) -> str:
    from spm_kernel.engine.calculate import default_actor

    return actor or default_actor()


@dataclass(frozen=True)
class QuotaSet:
    """One version of a quota set (a row of ``quota_sets``); read its rows with
    :meth:`lines`, its report with :meth:`nodes`, its fairness with :meth:`fairness`."""

    quota_set_id: str
    version: int
    name: str
    fiscal_year: int
    measure: str
    annual_measure: str | None
    cadence: str
    method: str
    method_used: str
    target: Decimal
    currency: str
    period_start: date
    period_end: date
    status: str
    settings: dict[str, Any]
    notes: list[str]
    created_at: datetime
    created_by: str
    approved_at: datetime | None
    approved_by: str | None
    approval: dict[str, Any] | None
    ws: Workspace = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.quota_set_id}@{self.version}"

    @property
    def source(self) -> str:
        """The ``source`` written on the quota rows it approves."""
        return f"{SOURCE_PREFIX}{self.key}"

    @property
    def measures(self) -> list[str]:
        return [self.measure] + ([self.annual_measure] if self.annual_measure and self.cadence != "year" else [])

    def lines(self) -> pd.DataFrame:
        """The set's quota rows (``payee_id, measure, period_start, period_end, amount,
        currency, amount_base, level, node``)."""
        return self.ws.sql(
            "SELECT payee_id, measure, period_start, period_end, amount, currency, amount_base, level, node "
            "FROM quota_set_lines WHERE quota_set_id = ? AND version = ? "
            "ORDER BY level, payee_id, measure, period_start", [self.quota_set_id, self.version])

    def quotas(self) -> pd.DataFrame:
        """The rows as the ``quotas`` table holds them (what approving writes)."""
        return self.lines().loc[:, ["payee_id", "measure", "period_start", "period_end", "amount", "currency"]]

    def nodes(self) -> pd.DataFrame:
        """The allocation report: ``level, node, parent, holder, payees, top_down,
        bottom_up, gap, gap_pct, effective_months, expected, potential``."""
        frame = self.ws.sql(
            "SELECT level, node, parent, holder, payees, top_down, bottom_up, gap, "
            "CASE WHEN bottom_up <> 0 THEN CAST(gap AS DOUBLE) / CAST(bottom_up AS DOUBLE) END AS gap_pct, "
            "effective_months, expected, potential FROM quota_set_nodes "
            "WHERE quota_set_id = ? AND version = ? ORDER BY node_no", [self.quota_set_id, self.version])
        return frame

    def fairness(self, **options: Any) -> FairnessReport:
        """The fairness of the stored allocation (see :mod:`spm_kernel.planning.fairness`)."""
        from spm_kernel.planning.fairness import fairness

        payees = self.nodes()
        payees = payees.loc[payees["level"] == "payee"].rename(columns={
            "node": "payee_id", "parent": "team_id", "top_down": "quota_base", "expected": "expected_base",
            "potential": "potential_base"})
        return fairness(payees.reset_index(drop=True), **options)

    def __repr__(self) -> str:
        return (f"<QuotaSet {self.key} {self.status}: FY{self.fiscal_year} {self.measure} by {self.method_used}, "
                f"target {self.target:,.2f} {self.currency}>")


class QuotaSets:
    """The quota sets of a workspace (``ws.quota_sets``)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # ---- reading ----
    def list(self) -> pd.DataFrame:
        """Every version of every set: id, version, name, plan year, method, target, status, dates."""
        return self.ws.sql(
            "SELECT quota_set_id, version, name, fiscal_year, measure, method_used AS method, target, currency, "
            "status, created_at, created_by, approved_at, approved_by FROM quota_sets "
            "ORDER BY quota_set_id, version")

    def get(self, quota_set_id: str, version: int | None = None) -> QuotaSet:
        """One version (the highest when ``version`` is None); ``"id@version"`` also works."""
        if version is None and "@" in quota_set_id:
            quota_set_id, _, v = quota_set_id.partition("@")
            version = int(v)
        if version is None:
            rows = self.ws.con.execute("SELECT max(version) FROM quota_sets WHERE quota_set_id = ?",
                                       [quota_set_id]).fetchall()
            version = rows[0][0] if rows else None
            if version is None:
                known = ", ".join(sorted(set(self.list()["quota_set_id"]))) or "none"
                raise PlanningError(f"no quota set {quota_set_id!r}; quota sets: {known}")
        frame = self.ws.sql("SELECT * FROM quota_sets WHERE quota_set_id = ? AND version = ?",
                            [quota_set_id, int(version)])
        if frame.empty:
            raise PlanningError(f"quota set {quota_set_id!r} has no version {version}")
        r = frame.iloc[0]

        def opt(value: Any) -> Any:
            return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value

        return QuotaSet(
            quota_set_id=str(r["quota_set_id"]), version=int(r["version"]), name=str(r["name"]),
            fiscal_year=int(r["fiscal_year"]), measure=str(r["measure"]), annual_measure=opt(r["annual_measure"]),
            cadence=str(r["cadence"]), method=str(r["method"]), method_used=str(r["method_used"]),
            target=r["target"], currency=str(r["currency"]), period_start=_day(r["period_start"]),
            period_end=_day(r["period_end"]), status=str(r["status"]),
            settings=json.loads(r["settings"] or "{}"), notes=json.loads(r["notes"] or "[]"),
            created_at=r["created_at"], created_by=str(r["created_by"]), approved_at=opt(r["approved_at"]),
            approved_by=opt(r["approved_by"]), approval=json.loads(r["approval"]) if opt(r["approval"]) else None,
            ws=self.ws)

    def in_force(self, fiscal_year: int | None = None) -> pd.DataFrame:
        """Per plan year and measure, the approved set whose quotas ``quotas`` holds (the one
        approved last)."""
        where = "AND fiscal_year = ?" if fiscal_year is not None else ""
        return self.ws.sql(f"""
            SELECT fiscal_year, measure, quota_set_id, version, name, target, currency, approved_at, approved_by
            FROM quota_sets WHERE status = 'approved' {where}
            QUALIFY row_number() OVER (PARTITION BY fiscal_year, measure ORDER BY approved_at DESC, version DESC) = 1
            ORDER BY fiscal_year, measure""", [int(fiscal_year)] if fiscal_year is not None else None)

    # ---- writing ----
    def create(self, plan: QuotaPlan, quota_set_id: str | None = None, name: str | None = None,
               actor: str | None = None) -> QuotaSet:
        """Save ``plan`` as a new draft version of ``quota_set_id`` (one transaction)."""
        ws = self.ws
        ws._check_writable()
        s = plan.settings
        set_id = quota_set_id or f"FY{plan.year.fiscal_year}-{s.measure}"
        if not set_id.strip() or "@" in set_id:
            raise PlanningError(f"quota set id {set_id!r} must be non-empty and must not contain '@'")
        who = _actor(actor)
        con = ws.con
        con.execute("BEGIN TRANSACTION")
        try:
            version = int(con.execute("SELECT coalesce(max(version), 0) + 1 FROM quota_sets WHERE quota_set_id = ?",
                                      [set_id]).fetchall()[0][0])
            con.execute(
                "INSERT INTO quota_sets (quota_set_id, version, name, fiscal_year, measure, annual_measure, cadence, "
                "method, method_used, target, currency, period_start, period_end, status, settings, notes, "
                "created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?)",
                [set_id, version, name or f"FY{plan.year.fiscal_year} {s.measure} ({plan.method_used})",
                 plan.year.fiscal_year, s.measure, s.annual_measure if s.cadence != "year" else None, s.cadence,
                 s.method, plan.method_used, s.target, plan.base_currency, plan.year.start, plan.year.end,
                 s.model_dump_json(), json.dumps(plan.notes), now(), who])
            lines = plan.lines
            line_rows = pa.Table.from_pandas(pd.DataFrame({  # noqa: F841 - read by DuckDB by name
                "quota_set_id": set_id, "version": version, "payee_id": lines["payee_id"].astype(str),
                "measure": lines["measure"], "period_start": lines["period_start"], "period_end": lines["period_end"],
                "amount": lines["amount"], "currency": lines["currency"], "amount_base": lines["amount_base"],
                "level": lines["level"], "node": lines["node"].astype(str)}), schema=_LINE_SCHEMA, preserve_index=False)
            con.execute("INSERT INTO quota_set_lines SELECT * FROM line_rows")
            payees = plan.payees.set_index("payee_id")
            is_payee = plan.nodes["level"] == "payee"
            node_ids = plan.nodes["node"].astype(str)

            def payee_col(name: str) -> list[Any]:
                values = payees[name].reindex(node_ids.where(is_payee)).to_numpy(dtype=object)
                return [v if ok and v is not None and not (isinstance(v, float) and pd.isna(v)) else None
                        for v, ok in zip(values, is_payee)]

            months = [Decimal(str(round(float(v), 6))) if v is not None else None
                      for v in payee_col("effective_months")]
            node_rows = pa.Table.from_pandas(pd.DataFrame({  # noqa: F841 - read by DuckDB by name
                "quota_set_id": set_id, "version": version, "node_no": range(1, len(plan.nodes) + 1),
                "level": plan.nodes["level"], "node": node_ids, "parent": plan.nodes["parent"],
                "holder": plan.nodes["holder"], "payees": plan.nodes["payees"].astype(int),
                "top_down": plan.nodes["top_down"], "bottom_up": plan.nodes["bottom_up"], "gap": plan.nodes["gap"],
                "effective_months": months, "expected": payee_col("expected_base"),
                "potential": payee_col("potential_base")}), schema=_NODE_SCHEMA, preserve_index=False)
            con.execute("INSERT INTO quota_set_nodes SELECT * FROM node_rows")
            append_audit(con, who, "create_quota_set", f"quota_set:{set_id}@{version}",
                         {"target": str(s.target), "method": plan.method_used, "lines": len(lines)})
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return self.get(set_id, version)

    def delete(self, quota_set_id: str, version: int, actor: str | None = None) -> None:
        """Delete a draft version (an approved set is immutable and cannot be deleted)."""
        self.ws._check_writable()
        qs = self.get(quota_set_id, version)
        if qs.status != "draft":
            raise PlanningError(f"quota set {qs.key} is approved: an approved set is immutable and cannot be deleted")
        con = self.ws.con
        con.execute("BEGIN TRANSACTION")
        try:
            for table in ("quota_set_lines", "quota_set_nodes", "quota_sets"):
                con.execute(f"DELETE FROM {table} WHERE quota_set_id = ? AND version = ?",
                            [qs.quota_set_id, qs.version])
            append_audit(con, _actor(actor), "delete_quota_set", f"quota_set:{qs.key}", {"status": "draft"})
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def approve(self, quota_set_id: str, version: int | None = None, actor: str | None = None) -> QuotaSet:
        """Approve a draft: its rows become the ``quotas`` of its periods (one transaction)."""
        ws = self.ws
        ws._check_writable()
        qs = self.get(quota_set_id, version)
        if qs.status != "draft":
            raise PlanningError(f"quota set {qs.key} was approved on {qs.approved_at:%Y-%m-%d %H:%M} by "
                                f"{qs.approved_by}: an approved set is immutable; save a new version to change it")
        con = ws.con
        closed = con.execute(
            "SELECT period_id FROM periods WHERE status = 'closed' AND start_date <= ? AND end_date >= ? "
            "ORDER BY start_date", [qs.period_end, qs.period_start]).fetchall()
        if closed:
            raise PlanningError(
                f"quota set {qs.key} covers closed period(s) {', '.join(str(r[0]) for r in closed)}: closed periods "
                f"are never rewritten; plan a set whose periods are all open")
        rows = qs.quotas()
        currencies = ws.sql("SELECT payee_id, currency FROM payees")
        check = rows.merge(currencies, on="payee_id", how="left", suffixes=("", "_now"))
        wrong = check.loc[check["currency_now"].notna() & (check["currency"] != check["currency_now"])]
        if len(wrong):
            first = wrong.iloc[0]
            raise PlanningError(f"{wrong['payee_id'].nunique()} payee(s) are now paid in another currency than "
                                f"their quota in {qs.key} (e.g. {first['payee_id']}: {first['currency']} -> "
                                f"{first['currency_now']}); allocate again")
        measures = qs.measures
        who = _actor(actor)
        keys = rows.loc[:, ["payee_id", "measure", "period_start"]]  # noqa: F841 - read by DuckDB by name
        listed = ", ".join("?" for _ in measures)
        con.execute("BEGIN TRANSACTION")
        try:
            stale = f"""FROM quotas q WHERE q.measure IN ({listed}) AND q.period_start BETWEEN ? AND ?
                AND NOT EXISTS (SELECT 1 FROM keys k WHERE k.payee_id = q.payee_id AND k.measure = q.measure
                                AND k.period_start = q.period_start)"""
            params = [*measures, qs.period_start, qs.period_end]
            deleted = int(con.execute(f"SELECT count(*) {stale}", params).fetchall()[0][0])
            con.execute(f"DELETE {stale}", params)
            result = load_table(con, get_table("quotas"), rows, lambda path: None, source=qs.source,
                                transaction=False)
            approval = {"deleted": deleted, "inserted": result.inserted, "updated": result.updated,
                        "unchanged": result.unchanged, "import_id": result.import_id, "measures": measures}
            con.execute("UPDATE quota_sets SET status = 'approved', approved_at = ?, approved_by = ?, approval = ? "
                        "WHERE quota_set_id = ? AND version = ? AND status = 'draft'",
                        [now(), who, json.dumps(approval), qs.quota_set_id, qs.version])
            append_audit(con, who, "approve_quota_set", f"quota_set:{qs.key}", approval)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        ws.plugins.hook.spm_after_load(ws=ws, table="quotas", result=result)
        return self.get(qs.quota_set_id, qs.version)


def _day(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else pd.Timestamp(value).date()
