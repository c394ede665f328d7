"""Inputs that live in Parquet (local files or object storage) instead of the database.

``parquet_inputs: {transactions: "s3://bucket/sales/transactions/*.parquet"}`` in
``workspace.yaml`` makes every run read the transactions from there (through Dask and
fsspec, so any ``s3://``, ``gs://``, ``abfs://`` or local path or glob works) instead of the
``transactions`` table. The workspace still keeps everything a run produces: credits, runs,
payout lines and the audit log.

At the start of a run, just before its transaction opens, the rows dated up to the period's end are read
(row groups after it are skipped by their statistics), checked like an import (every column
of the table, its type, required values, allowed values, unique ids, known opportunities,
money exact to the cent: a binary float column for money is refused) and staged as a
temporary table ``transactions`` that shadows the stored one for this connection. It is
dropped when the run ends, succeeded or failed (a bad file fails the run before anything
else happens). The run's input hash covers
the staged rows, so a changed file makes a new hash.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from spm_kernel.errors import SPMError
from spm_kernel.ingest.validate import q
from spm_kernel.store.schema import LINEAGE, get_table

if TYPE_CHECKING:
    from spm_kernel.periods import Period
    from spm_kernel.workspace import Workspace

DATE_COLUMN = {"transactions": "transaction_date"}
STAGED_PREFIX = "temp.main."


class ParquetInputError(SPMError):
    """A Parquet input is missing, unreadable or holds values the table does not accept."""


def read_parquet_input(table: str, path: str, until: date | None = None,
                       storage_options: dict[str, Any] | None = None) -> pa.Table:
    """The rows of ``path`` (file, folder, glob or fsspec URL) dated on or before ``until``,
    as one Arrow table with the table's data columns (lineage columns are set on staging).
    Read by ``dask.dataframe`` (with the current Dask client when there is one)."""
    import dask.dataframe as dd

    spec = get_table(table)
    lineage = {c.name for c in LINEAGE}
    wanted = [c.name for c in spec.columns if c.name not in lineage]
    try:
        frame = dd.read_parquet(path, storage_options=storage_options or None, dtype_backend="pyarrow")
    except Exception as exc:  # noqa: BLE001 - any reader error is the file's problem
        raise ParquetInputError(f"{table} from {path}: cannot read Parquet: {type(exc).__name__}: {exc}") from None
    missing = [c for c in wanted if c not in frame.columns and spec.column(c).required]
    if missing:
        raise ParquetInputError(f"{table} from {path}: missing required column(s) {', '.join(missing)}")
    floats = [c.name for c in spec.columns if c.is_money and c.name in frame.columns
              and str(frame[c.name].dtype).startswith(("float", "double"))]
    if floats:
        raise ParquetInputError(f"{table} from {path}: column(s) {', '.join(floats)} hold binary floats; money must be "
                                "exact: store it as decimal(18,2), integer or text")
    present = [c for c in wanted if c in frame.columns]
    frame = frame[present]
    column = DATE_COLUMN.get(table)
    if until is not None and column is not None:
        frame = frame[frame[column].astype("date32[day][pyarrow]") <= until]
    try:
        result = frame.compute()
    except Exception as exc:  # noqa: BLE001
        raise ParquetInputError(f"{table} from {path}: cannot read Parquet: {type(exc).__name__}: {exc}") from None
    return pa.Table.from_pandas(result.reset_index(drop=True), preserve_index=False)


def _check(con: duckdb.DuckDBPyConnection, table: str, path: str, raw: str) -> None:
    """Raise :class:`ParquetInputError` naming the column, the row's id and the value of the
    first problem of each kind in the registered Arrow table ``raw``."""
    spec = get_table(table)
    key = next(c.name for c in spec.columns if c.key)
    present = {r[0] for r in con.execute(f"DESCRIBE {raw}").fetchall()}
    problems: list[str] = []

    def first(condition: str, what: str, col: str) -> None:
        rows = con.execute(f"SELECT CAST({q(key)} AS VARCHAR), CAST({q(col)} AS VARCHAR) FROM {raw} "
                           f"WHERE {condition} LIMIT 1").fetchall()
        if rows:
            n = con.execute(f"SELECT count(*) FROM {raw} WHERE {condition}").fetchall()[0][0]
            problems.append(f"{col}: {what} ({n} row(s); first: {key}={rows[0][0]!r}, value {rows[0][1]!r})")

    for c in spec.columns:
        if c.name not in present:
            continue
        col = q(c.name)
        if c.required:
            first(f"{col} IS NULL", "required value missing", c.name)
        first(f"{col} IS NOT NULL AND TRY_CAST({col} AS {c.type}) IS NULL", f"not a valid {c.type}", c.name)
        if c.is_money:
            first(f"TRY_CAST({col} AS DECIMAL(38,10)) <> TRY_CAST({col} AS {c.type})",
                  "more decimal places than the currency's cents", c.name)
        if c.choices:
            allowed = ", ".join(f"'{v}'" for v in c.choices)
            first(f"{col} IS NOT NULL AND CAST({col} AS VARCHAR) NOT IN ({allowed})", "not an allowed value", c.name)
        if c.references and c.name in present:
            ref_table, ref_col = c.references.split(".")
            first(f"{col} IS NOT NULL AND CAST({col} AS VARCHAR) NOT IN (SELECT {q(ref_col)} FROM main.{q(ref_table)})",
                  f"unknown {c.references}", c.name)
    dup = con.execute(f"SELECT {q(key)}, count(*) FROM {raw} GROUP BY ALL HAVING count(*) > 1 LIMIT 1").fetchall()
    if dup:
        problems.append(f"{key}: duplicate id {dup[0][0]!r} ({dup[0][1]} rows)")
    if problems:
        raise ParquetInputError(f"{table} from {path}: " + "; ".join(problems))


def stage_parquet_inputs(ws: Workspace, period: Period) -> list[str]:
    """Stage every configured Parquet input for a run of ``period`` (see the module
    docstring); returns the staged table names for :func:`unstage_inputs`."""
    staged: list[str] = []
    con = ws.con
    for table, path in sorted(ws.config.parquet_inputs.items()):
        arrow = read_parquet_input(table, path, until=period.end,
                                   storage_options=ws.config.parquet_storage_options)
        raw = f"__spm_parquet_{table}"
        con.register(raw, arrow)
        try:
            _check(con, table, path, raw)
            spec = get_table(table)
            names = set(arrow.column_names)
            key = next(c.name for c in spec.columns if c.key)
            select = []
            for c in spec.columns:
                if c.name == "source":
                    select.append("? AS source")
                elif c.name == "source_id":
                    select.append(f"CAST({q(key)} AS VARCHAR) AS source_id")
                elif c.name == "loaded_at":
                    select.append("CAST(now() AS TIMESTAMP) AS loaded_at")
                elif c.name in names:
                    select.append(f"CAST({q(c.name)} AS {c.type}) AS {q(c.name)}")
                else:
                    select.append(f"CAST(NULL AS {c.type}) AS {q(c.name)}")
            con.execute(f"CREATE OR REPLACE TEMP TABLE {q(table)} AS SELECT {', '.join(select)} FROM {raw} "
                        f"ORDER BY {q(key)}", [str(path)])
        finally:
            con.unregister(raw)
        staged.append(table)
    return staged


def unstage_inputs(con: duckdb.DuckDBPyConnection, staged: list[str]) -> None:
    """Drop the staged temporary tables (the stored tables are visible again)."""
    for table in staged:
        con.execute(f"DROP TABLE IF EXISTS temp.main.{q(table)}")
