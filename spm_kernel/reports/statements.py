"""Payee statements: everything one payee earned, was paid, owes or is owed for a period.

>>> st = ws.statement("P0000166", "2026-03")            # doctest: +SKIP
>>> st.lines                # every payout line booked in the period, with its explanation
>>> st.totals               # the summary: earnings by component, draws, adjustments, holds, paid
>>> st.balances             # draw balance, held earnings, carry-forward: opening, change, closing
>>> st.to_pdf("statement.pdf"); st.to_xlsx("statement.xlsx"); st.to_html(); print(st.to_text())

What a statement is made of (all read from the ledger, nothing is recalculated):

* **Lines**: the payout lines of the payee in the period's *effective run* (the run its close
  froze, or while it is open its latest succeeded run): the period's own lines, the
  prior-period adjustments booked in it (each linked to the line it corrects) and approved
  manual adjustments. Each line carries a readable ``explanation``: measure, attainment,
  tier, rate, the formula with its numbers and the credits behind it.
* **Totals** (``totals``): one row per summary item, in order: earnings per component, draw
  top-ups, draw recoveries, prior-period adjustments, manual adjustments, amounts held,
  releases, and ``paid``, the amount paid. Every line belongs to exactly one item, so the
  items add up to ``paid``, which is the sum of the rounded lines (and equals
  ``sum(amount)`` over the ledger).
* **Balances** (``balances``): opening, change and closing per balance, from the lines
  booked in the effective runs of the periods of the same kind before and in this period:

  - ``draw``: recoverable draw not yet recovered, this plan year (top-ups minus
    recoveries); what is unrecovered at plan-year end is forgiven, so it opens at 0;
  - ``held``: earnings withheld (``hold`` lines) and not yet released (``release`` lines),
    over all periods;
  - ``carry_forward``: capped excess deferred (``carry_forward``) and not yet paid
    (``carry_forward_release``), this plan year.

* **Attainment** (``attainment``): per period of the plan year up to this one, the measure
  and attainment to date of the payee's first component that measures attainment (else the
  first that states a measure), as its lines state them: the data of the attainment chart.
* **Credits** (``credits``): the credits behind the lines, one row per credit.

Money is exact: ``Decimal`` throughout, in the payee's currency; exports round to the
currency's minor unit (they are already rounded) and neutralise text cells that a
spreadsheet would run as a formula.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from spm_kernel.engine.ledger import EngineError, effective_run_id, effective_runs
from spm_kernel.money import minor_units, quantum
from spm_kernel.periods import Period, fiscal_year_of, parse_period, year

if TYPE_CHECKING:
    from spm_kernel.plans import PlanBook
    from spm_kernel.workspace import Workspace

MANUAL_PLAN = "manual"
EARNING_TYPES = ("earning", "bonus", "spiff", "mbo", "clawback", "gate_adjustment", "cap_forfeit",
                 "carry_forward", "carry_forward_release")
SECTIONS = ("earnings", "draws", "holds", "adjustments")
SECTION_LABELS = {"earnings": "Earnings", "draws": "Draws and recoveries", "holds": "Holds and releases",
                  "adjustments": "Adjustments"}
LINE_TYPE_LABELS = {
    "earning": "earning", "bonus": "bonus", "spiff": "SPIFF", "mbo": "MBO", "clawback": "clawback",
    "gate_adjustment": "gate adjustment", "cap_forfeit": "cap: excess forfeited",
    "carry_forward": "cap: excess deferred", "carry_forward_release": "deferred excess paid",
    "draw_topup": "draw top-up", "draw_recovery": "draw recovery", "hold": "held until the deal is paid",
    "release": "released from hold", "adjustment": "manual adjustment",
}
BALANCES = {
    "draw": ("Draw balance", "recoverable draw paid and not yet recovered (this plan year; forgiven at its end)"),
    "held": ("Held earnings", "earnings withheld and not yet released"),
    "carry_forward": ("Carry-forward", "capped excess deferred and not yet paid (this plan year)"),
}
LINE_COLUMNS = (
    "section", "line_no", "line_id", "plan_id", "plan_version", "component", "component_label", "line_type",
    "description", "amount", "currency", "status", "measure", "measure_value", "attainment", "tier", "rate",
    "formula", "credit_count", "credit_total", "reference", "corrects_line_id", "corrects_period_id",
    "corrected_amount", "explanation",
)
TOTAL_COLUMNS = ("item", "label", "kind", "component", "amount", "currency", "lines")
BALANCE_COLUMNS = ("balance", "label", "opening", "change", "closing", "currency", "note")
ATTAINMENT_COLUMNS = ("period_id", "period_start", "component", "component_label", "measure", "measure_value",
                      "attainment", "tier")
CREDIT_COLUMNS = ("credit_id", "credit_date", "transaction_id", "kind", "opportunity_id", "opportunity",
                  "account", "credit_type", "rule", "share", "source_amount", "source_currency", "fx_rate",
                  "amount", "currency", "components")


@dataclass
class Statement:
    """One payee's statement for one period; build it with ``ws.statement(payee, period)``.

    ``lines``, ``totals``, ``balances``, ``attainment`` and ``credits`` are DataFrames with
    money as ``Decimal`` (see the module docstring for what each holds).
    """

    company: str
    payee_id: str
    payee_name: str
    role: str
    team: str
    region: str
    manager: str
    currency: str
    period: Period
    period_status: str
    run_id: str
    plan_year: Period
    plans: list[str]
    rounding: str
    lines: pd.DataFrame
    totals: pd.DataFrame
    balances: pd.DataFrame
    attainment: pd.DataFrame
    credits: pd.DataFrame
    year_to_date: Decimal
    generated_at: datetime = field(default_factory=lambda: datetime.now().replace(microsecond=0))

    # ---- figures ----
    @property
    def paid(self) -> Decimal:
        """The amount paid for the period in the payee's currency: the sum of the statement's
        rounded lines (a line in another currency, which a plan never produces, is listed in
        ``totals`` under its own currency and not added here)."""
        rows = self.totals.loc[(self.totals["item"] == "paid") & (self.totals["currency"] == self.currency), "amount"]
        return sum(rows, Decimal(0))

    @property
    def final(self) -> bool:
        """True when the period is closed (the statement can no longer change)."""
        return self.period_status == "closed"

    @property
    def places(self) -> int:
        """Digits after the decimal point of the statement's currency."""
        return minor_units(self.currency)

    def balance(self, name: str) -> Decimal:
        """The closing balance ``name`` (``draw``, ``held``, ``carry_forward``), 0 if absent."""
        rows = self.balances.loc[self.balances["balance"] == name, "closing"]
        return rows.iloc[0] if len(rows) else Decimal(0)

    def to_text(self) -> str:
        """The statement as plain text: the summary, the balances and every line explained."""
        money = self.money
        out = [f"{self.company}: statement for {self.payee_name} ({self.payee_id}), {self.period}"
               f" ({'final' if self.final else 'preliminary'})"]
        for row in self.totals.itertuples(index=False):
            out.append(f"  {row.label:<48} {money(row.amount):>16}")
        for row in self.balances.itertuples(index=False):
            out.append(f"  {row.label + ' (closing)':<48} {money(row.closing):>16}")
        for line in self.lines.itertuples(index=False):
            out.append(f"- {line.description}: {money(line.amount)}")
            out.extend("    " + part for part in str(line.explanation).splitlines())
        return "\n".join(out)

    def money(self, value: Any) -> str:
        """``value`` formatted with the currency's places and thousands separators."""
        if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
            return ""
        return f"{Decimal(value):,.{self.places}f}"

    # ---- outputs ----
    def to_html(self) -> str:
        """The statement as one self-contained HTML page (inline CSS and SVG chart)."""
        from spm_kernel.reports.statements_html import render_html

        return render_html(self)

    def to_pdf(self, path: str | Path) -> Path:
        """Write the statement as an A4 PDF (the HTML page printed by WeasyPrint)."""
        from spm_kernel.reports.statements_pdf import write_pdf

        return write_pdf(self, path)

    def to_xlsx(self, path: str | Path) -> Path:
        """Write the statement as an XLSX workbook (money rounded to the currency's places)."""
        from spm_kernel.reports.statements_xlsx import write_xlsx

        return write_xlsx(self, path)

    def to_csv(self, path: str | Path) -> Path:
        """Write the lines as CSV (formula-like text cells neutralised)."""
        from spm_kernel.reports.statements_xlsx import write_csv

        return write_csv(self, path)

    def file_stem(self) -> str:
        """``statement-2026-03-P0000166``: a file name without extension."""
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in self.payee_id)
        return f"statement-{self.period.period_id}-{safe}"

    def _repr_html_(self) -> str:
        from spm_kernel.reports.statements_html import render_fragment

        return render_fragment(self)

    def __repr__(self) -> str:
        return (f"<Statement {self.payee_id} {self.period} ({self.period_status}): paid "
                f"{self.money(self.paid)} {self.currency}, {len(self.lines)} lines>")


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------
def build_statement(ws: Workspace, payee: str, period: str | Period) -> Statement:
    """The statement of ``payee`` for ``period`` (see :func:`build_statements`)."""
    found = build_statements(ws, period, payees=[payee])
    return found[0]


def build_statements(ws: Workspace, period: str | Period, payees: Iterable[str] | None = None) -> list[Statement]:
    """Statements of ``period`` for ``payees`` (default: every payee with a line in it), read
    from the period's effective run in a few queries for all payees at once.

    Raises :class:`~spm_kernel.engine.EngineError` if the period has never been calculated,
    or if a payee asked for does not exist.
    """
    fsm = ws.config.fiscal_year_start_month
    target = parse_period(period, fsm)
    con = ws.con
    run_id = effective_run_id(con, target.period_id)
    if run_id is None:
        raise EngineError(f"period {target} has no succeeded run: calculate it first (`spm calc {target}`)")
    status_rows = con.execute("SELECT status FROM periods WHERE period_id = ?", [target.period_id]).fetchall()
    status = str(status_rows[0][0]) if status_rows else "open"
    if payees is None:
        wanted = [str(r[0]) for r in con.execute(
            "SELECT DISTINCT payee_id FROM payout_lines WHERE run_id = ? ORDER BY payee_id", [run_id]).fetchall()]
    else:
        wanted = list(dict.fromkeys(str(p) for p in payees))
        known = {str(r[0]) for r in con.execute(
            "SELECT payee_id FROM payees WHERE payee_id IN (SELECT unnest(?::VARCHAR[]))", [wanted]).fetchall()}
        missing = [p for p in wanted if p not in known]
        if missing:
            raise EngineError(f"no payee {', '.join(map(repr, missing[:10]))} in the workspace")
    if not wanted:
        return []
    plan_year = year(fiscal_year_of(target.end, fsm), fsm)
    book = _book(ws)
    people = _people(ws, wanted, target.end)
    lines = _lines(ws, run_id, wanted, book)
    credits = _credits(ws, run_id, wanted)
    history = _history(ws, target, wanted)
    attainment = _attainment(ws, target, plan_year, wanted, book)
    company = ws.config.name
    rounding = _rounding(book, lines)
    totals = summarise_all(lines)
    balances = _balances_all(history, target, plan_year, book)
    ytd = _ytd_all(history, plan_year)
    empty = {"lines": LINE_COLUMNS, "credits": CREDIT_COLUMNS, "totals": TOTAL_COLUMNS,
             "balances": BALANCE_COLUMNS, "attainment": ATTAINMENT_COLUMNS}
    parts = {name: _split(frame, empty[name]) for name, frame in (
        ("lines", lines), ("credits", credits), ("totals", totals), ("balances", balances), ("attainment", attainment))}
    out = []
    for payee_id in wanted:  # assembling per payee: everything was computed for all of them at once
        person = people.get(payee_id, {})
        currency = str(person.get("currency") or ws.config.base_currency)
        mine = {name: parts[name].get(payee_id) for name in parts}
        for name, columns in empty.items():
            if mine[name] is None:
                mine[name] = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
        if mine["totals"].empty:
            mine["totals"] = _nothing_paid(currency)
        plines = mine["lines"]
        plans = sorted({f"{_plan_name(book, p, v)} (v{v})" for p, v in zip(plines["plan_id"], plines["plan_version"])
                        if p != MANUAL_PLAN})
        out.append(Statement(
            company=company, payee_id=payee_id, payee_name=str(person.get("name") or payee_id),
            role=str(person.get("role") or ""), team=str(person.get("team") or ""),
            region=str(person.get("region") or ""), manager=str(person.get("manager") or ""),
            currency=currency, period=target, period_status=status, run_id=run_id, plan_year=plan_year,
            plans=plans, rounding=rounding.get(payee_id, "ROUND_HALF_UP"),
            lines=plines, totals=mine["totals"], balances=mine["balances"], attainment=mine["attainment"],
            credits=mine["credits"],
            year_to_date=ytd.get((payee_id, currency), Decimal(0)),
        ))
    return out


def _split(frame: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """``frame[columns]`` split by ``payee_id`` into slices of one stable sort (no per-payee
    filtering), each keeping the frame's row order."""
    if frame.empty:
        return {}
    order = np.argsort(frame["payee_id"].to_numpy(dtype=object).astype(str), kind="stable")
    ids = frame["payee_id"].to_numpy(dtype=object).astype(str)[order]
    body = frame.loc[:, list(columns)].iloc[order].reset_index(drop=True)
    keys, starts = np.unique(ids, return_index=True)
    ends = [*starts[1:], len(ids)]
    return {str(k): body.iloc[a:b].reset_index(drop=True) for k, a, b in zip(keys, starts, ends)}


def _nothing_paid(currency: str) -> pd.DataFrame:
    zero = Decimal(0).quantize(quantum(minor_units(currency)))
    return pd.DataFrame([("paid", "Amount paid", "total", None, zero, currency, 0)], columns=list(TOTAL_COLUMNS))


def _book(ws: Workspace) -> PlanBook | None:
    from spm_kernel.engine.calculate import load_book
    from spm_kernel.plans.loader import PlanValidationError

    try:
        return load_book(ws)
    except PlanValidationError:  # labels are a nicety: a broken plan file must not block a statement
        return None


def _plan_name(book: PlanBook | None, plan_id: str, version: int) -> str:
    if book is not None:
        try:
            return book.get(plan_id, int(version)).name
        except KeyError:
            pass
    return str(plan_id)


def _component(book: PlanBook | None, plan_id: str, version: int, component: str) -> Any:
    if book is None or plan_id == MANUAL_PLAN:
        return None
    try:
        return book.get(plan_id, int(version)).component(component)
    except KeyError:
        return None


def _component_label(book: PlanBook | None, plan_id: str, version: int, component: str) -> str:
    if plan_id == MANUAL_PLAN:
        return "Manual adjustment"
    comp = _component(book, plan_id, version, component)
    if comp is not None and comp.label:
        return str(comp.label)
    return str(component).replace("_", " ").capitalize()


def _rounding(book: PlanBook | None, lines: pd.DataFrame) -> dict[str, str]:
    out: dict[str, str] = {}
    if book is None:
        return out
    for payee, plan_id, version in zip(lines["payee_id"], lines["plan_id"], lines["plan_version"]):
        if plan_id != MANUAL_PLAN and payee not in out:
            try:
                out[payee] = book.get(plan_id, int(version)).spec.rounding
            except KeyError:
                continue
    return out


def _people(ws: Workspace, payees: list[str], on: date) -> dict[str, dict[str, Any]]:
    frame = ws.con.execute(
        """
        SELECT p.payee_id, p.name, p.role, p.currency, t.name AS team, r.name AS region, m.name AS manager
        FROM payees p
        LEFT JOIN teams t ON t.team_id = p.team_id
        LEFT JOIN regions r ON r.region_id = p.region_id
        LEFT JOIN hierarchy h ON h.payee_id = p.payee_id AND h.valid_from <= ?
             AND (h.valid_to IS NULL OR h.valid_to > ?)
        LEFT JOIN payees m ON m.payee_id = h.manager_id
        WHERE p.payee_id IN (SELECT unnest(?::VARCHAR[]))
        """, [on, on, payees]).df()
    frame = frame.astype(object).where(frame.notna(), None)
    return {str(r["payee_id"]): r for r in frame.to_dict("records")}


def _lines(ws: Workspace, run_id: str, payees: list[str], book: PlanBook | None) -> pd.DataFrame:
    from spm_kernel.workspace import arrow_frame

    frame = arrow_frame(ws.con.sql(
        """
        WITH mine AS (
            SELECT * FROM payout_lines WHERE run_id = ? AND payee_id IN (SELECT unnest(?::VARCHAR[]))),
        behind AS (
            SELECT line_id, payee_id, unnest(credit_ids) AS credit_id FROM mine),
        sums AS (
            SELECT b.line_id, count(*) AS credit_count, sum(c.amount) AS credit_total
            FROM behind b JOIN credits c ON c.run_id = ? AND c.credit_id = b.credit_id AND c.payee_id = b.payee_id
            GROUP BY b.line_id)
        SELECT m.payee_id, m.line_no, m.line_id, m.plan_id, m.plan_version, m.component, m.line_type, m.amount,
               m.currency, m.status, m.measure, m.measure_value, m.attainment, m.tier, m.rate, m.formula,
               coalesce(s.credit_count, 0) AS credit_count, s.credit_total, m.reference, m.corrects_line_id,
               coalesce(m.corrects_period_id, o.period_id) AS corrects_period_id, o.amount AS corrected_amount
        FROM mine m
        LEFT JOIN sums s ON s.line_id = m.line_id
        LEFT JOIN payout_lines o ON o.line_id = m.corrects_line_id
        ORDER BY m.payee_id, m.line_no
        """, params=[run_id, payees, run_id]))
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in ("payee_id", *LINE_COLUMNS)})
        return frame
    frame["credit_count"] = frame["credit_count"].astype(int)
    frame["reference"] = frame["reference"].fillna("")
    frame["section"] = section_of(frame)
    frame["component_label"] = [_component_label(book, p, v, c) for p, v, c in
                                zip(frame["plan_id"], frame["plan_version"], frame["component"])]
    frame["description"] = [_describe(r) for r in frame.itertuples(index=False)]
    frame["explanation"] = [explain_line(r) for r in frame.itertuples(index=False)]
    order = {s: i for i, s in enumerate(SECTIONS)}
    frame["_s"] = frame["section"].map(order)
    frame = frame.sort_values(["payee_id", "_s", "line_no"], kind="stable").drop(columns="_s")
    return frame.loc[:, ["payee_id", *LINE_COLUMNS]].reset_index(drop=True)


def section_of(lines: pd.DataFrame) -> list[str]:
    """The statement section of each line: ``adjustments`` (prior-period and manual),
    ``draws``, ``holds`` or ``earnings``."""
    out = []
    for plan_id, line_type, corrects in zip(lines["plan_id"], lines["line_type"], lines["corrects_period_id"]):
        if plan_id == MANUAL_PLAN or isinstance(corrects, str) and corrects:
            out.append("adjustments")
        elif line_type in ("draw_topup", "draw_recovery"):
            out.append("draws")
        elif line_type in ("hold", "release"):
            out.append("holds")
        else:
            out.append("earnings")
    return out


def _present(value: Any) -> bool:
    return value is not None and not (not isinstance(value, (str, Decimal, list)) and pd.isna(value)) and str(value) != ""


def _num(value: Any) -> str:
    return f"{Decimal(value):,.2f}"


def _pct(value: Any) -> str:
    return f"{(Decimal(value) * 100).quantize(Decimal('0.01')):f}%"


def _rate(value: Any) -> str:
    return f"{(Decimal(value) * 100).normalize():f}%"


def _describe(line: Any) -> str:
    """A line's short description: the component's label and what kind of line it is."""
    kind = LINE_TYPE_LABELS.get(line.line_type, str(line.line_type))
    if line.plan_id == MANUAL_PLAN:
        return f"Manual adjustment {line.reference}".strip()
    if line.line_type in ("earning", "spiff", "mbo"):
        text = str(line.component_label)
    elif line.line_type == "bonus" and _present(line.tier):
        text = f"{line.component_label}: {line.tier}"
    else:
        text = f"{line.component_label}: {kind}"
    if line.line_type == "clawback" and _present(line.reference):
        text += f" ({', '.join(part.strip() for part in str(line.reference).split(','))})"
    if _present(line.corrects_period_id):
        text = f"Prior-period adjustment for {line.corrects_period_id}: {text}"
    return text


def explain_line(line: Any) -> str:
    """A line's explanation in words: measure, attainment, tier, rate, the formula with its
    numbers, the credits behind it and the line it corrects."""
    parts = []
    facts = []
    if _present(line.measure) and _present(line.measure_value):
        facts.append(f"{line.measure} to date {_num(line.measure_value)}")
    if _present(line.attainment):
        facts.append(f"attainment {_pct(line.attainment)}")
    if _present(line.tier):
        facts.append(f"tier {line.tier!r}")
    if _present(line.rate):
        facts.append(f"rate {_rate(line.rate)}")
    if facts:
        parts.append("; ".join(facts))
    if _present(line.formula):
        parts.append(str(line.formula))
    if line.credit_count:
        total = f", total {_num(line.credit_total)} {line.currency}" if _present(line.credit_total) else ""
        when = f"of {line.corrects_period_id}" if line.plan_id != MANUAL_PLAN and _present(line.corrects_period_id) \
            else "this period"
        parts.append(f"{line.credit_count} credit{'s' if line.credit_count != 1 else ''} {when}{total}")
    if _present(line.corrects_line_id):
        was = f" (booked {_num(line.corrected_amount)})" if _present(line.corrected_amount) else ""
        where = f" of {line.corrects_period_id}" if _present(line.corrects_period_id) else ""
        parts.append(f"corrects line {line.corrects_line_id}{where}{was}")
    elif _present(line.corrects_period_id):
        parts.append(f"corrects {line.corrects_period_id}, where no such line was booked")
    if line.status == "held":
        parts.append("withheld: not paid this period")
    return "\n".join(parts) if parts else LINE_TYPE_LABELS.get(line.line_type, str(line.line_type))


def _credits(ws: Workspace, run_id: str, payees: list[str]) -> pd.DataFrame:
    from spm_kernel.workspace import arrow_frame

    frame = arrow_frame(ws.con.sql(
        """
        WITH behind AS (
            SELECT payee_id, component, unnest(credit_ids) AS credit_id FROM payout_lines
            WHERE run_id = ? AND payee_id IN (SELECT unnest(?::VARCHAR[]))),
        wanted AS (
            SELECT payee_id, credit_id, string_agg(DISTINCT component, ', ' ORDER BY component) AS components
            FROM behind GROUP BY ALL)
        SELECT w.payee_id, c.credit_id, c.credit_date, c.transaction_id, c.kind, t.opportunity_id,
               o.name AS opportunity, a.name AS account, c.credit_type, c.rule, c.share, c.source_amount,
               c.source_currency, c.fx_rate, c.amount, c.currency, w.components
        FROM wanted w
        JOIN credits c ON c.run_id = ? AND c.credit_id = w.credit_id AND c.payee_id = w.payee_id
        LEFT JOIN transactions t ON t.transaction_id = c.transaction_id
        LEFT JOIN opportunities o ON o.opportunity_id = t.opportunity_id
        LEFT JOIN accounts a ON a.account_id = o.account_id
        ORDER BY w.payee_id, c.credit_date, c.credit_id
        """, params=[run_id, payees, run_id]))
    if frame.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in ("payee_id", *CREDIT_COLUMNS)})
    return frame


def _history(ws: Workspace, target: Period, payees: list[str]) -> pd.DataFrame:
    """Sums of the lines booked per payee, booked period and line type, in the effective runs of
    every period of ``target``'s kind up to ``target`` (for balances and year to date), with
    ``this`` (booked in ``target``)."""
    from spm_kernel.workspace import arrow_frame

    runs = effective_runs(ws.con)
    runs = runs.loc[(runs["kind"] == target.kind)
                    & (pd.to_datetime(runs["start_date"]) <= pd.Timestamp(target.start))]
    frame = arrow_frame(ws.con.sql(
        """
        SELECT l.payee_id, l.period_id, pr.start_date, l.plan_id, l.plan_version, l.component, l.line_type,
               l.currency, sum(l.amount) AS amount, l.period_id = ? AS this
        FROM payout_lines l JOIN periods pr ON pr.period_id = l.period_id
        WHERE l.run_id IN (SELECT unnest(?::VARCHAR[])) AND l.payee_id IN (SELECT unnest(?::VARCHAR[]))
        GROUP BY ALL ORDER BY l.payee_id, pr.start_date
        """, params=[target.period_id, [str(r) for r in runs["run_id"]], payees]))
    frame["start_date"] = pd.to_datetime(frame["start_date"])
    return frame


def _sum_groups(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Exact sums of ``amount`` (Decimal) and counts per ``keys``."""
    return frame.groupby(keys, sort=False, as_index=False).agg(
        amount=("amount", lambda v: sum(v, Decimal(0))), lines=("amount", "size"))


def _ytd_all(hist: pd.DataFrame, plan_year: Period) -> dict[tuple[str, str], Decimal]:
    """(payee, currency) -> everything booked in the plan year up to the period."""
    part = hist.loc[(hist["start_date"] >= pd.Timestamp(plan_year.start)).to_numpy()]
    if part.empty:
        return {}
    sums = _sum_groups(part, ["payee_id", "currency"])
    return {(str(p), str(c)): a for p, c, a in zip(sums["payee_id"], sums["currency"], sums["amount"])}


def _recoverable(book: PlanBook | None, hist: pd.DataFrame) -> set[tuple[str, str]]:
    """(plan_id, component) pairs whose draw is recoverable (from the plan files; for a plan
    no longer in the book, a draw that ever booked a recovery)."""
    out = set()
    draws = hist.loc[hist["line_type"].isin(["draw_topup", "draw_recovery"])]
    for (plan_id, version, component), grp in draws.groupby(["plan_id", "plan_version", "component"]):
        comp = _component(book, plan_id, version, component)
        if comp is not None:
            if bool(getattr(comp.config, "recoverable", False)):
                out.add((plan_id, component))
        elif (grp["line_type"] == "draw_recovery").any():
            out.add((plan_id, component))
    return out


def _balances_all(hist: pd.DataFrame, target: Period, plan_year: Period, book: PlanBook | None) -> pd.DataFrame:
    """Opening, change and closing of each balance per payee and currency (see the module
    docstring): draw and carry-forward within the plan year, held over all periods."""
    columns = ["payee_id", *BALANCE_COLUMNS]
    if hist.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    lt = hist["line_type"].to_numpy(dtype=object)
    in_year = (hist["start_date"] >= pd.Timestamp(plan_year.start)).to_numpy()
    recoverable = _recoverable(book, hist)
    draw = np.array([(p, c) in recoverable for p, c in zip(hist["plan_id"], hist["component"])], dtype=bool)
    name = np.select(
        [np.isin(lt, ["draw_topup", "draw_recovery"]) & draw & in_year,
         np.isin(lt, ["hold", "release"]),
         np.isin(lt, ["carry_forward", "carry_forward_release"]) & in_year],
        ["draw", "held", "carry_forward"], default="")
    part = hist.assign(balance=name).loc[name != ""]
    if part.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    part = part.assign(when=np.where(part["this"].to_numpy(dtype=bool), "change", "opening"))
    sums = _sum_groups(part, ["payee_id", "currency", "balance", "when"])
    wide = sums.pivot(index=["payee_id", "currency", "balance"], columns="when", values="amount").reset_index()
    for col in ("opening", "change"):
        if col not in wide:
            wide[col] = None
        wide[col] = [Decimal(0) if v is None or (not isinstance(v, Decimal) and pd.isna(v)) else v for v in wide[col]]
    sign = np.where(wide["balance"] == "draw", 1, -1)  # held and deferred money are negative lines
    wide["opening"] = [v * s for v, s in zip(wide["opening"], sign)]
    wide["change"] = [v * s for v, s in zip(wide["change"], sign)]
    wide["closing"] = [o + c for o, c in zip(wide["opening"], wide["change"])]
    wide["label"] = wide["balance"].map(lambda b: BALANCES[b][0])
    wide["note"] = wide["balance"].map(lambda b: BALANCES[b][1])
    order = {b: i for i, b in enumerate(BALANCES)}
    wide = wide.assign(_o=wide["balance"].map(order)).sort_values(["payee_id", "_o"], kind="stable")
    return wide.loc[:, columns].reset_index(drop=True)


def _attainment(ws: Workspace, target: Period, plan_year: Period, payees: list[str],
                book: PlanBook | None) -> pd.DataFrame:
    """Per payee and period of the plan year up to ``target``: the measure and attainment to
    date of one component, as its own (not prior-period) earning lines state them. The
    component is the payee's first one (by line number) that measures attainment, else the
    first that states a measure, looked up in ``target`` and else in the latest period
    that has one."""
    from spm_kernel.workspace import arrow_frame

    runs = effective_runs(ws.con)
    start = pd.to_datetime(runs["start_date"])
    runs = runs.loc[(runs["kind"] == target.kind) & (start >= pd.Timestamp(plan_year.start))
                    & (start <= pd.Timestamp(target.start))]
    frame = arrow_frame(ws.con.sql(
        """
        SELECT l.payee_id, l.period_id, pr.start_date AS period_start, l.plan_id, l.plan_version, l.component,
               arg_max(l.measure, l.line_no) AS measure, arg_max(l.measure_value, l.line_no) AS measure_value,
               arg_max(l.attainment, l.line_no) AS attainment, arg_max(l.tier, l.line_no) AS tier,
               min(l.line_no) AS first_no, bool_or(l.attainment IS NOT NULL) AS has_attainment
        FROM payout_lines l JOIN periods pr ON pr.period_id = l.period_id
        WHERE l.run_id IN (SELECT unnest(?::VARCHAR[])) AND l.payee_id IN (SELECT unnest(?::VARCHAR[]))
          AND l.measure_value IS NOT NULL AND l.line_type IN ('earning', 'bonus', 'spiff', 'mbo')
          AND l.corrects_period_id IS NULL AND l.plan_id <> 'manual'
        GROUP BY ALL
        """, params=[[str(r) for r in runs["run_id"]], payees]))
    if frame.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in ("payee_id", *ATTAINMENT_COLUMNS)})
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    ranked = frame.sort_values(["payee_id", "period_start", "has_attainment", "first_no"],
                               ascending=[True, False, False, True])
    chosen = ranked.drop_duplicates("payee_id")[["payee_id", "plan_id", "component"]]
    frame = frame.merge(chosen, on=["payee_id", "plan_id", "component"], how="inner")
    frame["component_label"] = [_component_label(book, p, v, c) for p, v, c in
                                zip(frame["plan_id"], frame["plan_version"], frame["component"])]
    frame = frame.sort_values(["payee_id", "period_start"])
    return frame.loc[:, ["payee_id", *ATTAINMENT_COLUMNS]].reset_index(drop=True)


ITEM_LABELS = {"draw_topup": "Draw top-ups", "draw_recovery": "Draw recoveries",
               "prior_period": "Prior-period adjustments", "manual": "Manual adjustments",
               "held": "Held this period", "released": "Released from holds"}
ITEM_ORDER = ("earnings", "earnings_total", "draw_topup", "draw_recovery", "prior_period", "manual", "held",
              "released", "paid")


def summarise_all(lines: pd.DataFrame) -> pd.DataFrame:
    """The summary rows of every payee's lines (``payee_id`` + :data:`TOTAL_COLUMNS`), in
    :data:`ITEM_ORDER`: earnings per component (in the order of their first line), a
    ``Total earnings`` subtotal when there are several, draw top-ups, draw recoveries,
    prior-period adjustments, manual adjustments, held, released, and ``paid``. Items with
    no line are left out. Each line counts in exactly one item, so the items sum to paid."""
    columns = ["payee_id", *TOTAL_COLUMNS]
    if lines.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    sec = lines["section"].to_numpy(dtype=object)
    lt = lines["line_type"].to_numpy(dtype=object)
    manual = (lines["plan_id"] == MANUAL_PLAN).to_numpy()
    item = np.select(
        [sec == "earnings", (sec == "draws") & (lt == "draw_topup"), sec == "draws",
         (sec == "adjustments") & ~manual, sec == "adjustments", (sec == "holds") & (lt == "hold"), sec == "holds"],
        ["earnings", "draw_topup", "draw_recovery", "prior_period", "manual", "held", "released"], default="paid")
    earnings = item == "earnings"
    frame = pd.DataFrame({
        "payee_id": lines["payee_id"].to_numpy(dtype=object), "currency": lines["currency"].to_numpy(dtype=object),
        "item": item, "component": np.where(earnings, lines["component"].to_numpy(dtype=object), ""),
        "label": np.where(earnings, lines["component_label"].to_numpy(dtype=object),
                          [ITEM_LABELS.get(i, "") for i in item]),
        "amount": lines["amount"].to_numpy(dtype=object), "first": np.arange(len(lines))})
    keys = ["payee_id", "currency", "item", "component"]
    items = _sum_groups(frame, keys).merge(
        frame.groupby(keys, sort=False, as_index=False).agg(label=("label", "first"), first=("first", "min")), on=keys)
    items["kind"] = "item"
    earned = items.loc[items["item"] == "earnings"]
    several = earned.groupby(["payee_id", "currency"])["item"].transform("size") > 1
    subtotal = _sum_groups(frame.loc[earnings], ["payee_id", "currency"]) if earnings.any() else None
    parts = [items]
    if subtotal is not None and several.any():
        wanted = set(zip(earned.loc[several, "payee_id"], earned.loc[several, "currency"]))
        subtotal = subtotal.loc[[(p, c) in wanted for p, c in zip(subtotal["payee_id"], subtotal["currency"])]]
        parts.append(subtotal.assign(item="earnings_total", component="", label="Total earnings", kind="subtotal",
                                     first=0))
    parts.append(_sum_groups(frame, ["payee_id", "currency"]).assign(
        item="paid", component="", label="Amount paid", kind="total", first=0))
    out = pd.concat(parts, ignore_index=True)
    order = {name: i for i, name in enumerate(ITEM_ORDER)}
    out = out.assign(_o=out["item"].map(order)).sort_values(["payee_id", "currency", "_o", "first"], kind="stable")
    out["component"] = out["component"].map(lambda c: c or None)
    out["lines"] = out["lines"].astype(int)
    return out.loc[:, columns].reset_index(drop=True)


def summarise(lines: pd.DataFrame, currency: str) -> pd.DataFrame:
    """The summary rows (:data:`TOTAL_COLUMNS`) of one statement's lines; with no line, a
    single ``paid`` row of 0 in ``currency``. See :func:`summarise_all`."""
    if lines.empty:
        return _nothing_paid(currency)
    out = summarise_all(lines.assign(payee_id=""))
    return out.drop(columns="payee_id")
