"""The performance report: what it holds, and how to get it as HTML, PDF or XLSX.

>>> report = build_performance_report(ws, "2026-Q3", scope="team:EMEA")      # doctest: +SKIP
>>> write_performance_report(ws, "2026-Q3", "q3.pdf", scope="team:EMEA")      # doctest: +SKIP

:func:`build_performance_report` gathers everything once (KPIs against the prior period and
industry benchmarks, a 12-month trend, the leaderboard, teams, peer benchmarks, areas for
improvement, pipeline health) into a :class:`PerformanceReport`; the renderers in
``performance_html``, ``performance_pdf`` and ``performance_xlsx`` only lay it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from spm_kernel.benchmarking import (
    areas_for_improvement,
    compare_with_external,
    peer_benchmarks,
    team_benchmarks,
)
from spm_kernel.errors import SPMError
from spm_kernel.metrics import MetricContext, compute_metrics
from spm_kernel.metrics.context import parse_scope
from spm_kernel.periods import parse_period, period_containing, periods_between, previous_period

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

Format = Literal["html", "pdf", "xlsx"]
FORMATS: tuple[str, ...] = ("html", "pdf", "xlsx")
# The KPIs of the summary cards, in order (any registered metric missing is skipped).
HEADLINE = ("quota_attainment", "share_at_quota", "win_rate", "avg_deal_size", "avg_closing_time",
            "pipeline_coverage", "pipeline_velocity", "net_revenue_retention", "logo_retention",
            "customer_acquisition_cost", "cost_of_sales_compensation", "pay_for_performance")
TREND = ("quota_attainment", "win_rate", "avg_deal_size", "avg_closing_time")
TREND_MONTHS = 12
# Not comparable between one rep and a whole scope: a 0/1 flag per rep, a sum, a correlation.
BAND_EXCLUDED = ("share_at_quota", "pipeline_velocity", "pay_for_performance")


class ReportError(SPMError):
    """A report that cannot be produced (unknown format, bad period or scope)."""


@dataclass
class PerformanceReport:
    """Everything a performance report shows, as frames (money as floats rounded to the cent
    for display; the exact values stay in the metric frames)."""

    company: str
    period: str
    period_start: date
    period_end: date
    scope: str
    scope_label: str
    base_currency: str
    as_of: date                     # "today" for the metrics (pipeline coverage snapshots)
    pipeline_date: date             # the day the pipeline chart shows: min(as_of, period end)
    generated_at: datetime
    kpis: pd.DataFrame              # metric, label, unit, higher_is_better, value, prior, change, position, benchmark
    trend: pd.DataFrame             # metric, label, unit, period, period_end, value
    leaderboard: pd.DataFrame       # rank, payee_id, name, team, attainment, bookings, quota, win_rate, ...
    teams: pd.DataFrame             # team_id, name, and one column per headline KPI
    peers: pd.DataFrame             # peer_benchmarks rows of the scope's reps
    areas_payee: pd.DataFrame
    areas_team: pd.DataFrame
    external: pd.DataFrame          # compare_with_external (empty when no benchmarks were given)
    pipeline: pd.DataFrame          # close_month, stage, amount, deals (open pipeline as of as_of)
    bands: pd.DataFrame             # metric, label, unit, p10, p25, median, p75, p90, scope_value, external
    notes: list[str] = field(default_factory=list)
    # the latest stored training-effect estimates (spm_kernel.training.effect.latest_estimates)
    training: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def title(self) -> str:
        return f"Performance report {self.period}"


def _f(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.map(lambda v: np.nan if v is None else float(v)), errors="coerce")


def _scope_label(ws: Workspace, scope: str | None) -> str:
    parsed = parse_scope(scope)
    if parsed is None:
        return "Whole company"
    kind, value = parsed
    names = {
        "team": "SELECT name FROM teams WHERE team_id = ? OR name = ?",
        "region": "SELECT name FROM regions WHERE region_id = ? OR name = ?",
        "payee": "SELECT name FROM payees WHERE payee_id = ? OR name = ?",
        "manager": "SELECT name FROM payees WHERE payee_id = ? OR name = ?",
    }
    name = value
    if kind in names:
        rows = ws.con.execute(names[kind], [value, value]).fetchall()
        if rows:
            name = rows[0][0]
    label = {"team": "Team", "region": "Region", "payee": "Payee", "manager": "Organisation of",
             "segment": "Segment"}[kind]
    return f"{label} {name}"


def build_performance_report(ws: Workspace, period: str, scope: str | None = None, *,
                             benchmarks: str | Path | pd.DataFrame | None = None,
                             as_of: date | None = None) -> PerformanceReport:
    """Gather the performance report of ``period`` (one month, fiscal quarter or year) for
    ``scope`` (``team:EMEA``, ``region:EU``, ``manager:M1``, ... or the whole company), with
    the analyst's industry ``benchmarks`` (YAML/CSV, see
    :func:`spm_kernel.benchmarking.load_external_benchmarks`) if given."""
    fsm = ws.config.fiscal_year_start_month
    try:
        current = parse_period(period, fsm)
    except SPMError as exc:
        raise ReportError(str(exc)) from None
    as_of = as_of or date.today()
    pipeline_date = min(as_of, current.end)
    names = ws.registry.metrics.names()
    catalogue = ws.registry.metrics
    prior = previous_period(current, fsm)

    # headline KPIs: this period and the one before, for the scope
    headline = [m for m in HEADLINE if m in names]
    both = compute_metrics(ws, headline, by="company", period=[prior, current], scope=scope, as_of=as_of)
    now = both[both["period"] == current.period_id].set_index("metric")
    before = both[both["period"] == prior.period_id].set_index("metric")
    kpis = pd.DataFrame({"metric": headline})
    kpis["label"] = [catalogue[m].label for m in headline]
    kpis["unit"] = [catalogue[m].unit for m in headline]
    kpis["higher_is_better"] = [catalogue[m].higher_is_better for m in headline]
    kpis["definition"] = [catalogue[m].definition for m in headline]
    kpis["value"] = _f(now.reindex(headline)["value"]).to_numpy()
    kpis["numerator"] = _f(now.reindex(headline)["numerator"]).to_numpy()
    kpis["denominator"] = _f(now.reindex(headline)["denominator"]).to_numpy()
    kpis["prior"] = _f(before.reindex(headline)["value"]).to_numpy()
    kpis["change"] = kpis["value"] - kpis["prior"]
    kpis["improved"] = np.where(kpis["change"].isna(), np.nan,
                                np.where(kpis["higher_is_better"], kpis["change"] > 0, kpis["change"] < 0))

    external = pd.DataFrame()
    if benchmarks is not None:
        external = compare_with_external(ws, benchmarks, current.period_id, scope=scope, as_of=as_of)
        company_rows = external[external["segment"].isna()].set_index("metric")
        kpis["benchmark"] = company_rows["median"].reindex(kpis["metric"]).to_numpy()
        kpis["position"] = company_rows["position"].reindex(kpis["metric"]).to_numpy()
    else:
        kpis["benchmark"] = np.nan
        kpis["position"] = None

    # trend: trailing months to the period's end
    last_month = period_containing(current.end, "month", fsm)
    first_month = period_containing(current.end, "month", fsm)
    for _ in range(TREND_MONTHS - 1):
        first_month = previous_period(first_month, fsm)
    months = periods_between(first_month, last_month, fsm)
    trend_names = [m for m in TREND if m in names]
    trend = compute_metrics(ws, trend_names, by="company", period=months, scope=scope, as_of=as_of)
    trend = trend[["metric", "period", "period_end", "value"]].copy()
    trend["value"] = _f(trend["value"])
    trend["label"] = trend["metric"].map({m: catalogue[m].label for m in trend_names})
    trend["unit"] = trend["metric"].map({m: catalogue[m].unit for m in trend_names})

    # peers (reps in scope ranked company-wide), leaderboard and bands
    peers = peer_benchmarks(ws, current.period_id, scope=scope, as_of=as_of)
    leaderboard = _leaderboard(ws, peers)
    bands = _bands(peers, kpis, headline, catalogue)

    # teams
    teams_long = team_benchmarks(ws, current.period_id, scope=scope, as_of=as_of)
    team_names = ws.sql("SELECT team_id, name FROM teams")
    teams = teams_long.pivot_table(index="team_id", columns="metric", values="value", aggfunc="first")
    teams = teams.reindex(columns=[m for m in headline if m in teams.columns]).reset_index()
    teams = team_names.merge(teams, on="team_id", how="inner")

    areas_payee = areas_for_improvement(ws, current.period_id, level="payee", benchmarks=peers, as_of=as_of, top=3)
    areas_team = areas_for_improvement(ws, current.period_id, level="team", benchmarks=teams_long, as_of=as_of, top=3)
    areas_team = team_names.rename(columns={"name": "team"}).merge(areas_team, on="team_id", how="inner")

    pipeline = _pipeline(ws, current.period_id, scope, pipeline_date)
    notes = []
    cost = kpis.set_index("metric")["numerator"].get("cost_of_sales_compensation")
    if cost is not None and not cost:
        notes.append("No payout lines in the period yet: compensation cost and pay-for-performance "
                     "fill in once the period is calculated (spm calc).")
    if leaderboard.empty:
        notes.append("No rep in this scope has a quota or a booking in the period.")
    training = _training_effects(ws, notes)
    return PerformanceReport(
        company=ws.config.name, period=current.period_id, period_start=current.start,
        period_end=current.end, scope=scope or "company", scope_label=_scope_label(ws, scope),
        base_currency=ws.config.base_currency, as_of=as_of, pipeline_date=pipeline_date, generated_at=datetime.now().replace(microsecond=0),
        kpis=kpis, trend=trend, leaderboard=leaderboard, teams=teams, peers=peers,
        areas_payee=areas_payee, areas_team=areas_team, external=external, pipeline=pipeline,
        bands=bands, notes=notes, training=training)


def _training_effects(ws: Workspace, notes: list[str]) -> pd.DataFrame:
    """The stored training-effect estimates (fitting is ``spm training effect``'s job, not the
    report's); a note when there are completions but no estimate yet."""
    from spm_kernel.training.effect import latest_estimates

    effects = latest_estimates(ws)
    if effects.empty and ws.count("training_completions"):
        notes.append("Training completions are recorded but no training effect has been estimated yet "
                     "(spm training effect).")
    return effects


def _leaderboard(ws: Workspace, peers: pd.DataFrame) -> pd.DataFrame:
    """One row per rep in scope, best attainment first."""
    if peers.empty:
        return pd.DataFrame(columns=["rank", "payee_id", "name", "team_id", "attainment", "bookings", "quota"])
    wide = peers.pivot_table(index="payee_id", columns="metric", values="value", aggfunc="first")
    att = peers[peers["metric"] == "quota_attainment"].set_index("payee_id")
    base = peers.drop_duplicates("payee_id").set_index("payee_id")[["name", "team_id", "tenure_band", "segment"]]
    board = base.join(wide, how="left")
    if len(att):
        board["bookings"] = _f(att["numerator"]).reindex(board.index)
        board["quota"] = _f(att["denominator"]).reindex(board.index)
        board["percentile"] = att["percentile"].reindex(board.index)
    board = board.rename(columns={"quota_attainment": "attainment"})
    board = board.reset_index().sort_values(["attainment", "bookings"], ascending=[False, False],
                                            na_position="last")
    board.insert(0, "rank", np.arange(1, len(board) + 1))
    return board.reset_index(drop=True)


def _bands(peers: pd.DataFrame, kpis: pd.DataFrame, headline: list[str], catalogue: Any) -> pd.DataFrame:
    """Per KPI, the spread of the scope's reps (10th to 90th percentile) beside the scope's
    own value and the external benchmark."""
    rows = []
    for metric, values in peers.groupby("metric"):
        if metric not in headline or metric in BAND_EXCLUDED:
            continue
        v = values["value"].dropna().astype(float)
        if len(v) < 2 or v.quantile(0.9) == v.quantile(0.1):  # nothing to show without a spread
            continue
        k = kpis.set_index("metric").loc[metric]
        rows.append({"metric": metric, "label": catalogue[metric].label, "unit": catalogue[metric].unit,
                     "higher_is_better": catalogue[metric].higher_is_better, "reps": len(v),
                     "p10": v.quantile(0.1), "p25": v.quantile(0.25), "median": v.median(),
                     "p75": v.quantile(0.75), "p90": v.quantile(0.9),
                     "scope_value": k["value"], "external": k["benchmark"]})
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["order"] = frame["metric"].map({m: i for i, m in enumerate(headline)})
        frame = frame.sort_values("order").drop(columns="order").reset_index(drop=True)
    return frame


def _pipeline(ws: Workspace, period: str, scope: str | None, as_of: date) -> pd.DataFrame:
    """The pipeline open on ``as_of`` (created by then, closing on or after it, within six
    months), by close month and by the stage it was in on ``as_of`` (from
    ``opportunity_stage_history``, else its current stage), in base currency."""
    day = f"DATE '{as_of.isoformat()}'"
    with MetricContext.open(ws, "company", period, scope=scope, as_of=as_of) as ctx:
        frame = ctx.frame(f"""
            WITH open_then AS (
                SELECT opportunity_id, close_date, base_cents, stage FROM {ctx.deals()}
                WHERE created_date <= {day} AND close_date > {day} AND close_date <= {day} + INTERVAL 6 MONTH),
            stage_then AS (
                SELECT opportunity_id, stage FROM opportunity_stage_history
                WHERE entered_date <= {day} AND opportunity_id IN (SELECT opportunity_id FROM open_then)
                QUALIFY row_number() OVER (PARTITION BY opportunity_id ORDER BY entered_date DESC, stage) = 1)
            SELECT strftime(date_trunc('month', o.close_date), '%Y-%m') AS close_month,
                   coalesce(s.stage, o.stage) AS stage,
                   CAST(sum(o.base_cents) AS DOUBLE) / 100 AS amount, count(*) AS deals
            FROM open_then o LEFT JOIN stage_then s USING (opportunity_id)
            GROUP BY ALL ORDER BY close_month, stage""")
    return frame


def write_report(report: PerformanceReport, output: str | Path, format: Format | None = None) -> Path:
    """Write a built report to ``output`` as HTML, PDF or XLSX (``format``, or the file's
    extension); returns the path."""
    path = Path(output)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ReportError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        from spm_kernel.reports.performance_html import render_html
        path.write_text(render_html(report), "utf-8")
    elif fmt == "pdf":
        from spm_kernel.reports.performance_pdf import write_pdf
        write_pdf(report, path)
    else:
        from spm_kernel.reports.performance_xlsx import write_xlsx
        write_xlsx(report, path)
    return path


def write_performance_report(ws: Workspace, period: str, output: str | Path, *, scope: str | None = None,
                             format: Format | None = None, benchmarks: str | Path | pd.DataFrame | None = None,
                             as_of: date | None = None) -> Path:
    """Build the report of ``period`` for ``scope`` and write it to ``output`` (see
    :func:`build_performance_report` and :func:`write_report`)."""
    fmt = (format or Path(output).suffix.lstrip(".")).lower()
    if fmt not in FORMATS:  # refuse before the work
        raise ReportError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    report = build_performance_report(ws, period, scope, benchmarks=benchmarks, as_of=as_of)
    return write_report(report, output, fmt)  # type: ignore[arg-type]


__all__ = ["FORMATS", "PerformanceReport", "ReportError", "build_performance_report",
           "write_performance_report", "write_report"]
