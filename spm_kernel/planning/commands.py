"""``spm quota ...``: planning on the command line (a built-in plugin in ``DEFAULT_PLUGINS``).

    spm quota allocate --year 2027 --target 60000000 --method historical --ramp 0.25,0.5,0.75
    spm quota list
    spm quota show FY2027-bookings@1 --level team
    spm quota approve FY2027-bookings@1
    spm quota budget ae-plan --set FY2027-bookings@1 --bookings quota
    spm quota markets --by segment --weight revenue=2 --weight headroom=2
    spm quota territories --on 2027-01-01 --tolerance 0.05 --out moves.csv
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer

from spm_kernel.hookspecs import hookimpl


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    from spm_kernel.builtin.commands import fail

    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise fail(f"{what} must look like name=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _decimal(text: str, what: str) -> Decimal:
    from spm_kernel.builtin.commands import fail

    try:
        return Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise fail(f"{what} {text!r} is not a number") from None


def _money(value: Any) -> str:
    return "" if value is None else f"{value:,.2f}"


def _pct(value: Any) -> str:
    return "" if value is None or value != value else f"{value:+.1%}"


def _nodes_table(nodes: Any, level: str | None) -> str:
    from spm_kernel.builtin.commands import text_table

    rows = nodes if level is None else nodes.loc[nodes["level"] == level]
    return text_table(["level", "node", "holder", "payees", "top_down", "bottom_up", "gap", "gap %"],
                      [[r.level, r.node, r.holder or "", r.payees, _money(r.top_down), _money(r.bottom_up),
                        _money(r.gap), _pct(r.gap_pct)] for r in rows.itertuples(index=False)],
                      right=["payees", "top_down", "bottom_up", "gap", "gap %"])


def _fairness_line(report: Any) -> str:
    s = report.summary
    return (f"fairness: expected attainment median {s['attainment_median']:.0%} (P10 {s['attainment_p10']:.0%}, "
            f"P90 {s['attainment_p90']:.0%}); quota/potential Gini {s['ratio_gini']:.3f}; "
            f"{int(s['outliers'])} outlier(s)")


@hookimpl(trylast=True)
def spm_cli_commands(app: typer.Typer) -> None:
    from spm_kernel.builtin.commands import WORKSPACE_OPTION, cli_errors, fail, open_ws, text_table

    quota = typer.Typer(help="Planning: quotas top-down and bottom-up, quota sets, budgets, markets, territories.",
                        no_args_is_help=True)
    app.add_typer(quota, name="quota")

    @quota.command()
    def allocate(
        year: int = typer.Option(..., "--year", help="fiscal year of the plan, e.g. 2027"),
        target: str = typer.Option(..., help="company target in the base currency, e.g. 60000000"),
        method: str = typer.Option("historical", help="historical, potential, forecast or even"),
        workspace: Path = WORKSPACE_OPTION,
        ramp: str = typer.Option("", help="ramp factors by month since hire, e.g. 0.25,0.5,0.75"),
        overassignment: list[str] = typer.Option(None, "--overassignment", "-o",
                                                 help="level=factor (company, region, team): node quota = "
                                                      "sum of its children x factor; repeatable"),
        cadence: str = typer.Option("quarter", help="month, quarter or year"),
        measure: str = typer.Option("bookings", help="quota measure of the periods"),
        seasonality: str = typer.Option("history", help="history or even"),
        set_id: str = typer.Option(None, "--id", help="quota set id (default FY<year>-<measure>)"),
        name: str = typer.Option(None, help="name of the saved draft"),
        save: bool = typer.Option(True, "--save/--no-save", help="save the allocation as a draft quota set"),
    ) -> None:
        """Allocate a company target to regions, teams and payees; show top-down, bottom-up and the gap.

        Example: spm quota allocate --year 2027 --target 60000000 --ramp 0.25,0.5,0.75 -o team=0.95
        """
        from pydantic import ValidationError

        from spm_kernel.planning import Ramp, allocate_quotas

        with cli_errors():
            factors = {k: _decimal(v, f"over-assignment factor of {k}")
                       for k, v in _pairs(overassignment, "--overassignment").items()}
            ramp_factors = [_decimal(x, "ramp factor") for x in ramp.split(",") if x.strip()]
            with open_ws(workspace) as ws:
                try:
                    plan = allocate_quotas(ws, fiscal_year=year, target=_decimal(target, "target"), method=method,
                                           ramp=Ramp(factors=ramp_factors), overassignment=factors, cadence=cadence,
                                           measure=measure, seasonality=seasonality)
                except ValidationError as exc:
                    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                    raise fail(problems) from None
                typer.echo(f"FY{year} {measure} quotas by {plan.method_used} ({plan.base_currency}):")
                for note in plan.notes:
                    typer.echo(f"note: {note}")
                typer.echo(_nodes_table(plan.nodes.loc[plan.nodes["level"] != "payee"], None))
                typer.echo(_fairness_line(plan.fairness()))
                if save:
                    qs = ws.quota_sets.create(plan, quota_set_id=set_id, name=name)
                    typer.echo(f"saved draft {qs.key} ({len(plan.lines)} quota rows); approve it with "
                               f"`spm quota approve {qs.key}`")

    @quota.command("list")
    def list_(workspace: Path = WORKSPACE_OPTION) -> None:
        """List every version of every quota set with its status."""
        with cli_errors(), open_ws(workspace, read_only=True) as ws:
            sets = ws.quota_sets.list()
            if sets.empty:
                typer.echo("no quota sets yet: create one with `spm quota allocate`")
                return
            typer.echo(text_table(["set", "name", "year", "method", "target", "status", "approved"],
                                  [[f"{r.quota_set_id}@{r.version}", r.name, r.fiscal_year, r.method,
                                    _money(r.target), r.status,
                                    "" if r.approved_at is None or r.approved_at != r.approved_at
                                    else f"{r.approved_at:%Y-%m-%d} by {r.approved_by}"]
                                   for r in sets.itertuples(index=False)], right=["target"]))

    @quota.command()
    def show(key: str = typer.Argument(..., help="set id, or id@version"),
             workspace: Path = WORKSPACE_OPTION,
             level: str = typer.Option(None, help="company, region, team or payee (default: all but payees)")) -> None:
        """Show a quota set's allocation report (top-down, bottom-up, gap) and its fairness."""
        with cli_errors(), open_ws(workspace, read_only=True) as ws:
            qs = ws.quota_sets.get(key)
            typer.echo(repr(qs))
            nodes = qs.nodes()
            typer.echo(_nodes_table(nodes if level else nodes.loc[nodes["level"] != "payee"], level))
            typer.echo(_fairness_line(qs.fairness()))

    @quota.command()
    def approve(key: str = typer.Argument(..., help="set id, or id@version"),
                workspace: Path = WORKSPACE_OPTION,
                actor: str = typer.Option(None, help="who approves (default: your login name)")) -> None:
        """Approve a draft: its rows become the quotas the engine uses for its periods."""
        with cli_errors(), open_ws(workspace) as ws:
            qs = ws.quota_sets.approve(key, actor=actor)
            a = qs.approval or {}
            typer.echo(f"approved {qs.key}: quotas {a.get('inserted', 0)} inserted, {a.get('updated', 0)} updated, "
                       f"{a.get('unchanged', 0)} unchanged, {a.get('deleted', 0)} replaced rows deleted")

    @quota.command()
    def delete(key: str = typer.Argument(..., help="id@version of a draft"),
               workspace: Path = WORKSPACE_OPTION) -> None:
        """Delete a draft quota set (approved sets are immutable)."""
        with cli_errors(), open_ws(workspace) as ws:
            qs = ws.quota_sets.get(key)
            ws.quota_sets.delete(qs.quota_set_id, qs.version)
            typer.echo(f"deleted draft {qs.key}")

    @quota.command()
    def budget(
        plan: str = typer.Argument(..., help="plan id, id@version, or a plan file"),
        workspace: Path = WORKSPACE_OPTION,
        set_key: str = typer.Option(None, "--set", help="quota set (default: the quotas table)"),
        bookings: str = typer.Option("forecast", help="forecast (with a forecaster installed) or quota"),
        samples: int = typer.Option(200, help="forecast samples for P10/P50/P90"),
        year: int = typer.Option(None, "--year", help="fiscal year (default: the set's or the plan's)"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    ) -> None:
        """Expected compensation cost of a plan with a quota set, per team and region, against last year."""
        import warnings

        from spm_kernel.planning import PlanningWarning
        from spm_kernel.planning.budget import compensation_budget

        with cli_errors(), open_ws(workspace, read_only=True) as ws, warnings.catch_warnings():
            warnings.simplefilter("ignore", PlanningWarning)  # the notes say it
            result = compensation_budget(ws, plan, set_key, fiscal_year=year, bookings=bookings, samples=samples,
                                         progress=not quiet)
            for note in result.notes:
                typer.echo(f"note: {note}")
            typer.echo(repr(result))
            typer.echo(text_table(["team", "bookings", "cost", "cost of sales", "P10", "P50", "P90"],
                                  [[r.team_id, _money(r.bookings), _money(r.cost),
                                    "" if r.cost_of_sales is None else f"{r.cost_of_sales:.2%}",
                                    _money(r.p10), _money(r.p50), _money(r.p90)]
                                   for r in result.by_team.itertuples(index=False)],
                                  right=["bookings", "cost", "cost of sales", "P10", "P50", "P90"]))
            if result.previous:
                cmp = result.comparison()
                typer.echo(f"previous year ({result.previous.get('source')}):")
                typer.echo(text_table(list(cmp.columns), [
                    [r[0], _money(r[1]) if r[0] != "cost of sales" else ("" if r[1] is None else f"{r[1]:.2%}"),
                     _money(r[2]) if r[0] != "cost of sales" else ("" if r[2] is None else f"{r[2]:.2%}"), _pct(r[3])]
                    for r in cmp.itertuples(index=False)]))

    @quota.command()
    def markets(
        workspace: Path = WORKSPACE_OPTION,
        by: str = typer.Option("segment", help="segment, region or product"),
        year: int = typer.Option(None, "--year", help="fiscal year (default: the latest with won deals)"),
        weight: list[str] = typer.Option(None, "--weight", help="criterion=weight, repeatable (revenue, growth, "
                                                                "win_rate, deal_size, cycle_days, headroom)"),
    ) -> None:
        """Rank segments, regions or products by a weighted score, and say why each lands where it does."""
        from spm_kernel.planning.markets import rank_markets

        with cli_errors(), open_ws(workspace, read_only=True) as ws:
            weights = {k: float(_decimal(v, f"weight of {k}")) for k, v in _pairs(weight, "--weight").items()} or None
            ranking = rank_markets(ws, by=by, fiscal_year=year, weights=weights)  # type: ignore[arg-type]
            typer.echo(text_table(["rank", by, "score", "revenue", "growth", "win rate", "deal size", "cycle days",
                                   "headroom"],
                                  [[r["rank"], r["market"], f"{r['score']:.3f}", _money(r["revenue"]),
                                    _pct(r["growth"]), "" if r["win_rate"] != r["win_rate"] else f"{r['win_rate']:.1%}",
                                    _money(r["deal_size"]), "" if r["cycle_days"] != r["cycle_days"]
                                    else f"{r['cycle_days']:.0f}", _money(r["headroom"])]
                                   for _, r in ranking.table.iterrows()],
                                  right=["rank", "score", "revenue", "growth", "win rate", "deal size", "cycle days",
                                         "headroom"]))
            for note in ranking.notes:
                typer.echo(f"note: {note}")
            for text in ranking.table["explanation"]:
                typer.echo(f"- {text}")

    @quota.command()
    def territories(
        workspace: Path = WORKSPACE_OPTION,
        on: str = typer.Option(None, help="date whose reps and owners are balanced (default: today)"),
        tolerance: float = typer.Option(0.05, help="band around each rep's target potential"),
        threshold: float = typer.Option(0.5, help="a move must pay off by this many average accounts"),
        time_limit: float = typer.Option(50.0, help="seconds for the solver"),
        out: Path = typer.Option(None, help="write the moves to this CSV file"),
    ) -> None:
        """Rebalance accounts across reps (HiGHS MILP) and report the spread before and after."""
        from spm_kernel.planning.territory import balance_territories

        with cli_errors(), open_ws(workspace, read_only=True) as ws:
            day = date.fromisoformat(on) if on else None
            result = balance_territories(ws, on=day, tolerance=tolerance, move_threshold=threshold,
                                         time_limit=time_limit)
            s = result.summary
            typer.echo(repr(result))
            typer.echo(text_table(["figure", "before", "after"], [
                ["potential per rep, CV", f"{s['potential_cv_before']:.3f}", f"{s['potential_cv_after']:.3f}"],
                ["potential per rep, (max - min) / mean", f"{s['potential_range_before']:.3f}",
                 f"{s['potential_range_after']:.3f}"],
                ["accounts per rep, CV", f"{s['workload_cv_before']:.3f}", f"{s['workload_cv_after']:.3f}"]],
                right=["before", "after"]))
            typer.echo(f"{s['accounts_moved']} account(s) moved, {s['accounts_assigned']} unassigned account(s) "
                       f"given an owner; MIP gap {s['mip_gap']:.3%} ({s['optimal_groups']} of {s['groups']} groups "
                       f"optimal) in {s['seconds']:.1f} s")
            for note in result.notes:
                typer.echo(f"note: {note}")
            if out is not None:
                from spm_kernel.exports import write_csv
                write_csv(result.moves, out)
                typer.echo(f"moves written to {out}")
