"""Configuration of the forecasting models: pydantic models whose defaults are documented.

Every model takes a config *merged over its defaults*: pass a partial mapping (or a config
object) and only the keys you name change, at any depth::

    BookingsModel({"sampler": {"draws": 200}, "horizon": 6})

Unknown keys are refused (``extra="forbid"``) so a typo is an error, never a silent default.
The config hash that guards saved models covers every option that changes results; it
leaves out options that only change how sampling is shown (``sampler.progressbar``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

C = TypeVar("C", bound=BaseModel)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SamplerConfig(Strict):
    """How the posterior is sampled (NUTS)."""

    backend: Literal["pymc", "nutpie"] = Field(
        "pymc", description="pymc: PyMC's NUTS on the C backend (compiled once, cached); "
        "nutpie: nutpie's Rust NUTS on the numba backend")
    chains: int = Field(2, ge=1, le=8, description="independent chains (R-hat needs >= 2)")
    cores: int = Field(2, ge=1, le=8, description="chains run in parallel on this many cores")
    tune: int = Field(400, ge=20, description="warm-up draws per chain (discarded)")
    draws: int = Field(400, ge=10, description="kept draws per chain")
    target_accept: float = Field(0.9, gt=0.5, lt=1.0, description="NUTS step-size target")
    random_seed: int = Field(20240601, description="same seed + same data = same samples")
    progressbar: bool = Field(True, description="show a tqdm progress bar while sampling")
    low_rank_mass_matrix: bool = Field(False, description="nutpie only: adapt a low-rank "
                                       "correction to the diagonal mass matrix, for posteriors "
                                       "with a few strongly correlated directions")

    @model_validator(mode="after")
    def _low_rank_needs_nutpie(self) -> SamplerConfig:
        if self.low_rank_mass_matrix and self.backend != "nutpie":
            raise ValueError("sampler.low_rank_mass_matrix needs sampler.backend 'nutpie' "
                             "(PyMC's NUTS adapts a diagonal mass matrix only): with backend "
                             "'pymc', set low_rank_mass_matrix to false")
        return self


class DiagnosticsConfig(Strict):
    """Thresholds checked after every fit; breaching one raises a ConvergenceWarning."""

    max_rhat: float = Field(1.05, gt=1.0, description="largest acceptable split R-hat")
    min_ess_bulk: float = Field(100.0, gt=0, description="smallest acceptable bulk ESS")
    max_divergences: int = Field(0, ge=0, description="divergent transitions tolerated")


class BookingsPriors(Strict):
    """Prior scales of the hierarchical bookings model (on the log and logit scales)."""

    level_sd: float = Field(1.0, gt=0, description="spread of payee levels around team/region")
    group_sd: float = Field(0.5, gt=0, description="spread of team and region levels")
    slope_sd: float = Field(0.3, gt=0, description="spread of yearly log-growth rates")
    changepoint_sd: float = Field(0.2, gt=0, description="spread of yearly slope changes")
    season_sd: float = Field(0.3, gt=0, description="spread of month-of-year effects")
    quarter_sd: float = Field(0.5, gt=0, description="spread of month-of-quarter effects")
    ramp_sd: float = Field(1.0, gt=0, description="scale of the new-hire shortfall")
    ramp_months: float = Field(3.0, gt=0, description="prior median ramp time constant")
    noise_sd: float = Field(1.0, gt=0, description="scale of the log-normal spread of positive months")


class BookingsConfig(Strict):
    """Model A, hierarchical monthly bookings per payee (see docs/forecasting.md)."""

    sampler: SamplerConfig = Field(default_factory=lambda: SamplerConfig(backend="nutpie"),
                                   description="nutpie by default: its mass-matrix adaptation "
                                   "takes a quarter of the leapfrog steps PyMC's takes on this "
                                   "model, and each step has no Python overhead")
    diagnostics: DiagnosticsConfig = Field(default_factory=DiagnosticsConfig)
    priors: BookingsPriors = Field(default_factory=BookingsPriors)
    history_months: int = Field(36, ge=6, description="fit on at most this many recent months")
    horizon: int = Field(12, ge=1, le=36, description="default months ahead to forecast")
    scale: Literal["global", "series"] = Field(
        "global", description="global: one money scale for everyone, so levels pool in "
        "absolute terms (payees); series: each series scaled by its own median (panels of "
        "unrelated series such as M3)")
    changepoint_every: int = Field(12, ge=0, description="months between trend changepoints; "
                                   "0 = a single straight trend")
    trend_damping: float = Field(0.95, gt=0, le=1.0, description="per-month damping of the "
                                 "last slope in forecasts (1 = straight line)")
    series_seasonality: bool = Field(False, description="each series has its own month-of-year "
                                     "deviations, pooled toward its team's pattern")
    ramp: bool = Field(True, description="model a new-hire shortfall decaying with tenure")
    parameterisation: Literal["noncentred", "centred", "mixed"] = Field(
        "mixed", description="noncentred: series effects as spread x standard normal "
        "(sparse, lumpy data such as payees); centred: series effects drawn directly around "
        "their group (long, smooth series such as M3, where non-centred NUTS takes long "
        "trajectories); mixed: each payee, team and region level (and hurdle level) centred "
        "when its own months pin it, non-centred otherwise; slopes, changepoints, "
        "per-series seasons and noise spreads non-centred")
    ar_errors: bool = Field(False, description="log-scale errors of consecutive positive months "
                            "follow an AR(1) per series, so forecasts start from the last month's "
                            "deviation from the trend and decay back to it (a local level)")
    annual_echo: bool = Field(False, description="the same month a year before (a booking, its "
                              "size, nothing, or not observed) moves whether anything closes and "
                              "how much: renewals and other yearly business. Off by default: on "
                              "the demo it forecasts better (payee MASE 1.038 against 1.129) but "
                              "its 80% intervals cover 90-93% of outcomes")
    renewals: bool = Field(True, description="the renewal book (subscription ARR coming up for "
                           "renewal in a month, known ahead) moves whether anything closes and how "
                           "much; used when the data carry it (:class:`BookingsData`, and every "
                           "workspace forecast)")
    fiscal_year_start_month: int = Field(1, ge=1, le=12, description="defines quarter ends")
    posterior_samples: int = Field(1000, ge=1, description="predictive samples kept per forecast")

    @property
    def months_of_history(self) -> int:
        """Months of history a fit reads: the window, and the year before it for the echo."""
        return self.history_months + (12 if self.annual_echo else 0)


class PipelinePriors(Strict):
    """Prior scales of the pipeline model (logit scale for win odds, log-days for cycle)."""

    effect_sd: float = Field(1.0, gt=0, description="spread of stage/age/size/segment effects")
    owner_sd: float = Field(0.5, gt=0, description="spread of owner effects")
    cycle_sd: float = Field(1.0, gt=0, description="prior scale of log cycle-length effects")


class PipelineConfig(Strict):
    """Model B, win probability and close-date of open opportunities."""

    # nutpie with a low-rank mass matrix: on the demo (175 owners, 4,647 cells) R-hat 1.02 and
    # bulk ESS 367 in 35 s, against PyMC's NUTS: ESS 84 in 72 s (diagonal nutpie: ESS 13)
    sampler: SamplerConfig = Field(default_factory=lambda: SamplerConfig(
        backend="nutpie", tune=300, draws=300, low_rank_mass_matrix=True))
    diagnostics: DiagnosticsConfig = Field(default_factory=DiagnosticsConfig)
    priors: PipelinePriors = Field(default_factory=PipelinePriors)
    training_months: int = Field(24, ge=3, description="learn from deals closed in this many "
                                 "months before the as-of date")
    age_edges_days: list[int] = Field([30, 60, 120, 240], description="deal-age buckets")
    size_buckets: int = Field(4, ge=1, le=10, description="deal-size quantile buckets")
    snapshot_every_days: int = Field(30, ge=7, description="spacing of training snapshots of "
                                     "each deal while it was open")
    simulations: int = Field(2000, ge=100, description="Monte Carlo runs over open deals")
    commit_quantile: float = Field(0.9, gt=0.5, lt=1.0, description="commit = the amount "
                                   "reached with this probability")
    best_case_quantile: float = Field(0.1, gt=0.0, lt=0.5, description="best case = the amount "
                                      "reached with this probability")


def merge(defaults: C, overrides: BaseModel | Mapping[str, Any] | None) -> C:
    """``overrides`` deep-merged over ``defaults`` and validated as the same model."""
    if overrides is None:
        return defaults
    if isinstance(overrides, BaseModel):
        overrides = overrides.model_dump(exclude_unset=True)
    merged = _deep_merge(defaults.model_dump(), dict(overrides))
    return type(defaults).model_validate(merged)


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, BaseModel):
            value = value.model_dump(exclude_unset=True)
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def config_hash(config: BaseModel) -> str:
    """SHA-256 of the options that change results.

    Left out: ``sampler.progressbar`` and ``sampler.cores`` (each chain has its own seed, so
    running chains in parallel or one after the other gives the same draws).
    """
    data = config.model_dump(mode="json")
    if isinstance(data.get("sampler"), dict):
        data["sampler"].pop("progressbar", None)
        data["sampler"].pop("cores", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
