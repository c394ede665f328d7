"""The measured effect of a training module on a KPI: difference in differences against
comparable untrained peers, partially pooled across teams (PyMC).

The KPI is the **win rate by count** of the deals a rep creates (``metric="win_rate"``):
a closed deal is won or lost, and a deal counts as *after training* when it was created
after the day its owner completed the module (the day of completion itself counts as
before). Design:

* **Data.** Closed deals of ``deal_types`` (new and expansion by default: renewals follow
  their own logic) owned by reps, created from ``since`` to ``until``, grouped into cells of
  (owner, fiscal quarter of creation, deal type, after training yes/no) with ``deals`` and
  ``wins``. Deals a rep created in their first ``exclude_ramp_days`` days of tenure are left
  out: ramping reps improve whether trained or not, so they are not comparable.
* **Comparable peers.** Untrained reps of the same segments form the control group; the
  trained reps' own deals before training count too (that is what makes it a difference in
  differences). Segments without a trained rep are left out.
* **Model** (log link, so the effect is a *relative* change, a rate ratio)::

      wins[c] ~ Poisson(deals[c] * exp(eta[c]))
      eta[c]  = time[segment, quarter] + type[segment] * (deal type is not the first)
                + group[segment] * trained[owner] + rep[owner]
                + after[c] * effect_team[team]
      time ~ Normal(-1.5, 1), type ~ Normal(0, 1), group ~ Normal(0, 1)
      rep ~ Normal(0, sigma_rep),  sigma_rep ~ HalfNormal(0.5)        (rep levels, pooled)
      effect_team = tau + sigma_team * z,  z ~ Normal(0, 1)           (partial pooling of teams)
      tau ~ Normal(0, 0.5),  sigma_team ~ HalfNormal(0.1)

  ``group`` is the level of the reps who were trained (the weakest are picked) and the rep
  levels vary around their group's, so shrinking a rep towards the mean never leaks into
  the effect; the segment-by-quarter terms absorb what happened to everyone (the common
  trend of a difference in differences); ``exp(tau) - 1`` is the
  relative change in win rate attributable to training. The Poisson likelihood is a
  slightly conservative stand-in for the binomial (its variance is larger), which keeps the
  log link's rate-ratio meaning.
* **Result.** :class:`EffectEstimate`: posterior mean of ``exp(tau) - 1``, its equal-tailed
  credible interval (``interval=0.9`` -> 5th and 95th percentiles), the probability it is
  positive, the trained reps' win rate before training (``baseline``) and the effect in
  points (``baseline x effect``), per-team effects, and ArviZ diagnostics (r-hat, ESS,
  divergences). :func:`store_estimate` writes it to ``training_effects`` so reports and apps
  show it without refitting.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from spm_kernel.errors import SPMError

if TYPE_CHECKING:
    from spm_kernel.workspace import Workspace

SUPPORTED_METRICS = ("win_rate",)


class TrainingEffectError(SPMError):
    """The effect cannot be estimated (no trained or no untrained reps, unknown module...)."""


class EffectSettings(BaseModel):
    """How the effect is estimated (every field is stored with the estimate)."""

    model_config = ConfigDict(extra="forbid")

    module_id: str = "TRN-NEG-01"
    metric: str = "win_rate"
    deal_types: tuple[str, ...] = ("new", "expansion")
    since: date | None = None
    until: date | None = None
    exclude_ramp_days: int = Field(270, ge=0)
    interval: float = Field(0.9, gt=0.0, lt=1.0)
    draws: int = Field(400, ge=50)
    tune: int = Field(400, ge=50)
    chains: int = Field(2, ge=1)
    target_accept: float = Field(0.9, gt=0.5, lt=1.0)
    seed: int = 20261
    progress: bool = False


@dataclass
class EffectEstimate:
    """A fitted effect (relative changes: 0.15 = +15%)."""

    module_id: str
    metric: str
    effect: float
    lower: float
    upper: float
    interval: float
    prob_positive: float
    baseline: float
    effect_points: float
    trained_payees: int
    control_payees: int
    deals: int
    first_date: date
    last_date: date
    teams: pd.DataFrame            # team_id, trained_payees, effect, lower, upper
    diagnostics: dict[str, float]
    settings: EffectSettings
    idata: Any = field(default=None, repr=False)   # the ArviZ InferenceData

    def summary(self) -> str:
        pct = round(self.interval * 100)
        return (f"{self.module_id} on {self.metric}: {self.effect:+.1%} "
                f"({pct}% interval {self.lower:+.1%} to {self.upper:+.1%}; P(>0) = {self.prob_positive:.2f}); "
                f"baseline {self.baseline:.1%} -> {self.effect_points * 100:+.1f} pts; "
                f"{self.trained_payees} trained vs {self.control_payees} untrained reps, {self.deals:,} deals")


def effect_cells(ws: Workspace, settings: EffectSettings) -> pd.DataFrame:
    """The model's data: one row per (owner, quarter, deal type, after) with ``deals``,
    ``wins``, ``segment``, ``team_id`` and ``trained`` (the owner completed the module)."""
    if settings.metric not in SUPPORTED_METRICS:
        raise TrainingEffectError(f"metric {settings.metric!r}: the training effect is measured on "
                                  f"{', '.join(SUPPORTED_METRICS)}")
    known = ws.con.execute("SELECT count(*) FROM training_modules WHERE module_id = ?",
                           [settings.module_id]).fetchall()[0][0]
    if not known:
        raise TrainingEffectError(f"unknown training module {settings.module_id!r}")
    fsm = ws.config.fiscal_year_start_month
    cells = ws.sql(f"""
        WITH done AS (
            SELECT payee_id, min(CAST(completed_at AS DATE)) AS done_day
            FROM training_completions WHERE module_id = $module GROUP BY payee_id),
        deals AS (
            SELECT o.owner_id, o.created_date, o.deal_type, o.is_won, p.segment, p.team_id,
                   d.done_day,
                   coalesce(o.created_date > d.done_day, false) AS after
            FROM opportunities o
            JOIN payees p ON p.payee_id = o.owner_id
            LEFT JOIN done d ON d.payee_id = o.owner_id
            WHERE o.is_closed AND p.role = 'rep' AND p.segment IS NOT NULL AND p.team_id IS NOT NULL
              AND list_contains($types, o.deal_type)
              AND o.created_date >= p.hire_date + to_days(CAST($ramp AS INTEGER))
              AND ($since IS NULL OR o.created_date >= $since)
              AND ($until IS NULL OR o.created_date <= $until))
        SELECT owner_id AS payee_id, segment, team_id, deal_type,
               year(created_date + to_months(CAST({(13 - fsm) % 12} AS INTEGER))) * 10
                 + quarter(created_date + to_months(CAST({(13 - fsm) % 12} AS INTEGER))) AS quarter,
               after, done_day IS NOT NULL AS trained,
               count(*) AS deals, sum(is_won::INTEGER) AS wins,
               min(created_date) AS first_date, max(created_date) AS last_date
        FROM deals GROUP BY ALL ORDER BY payee_id, quarter, deal_type, after""",
        {"module": settings.module_id, "types": list(settings.deal_types),
         "ramp": settings.exclude_ramp_days, "since": settings.since, "until": settings.until})
    if cells.empty:
        return cells
    trained_segments = set(cells.loc[cells["after"], "segment"])
    return cells[cells["segment"].isin(trained_segments)].reset_index(drop=True)


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype("int64"), np.asarray(uniques)


def estimate_effect(ws: Workspace, settings: EffectSettings | None = None, **options: Any) -> EffectEstimate:
    """Fit the model of this module's docstring and summarise it (nothing is stored; see
    :func:`store_estimate`). ``options`` override fields of :class:`EffectSettings`."""
    from spm_kernel.pytensor_setup import link_openblas

    link_openblas()
    import arviz as az
    import pymc as pm

    settings = EffectSettings.model_validate({**(settings or EffectSettings()).model_dump(), **options})
    cells = effect_cells(ws, settings)
    if cells.empty or not cells["after"].any():
        raise TrainingEffectError(f"no deal was created after completing {settings.module_id}: nothing "
                                  "to measure (import completions first)")
    if cells["trained"].all():
        raise TrainingEffectError(f"every rep completed {settings.module_id}: no untrained peers to compare with")
    rep, reps = _codes(cells["payee_id"])
    time, _ = _codes(cells["segment"] + "|" + cells["quarter"].astype(str))
    segment, segments = _codes(cells["segment"])
    team, teams = _codes(cells["team_id"])
    first_type = settings.deal_types[0]
    other_type = (cells["deal_type"] != first_type).to_numpy(dtype="float64")
    trained = cells["trained"].to_numpy(dtype="float64")
    after = cells["after"].to_numpy(dtype="float64")
    deals = cells["deals"].to_numpy(dtype="float64")
    wins = cells["wins"].to_numpy(dtype="int64")
    coords = {"rep": reps, "time": np.arange(time.max() + 1), "segment": segments, "team": teams}
    with pm.Model(coords=coords):
        time_fx = pm.Normal("time_effect", -1.5, 1.0, dims="time")
        type_fx = pm.Normal("deal_type_effect", 0.0, 1.0, dims="segment")
        group_fx = pm.Normal("trained_group", 0.0, 1.0, dims="segment")
        sigma_rep = pm.HalfNormal("sigma_rep", 0.5)
        rep_fx = pm.Normal("rep_effect", 0.0, sigma_rep, dims="rep")  # centred: reps have many deals
        tau = pm.Normal("tau", 0.0, 0.5)
        sigma_team = pm.HalfNormal("sigma_team", 0.1)
        team_z = pm.Normal("team_z", 0.0, 1.0, dims="team")
        team_fx = pm.Deterministic("team_effect", tau + sigma_team * team_z, dims="team")
        eta = (time_fx[time] + other_type * type_fx[segment] + trained * group_fx[segment]
               + rep_fx[rep] + after * team_fx[team])
        pm.Poisson("wins", mu=deals * pm.math.exp(eta), observed=wins)
        idata = pm.sample(draws=settings.draws, tune=settings.tune, chains=settings.chains,
                          cores=min(settings.chains, os.cpu_count() or 1),
                          target_accept=settings.target_accept, random_seed=settings.seed,
                          progressbar=settings.progress, compute_convergence_checks=False)
    post = idata.posterior
    rel = np.expm1(post["tau"].to_numpy().ravel())
    tail = (1.0 - settings.interval) / 2.0
    lower, upper = np.quantile(rel, [tail, 1.0 - tail])
    team_rel = np.expm1(post["team_effect"].to_numpy().reshape(-1, len(teams)))
    trained_cells = cells[cells["trained"]]
    team_rows = pd.DataFrame({
        "team_id": teams, "effect": team_rel.mean(axis=0),
        "lower": np.quantile(team_rel, tail, axis=0), "upper": np.quantile(team_rel, 1.0 - tail, axis=0)})
    team_rows["trained_payees"] = team_rows["team_id"].map(
        trained_cells.groupby("team_id")["payee_id"].nunique()).fillna(0).astype("int64")
    before = trained_cells[~trained_cells["after"]]
    baseline = float(before["wins"].sum() / before["deals"].sum()) if before["deals"].sum() else float("nan")
    summary = az.summary(idata, var_names=["tau", "sigma_team", "sigma_rep"], kind="diagnostics")
    diagnostics = {
        "r_hat_max": float(summary["r_hat"].max()),
        "ess_bulk_min": float(summary["ess_bulk"].min()),
        "divergences": int(idata.sample_stats["diverging"].sum()),
    }
    effect = float(rel.mean())
    return EffectEstimate(
        module_id=settings.module_id, metric=settings.metric, effect=effect, lower=float(lower),
        upper=float(upper), interval=settings.interval, prob_positive=float((rel > 0).mean()),
        baseline=baseline, effect_points=baseline * effect,
        trained_payees=int(cells.loc[cells["trained"], "payee_id"].nunique()),
        control_payees=int(cells.loc[~cells["trained"], "payee_id"].nunique()),
        deals=int(cells["deals"].sum()), first_date=cells["first_date"].min(),
        last_date=cells["last_date"].max(), teams=team_rows, diagnostics=diagnostics,
        settings=settings, idata=idata)


def _dec(value: float) -> Decimal | None:
    return None if value is None or not np.isfinite(value) else Decimal(f"{value:.6f}")


def store_estimate(ws: Workspace, estimate: EffectEstimate, *, actor: str | None = None) -> str:
    """Append ``estimate`` to ``training_effects``; returns its ``estimate_id``."""
    ws._check_writable()
    estimate_id = f"TE-{datetime.now():%Y%m%d%H%M%S}-{uuid.uuid4().hex[:6]}"
    teams = [{k: (v if isinstance(v, str) else (int(v) if k == "trained_payees" else round(float(v), 6)))
              for k, v in row.items()} for row in estimate.teams.to_dict("records")]
    ws.con.execute(
        "INSERT INTO training_effects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [estimate_id, estimate.module_id, estimate.metric, datetime.now().replace(microsecond=0),
         estimate.first_date, estimate.last_date, _dec(estimate.effect), _dec(estimate.lower),
         _dec(estimate.upper), _dec(estimate.interval), _dec(estimate.prob_positive),
         _dec(estimate.baseline), _dec(estimate.effect_points), estimate.trained_payees,
         estimate.control_payees, estimate.deals, json.dumps(teams), json.dumps(estimate.diagnostics),
         estimate.settings.model_dump_json(), actor or os.environ.get("USER") or "spm"])
    return estimate_id


def latest_estimates(ws: Workspace) -> pd.DataFrame:
    """The newest stored estimate per (module, metric), with the module's title; empty when
    none was stored. Values are floats (statistics, not money)."""
    frame = ws.sql("""
        SELECT e.*, m.title FROM training_effects e
        LEFT JOIN training_modules m USING (module_id)
        QUALIFY row_number() OVER (PARTITION BY e.module_id, e.metric
                                   ORDER BY e.estimated_at DESC, e.estimate_id DESC) = 1
        ORDER BY e.module_id, e.metric""")
    for col in ("effect", "lower", "upper", "interval_prob", "prob_positive", "baseline", "effect_points"):
        frame[col] = pd.to_numeric(frame[col].map(lambda v: np.nan if v is None else float(v)))
    return frame


__all__ = ["EffectEstimate", "EffectSettings", "SUPPORTED_METRICS", "TrainingEffectError", "effect_cells",
           "estimate_effect", "latest_estimates", "store_estimate"]
