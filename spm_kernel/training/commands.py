"""``spm training ...``: assign by rules, list overdue assignments, import LMS completions and
estimate the effect of a module, registered through the ``spm_cli_commands`` hook (a
built-in plugin listed in ``DEFAULT_PLUGINS``)."""

from __future__ import annotations

from pathlib import Path

import typer

from spm_kernel.hookspecs import hookimpl


@hookimpl(trylast=True)
def spm_cli_commands(app: typer.Typer) -> None:
    from spm_kernel.builtin.commands import WORKSPACE_OPTION, cli_errors, open_ws, text_table

    training = typer.Typer(help="Training: assign modules, track completions, measure the effect.",
                           no_args_is_help=True)

    @training.command("assign")
    def assign(as_of: str = typer.Option(None, "--as-of", help="the day to assign on (default: today)"),
               rule: list[str] = typer.Option(None, "--rule", help="apply only this rule (repeatable)"),
               period: str = typer.Option(None, help="KPI-gap rules: the period to benchmark "
                                          "(default: the fiscal quarter before --as-of)"),
               dry_run: bool = typer.Option(False, "--dry-run", help="show what would be assigned, write nothing"),
               workspace: Path = WORKSPACE_OPTION) -> None:
        """Apply the assignment rules (by role, new hires, KPI gaps against peers)."""
        with cli_errors(), open_ws(workspace) as ws:
            new = ws.training.assign(as_of, rules=rule or None, period=period, dry_run=dry_run)
            verb = "would assign" if dry_run else "assigned"
            typer.echo(f"{verb} {len(new)} module(s) to {new['payee_id'].nunique()} payee(s)")
            if len(new):
                typer.echo(text_table(["payee", "module", "due", "reason"],
                                      [[r.payee_id, r.module_id, r.due_date, r.reason]
                                       for r in new.itertuples(index=False)]))

    @training.command("overdue")
    def overdue(as_of: str = typer.Option(None, "--as-of", help="the day (default: today)"),
                manager: str = typer.Option(None, help="only this manager's organisation (payee id)"),
                workspace: Path = WORKSPACE_OPTION) -> None:
        """Who is overdue: assignments past their due date and not completed."""
        with cli_errors(), open_ws(workspace, read_only=True) as ws:
            late = ws.training.overdue(as_of, manager=manager)
            typer.echo(f"{len(late)} overdue assignment(s), {late['payee_id'].nunique()} payee(s)")
            if len(late):
                typer.echo(text_table(["payee", "name", "module", "due", "days overdue"],
                                      [[r.payee_id, r.name, r.module_id, r.due_date, r.days_overdue]
                                       for r in late.itertuples(index=False)], right=["days overdue"]))

    @training.command("import-completions")
    def import_completions(file: Path = typer.Argument(..., help="the LMS export (CSV, TSV, Parquet, XLSX)"),
                           date_format: str = typer.Option(None, "--date-format",
                                                           help="strptime format of the completion date, "
                                                           "e.g. %m/%d/%Y (default: ISO 8601)"),
                           workspace: Path = WORKSPACE_OPTION) -> None:
        """Import completions from an LMS export through the validated importer."""
        with cli_errors(), open_ws(workspace) as ws:
            typer.echo(str(ws.training.import_completions(file, date_format=date_format)))

    @training.command("effect")
    def effect(module: str = typer.Option("TRN-NEG-01", help="the module whose effect is measured"),
               metric: str = typer.Option("win_rate", help="the KPI"),
               draws: int = typer.Option(1000, help="posterior draws per chain"),
               tune: int = typer.Option(1000, help="tuning steps per chain"),
               chains: int = typer.Option(2, help="chains"),
               seed: int = typer.Option(20261, help="random seed"),
               store: bool = typer.Option(True, "--store/--no-store",
                                          help="keep the estimate for reports and apps"),
               workspace: Path = WORKSPACE_OPTION) -> None:
        """Estimate a module's effect on a KPI (difference in differences, PyMC)."""
        with cli_errors(), open_ws(workspace, read_only=not store) as ws:
            est = ws.training.effect(module_id=module, metric=metric, draws=draws, tune=tune, chains=chains,
                                     seed=seed, store=store)
            typer.echo(est.summary())
            typer.echo(text_table(["team", "trained", "effect", "lower", "upper"],
                                  [[r.team_id, r.trained_payees, f"{r.effect:+.1%}", f"{r.lower:+.1%}",
                                    f"{r.upper:+.1%}"] for r in est.teams.itertuples(index=False)],
                                  right=["trained", "effect", "lower", "upper"]))
            d = est.diagnostics
            typer.echo(f"diagnostics: r_hat max {d['r_hat_max']:.3f}, ESS min {d['ess_bulk_min']:.0f}, "
                       f"{d['divergences']} divergence(s)")

    app.add_typer(training, name="training")
