"""``spm sync``: run a configured source, check it, list sources, show quarantined records."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from spm_kernel.hookspecs import hookimpl


@hookimpl(trylast=True)
def spm_cli_commands(app: typer.Typer) -> None:
    from spm_kernel.builtin.commands import WORKSPACE_OPTION

    @app.command()
    def sync(
        source: str = typer.Argument(None, help="a source named in the workspace's sources.yaml"),
        workspace: Path = WORKSPACE_OPTION,
        full: bool = typer.Option(False, "--full", help="read everything; remove records gone at the source"),
        since: datetime = typer.Option(None, "--since", help="read changes after this time (UTC)"),
        check: bool = typer.Option(False, "--check", help="only check reachability and credentials"),
        show_rejects: bool = typer.Option(False, "--show-rejects",
                                          help="list quarantined records with their reasons"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
    ) -> None:
        """Sync canonical tables from a data source (files, SQL, Salesforce, HubSpot)."""
        from spm_kernel.sync.engine import list_rejects, sync_history
        from spm_kernel.sync.settings import configured_source, read_sources
        from spm_kernel.workspace import open_workspace

        with open_workspace(workspace, create=False, read_only=show_rejects or check) as ws:
            if show_rejects:
                rejects = list_rejects(ws, source)
                if rejects.empty:
                    typer.echo("no quarantined records")
                    return
                shown = rejects[["source", "table_name", "source_id", "field", "value", "reason"]]
                typer.echo(shown.to_string(index=False, max_colwidth=60))
                typer.echo(f"{rejects['source_id'].nunique()} record(s) quarantined")
                return
            if source is None:
                entries = read_sources(ws)
                if not entries:
                    typer.echo(f"no sources configured: create {ws.path / 'sources.yaml'}")
                    return
                history = sync_history(ws)
                for name, entry in entries.items():
                    last = history[history["source"] == name].head(1)
                    state = "never synced" if last.empty else (
                        f"last sync {last['status'].iloc[0]} at {last['finished_at'].iloc[0]:%Y-%m-%d %H:%M}")
                    typer.echo(f"{name} ({entry.get('type', name)}): {state}")
                return
            configured = configured_source(ws, source)
            if check:
                typer.echo(f"{source}: {configured.check()}")
                return
            result = configured.sync(ws, since=since, full=full, progress=progress)
            typer.echo(str(result))
            if result.total("rejected"):
                typer.echo(f"{result.total('rejected')} record(s) quarantined: see `spm sync --show-rejects {source}`")
