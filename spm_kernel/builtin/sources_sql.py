"""The ``sql`` data source: tables or queries of any database SQLAlchemy can reach.

Settings (``sources.yaml``)::

    warehouse:
      type: sql
      url: postgresql+psycopg2://spm@db.internal:5432/crm   # no password here
      tables:
        opportunities:
          query: SELECT * FROM crm.deals WHERE pipeline = 'sales'   # or: table: crm.deals
          id: deal_id                  # the column holding the record's id
          updated_column: updated_at   # incremental: read rows changed after the watermark
          deleted_column: is_deleted   # a soft-delete flag: true rows are deleted here
          fields: {opportunity_id: deal_id, amount: amount_usd}

The password comes from ``SPM_<NAME>_PASSWORD`` or the credentials file, never from the URL
in ``sources.yaml``. Without ``updated_column`` a table is read whole on every sync and rows
of this source missing from it are deleted. Exact decimals (``NUMERIC``) arrive as
``Decimal``; a database that stores money as binary floats (SQLite ``REAL``) should keep it
as text or integer cents instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from spm_kernel.extensions import DataSource
from spm_kernel.store.schema import TABLES
from spm_kernel.sync.batch import Batch, SourceError, SyncContext, newest
from spm_kernel.sync.mapping import TableMapping, apply_mapping, check_mapping

CHUNK = 20_000


class SQLTable(TableMapping):
    """One canonical table read from a table or a query."""

    table: str | None = Field(None, description="a table (or view) name, schema-qualified if needed")
    query: str | None = Field(None, description="a SELECT; use instead of table")
    id: str = Field(..., description="the column holding the record's id at the source")
    updated_column: str | None = Field(None, description="a last-modified column for incremental reads")
    deleted_column: str | None = Field(None, description="a soft-delete flag column")

    @model_validator(mode="after")
    def _one_of(self) -> SQLTable:
        if bool(self.table) == bool(self.query):
            raise ValueError("give either 'table' or 'query'")
        return self


class SQLConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., description="SQLAlchemy URL without the password")
    password: SecretStr | None = None
    tables: dict[str, SQLTable] = Field(..., min_length=1)
    connect_timeout: int = Field(10, ge=1, description="seconds")

    @field_validator("url")
    @classmethod
    def _no_password(cls, url: str) -> str:
        from sqlalchemy.engine import make_url

        if make_url(url).password:
            raise ValueError("the URL holds a password: remove it and give it as a credential")
        return url


class SQLSource(DataSource):
    name = "sql"
    label = "SQL database"
    description = "tables or queries of any SQLAlchemy database (PostgreSQL, SQLite, ...)"
    tables = tuple(spec.name for spec in TABLES if spec.importable)
    config_model = SQLConfig

    def _engine(self) -> Any:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        config: SQLConfig = self.settings()
        for table, entry in config.tables.items():
            check_mapping(table, entry)
        url = make_url(config.url)
        if config.password is not None:
            url = url.set(password=config.password.get_secret_value())
        args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql":
            args["connect_timeout"] = config.connect_timeout
        return create_engine(url, connect_args=args, pool_pre_ping=True)

    def _where(self) -> str:
        from sqlalchemy.engine import make_url
        return make_url(self.settings().url).render_as_string(hide_password=True)

    def check(self) -> str:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        engine = self._engine()
        try:
            with engine.connect() as con:
                con.execute(text("SELECT 1")).fetchall()
        except SQLAlchemyError as exc:
            raise SourceError(f"cannot reach {self._where()}: {_reason(exc)}") from None
        finally:
            engine.dispose()
        return f"connected to {self._where()}"

    def fetch(self, context: SyncContext) -> Iterator[Batch]:
        from sqlalchemy.exc import SQLAlchemyError

        config: SQLConfig = self.settings()
        engine = self._engine()
        try:
            with engine.connect() as con:
                for table, entry in sorted(config.tables.items(), key=lambda kv: self.tables.index(kv[0])
                                           if kv[0] in self.tables else -1):
                    yield self._read(con, table, entry, context)
        except SQLAlchemyError as exc:
            raise SourceError(f"reading {self._where()} failed: {_reason(exc)}") from None
        finally:
            engine.dispose()

    def _read(self, con: Any, table: str, entry: SQLTable, context: SyncContext) -> Batch:
        from sqlalchemy import text

        base = entry.query or f"SELECT * FROM {entry.table}"
        since = context.since(table) if entry.updated_column else None
        sql, params = f"SELECT * FROM ({base}) AS spm_src", {}
        if since is not None:
            sql += f" WHERE {entry.updated_column} >= :since"  # the boundary again: upserts are idempotent
            params["since"] = since
        result = con.execution_options(stream_results=True).execute(text(sql), params)
        columns = list(result.keys())
        chunks = []
        for part in result.partitions(CHUNK):
            chunks.append(pd.DataFrame(part, columns=columns, dtype=object))
            context.advance(len(part))
        records = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=columns)
        for needed in [entry.id, entry.updated_column, entry.deleted_column]:
            if needed and needed not in records.columns:
                raise SourceError(f"{table}: column {needed!r} is not in the result of {base!r} "
                                  f"(columns: {', '.join(columns)})")
        mapping: TableMapping = entry
        if not entry.fields:
            from spm_kernel.store.schema import get_table
            same = {c: c for c in get_table(table).column_names if c in columns and c not in ("source", "loaded_at", "source_id")}
            mapping = entry.override(TableMapping(fields=same))
        watermark = None
        if entry.updated_column and not records.empty:
            stamps = records[entry.updated_column].dropna()
            watermark = newest(pd.to_datetime(stamps).map(lambda t: t.isoformat())) if not stamps.empty else None
        deleted: list[str] = []
        if entry.deleted_column:
            flag = records[entry.deleted_column].map(lambda v: str(v).lower() in ("true", "1", "t", "yes"))
            deleted = records.loc[flag, entry.id].astype(str).tolist()
            records = records[~flag]
        rows = apply_mapping(records, table, mapping, entry.id)
        return Batch(table, rows, deleted=deleted, stream=table, watermark=watermark,
                     complete=entry.updated_column is None, records_read=len(rows) + len(deleted))


def _reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).strip().splitlines()[0]
