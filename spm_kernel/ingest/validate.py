"""Checking and typing incoming rows against a table spec, in DuckDB SQL.

The incoming rows are all text (see ``builtin.file_readers``). One SQL statement turns each
column into its typed value with ``TRY_CAST`` (text straight to DECIMAL, never through a
float) and a second collects every problem at once as rows of
``(row, column, value, reason)``. Nothing here writes to the workspace tables.
"""

from __future__ import annotations

import difflib
import re

import duckdb
import pandas as pd
import pyarrow as pa

from spm_kernel.store.schema import LINEAGE, Column, TableSpec

RAW = "__spm_raw"
TYPED = "__spm_typed"
LINEAGE_NAMES = {c.name for c in LINEAGE}
MIN_DATE, MAX_DATE = "1900-01-01", "2199-12-31"

# Rules between columns of one row: (column blamed, SQL that must hold, reason).
ROW_RULES: dict[str, list[tuple[str, str, str]]] = {
    "hierarchy": [
        ("valid_to", "valid_to IS NULL OR valid_to > valid_from", "valid_to must be after valid_from"),
        ("manager_id", "manager_id IS NULL OR manager_id <> payee_id", "a payee cannot be their own manager"),
    ],
    "quotas": [("period_end", "period_end >= period_start", "period_end is before period_start")],
    "payees": [("termination_date", "termination_date IS NULL OR termination_date >= hire_date",
                "termination_date is before hire_date")],
    "subscriptions": [("end_date", "end_date IS NULL OR end_date >= start_date", "end_date is before start_date")],
    "plans": [("effective_to", "effective_to IS NULL OR effective_to > effective_from",
               "effective_to must be after effective_from")],
    "plan_assignments": [("effective_to", "effective_to IS NULL OR effective_to > effective_from",
                          "effective_to must be after effective_from")],
    "opportunities": [
        ("is_won", "NOT is_won OR is_closed", "a won deal must be closed"),
        ("close_date", "close_date IS NULL OR close_date >= created_date", "close_date is before created_date"),
    ],
    "fx_rates": [("to_currency", "from_currency <> to_currency", "from_currency and to_currency are the same")],
}

_TRUE = "('true','t','yes','y','1')"
_FALSE = "('false','f','no','n','0')"


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _typed_expr(col: Column) -> str:
    src = f"nullif(trim({q(col.name)}), '')"
    if col.type == "VARCHAR":
        return src
    if col.type == "BOOLEAN":
        return (f"CASE WHEN lower({src}) IN {_TRUE} THEN true "
                f"WHEN lower({src}) IN {_FALSE} THEN false END")
    if col.type.startswith("DECIMAL"):
        return f"TRY_CAST(TRY_CAST({src} AS DECIMAL(38,10)) AS {col.type})"
    return f"TRY_CAST({src} AS {col.type})"


def _type_word(col: Column) -> str:
    if col.type.startswith("DECIMAL"):
        return "a number"
    return {
        "DATE": "a date (YYYY-MM-DD)",
        "TIMESTAMP": "a timestamp (YYYY-MM-DD HH:MM:SS)",
        "BOOLEAN": "true or false",
        "INTEGER": "a whole number",
        "BIGINT": "a whole number",
    }.get(col.type, col.type)


def header_problems(spec: TableSpec, columns: list[str], extra: str) -> list[dict[str, object]]:
    """Missing required columns and (unless ``extra='ignore'``) unknown ones."""
    problems: list[dict[str, object]] = []
    known = set(spec.column_names)
    for col in spec.columns:
        if col.required and col.name not in LINEAGE_NAMES and col.name not in columns:
            problems.append({"row": None, "column": col.name, "value": None,
                             "reason": "required column is missing from the input"})
    if extra != "ignore":
        for name in columns:
            if name not in known:
                close = difflib.get_close_matches(name, spec.column_names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append({"row": None, "column": name, "value": None,
                                 "reason": f"unknown column for table {spec.name!r}{hint}"})
    return problems


def stage(con: duckdb.DuckDBPyConnection, spec: TableSpec, raw: pd.DataFrame, rows: list[int]) -> None:
    """Register the text rows as ``__spm_raw`` and their typed form as ``__spm_typed``."""
    present = [c for c in spec.column_names if c in raw.columns and c not in ("loaded_at", "source")]
    arrays = {name: pa.array(raw[name].tolist(), type=pa.string()) for name in present}
    arrays["__row"] = pa.array(rows, type=pa.int64())
    con.register(RAW, pa.table(arrays))
    selects = ["__row"]
    for col in spec.columns:
        if col.name in ("loaded_at", "source"):
            continue
        if col.name in present:
            selects.append(f"{_typed_expr(col)} AS {q(col.name)}")
        elif col.name != "source_id":
            selects.append(f"CAST(NULL AS {col.type}) AS {q(col.name)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TYPED} AS SELECT {', '.join(selects)} FROM {RAW}")


def value_problems(con: duckdb.DuckDBPyConnection, spec: TableSpec, present: set[str]) -> pd.DataFrame:
    """Every row-level problem: missing, unparseable, out of range, not allowed, duplicate
    key, unknown reference, and the table's cross-column rules."""
    parts: list[str] = []
    conditions: list[str] = []

    def add(column: str, condition: str, reason_sql: str, value_sql: str | None = None) -> None:
        value_sql = value_sql or f"r.{q(column)}"
        conditions.append(condition)
        parts.append(
            f"SELECT t.__row AS \"row\", '{column}' AS \"column\", CAST({value_sql} AS VARCHAR) AS value, "
            f"{reason_sql} AS reason FROM {TYPED} t JOIN {RAW} r USING (__row) WHERE {condition}"
        )

    for col in spec.columns:
        if col.name in LINEAGE_NAMES:
            continue
        name = q(col.name)
        if col.name not in present:
            continue  # a missing required column is reported once, by header_problems
        if col.required:
            add(col.name, f"nullif(trim(r.{name}), '') IS NULL", "'required value is missing'")
        raw_present = f"nullif(trim(r.{name}), '') IS NOT NULL"
        if col.type.startswith("DECIMAL"):
            text = f"trim(r.{name})"
            wide = f"TRY_CAST(nullif({text}, '') AS DECIMAL(38,10))"
            numeric = f"regexp_full_match({text}, '{NUMBER_PATTERN}')"
            # decimal places from the text itself: DECIMAL(38,10) would round 1e-12 to 0
            # only a text with an exponent or more than scale digits after the point can be
            # too precise: a cheap test first, so that the regular expressions run on few rows
            maybe = f"(contains(lower({text}), 'e') OR length({text}) - strpos({text}, '.') > {col.decimal_scale} " \
                    f"AND strpos({text}, '.') > 0)"
            too_precise = f"(({maybe} AND {numeric} AND {_places_sql(text)} > {col.decimal_scale}) OR " \
                          f"(t.{name} IS NOT NULL AND {wide} <> t.{name}))"
            add(col.name, f"{raw_present} AND {wide} IS NULL AND NOT {numeric}", f"'is not {_type_word(col)}'")
            add(col.name, f"{raw_present} AND t.{name} IS NULL AND {numeric} AND NOT {too_precise}",
                f"'is too large for {col.type}'")
            add(col.name, f"{raw_present} AND {too_precise}",
                f"'has more than {col.decimal_scale} decimal places'")
        elif col.type != "VARCHAR":
            add(col.name, f"{raw_present} AND t.{name} IS NULL", f"'is not {_type_word(col)}'")
        if col.type in ("DATE", "TIMESTAMP"):
            add(col.name, f"t.{name} IS NOT NULL AND (t.{name} < DATE '{MIN_DATE}' OR t.{name} > DATE '{MAX_DATE}')",
                f"'is out of range ({MIN_DATE} to {MAX_DATE})'")
        if col.choices:
            allowed = ", ".join(f"'{c}'" for c in col.choices)
            add(col.name, f"t.{name} IS NOT NULL AND t.{name} NOT IN ({allowed})",
                f"'must be one of: {', '.join(col.choices)}'")
        if col.min_value is not None:
            reason = "must not be negative" if col.min_value == 0 else f"must be at least {col.min_value}"
            add(col.name, f"t.{name} IS NOT NULL AND t.{name} < {col.min_value}", f"'{reason}'")
    key = [q(k) for k in spec.key]
    keyed = bool(key) and all(k in present for k in spec.key)
    if keyed:
        key_cols = ", ".join(key)
        parts.append(
            f"SELECT __row AS \"row\", '{spec.key[-1] if len(spec.key) == 1 else ', '.join(spec.key)}' AS \"column\", "
            f"concat_ws('|', {key_cols}) AS value, "
            f"'duplicate key: the same ' || '{', '.join(spec.key)}' || ' is also on row ' || first_row AS reason "
            f"FROM (SELECT __row, {key_cols}, min(__row) OVER (PARTITION BY {key_cols}) AS first_row "
            f"FROM {TYPED}) WHERE __row <> first_row AND {' AND '.join(f'{k} IS NOT NULL' for k in key)}"
        )
    for col_name, rule, reason in ROW_RULES.get(spec.name, []):
        mentioned = [n for n in spec.column_names if _WORD(n).search(rule)]
        if all(n in present for n in mentioned):
            add(col_name, f"NOT coalesce(({_qualify(rule, spec)}), true)", f"'{reason}'")
    if not parts:
        return _empty()
    # Most imports have no problem at all: one pass over the rows (every condition at once)
    # and one grouping by key say so, before the query that names each problem.
    checks = []
    if conditions:
        checks.append(f"(SELECT count(*) FROM {TYPED} t JOIN {RAW} r USING (__row) WHERE "
                      + " OR ".join(f"({c})" for c in conditions) + ")")
    if keyed:
        checks.append(f"(SELECT count(*) FROM (SELECT 1 FROM {TYPED} WHERE "
                      + " AND ".join(f"{k} IS NOT NULL" for k in key) + f" GROUP BY {key_cols} HAVING count(*) > 1))")
    if not any(con.execute(f"SELECT {', '.join(checks)}").fetchall()[0]):
        return _empty()
    return con.execute(" UNION ALL ".join(parts) + " ORDER BY \"row\", \"column\"").df()


NUMBER_PATTERN = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"


def _places_sql(text: str) -> str:
    """SQL: the decimal places the number written in ``text`` needs (``12.340`` -> 2,
    ``1500e-3`` -> 1, ``1e-400`` -> 400), read from its digits, never through a cast."""
    digits = f"regexp_replace(regexp_extract({text}, '^[+-]?([0-9]*\\.?[0-9]*)', 1), '\\.', '')"
    frac = f"length(regexp_extract({text}, '^[+-]?[0-9]*\\.([0-9]*)', 1))"
    exp_text = f"nullif(regexp_extract({text}, '[eE]([+-]?[0-9]+)$', 1), '')"
    exp = (f"coalesce(TRY_CAST({exp_text} AS BIGINT), CASE WHEN {exp_text} LIKE '-%' THEN -1000000000 "
           f"WHEN {exp_text} IS NOT NULL THEN 1000000000 ELSE 0 END)")
    return f"({frac} - {exp} - (length({digits}) - length(rtrim({digits}, '0'))))"


def _WORD(name: str) -> re.Pattern[str]:  # noqa: N802
    return re.compile(rf"(?<![\w.\"]){re.escape(name)}(?![\w\"])")


def _qualify(rule: str, spec: TableSpec) -> str:
    """Prefix a rule's column names with the typed table's alias."""
    out = rule
    for name in sorted(spec.column_names, key=len, reverse=True):
        out = _WORD(name).sub(f"t.{q(name)}", out)
    return out


def reference_problems(con: duckdb.DuckDBPyConnection, spec: TableSpec, present: set[str]) -> pd.DataFrame:
    """Values that must exist in another table (or earlier in this same import) and don't."""
    parts = []
    for col in spec.columns:
        if not col.references or col.name not in present:
            continue
        ref_table, ref_col = col.references.split(".")
        known = f"SELECT {q(ref_col)} AS v FROM {q(ref_table)}"
        if ref_table == spec.name:
            known += f" UNION ALL SELECT {q(ref_col)} FROM {TYPED}"
        noun = ref_col.removesuffix("_id")
        parts.append(
            f"SELECT __row AS \"row\", '{col.name}' AS \"column\", CAST({q(col.name)} AS VARCHAR) AS value, "
            f"'unknown {noun}: no row in {ref_table} has {ref_col} = ' || {q(col.name)} AS reason "
            f"FROM {TYPED} WHERE {q(col.name)} IS NOT NULL AND {q(col.name)} NOT IN ({known})"
        )
    if not parts:
        return _empty()
    return con.execute(" UNION ALL ".join(parts)).df()


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"row": pd.Series(dtype="Int64"), "column": pd.Series(dtype=object),
                         "value": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})
