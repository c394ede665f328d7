"""Row-level scope: which payees a user may see, which rows of each table that means, and the
sandbox database a scoped workspace reads from.

A manager or rep (and finance, who sees everything read-only) reads from a **sandbox**: a
private in-memory DuckDB database holding, for every canonical table, only the rows the user
may see (password hashes blanked). Every read API of the workspace (tables, ``sql``,
metrics, runs, statements, explanations, exports) runs unchanged against it, so nothing the
user may not see is reachable, whatever SQL is sent: the rows are simply not there. The
sandbox cannot read files (its local file system is disabled before any user query runs), so
the workspace file itself cannot be opened from a query either. (The configuration is not
locked, because the engine tunes settings while it computes; ``ws.sql`` refuses ``SET`` like
any other non-SELECT statement. Code running in the kernel process is trusted: the scope
protects what goes through the API, such as queries, filters and URL parameters.)

Rules per table (:func:`table_filter`), in terms of the visible payees ``P``:

* rows of a payee (``payee_id`` in ``P``): payees, hierarchy, quotas, credits, payout
  lines, adjustments, disputes, crediting rules, quota set lines, training assignments and
  completions, and any table added later that has a ``payee_id`` column;
* accounts owned by ``P``; opportunities owned by or split with ``P`` (their stage history and
  all their splits: a rep sees who shares a deal with them, and the engine needs every split
  of a deal to credit it);
  transactions of those opportunities or credited to ``P``; subscriptions of those accounts;
  plan assignments naming ``P``, their roles or their teams;
* reference data, all rows: regions, teams, FX rates, periods, plans, calc runs, training
  catalogue;
* the audit log: entries the user made; users: the user's own row;
* everything else (spend, import and sync logs, quota sets and their reports, ...): no rows.
  A new table without a rule is hidden from payee-scoped users until it gets one.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from spm_kernel.auth.roles import User
from spm_kernel.ingest.validate import q
from spm_kernel.store.schema import TABLES, TableSpec

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

SCOPE_TABLE = "__spm_scope"
P = f"(SELECT payee_id FROM {SCOPE_TABLE})"
_OPPS = (f"(SELECT opportunity_id FROM opportunities WHERE owner_id IN {P} UNION "
         f"SELECT opportunity_id FROM opportunity_splits WHERE payee_id IN {P})")

REFERENCE_TABLES = frozenset({"regions", "teams", "fx_rates", "periods", "plans", "calc_runs",
                              "training_modules", "training_paths", "training_path_modules"})
HIDDEN_TABLES = frozenset({"spend", "import_log", "sync_log", "sync_rejects", "quota_sets",
                           "quota_set_nodes", "training_rules", "training_effects"})
SPECIAL_FILTERS: dict[str, str] = {
    "accounts": f"owner_id IN {P}",
    "opportunities": f"opportunity_id IN {_OPPS}",
    "opportunity_stage_history": f"opportunity_id IN {_OPPS}",
    "opportunity_splits": f"opportunity_id IN {_OPPS}",  # a shared deal shows all its splits
    "transactions": (f"opportunity_id IN {_OPPS} OR transaction_id IN "
                     f"(SELECT transaction_id FROM credits WHERE payee_id IN {P})"),
    "subscriptions": f"account_id IN (SELECT account_id FROM accounts WHERE owner_id IN {P})",
    "plan_assignments": (f"(assignee_type = 'payee' AND assignee IN {P}) OR (assignee_type = 'role' AND assignee IN "
                         f"(SELECT role FROM payees WHERE payee_id IN {P})) OR (assignee_type = 'team' AND "
                         f"assignee IN (SELECT team_id FROM payees WHERE payee_id IN {P}))"),
    "audit_log": "actor = $username",
    "users": "username = $username",
}
BLANKED_COLUMNS: dict[str, tuple[str, ...]] = {"users": ("password_hash",)}


def visible_payees(con: duckdb.DuckDBPyConnection, user: User, as_of: date) -> list[str] | None:
    """The payee ids ``user`` may see on ``as_of`` (None = every payee).

    A rep: themselves. A manager: themselves and everyone below them in the hierarchy in force
    on ``as_of`` (``valid_from <= as_of < valid_to``), at any depth."""
    if user.sees_all_rows:
        return None
    if user.role == "rep":
        return [str(user.payee_id)]
    rows = con.execute(
        """
        WITH RECURSIVE h AS (
            SELECT payee_id, manager_id FROM hierarchy
            WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)
        ), sub(payee_id) AS (
            SELECT CAST(? AS VARCHAR)
            UNION
            SELECT h.payee_id FROM h JOIN sub ON h.manager_id = sub.payee_id
        )
        SELECT payee_id FROM sub ORDER BY payee_id
        """, [as_of, as_of, user.payee_id]).fetchall()
    return [str(r[0]) for r in rows]


def table_filter(spec: TableSpec) -> str | None:
    """The WHERE condition for a payee-scoped user's rows of ``spec`` ("false" = none; None = all)."""
    if spec.name in REFERENCE_TABLES:
        return None
    if spec.name in SPECIAL_FILTERS:
        return SPECIAL_FILTERS[spec.name]
    if spec.name in HIDDEN_TABLES:
        return "false"
    if "payee_id" in spec.column_names:
        return f"payee_id IN {P}"
    return "false"


def scoped_select(spec: TableSpec, payee_scoped: bool) -> str:
    """The SELECT of the rows and columns of ``spec`` a user may see (parameter ``$username``)."""
    blank = BLANKED_COLUMNS.get(spec.name, ())
    cols = ", ".join(f"CAST(NULL AS {c.type}) AS {q(c.name)}" if c.name in blank else q(c.name)
                     for c in spec.columns)
    where = table_filter(spec) if payee_scoped else None
    return f"SELECT {cols} FROM main.{q(spec.name)}" + (f" WHERE {where}" if where else "")


def _existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {str(r[0]) for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}


def build_sandbox(real: Workspace, user: User, payees: list[str] | None) -> duckdb.DuckDBPyConnection:
    """An in-memory database (no file access) with the rows of every canonical table ``user`` may see
    (``payees`` = the visible payee ids, None for all)."""
    cur = real.con.cursor()
    box = duckdb.connect(":memory:")
    try:
        cur.register(SCOPE_TABLE, pa.table({"payee_id": pa.array(payees or [], pa.string())}))
        present = _existing_tables(real.con)
        for spec in TABLES:
            if spec.name not in present:
                continue
            sql = scoped_select(spec, payees is not None)
            params = {"username": user.username} if "$username" in sql else None
            data = cur.sql(sql, params=params).to_arrow_table()
            box.register("__spm_rows", data)
            box.execute(f"CREATE TABLE {q(spec.name)} AS SELECT * FROM __spm_rows")
            box.unregister("__spm_rows")
        migrations = cur.sql("SELECT * FROM schema_migrations").to_arrow_table()
        box.register("__spm_rows", migrations)
        box.execute("CREATE TABLE schema_migrations AS SELECT * FROM __spm_rows")
        box.unregister("__spm_rows")
        for setting in ("SET disabled_filesystems = 'LocalFileSystem'", "SET autoinstall_known_extensions = false",
                        "SET autoload_known_extensions = false", "SET python_scan_all_frames = false"):
            box.execute(setting)
    except BaseException:
        box.close()
        raise
    finally:
        cur.close()
    return box
