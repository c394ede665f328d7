"""The ``spm`` command. Its commands are contributed by plugins through the
``spm_cli_commands`` hook; the built-in ones live in ``spm_kernel.builtin.commands``."""

from __future__ import annotations

import sys
import warnings

import typer

from spm_kernel.errors import SPMError
from spm_kernel.plugins import make_plugin_manager


def build_app() -> typer.Typer:
    """The ``spm`` Typer application with every plugin's commands."""
    app = typer.Typer(
        name="spm",
        help="Sales Performance Management workbench: workspaces, imports, plans, apps.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _group() -> None:
        """Sales Performance Management workbench."""

    manager = make_plugin_manager()
    manager.hook.spm_cli_commands(app=app)
    return app


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """Warnings (a broken plugin, say) as one readable line, not a source location."""
    typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)


def main() -> None:
    """Entry point of the ``spm`` console script: errors are one clear line, not a traceback."""
    warnings.simplefilter("default", category=UserWarning)
    warnings.showwarning = _show_warning
    try:
        build_app()(standalone_mode=True)
    except SPMError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(1)
