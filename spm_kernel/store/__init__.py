"""The DuckDB store: connection, schema specs and versioned migrations."""

from spm_kernel.store.database import connect, current_version, migrate, migrations
from spm_kernel.store.schema import TABLES, TABLES_BY_NAME, Column, TableSpec, get_table

__all__ = [
    "TABLES", "TABLES_BY_NAME", "Column", "TableSpec", "connect", "current_version",
    "get_table", "migrate", "migrations",
]
