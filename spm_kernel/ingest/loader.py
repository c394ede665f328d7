"""``ws.load``: read, validate everything, then write all rows in one transaction or none.

An import is refused (with :class:`~spm_kernel.errors.ImportValidationError` listing every
problem) before anything is written; rules that need the merged result (revenue splits of a
deal summing to 100%) are checked inside the transaction, which is rolled back if they fail.
Rows are upserted by the table's key, and a row whose values are unchanged is not touched,
so importing the same file twice changes nothing. Columns absent from the input are left as
they are on existing rows.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from spm_kernel.builtin.file_readers import frame_to_strings
from spm_kernel.errors import FileReadError, ImportValidationError
from spm_kernel.ingest.validate import (
    RAW, TYPED, header_problems, q, reference_problems, stage, value_problems,
)
from spm_kernel.store.schema import LINEAGE, TableSpec

STAGE = "__spm_stage"
LINEAGE_NAMES = {c.name for c in LINEAGE}


@dataclass(frozen=True)
class LoadResult:
    """What an import did."""

    table: str
    source: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    import_id: str

    def __str__(self) -> str:
        return (f"{self.table}: {self.rows_read} rows read from {self.source}: {self.inserted} "
                f"inserted, {self.updated} updated, {self.unchanged} unchanged")


def _input_frame(data: pd.DataFrame | Path | str, read_file: Callable[[Path], pd.DataFrame | None]
                 ) -> tuple[pd.DataFrame, str, list[int], list[dict[str, object]]]:
    if isinstance(data, pd.DataFrame):
        _check_columns(data, "DataFrame")
        frame = _as_text(data.reset_index(drop=True))
        return frame, "DataFrame", list(range(1, len(frame) + 1)), []
    path = Path(data)
    if not path.is_file():
        raise FileReadError(f"{path}: no such file")
    frame = read_file(path)
    if frame is None:
        raise FileReadError(
            f"{path.name}: no installed reader handles {path.suffix or 'files without a suffix'!r} "
            f"files (built in: .csv, .tsv, .parquet, .xlsx)"
        )
    _check_columns(frame, path.name)
    frame = _as_text(frame)  # whatever a reader plugin returned, as exact text
    rows = list(frame.attrs.get("spm_rows") or range(1, len(frame) + 1))
    return frame, path.name, rows, list(frame.attrs.get("spm_read_errors") or [])


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`frame_to_strings`, passing columns that already hold only text (and missing
    values) straight through instead of converting them cell by cell."""
    done: dict[int, pd.Series] = {}
    for position in range(frame.shape[1]):
        col = frame.iloc[:, position]
        if (col.dtype == object or isinstance(col.dtype, pd.StringDtype)) and \
                pd.api.types.infer_dtype(col, skipna=True) in ("string", "empty"):
            col = col.astype(object)
            done[position] = col.where(col.notna(), None)
    if not done:
        return frame_to_strings(frame)
    rest = [i for i in range(frame.shape[1]) if i not in done]
    converted = frame_to_strings(frame.iloc[:, rest])
    parts = {i: converted.iloc[:, k] for k, i in enumerate(rest)}
    out = pd.DataFrame({str(name): done[i] if i in done else parts[i] for i, name in enumerate(frame.columns)},
                       index=frame.index)
    out.attrs = dict(frame.attrs)
    return out


def _check_columns(frame: pd.DataFrame, label: str) -> None:
    """Column names must be distinct once read as text (two columns named ``amount`` cannot
    both be imported)."""
    names = pd.Series([str(c).strip() for c in frame.columns], dtype=object)
    dupes = sorted(set(names[names.duplicated()]))
    if dupes:
        raise FileReadError(f"{label}: duplicated column header(s) {', '.join(map(repr, dupes))}")


def _text_problems(frame: pd.DataFrame, rows: list[int]) -> list[dict[str, object]]:
    """Cells that are not valid Unicode text (a lone surrogate such as ``'\\ud800'``), which
    no database column can hold. Checked column by column; rows only on the failure path."""
    problems: list[dict[str, object]] = []
    for name in frame.columns:
        col = frame[name]
        try:
            pa.array(col.tolist(), type=pa.string())
            continue
        except (UnicodeError, pa.ArrowException):
            pass
        for position, value in enumerate(col.tolist()):
            try:
                str(value).encode("utf-8")
            except UnicodeError:
                problems.append({"row": rows[position], "column": str(name),
                                 "value": str(value).encode("utf-8", "backslashreplace").decode("ascii"),
                                 "reason": "is not valid Unicode text (it holds a lone surrogate)"})
    return problems


def _content_hash(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> str:
    """A fingerprint of the input: its header and the staged text of every row, in order
    (hashed by DuckDB over ``__spm_raw``, not cell by cell in Python)."""
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    names = [r[0] for r in con.execute(f"DESCRIBE {RAW}").fetchall() if r[0] != "__row"]
    combined = con.execute(f"SELECT count(*), bit_xor(hash(__row, {', '.join(['NULL', *map(q, names)])})) "
                           f"FROM {RAW}").fetchall()[0]
    digest.update(repr(combined).encode())
    return digest.hexdigest()[:16]


def load_table(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    data: pd.DataFrame | Path | str,
    read_file: Callable[[Path], pd.DataFrame | None],
    source: str | None = None,
    extra: str = "error",
    transaction: bool = True,
) -> LoadResult:
    """Validate ``data`` against ``spec`` and upsert it, all or nothing.

    With ``transaction=False`` the caller owns the transaction (a sync writing several
    tables atomically): nothing here BEGINs, COMMITs or rolls back. A validation error raised
    after rows were written (a rule on the merged table) then carries ``during_write=True``,
    telling the caller to roll its transaction back.
    """
    if not spec.importable:
        raise ValueError(f"table {spec.name!r} is written by the engine, not imported")
    if extra not in ("error", "ignore"):
        raise ValueError("extra must be 'error' or 'ignore'")
    frame, label, rows, read_errors = _input_frame(data, read_file)
    source = source or label
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    present = {c for c in frame.columns if c in spec.column_names}
    problems = [pd.DataFrame(read_errors), pd.DataFrame(header_problems(spec, list(frame.columns), extra))]
    unreadable = _text_problems(frame[[c for c in frame.columns if c in present]], rows)
    if unreadable:
        found = pd.concat([p for p in [*problems, pd.DataFrame(unreadable)] if not p.empty], ignore_index=True)
        found.insert(0, "file", label)
        raise ImportValidationError(spec.name, label, found[["file", "row", "column", "value", "reason"]])
    try:
        stage(con, spec, frame, rows)
        problems += [value_problems(con, spec, present), reference_problems(con, spec, present)]
        found = pd.concat([p for p in problems if not p.empty], ignore_index=True) if any(
            not p.empty for p in problems) else pd.DataFrame()
        if not found.empty:
            found.insert(0, "file", label)
            found = found.sort_values(["row", "column"], na_position="first", kind="stable")
            raise ImportValidationError(spec.name, label, found[["file", "row", "column", "value", "reason"]])
        return _write(con, spec, frame, present, source, label, started, rows, transaction)
    finally:
        try:
            con.execute(f"DROP TABLE IF EXISTS {TYPED}")
            con.execute(f"DROP TABLE IF EXISTS {STAGE}")
        except duckdb.Error:
            if transaction:
                raise  # else: the caller's transaction failed and its rollback drops them
        con.unregister(RAW)


def _write(con: duckdb.DuckDBPyConnection, spec: TableSpec, frame: pd.DataFrame, present: set[str],
           source: str, label: str, started: datetime, rows: list[int],
           transaction: bool = True) -> LoadResult:
    key = [q(k) for k in spec.key]
    data_cols = [c.name for c in spec.columns if c.name not in LINEAGE_NAMES]
    source_id = "source_id" if "source_id" in present else f"concat_ws('|', {', '.join(key)})"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {STAGE} AS SELECT "
        + ", ".join(q(c) for c in data_cols)
        + f", CAST(? AS VARCHAR) AS source, CAST({source_id} AS VARCHAR) AS source_id, "
        f"CAST(? AS TIMESTAMP) AS loaded_at, __row FROM {TYPED}",
        [source, started],
    )
    compared = [c for c in data_cols if c in present and c not in spec.key] + ["source", "source_id"]
    same = " AND ".join(f"s.{q(c)} IS NOT DISTINCT FROM t.{q(c)}" for c in compared)
    join = " AND ".join(f"s.{k} = t.{k}" for k in key)
    if transaction:
        con.execute("BEGIN TRANSACTION")
    try:
        inserted, updated, unchanged = con.execute(
            f"SELECT count(*) FILTER (WHERE t.{key[0]} IS NULL), "
            f"count(*) FILTER (WHERE t.{key[0]} IS NOT NULL AND NOT ({same})), "
            f"count(*) FILTER (WHERE t.{key[0]} IS NOT NULL AND ({same})) "
            f"FROM {STAGE} s LEFT JOIN {q(spec.name)} t ON {join}"
        ).fetchall()[0]
        all_cols = [q(c) for c in spec.column_names]
        updates = [c for c in compared + ["loaded_at"]]
        set_clause = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in updates)
        con.execute(
            f"INSERT INTO {q(spec.name)} ({', '.join(all_cols)}) "
            f"SELECT {', '.join('s.' + c for c in all_cols)} FROM {STAGE} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {q(spec.name)} t WHERE {join} AND {same}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {set_clause}"
        )
        merged = merged_problems(con, spec)
        if not merged.empty:
            merged.insert(0, "file", label)
            raise ImportValidationError(spec.name, label, merged[["file", "row", "column", "value", "reason"]])
        result = LoadResult(spec.name, source, len(frame), int(inserted), int(updated), int(unchanged),
                            uuid.uuid4().hex[:12])
        con.execute(
            "INSERT INTO import_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [result.import_id, spec.name, source, started,
             datetime.now(timezone.utc).replace(tzinfo=None), len(frame), result.inserted,
             result.updated, result.unchanged, _content_hash(con, frame)],
        )
        if transaction:
            con.execute("COMMIT")
        return result
    except BaseException as exc:
        if transaction:
            con.execute("ROLLBACK")
        elif isinstance(exc, ImportValidationError):
            exc.during_write = True  # type: ignore[attr-defined]
        raise


def merged_problems(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> pd.DataFrame:
    """Rules on the merged table, checked inside the import's transaction."""
    if spec.name != "opportunity_splits":
        return pd.DataFrame()
    return con.execute(
        f"""
        WITH touched AS (SELECT DISTINCT opportunity_id FROM {STAGE} WHERE split_type = 'revenue'),
        sums AS (
            SELECT s.opportunity_id, sum(s.percent) AS total
            FROM opportunity_splits s JOIN touched USING (opportunity_id)
            WHERE s.split_type = 'revenue' GROUP BY s.opportunity_id HAVING sum(s.percent) <> 100
        )
        SELECT st.__row AS "row", 'percent' AS "column", CAST(st.percent AS VARCHAR) AS value,
               'revenue splits of deal ' || st.opportunity_id || ' sum to ' ||
               CAST(CAST(sums.total AS DECIMAL(18,4)) AS VARCHAR) || '%, not 100%' AS reason
        FROM {STAGE} st JOIN sums USING (opportunity_id)
        WHERE st.split_type = 'revenue' ORDER BY st.__row
        """
    ).df()
