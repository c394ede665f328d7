"""Field mappings: which source field fills which canonical column, value translations and
defaults. Each source ships a default mapping per table; a workspace overrides any part of
it in ``sources.yaml`` (custom fields such as ``Contract_Years__c`` included)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from spm_kernel.store.schema import get_table
from spm_kernel.sync.batch import SourceError

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
    out["source_id"] = records[id_field].astype(object).map(str) if id_field in records.columns else None
    return out.reset_index(drop=True)


def _normalise_time(values: pd.Series, kind: str) -> pd.Series:
    text = values.astype(object)
    present = text.notna()
    as_text = text[present].astype(str)
    timed = as_text.str.match(_DATETIME)
    if not timed.any():
        return text
    if kind == "DATE":
        fixed = as_text[timed].str.slice(0, 10)
    else:
        fixed = pd.to_datetime(as_text[timed], utc=True, format="ISO8601").dt.tz_localize(None) \
            .dt.strftime("%Y-%m-%d %H:%M:%S")
    out = text.copy()
    out[fixed.index] = fixed
    return out


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
