"""``spm demo``: build the demo company, registered through ``spm_cli_commands``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from spm_kernel.builtin.commands import WORKSPACE_OPTION, cli_errors
from spm_kernel.hookspecs import hookimpl


@hookimpl(trylast=True)
def spm_cli_commands(app: typer.Typer) -> None:
    from spm_kernel.demo.build import MAX_SCALE

    @app.command()
    def demo(
        workspace: Path = WORKSPACE_OPTION,
        scale: int = typer.Option(1, "--scale", min=1, max=MAX_SCALE,
                                  help="N divisions: 1 is ~200 payees through the validated importer; "
                                       "50 is ~10,000 payees and ~10.8 million transactions"),
        seed: int = typer.Option(7, "--seed", help="random seed: the same seed gives the same company"),
        force: bool = typer.Option(False, "--force", help="delete a workspace that has data and rebuild it"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
        calc: bool = typer.Option(True, "--calc/--no-calc",
                                  help="calculate every month of the current fiscal year up to the data's end and "
                                       "close all but the last three (default), or only load the data and plans"),
    ) -> None:
        """Generate the demo company, Northwind Analytics, into a workspace.

        Three fiscal years (2024-2026) of a B2B software company: payees in a 4-level
        hierarchy over 4 regions and 3 segments, accounts, opportunities with stage history,
        splits, subscriptions with renewals and churn, bookings, invoices, payments,
        cancellations and refunds in USD/EUR/GBP with daily FX, quotas, spend and training.
        Refuses a workspace that already has data unless --force. The plan files (this
        year's AE plan and the proposed version) are registered and assigned by role; with
        --calc (the default) the months of FY2026 are calculated and all but the last three
        closed, so statements and apps have real payouts.

        Example: spm demo --workspace demo-workspace --scale 1 --seed 7
        """
        from spm_kernel.demo.build import build_demo

        started = time.perf_counter()
        with cli_errors(), build_demo(workspace, scale=scale, seed=seed, progress=not quiet, force=force) as ws:
            counts = {name: ws.count(name) for name in ("payees", "accounts", "opportunities", "transactions")}
            typer.echo(
                f"{ws.config.name} (scale {scale}, seed {seed}) ready at {ws.path}: "
                + ", ".join(f"{n:,} {name}" for name, n in counts.items())
                + f" in {time.perf_counter() - started:.1f} s"
            )
            if calc:
                from spm_kernel.demo.compensation import calculate_demo

                typer.echo(f"compensation: {calculate_demo(ws, progress=not quiet)}")
