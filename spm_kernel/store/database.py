"""Opening the workspace database and bringing its schema up to date.

Migrations are numbered SQL files in ``migrations/`` (``0001_initial.sql``, ...), applied in
ascending order (numbers may skip). Each is
applied once, in its own transaction, and recorded in ``schema_migrations``. A database made
by an older version is migrated forward when it is opened; one made by a *newer* version is
refused rather than misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb

from spm_kernel.errors import WorkspaceLockedError

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer spm_kernel than the one opening it."""


def migrations() -> list[Migration]:
    """Every migration shipped with this version, in order."""
    found = []
    for entry in resources.files("spm_kernel.store").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the workspace database at ``path``."""
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WorkspaceLockedError(
                f"the workspace database {path} is open for writing in another process "
                f"(a running `spm` command or notebook kernel); close it, or open this one "
                f"with read_only=True. DuckDB said: {exc}"
            ) from exc
        raise


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version of the database (0 for an empty one)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()[0]
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()[0]
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> list[int]:
    """Apply every pending migration up to ``target`` (default: the latest).

    Returns the versions applied. Each migration runs in its own transaction: a failing one
    leaves the database at the previous version.
    """
    available = migrations()
    latest = available[-1].version if available else 0
    target = latest if target is None else target
    have = current_version(con)
    if have > latest:
        raise SchemaTooNewError(
            f"this workspace has schema version {have}, but this spm_kernel knows only up to "
            f"{latest}: upgrade spm-kernel to open it"
        )
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    applied = []
    for migration in available:
        if migration.version <= have or migration.version > target:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, current_timestamp::TIMESTAMP)",
                [migration.version, migration.name],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied
