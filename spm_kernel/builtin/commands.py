"""The built-in ``spm`` commands, registered through the ``spm_cli_commands`` hook:
``init``, ``import``, ``plugins`` and ``app`` (``demo`` lives in ``spm_kernel.demo``).

Every command reports a failure as one line on stderr starting with ``error:`` and exits
with code 1; an import that fails validation prints its problems as a table instead. Set
``SPM_DEBUG=1`` to get the Python traceback instead of the one line.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from spm_kernel.errors import ImportValidationError, SPMError
from spm_kernel.hookspecs import hookimpl

WORKSPACE_OPTION = typer.Option(
    Path("demo-workspace"), "--workspace", "-w", envvar="SPM_WORKSPACE",
    help="workspace folder (env SPM_WORKSPACE)",
)
DEBUG_ENV = "SPM_DEBUG"
VALUE_WIDTH = 40
EXTENSION_KINDS = (
    ("data source", "data_sources"),
    ("plan type", "plan_types"),
    ("metric", "metrics"),
    ("forecaster", "forecasters"),
)


# ---- output helpers ----
def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
               right: Sequence[str] = ()) -> str:
    """A plain-text table with aligned columns (``right`` names right-aligned columns)."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if h in right else v.ljust(w)
                 for v, w, h in zip(values, widths, headers)]
        return "  ".join(parts).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def _shorten(value: object, width: int = VALUE_WIDTH) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    text = str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def format_import_errors(exc: ImportValidationError) -> str:
    """The problems of a refused import as a table: the first 50 and the total count."""
    shown = exc.errors.head(exc.SHOWN)
    rows = [
        [rec.file, "" if pd.isna(rec.row) else int(rec.row), rec.column or "",
         _shorten(rec.value), rec.reason]
        for rec in shown.itertuples(index=False)
    ]
    head = (f"import into {exc.table!r} from {exc.source} refused: {exc.count} problem(s); "
            f"nothing was written")
    body = text_table(["file", "row", "column", "value", "reason"], rows, right=["row"])
    tail = (f"showing the first {exc.SHOWN} of {exc.count} problems" if exc.count > exc.SHOWN
            else f"{exc.count} problem(s) in all")
    return f"{head}\n\n{body}\n\n{tail}"


def format_plugins(plugin_rows: list[dict[str, Any]], extension_rows: list[dict[str, str]]) -> str:
    """The ``spm plugins`` report: one row per plugin, then the registered extensions."""
    rows = [[r["name"], r["distribution"], r["version"], ", ".join(r["hooks"]) or "-", r["status"]]
            for r in plugin_rows]
    parts = [f"Plugins ({len(plugin_rows)})",
             text_table(["name", "distribution", "version", "hooks", "status"], rows)]
    parts.append("")
    parts.append(f"Extensions ({len(extension_rows)})")
    if extension_rows:
        parts.append(text_table(["kind", "name", "plugin"],
                                [[e["kind"], e["name"], e["plugin"]] for e in extension_rows]))
    else:
        parts.append("(no data sources, plan types, metrics or forecasters registered)")
    return "\n".join(parts)


def extension_rows(registry: Any) -> list[dict[str, str]]:
    """Every registered extension as {kind, name, plugin}, by kind then name."""
    rows = []
    for kind, attr in EXTENSION_KINDS:
        catalogue = getattr(registry, attr)
        rows.extend({"kind": kind, "name": name, "plugin": catalogue.provider(name)}
                    for name in catalogue.names())
    return rows


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; return the Exit(1) to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn expected failures into one ``error:`` line and exit code 1."""
    if os.environ.get(DEBUG_ENV):
        yield
        return
    try:
        yield
    except SPMError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)) from None


def open_ws(path: Path, read_only: bool = False, create: bool = False, config: Any = None) -> Any:
    """Open a workspace (an existing one unless ``create``); problems (missing, locked,
    damaged) become SPMError."""
    import duckdb

    from spm_kernel.workspace import open_workspace

    try:
        return open_workspace(path, create=create, read_only=read_only, config=config)
    except (RuntimeError, duckdb.Error) as exc:
        raise SPMError(f"cannot open workspace {path}: {exc}") from None


# ---- commands ----
@hookimpl(trylast=True)
def spm_cli_commands(app: typer.Typer) -> None:
    @app.command()
    def init(path: Path = typer.Argument(..., help="folder of the new workspace"),
             name: str = typer.Option(None, help="company name shown in apps")) -> None:
        """Create an empty workspace (DuckDB database, plans folder, settings)."""
        from spm_kernel.config import WorkspaceConfig

        with cli_errors():
            config = WorkspaceConfig(name=name or path.name)
            with open_ws(path, create=True, config=config) as ws:
                typer.echo(f"workspace {ws.config.name!r} ready at {ws.path} (schema v{ws.schema_version})")

    @app.command("import")
    def import_(
        table: str = typer.Argument(..., help="canonical table, e.g. payees, opportunities"),
        file: Path = typer.Argument(..., help="CSV, TSV, Parquet or Excel file"),
        workspace: Path = WORKSPACE_OPTION,
        source: str = typer.Option(None, help="name of the source system (default: the file name)"),
        ignore_extra_columns: bool = typer.Option(
            False, "--ignore-extra-columns",
            help="drop columns the table does not have instead of refusing the file"),
    ) -> None:
        """Validate FILE and import it into TABLE, all or nothing.

        Every problem (file, row, column, value, reason) is listed and nothing is written if any is found. Rows are upserted by the table's key: importing the same file twice adds nothing.

        Example: spm import opportunities deals.csv --workspace acme
        """  # noqa: E501 - one line per help paragraph
        from spm_kernel.store.schema import TABLES, get_table

        with cli_errors():
            importable = sorted(t.name for t in TABLES if t.importable)
            try:
                spec = get_table(table)
            except KeyError:
                close = difflib.get_close_matches(table, importable, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise fail(f"unknown table {table!r}{hint}; tables you can import: "
                           f"{', '.join(importable)}") from None
            if not spec.importable:
                raise fail(f"table {table!r} is written by the engine, not imported; tables you "
                           f"can import: {', '.join(importable)}")
            if not file.is_file():
                raise fail(f"{file}: no such file")
            with open_ws(workspace) as ws:
                try:
                    result = ws.load(table, file, source=source,
                                     extra="ignore" if ignore_extra_columns else "error")
                except ImportValidationError as exc:
                    typer.echo(format_import_errors(exc), err=True)
                    raise typer.Exit(1) from None
            typer.echo(str(result))

    @app.command()
    def plugins(
        workspace: Path = typer.Option(
            None, "--workspace", "-w", envvar="SPM_WORKSPACE",
            help="list the plugins as this workspace loads them (env SPM_WORKSPACE)"),
    ) -> None:
        """List plugins (distribution, version, hooks, status) and the extensions they register.

        A plugin that failed to load is listed as "failed" with its error; one blocked by SPM_DISABLE_PLUGINS as "disabled".
        """  # noqa: E501 - one line per help paragraph
        from spm_kernel.plugins import PluginLoadWarning, make_plugin_manager
        from spm_kernel.registry import Registry

        with cli_errors(), warnings.catch_warnings():
            warnings.simplefilter("ignore", PluginLoadWarning)  # failures are listed below
            if workspace is not None:
                with open_ws(workspace, read_only=True) as ws:
                    extensions = extension_rows(ws.registry)
                    described = ws.plugins.describe()
            else:
                manager = make_plugin_manager()
                extensions = extension_rows(Registry(manager))
                described = manager.describe()
            typer.echo(format_plugins(described, extensions))

    @app.command("app")
    def app_(
        workspace: Path = WORKSPACE_OPTION,
        port: int = typer.Option(8866, help="port on 127.0.0.1"),
        no_browser: bool = typer.Option(False, "--no-browser", help="do not open a web browser"),
        apps: Path = typer.Option(None, "--apps", help="folder of app notebooks (default: notebooks/apps)"),
    ) -> None:
        """Serve the workbench's Voila apps on 127.0.0.1 for WORKSPACE until Ctrl-C.

        Prints "SPM workbench: http://127.0.0.1:PORT/" once the server answers.

        Example: spm app --workspace demo-workspace --port 8866
        """
        from spm_kernel import app_server

        with cli_errors():
            apps_dir = app_server.find_apps_dir(apps)
            try:  # exists and is migrated to the current schema
                with open_ws(workspace) as ws:
                    folder = ws.path
            except SPMError:  # e.g. another process holds it: reading is all the apps need
                with open_ws(workspace, read_only=True) as ws:
                    folder = ws.path
            code = app_server.serve(apps_dir, folder, port=port, open_browser=not no_browser,
                                    echo=typer.echo)
        if code:
            raise fail(f"the app server stopped with exit code {code}")
