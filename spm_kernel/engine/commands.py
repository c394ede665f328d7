"""``spm calc``, ``spm close`` and ``spm explain``: the engine on the command line, registered
through the ``spm_cli_commands`` hook (a built-in plugin listed in ``DEFAULT_PLUGINS``)."""

from __future__ import annotations

from pathlib import Path

import typer

from spm_kernel.hookspecs import hookimpl


@hookimpl(trylast=True)
def spm_cli_commands(app: typer.Typer) -> None:
    from spm_kernel.builtin.commands import WORKSPACE_OPTION, cli_errors, open_ws, text_table

    @app.command()
    def calc(period: str = typer.Argument(..., help="2026-03 (month), 2026-Q1 (fiscal quarter) or FY2026"),
             workspace: Path = WORKSPACE_OPTION,
             actor: str = typer.Option(None, help="who runs it (default: your login name)"),
             quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar")) -> None:
        """Calculate a period: credits, attainment and payout lines for every payee, in one transaction."""
        with cli_errors(), open_ws(workspace) as ws:
            run = ws.calculate(period, actor=actor, progress=not quiet)
            totals = run.totals()
            typer.echo(f"run {run.run_id}: {period}, {run.credit_count:,} credits, {run.line_count:,} lines, "
                       f"{run.timings.get('total', 0):.2f} s")
            if len(totals):
                by_currency = totals.groupby("currency").agg(payees=("payee_id", "nunique"), total=("total", "sum"))
                typer.echo(text_table(["currency", "payees", "total"],
                                      [[c, f"{r.payees:,}", f"{r.total:,.2f}"] for c, r in by_currency.iterrows()],
                                      right=["payees", "total"]))
            adjustments = run.lines()
            adjustments = adjustments.loc[adjustments["corrects_period_id"].notna()]
            if len(adjustments):
                typer.echo(f"{len(adjustments)} prior-period adjustment line(s) for "
                           f"{', '.join(sorted(set(adjustments['corrects_period_id'])))}")

    @app.command()
    def close(period: str = typer.Argument(..., help="the period to freeze, e.g. 2026-03"),
              workspace: Path = WORKSPACE_OPTION,
              actor: str = typer.Option(None, help="who closes it (default: your login name)"),
              force: bool = typer.Option(False, help="close even if inputs changed since the latest run")) -> None:
        """Close a period: freeze its latest run; later changes become prior-period adjustments."""
        with cli_errors(), open_ws(workspace) as ws:
            run = ws.close_period(period, actor=actor, force=force)
            typer.echo(f"closed {period} on run {run.run_id} ({run.line_count:,} lines)")

    @app.command()
    def explain(payee: str = typer.Argument(..., help="payee id"),
                period: str = typer.Argument(..., help="period id"),
                workspace: Path = WORKSPACE_OPTION) -> None:
        """Explain a payee's payout lines of a period (its closed or latest run)."""
        with cli_errors(), open_ws(workspace, read_only=True) as ws:
            typer.echo(str(ws.run(period=period).explain(payee)))
