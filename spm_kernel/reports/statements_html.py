"""A statement as one self-contained HTML page (inline CSS and SVG chart), laid out for the
screen and for A4 print: the PDF is this page printed by WeasyPrint. Every style is scoped
under ``.spm-statement``, so the same markup embeds in a notebook (``render_fragment``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd

from spm_kernel.reports.statements_charts import attainment_chart

if TYPE_CHECKING:
    from spm_kernel.reports.statements import Statement

TEMPLATE = "statement.html.j2"


def fmt_money(value: Any, places: int = 2) -> str:
    """``-1,234.50`` with ``places`` decimals (a real minus sign); empty when missing."""
    if value is None or (not isinstance(value, Decimal) and pd.isna(value)):
        return ""
    text = f"{Decimal(value):,.{places}f}"
    return text.replace("-", "\u2212") if text.startswith("-") else text


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("spm_kernel.reports", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = fmt_money
    return env


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _period_label(st: Statement) -> str:
    if st.period.kind == "month":
        return st.period.start.strftime("%B %Y")
    return st.period.period_id


def _attainment_card(st: Statement) -> dict[str, str]:
    att = st.attainment
    mine = att.loc[att["period_id"] == st.period.period_id] if len(att) else att
    if mine is None or mine.empty:
        return {"label": "Attainment to date", "value": "–", "sub": "no measure this period"}
    row = mine.iloc[-1]
    measure = row["measure_value"]
    name = row["measure"] or "measure"
    if row["attainment"] is None or pd.isna(row["attainment"]):
        return {"label": f"{name} to date".capitalize(), "value": fmt_money(measure, st.places),
                "sub": f"{row['component_label']}; no quota"}
    value = f"{(Decimal(row['attainment']) * 100).quantize(Decimal('0.1')):f}%"
    sub = f"{name} {fmt_money(measure, 0)}"
    if row["attainment"]:
        sub += f" of quota {fmt_money(Decimal(measure) / Decimal(row['attainment']), 0)}"
    return {"label": "Attainment to date", "value": value, "sub": sub}


def _balance_card(st: Statement) -> dict[str, str]:
    for name in ("draw", "held", "carry_forward"):
        rows = st.balances.loc[st.balances["balance"] == name] if len(st.balances) else st.balances
        if len(rows):
            row = rows.iloc[0]
            return {"label": str(row["label"]), "value": fmt_money(row["closing"], st.places),
                    "sub": f"opening {fmt_money(row['opening'], st.places)}, change {fmt_money(row['change'], st.places)}"}
    return {"label": "Balances", "value": fmt_money(Decimal(0), st.places), "sub": "no draw, hold or carry-forward"}


def _explanation_parts(line: dict[str, Any]) -> list[dict[str, Any]]:
    formula = str(line.get("formula") or "")
    formula_lines = set(formula.splitlines())
    return [{"text": part, "formula": part in formula_lines}
            for part in str(line.get("explanation") or "").splitlines()]


def _sections(st: Statement) -> list[dict[str, Any]]:
    from spm_kernel.reports.statements import SECTION_LABELS, SECTIONS

    out = []
    number = 0
    for name in SECTIONS:
        part = st.lines.loc[st.lines["section"] == name] if len(st.lines) else st.lines
        if part.empty:
            continue
        rows = _records(part)
        for row in rows:
            number += 1
            row["number"] = number
            row["explanation_parts"] = _explanation_parts(row)
        out.append({"name": name, "label": SECTION_LABELS[name], "lines": rows,
                    "total": sum(part["amount"], Decimal(0))})
    return out


def _credits(st: Statement) -> list[dict[str, Any]]:
    rows = _records(st.credits)
    for row in rows:
        deal = row.get("opportunity") or row.get("opportunity_id") or ""
        account = row.get("account") or ""
        row["deal"] = f"{deal} · {account}" if deal and account and account not in deal else (deal or account or "–")
        share = row.get("share")
        row["share"] = "" if share is None else f"{Decimal(share).normalize():f}%"
        row["credit_date"] = row["credit_date"].strftime("%Y-%m-%d") if row.get("credit_date") is not None else ""
        fx = ""
        if row.get("source_currency") and row.get("source_currency") != row.get("currency"):
            fx = (f"from {row['source_currency']} {fmt_money(row['source_amount'], 2)} "
                  f"at {Decimal(row['fx_rate']).normalize():f}")
        row["fx"] = fx
    return rows


def _context(st: Statement, fragment: bool) -> dict[str, Any]:
    totals = _records(st.totals)
    return {
        "st": st,
        "fragment": fragment,
        "period_label": _period_label(st),
        "totals": totals,
        "has_subtotal": any(t["kind"] == "subtotal" for t in totals),
        "balances": _records(st.balances),
        "attainment": _attainment_card(st),
        "balance_card": _balance_card(st),
        "chart": attainment_chart(st),
        "sections": _sections(st),
        "credits": _credits(st),
        "credit_total": sum(st.credits["amount"], Decimal(0)) if len(st.credits) else Decimal(0),
    }


def render_html(st: Statement) -> str:
    """The statement as a self-contained HTML document."""
    return _environment().get_template(TEMPLATE).render(**_context(st, fragment=False))


def render_fragment(st: Statement) -> str:
    """The statement as an HTML fragment (scoped styles, no ``<html>``), for notebooks."""
    return _environment().get_template(TEMPLATE).render(**_context(st, fragment=True))
