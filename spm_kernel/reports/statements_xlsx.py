"""A statement as an XLSX workbook (xlsxwriter) and its lines as CSV.

Sheets: **Statement** (payee, summary with the amount paid, balances, attainment with a
native chart), **Lines** (every line with its explanation) and **Credits** (the credits
behind the lines).

Money is stored as numbers rounded to the currency's minor unit (xlsx keeps a binary float,
so the exact ``Decimal`` is rounded first; reading a cell back and rounding it to the same
places gives the line's amount) with a number format of that many places. Text cells that a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) are neutralised with a leading apostrophe and written as strings. The CSV
export applies the same rule to its text columns; its money columns hold the exact decimal
text.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from spm_kernel.exports import FORMULA_PREFIXES, neutralise  # noqa: F401 - the one rule for every export

if TYPE_CHECKING:
    from spm_kernel.reports.statements import Statement

NAVY = "#1f3a5f"
LINE_SHEET_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (column, header, kind: text | money | pct | int | share | wrap)
    ("section", "Section", "text"), ("line_no", "Run line", "int"), ("description", "Description", "text"),
    ("component", "Component", "text"), ("line_type", "Line type", "text"), ("status", "Status", "text"),
    ("measure", "Measure", "text"), ("measure_value", "Measure to date", "money"),
    ("attainment", "Attainment", "pct"), ("tier", "Tier", "text"), ("rate", "Rate", "pct"),
    ("credit_count", "Credits", "int"), ("credit_total", "Credited", "money"), ("amount", "Amount", "money"),
    ("currency", "Currency", "text"), ("corrects_period_id", "Corrects period", "text"),
    ("corrects_line_id", "Corrects line", "text"), ("corrected_amount", "Corrected line amount", "money"),
    ("plan_id", "Plan", "text"), ("plan_version", "Version", "int"), ("line_id", "Line id", "text"),
    ("explanation", "Explanation", "wrap"),
)
CREDIT_SHEET_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("credit_date", "Date", "text"), ("opportunity", "Deal", "text"), ("account", "Account", "text"),
    ("transaction_id", "Transaction", "text"), ("kind", "Kind", "text"), ("credit_type", "Credit type", "text"),
    ("rule", "Rule", "text"), ("share", "Share %", "share"), ("source_amount", "Source amount", "money"),
    ("source_currency", "Source currency", "text"), ("fx_rate", "FX rate", "fx"), ("amount", "Amount", "money"),
    ("currency", "Currency", "text"), ("components", "Components", "text"), ("credit_id", "Credit id", "text"),
)


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (str, Decimal, list)) and pd.isna(value))


def money_number(value: Any, places: int) -> float:
    """``value`` rounded to ``places`` as the float xlsx stores."""
    return float(round(Decimal(value), places))


class _Writer:
    def __init__(self, path: Path, places: int) -> None:
        import xlsxwriter

        self.wb = xlsxwriter.Workbook(str(path))
        self.places = places
        money_fmt = "#,##0" + ("." + "0" * places if places else "")
        add = self.wb.add_format
        self.f = {
            "title": add({"bold": True, "font_size": 15, "font_color": NAVY}),
            "sub": add({"italic": True, "font_color": "#667085"}),
            "label": add({"font_color": "#667085"}),
            "bold": add({"bold": True}),
            "head": add({"bold": True, "bg_color": NAVY, "font_color": "#ffffff", "border": 1, "border_color": NAVY,
                         "text_wrap": True, "valign": "top"}),
            "money": add({"num_format": money_fmt, "valign": "top"}),
            "money_total": add({"num_format": money_fmt, "bold": True, "top": 1, "bottom": 6}),
            "money_sub": add({"num_format": money_fmt, "bold": True, "top": 1}),
            "pct": add({"num_format": "0.00%", "valign": "top"}),
            "share": add({"num_format": "0.00", "valign": "top"}),
            "fx": add({"num_format": "0.00000000", "valign": "top"}),
            "int": add({"num_format": "0", "valign": "top"}),
            "text": add({"valign": "top"}),
            "wrap": add({"text_wrap": True, "valign": "top"}),
            "total_label": add({"bold": True, "top": 1, "bottom": 6}),
            "sub_label": add({"bold": True, "top": 1}),
        }

    def cell(self, ws: Any, row: int, col: int, value: Any, kind: str = "text") -> None:
        if _missing(value) or (isinstance(value, str) and value == "" and kind != "text"):
            ws.write_blank(row, col, None, self.f.get(kind, self.f["text"]))
            return
        if kind in ("money", "money_total", "money_sub"):
            ws.write_number(row, col, money_number(value, self.places), self.f[kind])
        elif kind in ("pct", "share", "fx"):
            ws.write_number(row, col, float(Decimal(value)), self.f[kind])
        elif kind == "int":
            ws.write_number(row, col, int(value), self.f["int"])
        else:
            if hasattr(value, "strftime"):
                value = value.strftime("%Y-%m-%d")
            ws.write_string(row, col, neutralise(value), self.f["wrap" if kind == "wrap" else
                                                              kind if kind in self.f else "text"])

    def table(self, ws: Any, top: int, frame: pd.DataFrame, columns: tuple[tuple[str, str, str], ...],
              widths: dict[str, int]) -> int:
        for c, (_, header, _) in enumerate(columns):
            ws.write_string(top, c, neutralise(header), self.f["head"])
            ws.set_column(c, c, widths.get(header, max(10, len(header) + 3)))
        for r, row in enumerate(frame.to_dict("records"), start=top + 1):
            for c, (col, _, kind) in enumerate(columns):
                self.cell(ws, r, c, row.get(col), kind)
        if len(frame):
            ws.autofilter(top, 0, top + len(frame), len(columns) - 1)
        ws.freeze_panes(top + 1, 0)
        return top + len(frame) + 1


def write_xlsx(st: Statement, path: str | Path) -> Path:
    """Write ``st`` as an XLSX workbook at ``path`` (its folder is created if missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = _Writer(path, st.places)
    f = w.f
    sheet = w.wb.add_worksheet("Statement")
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 4, 16)
    sheet.write_string(0, 0, neutralise(f"{st.company}: compensation statement"), f["title"])
    status = "final (period closed)" if st.final else "preliminary (period open; may change until closed)"
    sheet.write_string(1, 0, neutralise(f"{st.period.period_id}, {st.period.start} to {st.period.end}; {status}"), f["sub"])
    facts = (("Payee", st.payee_name), ("Payee ID", st.payee_id), ("Role", st.role), ("Team", st.team),
             ("Region", st.region), ("Manager", st.manager), ("Plan", ", ".join(st.plans)),
             ("Currency", st.currency), ("Plan year", st.plan_year.period_id), ("Run", st.run_id))
    row = 3
    for label, value in facts:
        sheet.write_string(row, 0, label, f["label"])
        sheet.write_string(row, 1, neutralise(value), f["bold"])
        row += 1
    row += 1
    sheet.write_string(row, 0, "Summary", f["head"])
    sheet.write_string(row, 1, "Lines", f["head"])
    sheet.write_string(row, 2, f"Amount ({st.currency})", f["head"])
    row += 1
    for t in st.totals.to_dict("records"):
        kind = str(t["kind"])
        label_fmt = f["total_label"] if kind == "total" else f["sub_label"] if kind == "subtotal" else f["text"]
        sheet.write_string(row, 0, neutralise(t["label"]), label_fmt)
        sheet.write_number(row, 1, int(t["lines"]), f["int"])
        w.cell(sheet, row, 2, t["amount"], "money_total" if kind == "total" else "money_sub" if kind == "subtotal" else "money")
        row += 1
    sheet.write_string(row, 0, "Paid plan year to date", f["label"])
    w.cell(sheet, row, 2, st.year_to_date, "money")
    row += 2
    if len(st.balances):
        for c, header in enumerate(("Balance", "Opening", "Change", "Closing")):
            sheet.write_string(row, c, header, f["head"])
        row += 1
        for b in st.balances.to_dict("records"):
            sheet.write_string(row, 0, neutralise(b["label"]), f["text"])
            for c, key in enumerate(("opening", "change", "closing"), start=1):
                w.cell(sheet, row, c, b[key], "money")
            row += 1
        row += 1
    if len(st.attainment):
        for c, header in enumerate(("Period", "Measure to date", "Attainment to date", "Tier")):
            sheet.write_string(row, c, header, f["head"])
        first = row + 1
        for a in st.attainment.to_dict("records"):
            row += 1
            sheet.write_string(row, 0, neutralise(a["period_id"]), f["text"])
            w.cell(sheet, row, 1, a["measure_value"], "money")
            w.cell(sheet, row, 2, a["attainment"], "pct")
            w.cell(sheet, row, 3, a["tier"], "text")
        chart = w.wb.add_chart({"type": "column"})
        chart.add_series({"name": "Attainment to date", "categories": ["Statement", first, 0, row, 0],
                          "values": ["Statement", first, 2, row, 2], "fill": {"color": "#2a9d8f"}})
        chart.set_title({"name": f"Attainment to date, {st.plan_year.period_id}"})
        chart.set_y_axis({"num_format": "0%", "major_gridlines": {"visible": True, "line": {"color": "#e4e7ec"}}})
        chart.set_legend({"none": True})
        chart.set_size({"width": 560, "height": 260})
        sheet.insert_chart(3, 5, chart)

    lines = w.wb.add_worksheet("Lines")
    w.table(lines, 0, st.lines, LINE_SHEET_COLUMNS,
            {"Description": 44, "Explanation": 90, "Line id": 30, "Corrects line": 30, "Component": 18})
    total_row = len(st.lines) + 1
    lines.write_string(total_row, 2, "Amount paid", f["total_label"])
    w.cell(lines, total_row, [c for c, _, _ in LINE_SHEET_COLUMNS].index("amount"), st.paid, "money_total")

    credits = w.wb.add_worksheet("Credits")
    w.table(credits, 0, st.credits, CREDIT_SHEET_COLUMNS,
            {"Deal": 30, "Account": 26, "Transaction": 18, "Credit id": 34, "Components": 18})
    w.wb.close()
    return path


def write_csv(st: Statement, path: str | Path) -> Path:
    """Write the statement's lines as CSV: money as exact decimal text, text columns
    neutralised (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["payee_id", "period_id", *[c for c, _, _ in LINE_SHEET_COLUMNS]])
        for row in st.lines.to_dict("records"):
            cells = [neutralise(st.payee_id), neutralise(st.period.period_id)]
            for col, _, kind in LINE_SHEET_COLUMNS:
                value = row.get(col)
                if _missing(value):
                    cells.append("")
                elif kind in ("money", "pct", "int"):
                    cells.append(str(value))
                else:
                    cells.append(neutralise(value))
            out.writerow(cells)
    return path
