"""Field mappings: which source field fills which canonical column, value translations and
defaults. Each source ships a default mapping per table; a workspace overrides any part of
it in ``sources.yaml`` (custom fields such as ``Contract_Years__c`` included)."""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from spm_kernel.store.schema import get_table
from spm_kernel.sync.batch import SourceError

_TEXT_TYPES = {str, type(None)}
_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"


class TableMapping(BaseModel):
    """How source records become rows of one canonical table.

    ``fields``: canonical column -> source field (``Account.Industry`` reaches into a
    related record; ``null`` removes a default mapping). ``values``: canonical column ->
    {source value: canonical value}; values not listed pass through (and are rejected by
    validation if they are not allowed). ``defaults``: canonical column -> the value used
    when the source's is missing or empty.
    """

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, str | None] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    defaults: dict[str, str] = Field(default_factory=dict)

    def override(self, other: TableMapping | None) -> TableMapping:
        """This mapping with ``other``'s entries replacing (or removing) its own."""
        if other is None:
            return self
        values = {**self.values, **other.values}
        return TableMapping(fields={k: v for k, v in {**self.fields, **other.fields}.items() if v},
                            values=values, defaults={**self.defaults, **other.defaults})

    def source_fields(self) -> list[str]:
        return sorted({f for f in self.fields.values() if f})


def check_mapping(table: str, mapping: TableMapping) -> None:
    """Raise SourceError if the mapping names a column ``table`` does not have."""
    spec = get_table(table)
    for part in (mapping.fields, mapping.values, mapping.defaults):
        for column in part:
            if column not in spec.column_names or column in ("source", "loaded_at"):
                raise SourceError(f"field mapping for {table!r} names unknown column {column!r}; "
                                  f"the columns are: {', '.join(spec.column_names[:-3])}")


def apply_mapping(records: pd.DataFrame, table: str, mapping: TableMapping, id_field: str) -> pd.DataFrame:
    """Canonical rows (plus ``source_id`` from ``id_field``) from flat source records (one
    column per source field, dotted names for related records)."""
    check_mapping(table, mapping)
    spec = get_table(table)
    out = pd.DataFrame(index=records.index)
    for column, field in mapping.fields.items():
        if not field:
            continue
        out[column] = records[field].astype(object) if field in records.columns else None
    for column, table_values in mapping.values.items():
        if column in out.columns:
            out[column] = out[column].astype(object).replace(table_values)
    for column, default in mapping.defaults.items():
        if column not in out.columns:
            out[column] = default
        else:
            value = out[column]
            empty = value.isna() | (value.astype(str).str.strip() == "")
            out[column] = value.where(~empty, default)
    for column in out.columns:
        kind = spec.column(column).type
        if kind in ("DATE", "TIMESTAMP"):
            out[column] = _normalise_time(out[column], kind)
    out["source_id"] = as_text(records[id_field]) if id_field in records.columns else None
    return out.reset_index(drop=True)


def as_text(values: pd.Series) -> pd.Series:
    """``values`` as an object Series of their exact text (``str()``), None where missing;
    a column that already holds only text is passed through without a per-cell loop."""
    column = values.astype(object)
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        cells = column.to_numpy(dtype=object)
        missing = pd.isna(cells)
        if missing.any():
            cells = cells.copy()
            cells[missing] = None
        return pd.Series(cells, index=values.index, dtype=object)
    return pd.Series([None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v)
                      for v in column.tolist()], index=values.index, dtype=object)


def _normalise_time(values: pd.Series, kind: str) -> pd.Series:
    text = values.astype(object)
    strings = text.astype("str")  # missing stays missing; vectorised (Arrow) string kernels below
    timed = strings.str.match(_DATETIME).fillna(False).astype(bool)
    if not timed.any():
        return text
    if kind == "DATE":
        fixed = strings.str.slice(0, 10).astype(object)
    else:
        fixed = pd.Series(None, index=text.index, dtype=object)
        fixed[timed] = pd.to_datetime(strings[timed], utc=True, format="ISO8601").dt.tz_localize(None) \
            .dt.strftime("%Y-%m-%d %H:%M:%S").astype(object)
    return text.where(~timed, fixed)


def record_columns(records: list[dict[str, Any]], fields: Iterable[str]) -> pd.DataFrame:
    """The named ``fields`` of flat-or-nested records (JSON objects as dicts) as a DataFrame
    with one object column of exact text per field (``str()`` of each value, None where the
    value is missing or null). ``Owner.Name`` reaches into the nested record ``Owner``.

    Built column by column from the list (no per-row DataFrame construction), so that
    hundreds of thousands of CRM records map in a fraction of a second."""
    columns: dict[str, list[Any]] = {}
    for field in dict.fromkeys(fields):
        path = field.split(".")
        values: list[Any]
        if len(path) == 1:
            try:
                values = list(map(itemgetter(field), records))  # C speed when every record has it
            except (KeyError, TypeError):
                values = [r.get(field) if isinstance(r, dict) else None for r in records]
        else:
            values = [_dig(r, path) for r in records]
        if not set(map(type, values)) <= _TEXT_TYPES:
            values = [None if v is None else v if v.__class__ is str else str(v) for v in values]
        columns[field] = values
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()},
                        index=pd.RangeIndex(len(records)))


def _dig(record: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(record, dict):
            return None
        record = record.get(part)
    return record


def flatten(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records as a flat DataFrame: nested objects become dotted columns (``Owner.Name``);
    vendor metadata (``attributes``) is dropped."""
    if not records:
        return pd.DataFrame()
    frame = pd.DataFrame.from_records(records)
    frame = frame.drop(columns=[c for c in frame.columns if c == "attributes"])
    for column in list(frame.columns):
        values = frame[column]
        present = values.dropna()
        if present.empty or not isinstance(present.iloc[0], dict):
            continue
        nested = flatten([v if isinstance(v, dict) else {} for v in values])
        nested.index = frame.index
        frame = frame.drop(columns=[column]).join(nested.add_prefix(f"{column}."))
    return frame
