"""Built-in reader for CSV, Parquet and Excel files (``spm_read_table_file``, trylast).

Every cell comes back as a string (or missing) so that the importer, not the reader, decides
types: money is parsed from its text straight to DECIMAL and never passes through a float.

Row numbers follow what a person sees: for CSV and Excel, the spreadsheet row (the header is
row 1, the first record row 2); for Parquet, the record number from 1. They travel in
``df.attrs["spm_rows"]``; records the reader could not split into fields travel in
``df.attrs["spm_read_errors"]`` so the importer reports them with every other problem.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from spm_kernel.errors import FileReadError
from spm_kernel.hookspecs import hookimpl

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
PARQUET_SUFFIXES = {".parquet", ".pq"}


def frame_to_strings(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell as its exact text (None where missing), columns named by their header."""
    out = pd.DataFrame(index=df.index)
    for position, name in enumerate(df.columns):
        col = df.iloc[:, position]
        try:
            missing = col.isna()
        except ArithmeticError:  # a signalling Decimal('sNaN') refuses to be compared
            missing = col.map(lambda v: isinstance(v, Decimal) and v.is_nan()).astype(bool)
        if pd.api.types.is_datetime64_any_dtype(col):
            text = col.dt.strftime("%Y-%m-%d %H:%M:%S").str.replace(" 00:00:00", "", regex=False)
        else:
            # built as object: pandas would infer its str dtype, which refuses invalid text
            text = pd.Series([str(v) for v in col.tolist()], index=col.index, dtype=object)
        out[str(name)] = text.astype(object).where(~missing, None)
    out.attrs = dict(df.attrs)
    return out


def _check_headers(path: Path, header: list[str]) -> None:
    stripped = [h.strip() for h in header]
    dupes = sorted(h for h, n in Counter(stripped).items() if n > 1)
    if dupes:
        raise FileReadError(f"{path.name}: duplicated column header(s) {', '.join(map(repr, dupes))}")
    if any(not h for h in stripped):
        raise FileReadError(f"{path.name}: a column header is empty (column {stripped.index('') + 1})")


def read_csv(path: Path) -> pd.DataFrame:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileReadError(
            f"{path.name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); save it as UTF-8 CSV and import again"
        ) from None
    if "\x00" in text:
        raise FileReadError(f"{path.name} contains NUL bytes: it is not a CSV text file")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise FileReadError(f"{path.name} is empty: expected a header row") from None
    except csv.Error as exc:
        raise FileReadError(f"{path.name}, row 1: the header cannot be read ({exc})") from None
    _check_headers(path, header)
    width = len(header)
    records: list[list[str]] = []
    rows: list[int] = []
    bad: list[dict[str, object]] = []
    row_no = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row_no += 1
            bad.append({"row": row_no, "column": None, "value": None,
                        "reason": f"malformed record: {exc}"})
            continue
        row_no += 1
        if not record or (len(record) == 1 and record[0] == ""):
            continue  # blank line
        if len(record) != width:
            bad.append({"row": row_no, "column": None, "value": delimiter.join(record)[:80],
                        "reason": f"has {len(record)} fields, the header has {width}"})
            continue
        records.append(record)
        rows.append(row_no)
    df = pd.DataFrame(records, columns=[h.strip() for h in header], dtype=object)
    df = df.where(df != "", None)
    df.attrs["spm_rows"] = rows
    df.attrs["spm_read_errors"] = bad
    return df


def read_excel(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_excel(path, dtype=object, header=None)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a file problem
        raise FileReadError(f"{path.name} cannot be read as an Excel workbook: {exc}") from None
    if raw.empty:
        raise FileReadError(f"{path.name} is empty: expected a header row")
    header = ["" if pd.isna(h) else str(h) for h in raw.iloc[0].tolist()]
    _check_headers(path, header)
    body = raw.iloc[1:].copy()
    body.columns = [h.strip() for h in header]
    body = body.dropna(how="all")
    rows = [int(i) + 1 for i in body.index]  # raw index 1 is spreadsheet row 2
    df = frame_to_strings(body.reset_index(drop=True))
    df.attrs["spm_rows"] = rows
    df.attrs["spm_read_errors"] = []
    return df


def read_parquet(path: Path) -> pd.DataFrame:
    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # noqa: BLE001
        raise FileReadError(f"{path.name} cannot be read as Parquet: {exc}") from None
    _check_headers(path, names)  # before reading: pyarrow refuses duplicated names less clearly
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001
        raise FileReadError(f"{path.name} cannot be read as Parquet: {exc}") from None
    df = frame_to_strings(table.to_pandas())
    df.attrs["spm_rows"] = list(range(1, len(df) + 1))
    df.attrs["spm_read_errors"] = []
    return df


@hookimpl(trylast=True)
def spm_read_table_file(path: Path) -> pd.DataFrame | None:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return read_csv(path)
    if suffix in EXCEL_SUFFIXES:
        return read_excel(path)
    if suffix in PARQUET_SUFFIXES:
        return read_parquet(path)
    return None
