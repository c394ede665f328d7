"""The Workspace: one company's data (a DuckDB file), plan files, settings and plugins."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pandas as pd

from spm_kernel.config import CONFIG_FILE, WorkspaceConfig, read_config, write_config
from spm_kernel.errors import ReadOnlyQueryError, SPMError
from spm_kernel.ingest.loader import LoadResult
from spm_kernel.ingest.validate import q
from spm_kernel.plugins import SPMPluginManager, make_plugin_manager
from spm_kernel.registry import Registry
from spm_kernel.store.database import connect, current_version, migrate
from spm_kernel.store.schema import TABLES, get_table

DATABASE_FILE = "workspace.duckdb"
PLANS_DIR = "plans"
_READ_STATEMENTS = {"SELECT", "EXPLAIN"}


def arrow_frame(relation: duckdb.DuckDBPyRelation | duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """A query result as pandas, with DECIMAL columns as exact ``decimal.Decimal`` values
    (DuckDB's own ``.df()`` would turn them into floats)."""
    return relation.to_arrow_table().to_pandas()


class Workspace:
    """Open with :func:`spm_kernel.open`. Use as a context manager, or call ``close()``."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, config: WorkspaceConfig,
                 plugins: SPMPluginManager, read_only: bool) -> None:
        self.path = path
        self.con = con
        self.config = config
        self.plugins = plugins
        self.read_only = read_only
        self.registry = Registry(plugins)

    # ---- reading ----
    def table(self, name: str) -> pd.DataFrame:
        """A canonical table as a DataFrame (money as ``Decimal``)."""
        spec = get_table(name)
        order = ", ".join(q(k) for k in spec.sort_key)
        return arrow_frame(self.con.sql(f"SELECT * FROM {q(spec.name)} ORDER BY {order}"))

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run read-only SQL (SELECT, WITH ... SELECT, EXPLAIN) and return a DataFrame.

        Anything that would change the workspace is refused before it runs.
        """
        try:
            statements = duckdb.extract_statements(query)
        except duckdb.Error as exc:
            raise ReadOnlyQueryError(f"cannot parse query: {exc}") from None
        if len(statements) != 1:
            raise ReadOnlyQueryError(f"ws.sql runs exactly one statement, got {len(statements)}")
        kind = statements[0].type.name
        if kind not in _READ_STATEMENTS:
            raise ReadOnlyQueryError(
                f"ws.sql is read-only: {kind} statements are refused; use ws.load to import data"
            )
        return arrow_frame(self.con.sql(query, params=params))

    def metrics(self, names: str | list[str] | None = None, by: str = "company", period: Any = None,
                **query: Any) -> pd.DataFrame:
        """KPIs as a tidy DataFrame (metric, grain key, period, value, numerator, denominator,
        unit); see :func:`spm_kernel.metrics.compute_metrics` for every argument."""
        from spm_kernel.metrics import compute_metrics
        return compute_metrics(self, names, by=by, period=period, **query)

    def count(self, name: str) -> int:
        row = self.con.execute(f"SELECT count(*) FROM {q(get_table(name).name)}").fetchall()[0]
        return int(row[0]) if row else 0

    def summary(self) -> pd.DataFrame:
        """Every canonical table with its row count and the date range it covers."""
        parts = []
        for spec in TABLES:
            dates = spec.date_columns_for_range
            lo = f"least({', '.join(f'min({q(c)})' for c in dates)})" if dates else "NULL"
            hi = f"greatest({', '.join(f'max({q(c)})' for c in dates)})" if dates else "NULL"
            parts.append(
                f"SELECT '{spec.name}' AS table_name, count(*) AS rows, "
                f"CAST(CAST({lo} AS DATE) AS VARCHAR) AS first_date, "
                f"CAST(CAST({hi} AS DATE) AS VARCHAR) AS last_date FROM {q(spec.name)}"
            )
        frame = self.con.execute(" UNION ALL ".join(parts)).df()
        frame["description"] = [spec.description for spec in TABLES]
        return frame

    # ---- writing ----
    def load(self, table: str, data: pd.DataFrame | Path | str, source: str | None = None,
             extra: str = "error", actor: str | None = None) -> LoadResult:
        """Validate and import rows into a canonical table, all or nothing.

        ``data`` is a DataFrame or a path to a CSV, Parquet or Excel file. Every problem is
        reported at once in an :class:`~spm_kernel.errors.ImportValidationError` and nothing is
        written. Rows are upserted by the table's key; identical rows are left untouched.
        ``extra='ignore'`` drops columns the table does not have instead of refusing them.
        The import and its audit entry (``actor``, default the OS user) are one transaction.
        """
        self._check_writable()
        spec = get_table(table)
        from spm_kernel.auth.audit_writes import audited_load

        result = audited_load(self, spec, data, source=source, extra=extra, actor=actor)
        self.plugins.hook.spm_after_load(ws=self, table=spec.name, result=result)
        return result

    def _read_file(self, path: Path) -> pd.DataFrame | None:
        return self.plugins.hook.spm_read_table_file(path=path)

    def _check_writable(self) -> None:
        if self.read_only:
            raise SPMError(f"workspace {self.path} is open read-only")

    # ---- compensation engine (spm_kernel.engine) ----
    def calculate(self, period: str, *, actor: str | None = None, progress: bool = True,
                  executor: Any = None) -> Any:
        """Credits, attainment and payout lines of ``period`` (``2026-03``, ``2026-Q1``,
        ``FY2026``) for every payee, in one transaction; returns the recorded
        :class:`spm_kernel.engine.Run`. See :mod:`spm_kernel.engine.calculate`; ``executor``
        (``"local"``, ``"dask"``, a scheduler address or a ``distributed.Client``): see
        ``docs/scale.md``."""
        from spm_kernel.engine import calculate

        return calculate(self, period, actor=actor, progress=progress, executor=executor)

    def close_period(self, period: str, *, actor: str | None = None, force: bool = False) -> Any:
        """Freeze ``period`` on its latest run (see :mod:`spm_kernel.engine.close`)."""
        from spm_kernel.engine import close_period

        return close_period(self, period, actor=actor, force=force)

    def run(self, run_id: str | None = None, *, period: str | None = None) -> Any:
        """A run by id, or the run that holds ``period``'s results (closed or latest)."""
        from spm_kernel.engine.ledger import EngineError, effective_run_id
        from spm_kernel.engine.runs import Run

        if run_id is None:
            if period is None:
                raise EngineError("ws.run needs a run_id or a period")
            run_id = effective_run_id(self.con, str(period))
            if run_id is None:
                raise EngineError(f"period {period} has no succeeded run")
        return Run.load(self, run_id)

    def compare(self, plan_a: Any, plan_b: Any, periods: Any, **options: Any) -> Any:
        """Both plans on the same credits, nothing persisted: per-payee differences and
        totals (see :mod:`spm_kernel.engine.compare`)."""
        from spm_kernel.engine.compare import compare

        return compare(self, plan_a, plan_b, periods, **options)

    @property
    def disputes(self) -> Any:
        """Inquiries on payout lines (see :mod:`spm_kernel.engine.disputes`)."""
        from spm_kernel.engine.disputes import Disputes

        return Disputes(self)

    def statement(self, payee: str, period: str) -> Any:
        """``payee``'s statement for ``period`` from its closed or latest run: lines with
        explanations, totals, balances, attainment; ``.to_html()``, ``.to_pdf(path)``,
        ``.to_xlsx(path)`` (see :mod:`spm_kernel.reports.statements`)."""
        from spm_kernel.reports.statements import build_statement

        return build_statement(self, payee, period)

    # ---- trust (spm_kernel.auth) ----
    def as_user(self, user: Any, as_of: Any = None) -> Any:
        """This workspace as ``user`` (a username in ``users``) may see and change it: a
        :class:`spm_kernel.auth.ScopedWorkspace` (rows filtered in the kernel, writes checked
        against the role; a manager's subtree as of ``as_of``, default today)."""
        from spm_kernel.auth import scoped_workspace

        return scoped_workspace(self, user, as_of=as_of)

    def save_plan(self, plan: str | Path, file_name: str | None = None, *, actor: str | None = None) -> Path:
        """Validate a plan (YAML text or a file) and save it into ``plans/``, audited with the
        text before and after (see :mod:`spm_kernel.auth.plan_edits`)."""
        from spm_kernel.auth.plan_edits import save_plan
        from spm_kernel.engine.audit import default_actor

        return save_plan(self, plan, file_name, actor=actor or default_actor())

    # ---- planning (spm_kernel.planning) ----
    @property
    def quota_sets(self) -> Any:
        """Versioned quota sets: create from an allocation, approve into ``quotas`` (see
        :mod:`spm_kernel.planning.quota_sets`)."""
        from spm_kernel.planning.quota_sets import QuotaSets

        return QuotaSets(self)

    # ---- training (spm_kernel.training) ----
    @property
    def training(self) -> Any:
        """Training modules, paths, assignments, completions and the measured effect (see
        :mod:`spm_kernel.training`)."""
        from spm_kernel.training import Training

        return Training(self)

    # ---- lifecycle ----
    @property
    def plans_dir(self) -> Path:
        return self.path / PLANS_DIR

    @property
    def schema_version(self) -> int:
        return current_version(self.con)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Workspace {self.config.name!r} at {self.path}>"


def open_workspace(
    path: str | Path,
    create: bool = True,
    read_only: bool = False,
    plugins: list[object] | None = None,
    disable: list[str] | tuple[str, ...] | None = None,
    load_entry_points: bool = True,
    config: WorkspaceConfig | None = None,
) -> Workspace:
    """Open (or create) the workspace in folder ``path`` and migrate it to the current schema.

    ``plugins`` are registered after the built-ins and installed entry points; ``disable``
    blocks plugins by name (added to ``SPM_DISABLE_PLUGINS``).
    """
    folder = Path(path).expanduser().resolve()
    db_path = folder / DATABASE_FILE
    if not db_path.exists():
        if not create or read_only:
            raise SPMError(f"no workspace at {folder} (expected {DATABASE_FILE}); create one with `spm init {path}`")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PLANS_DIR).mkdir(exist_ok=True)
        if not (folder / CONFIG_FILE).exists():
            write_config(folder, config or WorkspaceConfig(name=folder.name))
    manager = make_plugin_manager(disable=disable, plugins=plugins, load_entry_points=load_entry_points)
    cfg = read_config(folder)
    con = connect(db_path, read_only=read_only)
    try:
        if read_only:
            from spm_kernel.store.database import migrations
            if current_version(con) != migrations()[-1].version:
                raise SPMError(f"workspace {folder} needs migrating; open it once without read_only")
        else:
            migrate(con)
        ws = Workspace(folder, con, cfg, manager, read_only)
        manager.hook.spm_workspace_opened(ws=ws)
    except BaseException:
        con.close()
        raise
    return ws
