"""``spm report``: the performance report from the command line, registered through
``spm_cli_commands`` (a built-in plugin listed in ``DEFAULT_PLUGINS``)."""

from __future__ import annotations

import re
import time
from datetime import date, datetime
from pathlib import Path

import typer

from spm_kernel.builtin.commands import WORKSPACE_OPTION, cli_errors, open_ws
from spm_kernel.errors import SPMError
from spm_kernel.hookspecs import hookimpl


def default_output(period: str, scope: str | None, fmt: str) -> Path:
    """``performance-2026-Q3-team-EMEA.pdf``."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{period}-{scope or 'company'}").strip("-")
    return Path(f"performance-{slug}.{fmt}")


@hookimpl(trylast=True)
def spm_cli_commands(app: typer.Typer) -> None:
    @app.command()
    def report(
        period: str = typer.Option(..., "--period", "-p", help="2026-Q3, 2026-08 or FY2026"),
        scope: str = typer.Option("company", "--scope", "-s",
                                  help="company, team:ID, region:ID, manager:ID, segment:NAME or payee:ID"),
        fmt: str = typer.Option("html", "--format", "-f", help="html, pdf or xlsx"),
        output: Path = typer.Option(None, "--output", "-o", help="file to write (default: performance-PERIOD-SCOPE.FORMAT)"),
        benchmarks: Path = typer.Option(None, "--benchmarks", "-b", help="industry benchmarks, YAML or CSV"),
        as_of: str = typer.Option(None, "--as-of", help="pipeline snapshot date YYYY-MM-DD (default: today, "
                                                        "or the period's end if earlier)"),
        workspace: Path = WORKSPACE_OPTION,
    ) -> None:
        """Write the performance report of a period: KPIs against the prior period and industry
        benchmarks, attainment distribution, leaderboard, trends, benchmark bands, pipeline
        health, teams and the areas for improvement.

        Example: spm report --period 2026-Q3 --scope team:EMEA --format pdf
        """
        from spm_kernel.reports.performance import FORMATS, write_performance_report

        with cli_errors():
            fmt_l = fmt.lower()
            if fmt_l not in FORMATS:
                raise SPMError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
            try:
                day = date.fromisoformat(as_of) if as_of else None
            except ValueError:
                raise SPMError(f"--as-of {as_of!r} is not a date like 2026-09-30") from None
            target = output or default_output(period, None if scope == "company" else scope, fmt_l)
            started = time.perf_counter()
            with open_ws(workspace, read_only=False) as ws:
                path = write_performance_report(ws, period, target, scope=None if scope == "company" else scope,
                                                format=fmt_l, benchmarks=benchmarks, as_of=day)
            typer.echo(f"wrote {path} ({path.stat().st_size:,} bytes) in {time.perf_counter() - started:.1f} s")
