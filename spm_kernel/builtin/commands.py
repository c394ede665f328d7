"""The built-in ``spm`` commands, registered through the ``spm_cli_commands`` hook."""

from __future__ import annotations

from pathlib import Path

import typer

from spm_kernel.hookspecs import hookimpl

WORKSPACE_OPTION = typer.Option(
    Path("demo-workspace"), "--workspace", "-w", envvar="SPM_WORKSPACE",
    help="workspace folder (env SPM_WORKSPACE)",
)


@hookimpl(trylast=True)
def spm_cli_commands(app: typer.Typer) -> None:
    @app.command()
    def init(path: Path = typer.Argument(..., help="folder of the new workspace"),
             name: str = typer.Option(None, help="company name shown in apps")) -> None:
        """Create an empty workspace (DuckDB database, plans folder, settings)."""
        from spm_kernel.config import WorkspaceConfig
        from spm_kernel.workspace import open_workspace

        config = WorkspaceConfig(name=name or path.name)
        with open_workspace(path, config=config) as ws:
            typer.echo(f"workspace {ws.config.name!r} ready at {ws.path} (schema v{ws.schema_version})")
