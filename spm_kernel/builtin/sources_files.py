"""The ``files`` data source: a folder of CSV, Parquet or Excel files and a mapping file.

Settings (``sources.yaml``)::

    exports:
      type: files
      folder: crm-exports          # relative to the workspace
      mapping: crm-exports/mapping.yaml

The mapping file says, per canonical table, which files feed it and how their columns map::

    opportunities:
      files: "opportunities*.csv"  # a glob in the folder (several files are concatenated)
      id: Opportunity ID           # the column holding the record's id at the source
      fields: {opportunity_id: Opportunity ID, amount: Amount, ...}
      values: {deal_type: {New Business: new}}
      defaults: {currency: USD}

Without ``fields``, columns named like canonical columns map to themselves. Without ``id``,
the id is the ``source_id`` column if there is one, else the table's key values joined
with ``|``. Files are snapshots: a table's files are read whole and rows of this source
missing from them are deleted. A sync reads a table again only when one of its files
changed (its modification time is past the table's watermark), or on ``--full``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spm_kernel.builtin.file_readers import CSV_SUFFIXES, EXCEL_SUFFIXES, PARQUET_SUFFIXES, spm_read_table_file
from spm_kernel.extensions import DataSource
from spm_kernel.store.schema import TABLES, get_table
from spm_kernel.sync.batch import Batch, SourceError, SyncContext, iso_utc
from spm_kernel.sync.mapping import TableMapping, apply_mapping

READABLE = CSV_SUFFIXES | EXCEL_SUFFIXES | PARQUET_SUFFIXES


class FileTable(TableMapping):
    """One canonical table's files and field mapping."""

    files: str = Field(..., description="glob of the files in the folder, e.g. 'deals*.csv'")
    id: str | None = Field(None, description="the column holding the record's id at the source")


class FileFolderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: Path = Field(..., description="the folder of files (relative to the workspace)")
    mapping: Path = Field(..., description="the YAML mapping file")


class FileFolderSource(DataSource):
    name = "files"
    label = "Folder of files"
    description = "CSV, Parquet and Excel files in a folder, mapped to canonical tables by a YAML file"
    tables = tuple(spec.name for spec in TABLES if spec.importable)
    config_model = FileFolderConfig

    def mapping(self) -> dict[str, FileTable]:
        config: FileFolderConfig = self.settings()
        if not config.mapping.is_file():
            raise SourceError(f"mapping file {config.mapping} does not exist")
        try:
            data = yaml.safe_load(config.mapping.read_text("utf-8")) or {}
            out = {table: FileTable.model_validate(entry) for table, entry in data.items()}
        except (yaml.YAMLError, ValidationError, AttributeError) as exc:
            raise SourceError(f"mapping file {config.mapping}: {exc}") from None
        for table in out:
            if table not in self.tables:
                raise SourceError(f"mapping file {config.mapping}: {table!r} is not an importable "
                                  f"canonical table ({', '.join(self.tables)})")
        return out

    def _files(self, entry: FileTable) -> list[Path]:
        folder: Path = self.settings().folder
        return sorted(p for p in folder.glob(entry.files) if p.is_file() and p.suffix.lower() in READABLE)

    def check(self) -> str:
        config: FileFolderConfig = self.settings()
        if not config.folder.is_dir():
            raise SourceError(f"folder {config.folder} does not exist")
        mapping = self.mapping()
        empty = [t for t, e in mapping.items() if not self._files(e)]
        if empty:
            raise SourceError(f"no readable file in {config.folder} matches the files of: {', '.join(empty)}")
        n = sum(len(self._files(e)) for e in mapping.values())
        return f"{n} file(s) in {config.folder} for {len(mapping)} table(s)"

    def fetch(self, context: SyncContext) -> Iterator[Batch]:
        config: FileFolderConfig = self.settings()
        if not config.folder.is_dir():
            raise SourceError(f"folder {config.folder} does not exist")
        for table, entry in sorted(self.mapping().items(), key=lambda kv: self.tables.index(kv[0])):
            files = self._files(entry)
            if not files:
                raise SourceError(f"no readable file in {config.folder} matches {entry.files!r} ({table})")
            changed = max(datetime.fromtimestamp(p.stat().st_mtime, tz=timezone.utc) for p in files)
            mark = iso_utc(changed)
            since = context.since(table)
            if since is not None and changed.replace(tzinfo=None) <= since:
                continue
            frames = [self._read(p) for p in files]
            records = pd.concat(frames, ignore_index=True)
            context.advance(len(records), total=len(records))
            yield Batch(table, self._rows(table, entry, records), stream=table, watermark=mark,
                        complete=True, records_read=len(records))

    @staticmethod
    def _read(path: Path) -> pd.DataFrame:
        frame = spm_read_table_file(path)
        errors = frame.attrs.get("spm_read_errors") or []
        if errors:
            first = errors[0]
            raise SourceError(f"{path.name}, row {first['row']}: {first['reason']} "
                              f"({len(errors)} unreadable record(s))")
        return frame

    @staticmethod
    def _rows(table: str, entry: FileTable, records: pd.DataFrame) -> pd.DataFrame:
        spec = get_table(table)
        mapping = entry
        if not entry.fields:
            same = {c: c for c in spec.column_names if c in records.columns and c not in ("source", "loaded_at", "source_id")}
            mapping = entry.override(TableMapping(fields=same))
        if entry.id:
            if entry.id not in records.columns:
                raise SourceError(f"{table}: the id column {entry.id!r} is not in the files "
                                  f"(columns: {', '.join(records.columns)})")
            return apply_mapping(records, table, mapping, entry.id)
        rows = apply_mapping(records, table, mapping, "source_id")
        if "source_id" not in records.columns:
            missing = [k for k in spec.key if k not in rows.columns]
            if missing:
                raise SourceError(f"{table}: set 'id' in the mapping file, or map the key column(s) "
                                  f"{', '.join(missing)}")
            rows["source_id"] = rows[list(spec.key)].astype(str).agg("|".join, axis=1)
        return rows
