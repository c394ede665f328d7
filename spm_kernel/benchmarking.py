"""Benchmarking: where each payee and team stands among peers, where to act, and how the
company compares with industry figures.

* :func:`peer_benchmarks`: every payee's percentile rank per KPI among **peers** (same role,
  tenure band and segment, company-wide), the peer median and top quartile, and the gaps.
* :func:`areas_for_improvement`: per payee or per team, the KPIs behind the peer median,
  ranked by estimated revenue impact (each metric's :meth:`~spm_kernel.Metric.revenue_impact`),
  each with a sentence that says why.
* :func:`compare_with_external`: the company's KPIs beside benchmark values an analyst
  supplies (a small YAML or CSV file of industry figures).

Conventions (all vectorised over payees with pandas):

* **Percentile rank** among the peers with a value: ``100 x (B + E/2) / N`` where ``B`` peers
  do worse, ``E`` do the same (the payee included) and ``N`` have a value; "worse" respects
  ``higher_is_better``. A group of one ranks at 50.
* **Top quartile**: the 75th percentile of the peers' values (the 25th when lower is better),
  linear interpolation.
* **Gaps** are signed so that a positive gap means *behind*: ``target - value`` when higher is
  better, ``value - target`` when lower is better.
* **Tenure band** at the period's last day: under 6 months, 6-12 months, 1-2 years, 2+ years.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from spm_kernel.errors import SPMError
from spm_kernel.metrics import MetricContext, MetricOptions, compute_metrics
from spm_kernel.metrics.context import GRAINS, MetricError, parse_periods

if TYPE_CHECKING:
    from spm_kernel.extensions import Metric
    from spm_kernel.workspace import Workspace

TENURE_BANDS: tuple[tuple[int, str], ...] = ((0, "under 6 months"), (183, "6-12 months"),
                                              (365, "1-2 years"), (730, "2+ years"))
PEER_KEYS = ("role", "tenure_band", "segment")
# Metrics that grow with a group's headcount: not comparable between teams of different sizes.
SIZE_DEPENDENT = ("pipeline_velocity",)
BENCHMARK_COLUMNS = [
    "payee_id", "name", "team_id", "role", "tenure_band", "segment", "metric", "label", "unit",
    "higher_is_better", "period", "value", "numerator", "denominator", "peers", "percentile",
    "peer_median", "peer_top_quartile", "gap_to_median", "gap_to_top_quartile",
]


class BenchmarkError(SPMError):
    """Benchmark values that cannot be read, or a benchmarking query that cannot run."""


# ---- helpers ----
def tenure_band(days: pd.Series) -> pd.Series:
    """The tenure band of each number of days employed."""
    edges = [b for b, _ in TENURE_BANDS[1:]]
    labels = np.array([label for _, label in TENURE_BANDS], dtype=object)
    return pd.Series(labels[np.searchsorted(edges, days.to_numpy(), side="right")], index=days.index)


def _floats(values: pd.Series) -> pd.Series:
    """Decimal/int/float/None values as float64 (NaN for missing)."""
    return pd.to_numeric(values.map(lambda v: np.nan if v is None else float(v)), errors="coerce")


def _goodness(frame: pd.DataFrame) -> pd.Series:
    """Values signed so that larger is better for every metric."""
    return frame["value_f"].where(frame["higher_is_better"], -frame["value_f"])


def rank_among(frame: pd.DataFrame, group_cols: list[str]) -> pd.DataFrame:
    """Add ``peers``, ``percentile``, ``peer_median``, ``peer_top_quartile`` and the gaps to a
    frame with ``value_f`` and ``higher_is_better``, ranking within ``group_cols``."""
    out = frame.copy()
    out["good"] = _goodness(out)
    groups = out.groupby(group_cols, dropna=False, sort=False)
    out["peers"] = groups["value_f"].transform("count").astype("int64")
    ranks = groups["good"].rank(method="average")
    out["percentile"] = 100.0 * (ranks - 0.5) / out["peers"].where(out["peers"] > 0)
    out["peer_median"] = groups["value_f"].transform("median")
    q75 = groups["value_f"].transform("quantile", 0.75)
    q25 = groups["value_f"].transform("quantile", 0.25)
    out["peer_top_quartile"] = q75.where(out["higher_is_better"], q25)
    sign = np.where(out["higher_is_better"], 1.0, -1.0)
    out["gap_to_median"] = sign * (out["peer_median"] - out["value_f"])
    out["gap_to_top_quartile"] = sign * (out["peer_top_quartile"] - out["value_f"])
    return out.drop(columns=["good"])


def _metric_table(ws: Workspace, names: Sequence[str] | None, grain: str) -> pd.DataFrame:
    from spm_kernel.metrics.query import resolve_metrics

    metrics = resolve_metrics(ws, names, grain)
    return pd.DataFrame({"metric": [m.name for m in metrics], "label": [m.label for m in metrics],
                         "higher_is_better": [m.higher_is_better for m in metrics]})


def _payee_attributes(ws: Workspace, period_end: date) -> pd.DataFrame:
    frame = ws.sql("""
        SELECT p.payee_id, p.name, p.role, p.team_id, coalesce(p.segment, '(none)') AS segment,
               datediff('day', p.hire_date, CAST(? AS DATE)) AS tenure_days
        FROM payees p""", [period_end])
    frame["tenure_band"] = tenure_band(frame["tenure_days"].clip(lower=0))
    return frame


def _scope_payees(ws: Workspace, scope: str | None, period: Any, as_of: date | None) -> set[str] | None:
    if scope is None:
        return None
    with MetricContext.open(ws, "payee", period, scope=scope, as_of=as_of) as ctx:
        return set(ctx.frame(f"SELECT payee_id FROM {ctx.payees}")["payee_id"])


# ---- peers ----
def peer_benchmarks(ws: Workspace, period: Any = None, metrics: Sequence[str] | None = None, *,
                    scope: str | None = None, roles: Sequence[str] = ("rep",),
                    peer_keys: Sequence[str] = PEER_KEYS, as_of: date | None = None,
                    options: MetricOptions | dict[str, Any] | None = None) -> pd.DataFrame:
    """Every payee's standing among peers, per KPI and period.

    Peers are the payees of ``roles`` sharing ``peer_keys`` (role, tenure band at the end of
    the period, segment), company-wide, in the same period; ``scope`` ("team:EMEA") only
    filters which payees are returned. ``period`` is one period or several (a list or a
    range: each is ranked on its own, in one metrics query). One row per (payee, metric,
    period) with the columns of :data:`BENCHMARK_COLUMNS`; values are floats here
    (benchmarks are not paid). A payee with no value for a metric (no closed deals) has no
    percentile and is not counted among the peers.
    """
    kpis = compute_metrics(ws, metrics, by="payee", period=period, as_of=as_of, options=options)
    ends = kpis[["period", "period_end"]].drop_duplicates("period")
    if ends.empty:
        raise BenchmarkError(f"no period to benchmark in {period!r}")
    people = pd.concat([_payee_attributes(ws, end).assign(period=label)
                        for label, end in ends.itertuples(index=False)], ignore_index=True)
    people = people[people["role"].isin(list(roles))]
    frame = kpis.merge(people, on=["payee_id", "period"], how="inner").merge(
        _metric_table(ws, metrics, "payee"), on="metric", how="left")
    frame["value_f"] = _floats(frame["value"])
    ranked = rank_among(frame, ["period", "metric", *peer_keys])
    keep = _scope_payees(ws, scope, period, as_of)
    if keep is not None:
        ranked = ranked[ranked["payee_id"].isin(keep)]
    ranked["value"] = ranked["value_f"]
    return ranked[BENCHMARK_COLUMNS].sort_values(["payee_id", "metric", "period"]).reset_index(drop=True)


def _team_segments(ws: Workspace) -> pd.DataFrame:
    """Each team's segment: the most common segment of its reps (``(none)`` without one)."""
    return ws.sql("""
        SELECT team_id, coalesce(mode(segment), '(none)') AS segment
        FROM payees WHERE team_id IS NOT NULL AND role = 'rep' GROUP BY team_id""")


def team_benchmarks(ws: Workspace, period: Any = None, metrics: Sequence[str] | None = None, *,
                    by: str = "team", scope: str | None = None, as_of: date | None = None,
                    peer_keys: Sequence[str] = ("segment",),
                    options: MetricOptions | dict[str, Any] | None = None) -> pd.DataFrame:
    """Every group at grain ``by`` (default team) ranked among its peers: for teams, by
    default the teams of the same segment (the most common segment of their reps;
    ``peer_keys=()`` ranks every team together), else every group of the grain. Size-dependent metrics (:data:`SIZE_DEPENDENT`, which grow with headcount)
    are left out unless named in ``metrics``. Several periods (a list or a range) are ranked
    each on its own, from one metrics query."""
    key = GRAINS[by]
    if metrics is None:
        from spm_kernel.metrics.query import resolve_metrics
        metrics = [m.name for m in resolve_metrics(ws, None, by) if m.name not in SIZE_DEPENDENT]
    kpis = compute_metrics(ws, metrics, by=by, period=period, as_of=as_of, options=options)
    frame = kpis.merge(_metric_table(ws, metrics, by), on="metric", how="left")
    frame["value_f"] = _floats(frame["value"])
    if by == "team":
        frame = frame.merge(_team_segments(ws), on="team_id", how="left")
        frame["segment"] = frame["segment"].fillna("(none)")
        ranked = rank_among(frame, ["period", "metric", *peer_keys])
    else:
        frame["segment"] = None
        ranked = rank_among(frame, ["period", "metric"])
    if scope is not None:
        keep = compute_metrics(ws, [ranked["metric"].iloc[0]], by=by, period=period, scope=scope,
                               as_of=as_of)[key]
        ranked = ranked[ranked[key].isin(set(keep))]
    ranked["value"] = ranked["value_f"]
    cols = [key, "segment", "metric", "label", "unit", "higher_is_better", "period", "value", "numerator",
            "denominator", "peers", "percentile", "peer_median", "peer_top_quartile",
            "gap_to_median", "gap_to_top_quartile"]
    return ranked[cols].sort_values([key, "metric", "period"]).reset_index(drop=True)


# ---- areas for improvement ----
def _fmt(values: pd.Series, unit: str, currency: str) -> pd.Series:
    """Values (floats) formatted for a sentence in ``unit``."""
    v = values.astype(float)
    if unit == "ratio":
        return v.map(lambda x: f"{x:.1%}")
    if unit == "currency":
        return v.map(lambda x: f"{currency} {x:,.0f}")
    if unit == "currency_per_day":
        return v.map(lambda x: f"{currency} {x:,.0f} a day")
    if unit == "days":
        return v.map(lambda x: f"{x:,.0f} days")
    if unit == "correlation":
        return v.map(lambda x: f"{x:.2f}")
    return v.map(lambda x: f"{x:,.1f}")


def _impacts(ws: Workspace, frame: pd.DataFrame, entity: str, days: pd.Series) -> pd.Series:
    """Each row's estimated revenue impact, from its metric's ``revenue_impact``, with the
    entity's other KPIs of the same period as ``kpi__<name>`` / ``kpi_num__<name>`` /
    ``kpi_den__<name>``."""
    index = [entity, "period"]
    wide = frame.pivot_table(index=index, columns="metric", values="value_f", aggfunc="first")
    nums = frame.assign(n=_floats(frame["numerator"])).pivot_table(index=index, columns="metric",
                                                                    values="n", aggfunc="first")
    dens = frame.assign(d=_floats(frame["denominator"])).pivot_table(index=index, columns="metric",
                                                                      values="d", aggfunc="first")
    context = pd.concat([wide.add_prefix("kpi__"), nums.add_prefix("kpi_num__"),
                         dens.add_prefix("kpi_den__")], axis=1)
    out = pd.Series(np.nan, index=frame.index, dtype="float64")
    catalogue = ws.registry.metrics
    for name, rows in frame.groupby("metric", sort=False):  # one call per metric, vectorised inside
        gaps = rows[["value_f", "numerator", "denominator", "gap_to_median", entity, "period"]].rename(
            columns={"value_f": "value", "gap_to_median": "gap"})
        gaps["target"] = rows["peer_median"]
        gaps["numerator"] = _floats(gaps["numerator"])
        gaps["denominator"] = _floats(gaps["denominator"])
        gaps["days"] = days.loc[rows.index]
        gaps = gaps.join(context, on=index)
        metric: Metric = catalogue[str(name)]
        out.loc[rows.index] = pd.to_numeric(metric.revenue_impact(gaps), errors="coerce").to_numpy()
    return out


def areas_for_improvement(ws: Workspace, period: Any = None, *, level: str = "payee",
                          metrics: Sequence[str] | None = None, scope: str | None = None,
                          top: int | None = 3, as_of: date | None = None,
                          peer_keys: Sequence[str] = PEER_KEYS, team_peer_keys: Sequence[str] = ("segment",),
                          options: MetricOptions | dict[str, Any] | None = None,
                          benchmarks: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per payee (``level="payee"``) or team (``level="team"``), the KPIs behind the peer
    median, ranked by estimated revenue impact (largest first; those whose impact cannot be
    estimated come last, by percentile), at most ``top`` each, per period (``period`` may name
    several: each is ranked on its own, with the column ``period`` saying which).

    Columns: the entity (``payee_id`` or ``team_id``), ``rank``, ``metric``, ``label``,
    ``value``, ``peer_median``, ``peer_top_quartile``, ``percentile``, ``peers``,
    ``revenue_impact`` (base currency, float), ``why`` (a sentence) and ``period``. Pass ``benchmarks``
    (the output of :func:`peer_benchmarks` / :func:`team_benchmarks`) to reuse it.
    """
    if level not in ("payee", "team"):
        raise BenchmarkError(f"level must be 'payee' or 'team', got {level!r}")
    entity = "payee_id" if level == "payee" else "team_id"
    if benchmarks is None:
        benchmarks = (peer_benchmarks(ws, period, metrics, scope=scope, as_of=as_of, options=options,
                                      peer_keys=peer_keys)
                      if level == "payee" else
                      team_benchmarks(ws, period, metrics, scope=scope, as_of=as_of, options=options,
                                      peer_keys=team_peer_keys))
    frame = benchmarks.copy()
    frame["value_f"] = frame["value"].astype(float)
    frame["peer_keys"] = bool(team_peer_keys) if level == "team" else True
    if level == "payee":
        described = [frame[k].astype(str) + ("s" if k == "role" else "") for k in peer_keys if k in frame]
        desc = pd.Series("", index=frame.index, dtype=object)
        for i, part in enumerate(described):  # "reps, 1-2 years, SMB; " (column-wise: no per-row apply)
            desc = desc + (", " if i else "") + part
        frame["peer_desc"] = desc + "; " if described else desc
    windows = parse_periods(period, freq=None, window="period", as_of=as_of or date.today(),
                            fiscal_year_start_month=ws.config.fiscal_year_start_month)
    days = frame["period"].map({w.label: float(w.days) for w in windows}).astype(float)
    frame["revenue_impact"] = _impacts(ws, frame, entity, days)
    behind = frame[(frame["gap_to_median"] > 0) & (frame["peers"] > 1)].copy()
    behind["has_impact"] = behind["revenue_impact"].notna() & (behind["revenue_impact"] > 0)
    behind = behind.sort_values([entity, "period", "has_impact", "revenue_impact", "percentile"],
                                ascending=[True, True, False, False, True])
    behind["rank"] = behind.groupby([entity, "period"]).cumcount() + 1
    if top is not None:
        behind = behind[behind["rank"] <= top]
    behind["why"] = _sentences(behind, level, ws.config.base_currency)
    cols = [entity, "rank", "metric", "label", "unit", "value", "peer_median", "peer_top_quartile",
            "percentile", "peers", "revenue_impact", "why", "period"]
    if level == "payee":
        cols[1:1] = ["name", "team_id"]
    return behind[cols].reset_index(drop=True)


def _sentences(frame: pd.DataFrame, level: str, currency: str) -> pd.Series:
    """One sentence per row: where the entity stands among whom, and what closing the gap
    to the peer median is worth."""
    out = pd.Series("", index=frame.index, dtype=object)
    for unit, rows in frame.groupby("unit", sort=False):  # formatting per unit, vectorised inside
        value = _fmt(rows["value"], str(unit), currency)
        median = _fmt(rows["peer_median"], str(unit), currency)
        n = rows["peers"].astype(str)
        if level == "payee":
            peers = "peers (" + rows["peer_desc"] + n + ")"
        elif "segment" in rows and rows["peer_keys"].iloc[0]:
            peers = rows["segment"].fillna("").astype(str) + " teams (" + n + ")"
        else:
            peers = "peers (" + n + ")"
        direction = pd.Series(np.where(rows["higher_is_better"], "below", "above"), index=rows.index)
        pct = rows["percentile"].round().astype("Int64").astype(str)
        impact = rows["revenue_impact"]
        worth = pd.Series(np.where(impact.notna() & (impact > 0),
                                   "; reaching it is worth about " + _fmt(impact.fillna(0), "currency", currency)
                                   + " of revenue in the period.",
                                   "; its revenue effect cannot be estimated from the data."), index=rows.index)
        out.loc[rows.index] = (rows["label"] + " is " + value + ", " + direction + " the median of " + median
                               + " among " + peers + ", " + pct + "th percentile" + worth)
    return out


# ---- external benchmarks ----
class ExternalBenchmark(BaseModel):
    """One industry figure for a metric: a single ``value`` or a ``p25``/``median``/``p75`` band."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    value: float | None = None
    p25: float | None = None
    median: float | None = None
    p75: float | None = None
    segment: str | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _has_a_figure(self) -> ExternalBenchmark:
        if self.value is None and self.median is None:
            raise ValueError("give a value or a median")
        if self.median is None:
            self.median = self.value
        if self.p25 is not None and self.p75 is not None and self.p25 > self.p75:
            raise ValueError(f"p25 ({self.p25}) is above p75 ({self.p75})")
        return self


def load_external_benchmarks(source: str | Path | pd.DataFrame, known: Sequence[str] | None = None) -> pd.DataFrame:
    """Read benchmark figures from a YAML file (a list of mappings, or ``{benchmarks: [...]}``),
    a CSV file or a DataFrame, with columns ``metric`` and ``value`` or ``median`` (optional
    ``p25``, ``p75``, ``segment``, ``source``). Every problem is reported at once with the file
    and the row (1-based); ``known`` names the metrics that exist."""
    label = "DataFrame" if isinstance(source, pd.DataFrame) else str(source)
    if isinstance(source, pd.DataFrame):
        records = source.to_dict("records")
    else:
        path = Path(source)
        if not path.is_file():
            raise BenchmarkError(f"{path}: no such file")
        if path.suffix.lower() in (".yaml", ".yml"):
            try:
                data = yaml.safe_load(path.read_text("utf-8"))
            except yaml.YAMLError as exc:
                raise BenchmarkError(f"{path}: not valid YAML: {exc}") from None
            records = data.get("benchmarks", []) if isinstance(data, dict) else data
            if not isinstance(records, list):
                raise BenchmarkError(f"{path}: expected a list of benchmarks")
        elif path.suffix.lower() == ".csv":
            records = pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")
        else:
            raise BenchmarkError(f"{path}: benchmarks must be .yaml, .yml or .csv")
    rows, problems = [], []
    for i, record in enumerate(records, start=1):
        clean = {k: (None if (isinstance(v, str) and v.strip() == "") or (isinstance(v, float) and np.isnan(v)) else v)
                 for k, v in dict(record).items()}
        try:
            item = ExternalBenchmark.model_validate(clean)
        except ValidationError as exc:
            problems += [f"row {i}: {'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors()]
            continue
        if known is not None and item.metric not in known:
            problems.append(f"row {i}: unknown metric {item.metric!r}")
            continue
        rows.append(item.model_dump())
    if problems:
        raise BenchmarkError(f"{label}: " + "; ".join(problems))
    return pd.DataFrame(rows, columns=list(ExternalBenchmark.model_fields))


def compare_with_external(ws: Workspace, benchmarks: str | Path | pd.DataFrame, period: Any = None, *,
                          scope: str | None = None, as_of: date | None = None) -> pd.DataFrame:
    """The company's (or scope's) KPIs beside the supplied industry figures.

    One row per benchmark: ``metric``, ``label``, ``unit``, ``segment``, ``value`` (ours, a
    float), ``p25``, ``median``, ``p75``, ``source``, ``gap_to_median`` (positive = behind) and
    ``position`` (``top quartile``, ``above median``, ``below median``, ``bottom quartile``,
    or ``no value``), which respects whether higher is better."""
    table = load_external_benchmarks(benchmarks, known=ws.registry.metrics.names())
    if table.empty:
        return table
    names = sorted(set(table["metric"]))
    meta = _metric_table(ws, names, "company")
    company = compute_metrics(ws, names, by="company", period=period, scope=scope, as_of=as_of)
    company = company[["metric", "value"]].assign(segment=None)
    parts = [company]
    if table["segment"].notna().any():
        seg_names = sorted(set(table.loc[table["segment"].notna(), "metric"]))
        by_seg = compute_metrics(ws, seg_names, by="segment", period=period, scope=scope, as_of=as_of)
        parts.append(by_seg[["metric", "segment", "value"]])
    ours = pd.concat(parts, ignore_index=True)
    ours["value"] = _floats(ours["value"])
    table["seg_key"] = table["segment"].fillna("")
    ours["seg_key"] = ours["segment"].fillna("")
    out = table.merge(ours[["metric", "seg_key", "value"]].rename(columns={"value": "ours"}),
                      on=["metric", "seg_key"], how="left").merge(meta, on="metric", how="left")
    units = {m: ws.registry.metrics[m].unit for m in names}
    out["unit"] = out["metric"].map(units)
    hib = out["higher_is_better"].astype(bool)
    sign = np.where(hib, 1.0, -1.0)
    out["gap_to_median"] = sign * (out["median"] - out["ours"])
    top = np.where(hib, out["p75"], out["p25"])
    bottom = np.where(hib, out["p25"], out["p75"])
    better_than = lambda ref: np.where(hib, out["ours"] >= ref, out["ours"] <= ref)  # noqa: E731
    position = np.select(
        [out["ours"].isna(),
         pd.notna(top) & better_than(top),
         better_than(out["median"]),
         pd.notna(bottom) & ~better_than(bottom)],
        ["no value", "top quartile", "above median", "bottom quartile"], default="below median")
    out["position"] = position
    out = out.rename(columns={"value": "benchmark_value", "ours": "value"})
    return out[["metric", "label", "unit", "segment", "value", "p25", "median", "p75", "source",
                "gap_to_median", "position"]].reset_index(drop=True)


__all__ = [
    "BENCHMARK_COLUMNS", "BenchmarkError", "ExternalBenchmark", "PEER_KEYS", "TENURE_BANDS",
    "areas_for_improvement", "compare_with_external", "load_external_benchmarks", "peer_benchmarks",
    "rank_among", "team_benchmarks", "tenure_band", "MetricError",
]
