"""Explanations: per payout line, the credits behind it, the component and plan version, the
tier and rate, and the formula with its numbers; as data and as text."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pandas as pd

from spm_kernel.periods import Period

if TYPE_CHECKING:
    from spm_kernel.engine.runs import Explanation, Run
    from spm_kernel.workspace import Workspace

EXPLANATION_COLUMNS = (
    "line_id", "line_no", "period_id", "payee_id", "plan_id", "plan_version", "component", "line_type",
    "amount", "currency", "status", "measure", "measure_value", "attainment", "tier", "rate", "formula",
    "credit_count", "credit_ids", "credit_total", "reference", "corrects_line_id", "corrects_period_id",
)
CREDIT_DETAIL_COLUMNS = (
    "line_id", "credit_id", "transaction_id", "credit_date", "kind", "credit_type", "rule", "share",
    "source_amount", "source_currency", "fx_rate", "fx_quote", "amount", "currency",
)


def _present(value: object) -> bool:
    """A non-empty value (not None, NaN or "")."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return False
    return str(value) != ""


def _money(value: object, currency: str = "") -> str:
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return "-"
    text = f"{Decimal(value):,.2f}"
    return f"{text} {currency}".strip()


def _pct(value: object) -> str:
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return ""
    return f"{(Decimal(value) * 100).quantize(Decimal('0.01')):f}%"


def _rate(value: object) -> str:
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return ""
    return f"{(Decimal(value) * 100).normalize():f}%"


def explain_run(ws: Workspace, run: Run, payee: str, period: Period) -> Explanation:
    from spm_kernel.engine.runs import Explanation
    from spm_kernel.workspace import arrow_frame

    con = ws.con
    where = "period_id = ?" if period.period_id == run.period.period_id else "corrects_period_id = ?"
    lines = arrow_frame(con.sql(
        f"SELECT * FROM payout_lines WHERE run_id = ? AND payee_id = ? AND {where} ORDER BY line_no", params=[run.run_id, payee, period.period_id]))
    lines["credit_ids"] = [list(v) if v is not None else [] for v in lines["credit_ids"]]
    # each credit as this run stored it, else as the latest run that stored it (earlier dates)
    credits = arrow_frame(con.sql(
        f"""
        WITH wanted AS (
            SELECT line_id, unnest(credit_ids) AS credit_id FROM payout_lines
            WHERE run_id = ? AND payee_id = ? AND {where}),
        found AS (
            SELECT w.line_id, c.*, row_number() OVER (PARTITION BY w.line_id, c.credit_id
                ORDER BY c.run_id = ? DESC, c.credit_no DESC) AS pick
            FROM wanted w JOIN credits c ON c.credit_id = w.credit_id AND c.payee_id = ?)
        SELECT line_id, credit_id, transaction_id, credit_date, kind, credit_type, rule, share,
               source_amount, source_currency, fx_rate, fx_quote, amount, currency
        FROM found WHERE pick = 1
        ORDER BY line_id, credit_date, credit_id
        """, params=[run.run_id, payee, period.period_id, run.run_id, payee]))
    sums = credits.groupby("line_id")["amount"].sum() if len(credits) else pd.Series(dtype=object)
    lines["credit_count"] = [len(v) for v in lines["credit_ids"]]
    lines["credit_total"] = [sums.get(i, Decimal(0)) if n else None for i, n in zip(lines["line_id"], lines["credit_count"])]
    frame = lines.loc[:, list(EXPLANATION_COLUMNS)].reset_index(drop=True)
    name = con.execute("SELECT name FROM payees WHERE payee_id = ?", [payee]).fetchall()
    text = _text(run, payee, name[0][0] if name else "", period, frame, credits)
    return Explanation(run.run_id, payee, period.period_id, frame,
                       credits.loc[:, list(CREDIT_DETAIL_COLUMNS)].reset_index(drop=True), text)


def _text(run: Run, payee: str, name: str, period: Period, lines: pd.DataFrame, credits: pd.DataFrame) -> str:
    head = f"Payee {payee}{f' ({name})' if name else ''}, period {period}, run {run.run_id}"
    if period.period_id != run.period.period_id:
        head += f" (adjustments booked in {run.period})"
    out = [head, "=" * len(head)]
    if lines.empty:
        out.append("No payout lines.")
        return "\n".join(out)
    by_line = {k: g for k, g in credits.groupby("line_id")} if len(credits) else {}
    for i, line in enumerate(lines.itertuples(index=False), start=1):
        status = "" if line.status == "payable" else f" [{line.status}]"
        out.append(f"{i}. {line.component} ({line.line_type}) - plan {line.plan_id} v{line.plan_version}: "
                   f"{_money(line.amount, line.currency)}{status}")
        facts = []
        if _present(line.measure):
            facts.append(f"{line.measure} = {_money(line.measure_value)}")
        if line.attainment is not None and not pd.isna(line.attainment):
            facts.append(f"attainment {_pct(line.attainment)}")
        if _present(line.tier):
            facts.append(f"tier {line.tier!r}")
        if line.rate is not None and not pd.isna(line.rate):
            facts.append(f"rate {_rate(line.rate)}")
        if facts:
            out.append("   " + "; ".join(facts))
        if _present(line.formula):
            for j, part in enumerate(str(line.formula).splitlines()):
                out.append(("   formula: " if j == 0 else "            ") + part)
        if _present(line.corrects_period_id):
            out.append(f"   prior-period adjustment of {line.corrects_period_id}"
                       + (f", corrects line {line.corrects_line_id}" if _present(line.corrects_line_id) else ""))
        elif _present(line.corrects_line_id):
            out.append(f"   corrects line {line.corrects_line_id}")
        if _present(line.reference):
            out.append(f"   reference: {line.reference}")
        detail = by_line.get(line.line_id)
        if line.credit_count:
            out.append(f"   credits ({line.credit_count}, total {_money(line.credit_total, line.currency)}):")
            shown = detail.head(10) if detail is not None else pd.DataFrame()
            for c in shown.itertuples(index=False):
                fx = "" if c.source_currency == c.currency else \
                    f" (from {_money(c.source_amount, c.source_currency)} at {c.fx_rate.normalize():f}, {c.fx_quote})"
                out.append(f"     {c.credit_date:%Y-%m-%d} {c.transaction_id} {c.kind} {c.credit_type} "
                           f"{_pct(c.share / 100)} by {c.rule}: {_money(c.amount, c.currency)}{fx}")
            if line.credit_count > len(shown):
                out.append(f"     ... and {line.credit_count - len(shown)} more")
    totals = lines.groupby("currency")["amount"].sum()
    out.append("Total: " + ", ".join(_money(v, k) for k, v in totals.items()))
    return "\n".join(out)
