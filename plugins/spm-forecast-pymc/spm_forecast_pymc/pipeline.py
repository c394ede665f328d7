"""Model B: win probability and time-to-close of open opportunities, and the Monte Carlo of
what the open pipeline will book in a window.

Training frame (from :func:`spm_forecast_pymc.data.pipeline_training`): one row per snapshot
of a closed deal while it was open, with ``stage``, ``age_days``, ``segment``, ``amount``,
``owner_id``, ``won`` (1/0) and ``days_to_close``.

* **Win probability** (hierarchical logistic): ``logit P(won) = b0 + stage + age_bucket +
  size_bucket + segment + owner``, every effect a partially pooled group with its spread
  learned (levels with data centred and summing to zero; levels without, such as
  ``(other)``, drawn around the base). Snapshots are aggregated to binomial counts per
  cell, which is exact for this likelihood and keeps sampling fast however many deals
  there are.
* **Time to close** of deals that are won: ``log(days from the snapshot to the close) ~
  Normal(c0 + stage + age_bucket + segment, sigma)``, fitted from per-cell sufficient
  statistics (count, mean, sum of squares: again exact). This is how close dates slip: an
  older deal in an early stage is expected to need longer, whatever date the CRM shows.
  The CRM's expected close date is not used, because the workspace keeps only the final
  close date of closed deals, so the model cannot learn how the CRM's dates were wrong.

Monte Carlo: each simulation takes one posterior draw, decides every open deal's win with
its probability and its close date from the time-to-close distribution, and adds the won
deals that close inside the window. Sample *k* of every owner comes from the same
simulation, so team and company totals are sums of owner samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from spm_forecast_pymc.builder import ModelBuilder, data_hash
from spm_forecast_pymc.config import PipelineConfig
from spm_forecast_pymc.sampling import sample

TRAINING_COLUMNS = ("stage", "age_days", "segment", "amount", "owner_id", "won", "days_to_close")
OPEN_COLUMNS = ("opportunity_id", "owner_id", "stage", "age_days", "segment", "amount")
OTHER = "(other)"


class PipelineDataError(ValueError):
    """The training or open-deal frame breaks its contract; the message names the problem."""


def _check(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PipelineDataError(f"{what} is missing column(s) {missing}; it needs {list(columns)}")


def age_bucket(age_days: np.ndarray, edges: list[int]) -> np.ndarray:
    return np.searchsorted(np.asarray(edges), np.asarray(age_days, dtype=float), side="right")


def size_bucket(amount: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges, np.log(np.clip(np.asarray(amount, dtype=float), 1.0, None)),
                           side="right")


@dataclass(frozen=True)
class Levels:
    stages: np.ndarray
    segments: np.ndarray
    owners: np.ndarray
    size_edges: np.ndarray


def _levels(training: pd.DataFrame, config: PipelineConfig) -> Levels:
    log_amount = np.log(np.clip(training["amount"].to_numpy(dtype=float), 1.0, None))
    qs = np.linspace(0, 1, config.size_buckets + 1)[1:-1]
    edges = np.unique(np.quantile(log_amount, qs)) if len(qs) else np.array([], dtype=float)
    return Levels(
        stages=np.array(sorted(set(training["stage"].astype(str))) + [OTHER], dtype=object),
        segments=np.array(sorted(set(training["segment"].astype(str))) + [OTHER], dtype=object),
        owners=np.array(sorted(set(training["owner_id"].astype(str))) + [OTHER], dtype=object),
        size_edges=edges,
    )


def _codes(values: pd.Series, levels: np.ndarray) -> np.ndarray:
    idx = pd.Index(levels).get_indexer(values.astype(str))
    return np.where(idx < 0, len(levels) - 1, idx)  # unseen -> "(other)", the pooled mean


def _features(frame: pd.DataFrame, lv: Levels, config: PipelineConfig) -> pd.DataFrame:
    return pd.DataFrame({
        "stage": _codes(frame["stage"], lv.stages),
        "age": age_bucket(frame["age_days"].to_numpy(), config.age_edges_days),
        "size": size_bucket(frame["amount"].to_numpy(), lv.size_edges),
        "segment": _codes(frame["segment"], lv.segments),
        "owner": _codes(frame["owner_id"], lv.owners),
    })


def build_model(training: pd.DataFrame, lv: Levels, config: PipelineConfig) -> pm.Model:
    feats = _features(training, lv, config)
    feats["won"] = training["won"].to_numpy(dtype=int)
    cells = feats.groupby(["stage", "age", "size", "segment", "owner"], as_index=False).agg(
        n=("won", "size"), wins=("won", "sum"))
    won = training["won"].to_numpy(dtype=bool)
    days = np.clip(training["days_to_close"].to_numpy(dtype=float), 1.0, None)
    t = feats.loc[won, ["stage", "age", "segment"]].assign(y=np.log(days[won]))
    tc = t.groupby(["stage", "age", "segment"], as_index=False).agg(
        n=("y", "size"), mean=("y", "mean"), ss=("y", lambda v: float(((v - v.mean()) ** 2).sum())))
    n_age = len(config.age_edges_days) + 1
    n_size = len(lv.size_edges) + 1
    pri = config.priors
    coords = {"stage": lv.stages, "age_bucket": np.arange(n_age), "size_bucket": np.arange(n_size),
              "segment": lv.segments, "owner": lv.owners}
    with pm.Model(coords=coords) as model:
        def effect(name: str, dim: str, sd: float, used: np.ndarray) -> pt.TensorVariable:
            # Levels with data (``used``: the level of each likelihood row) are centred: many
            # snapshots pin each of them (non-centred, a chain could drift into the funnel of
            # a spread near zero: R-hat above 2). Their effects sum to zero, so the base alone
            # is their average (with free means, the base and each group's mean formed a
            # ridge). Levels without data, such as "(other)" (every stage, segment or owner
            # unseen in training), are non-centred draws around the base: the pooled mean,
            # with the group's spread.
            spread = pm.HalfNormal(f"{name}_sd", sd)
            seen = np.unique(used)
            unseen = np.setdiff1d(np.arange(len(coords[dim])), seen)
            value = pt.zeros(len(coords[dim]))
            if len(seen) > 1:
                value = pt.set_subtensor(value[seen], pm.ZeroSumNormal(f"{name}_seen", sigma=spread,
                                                                       shape=len(seen)))
            if len(unseen):
                value = pt.set_subtensor(value[unseen], spread * pm.Normal(f"{name}_unseen_z", 0, 1,
                                                                           shape=len(unseen)))
            return pm.Deterministic(name, value, dims=dim)

        b0 = pm.Normal("win_base", 0, 1.5)
        w_stage = effect("win_stage", "stage", pri.effect_sd, cells["stage"].to_numpy())
        w_age = effect("win_age", "age_bucket", pri.effect_sd, cells["age"].to_numpy())
        w_size = effect("win_size", "size_bucket", pri.effect_sd, cells["size"].to_numpy())
        w_seg = effect("win_segment", "segment", pri.effect_sd, cells["segment"].to_numpy())
        w_owner = effect("win_owner", "owner", pri.owner_sd, cells["owner"].to_numpy())
        logit = (b0 + w_stage[cells["stage"].to_numpy()] + w_age[cells["age"].to_numpy()]
                 + w_size[cells["size"].to_numpy()] + w_seg[cells["segment"].to_numpy()]
                 + w_owner[cells["owner"].to_numpy()])
        pm.Binomial("wins", n=cells["n"].to_numpy(), logit_p=logit, observed=cells["wins"].to_numpy())

        c0 = pm.Normal("close_base", np.log(60.0), 1.5)
        c_stage = effect("close_stage", "stage", pri.cycle_sd, tc["stage"].to_numpy())
        c_age = effect("close_age", "age_bucket", pri.cycle_sd, tc["age"].to_numpy())
        c_seg = effect("close_segment", "segment", pri.cycle_sd, tc["segment"].to_numpy())
        sigma = pm.HalfNormal("close_sigma", pri.cycle_sd)
        if len(tc):
            mu = (c0 + c_stage[tc["stage"].to_numpy()] + c_age[tc["age"].to_numpy()]
                  + c_seg[tc["segment"].to_numpy()])
            n = tc["n"].to_numpy(dtype=float)
            # exact Normal log-likelihood from sufficient statistics (n, mean, sum of squares)
            pm.Potential("log_days", pt.sum(
                -n * pt.log(sigma) - (tc["ss"].to_numpy() + n * (tc["mean"].to_numpy() - mu) ** 2)
                / (2 * sigma ** 2)) - 0.5 * np.log(2 * np.pi) * float(n.sum()))
    return model


def _draws(idata: az.InferenceData, name: str, pick: np.ndarray) -> np.ndarray:
    da = idata.posterior[name]
    return da.stack(sample=("chain", "draw")).transpose("sample", ...).values[pick]


@dataclass
class PipelineSimulation:
    """The Monte Carlo of one window: per-deal probabilities and per-owner samples."""

    window_start: date
    window_end: date
    deals: pd.DataFrame     # one row per open deal with p_win, p_close_in_window, p_book, expected
    samples: np.ndarray     # (simulations, owners) booked amount from pipeline
    owners: np.ndarray

    def owner_samples(self) -> pd.DataFrame:
        """Tidy: ``owner_id``, ``sample``, ``value``."""
        s, o = self.samples.shape
        return pd.DataFrame({"owner_id": np.repeat(self.owners, s),
                             "sample": np.tile(np.arange(s), o),
                             "value": self.samples.T.reshape(-1)})

    def totals(self) -> np.ndarray:
        return self.samples.sum(axis=1)


class PipelineModel(ModelBuilder[PipelineConfig]):
    """Model B. ``fit(training)`` then ``simulate(open_deals, as_of, window_end)``."""

    name: ClassVar[str] = "pipeline"
    # 2: centred effects of the levels with data, summing to zero; 3: nutpie, low-rank mass matrix
    version: ClassVar[str] = "3"
    config_class = PipelineConfig

    def hash_data(self, data: pd.DataFrame) -> str:
        _check(data, TRAINING_COLUMNS, "pipeline training frame")
        cols = list(TRAINING_COLUMNS)
        return data_hash(data[cols].astype(str).sort_values(cols).reset_index(drop=True))

    def _fit(self, data: pd.DataFrame) -> az.InferenceData:
        _check(data, TRAINING_COLUMNS, "pipeline training frame")
        if data.empty:
            raise PipelineDataError("no closed deals to learn win rates from in the training window")
        lv = _levels(data, self.config)
        model = build_model(data, lv, self.config)
        idata = sample(model, self.config.sampler, "pipeline model")
        idata.add_groups({"constant_data": xr.Dataset(
            {"size_edges": ("size_edge", lv.size_edges)},
            coords={"stage": lv.stages.astype(str), "segment": lv.segments.astype(str),
                    "owner": lv.owners.astype(str)})})
        return idata

    def _levels(self) -> Levels:
        const = self._fitted().constant_data
        return Levels(stages=const["stage"].values.astype(object),
                      segments=const["segment"].values.astype(object),
                      owners=const["owner"].values.astype(object),
                      size_edges=const["size_edges"].values)

    def win_probability(self, deals: pd.DataFrame) -> pd.DataFrame:
        """Posterior mean and 80% interval of each deal's win probability
        (``p_win``, ``p_win_lo``, ``p_win_hi``)."""
        idata = self._fitted()
        _check(deals, OPEN_COLUMNS, "open deals frame")
        f = _features(deals, self._levels(), self.config)
        total = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
        pick = np.arange(total)
        logit = (_draws(idata, "win_base", pick)[:, None]
                 + _draws(idata, "win_stage", pick)[:, f["stage"]]
                 + _draws(idata, "win_age", pick)[:, f["age"]]
                 + _draws(idata, "win_size", pick)[:, f["size"]]
                 + _draws(idata, "win_segment", pick)[:, f["segment"]]
                 + _draws(idata, "win_owner", pick)[:, f["owner"]])
        p = 1 / (1 + np.exp(-logit))
        return pd.DataFrame({"opportunity_id": deals["opportunity_id"].to_numpy(),
                             "p_win": p.mean(axis=0), "p_win_lo": np.quantile(p, 0.1, axis=0),
                             "p_win_hi": np.quantile(p, 0.9, axis=0)})

    def simulate(self, deals: pd.DataFrame, as_of: date, window_end: date,
                 simulations: int | None = None, seed: int | None = None) -> PipelineSimulation:
        """Monte Carlo of the bookings the open ``deals`` bring between ``as_of`` and
        ``window_end`` (inclusive)."""
        idata = self._fitted()
        _check(deals, OPEN_COLUMNS, "open deals frame")
        n_sim = simulations or self.config.simulations
        rng = np.random.default_rng(self.config.sampler.random_seed + 2 if seed is None else seed)
        total = idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"]
        pick = np.arange(n_sim) % total
        f = _features(deals, self._levels(), self.config)
        logit = (_draws(idata, "win_base", pick)[:, None]
                 + _draws(idata, "win_stage", pick)[:, f["stage"]]
                 + _draws(idata, "win_age", pick)[:, f["age"]]
                 + _draws(idata, "win_size", pick)[:, f["size"]]
                 + _draws(idata, "win_segment", pick)[:, f["segment"]]
                 + _draws(idata, "win_owner", pick)[:, f["owner"]])
        p_win = 1 / (1 + np.exp(-logit))                                   # (S, D)
        mu = (_draws(idata, "close_base", pick)[:, None]
              + _draws(idata, "close_stage", pick)[:, f["stage"]]
              + _draws(idata, "close_age", pick)[:, f["age"]]
              + _draws(idata, "close_segment", pick)[:, f["segment"]])
        sigma = _draws(idata, "close_sigma", pick)[:, None]
        days = np.exp(mu + sigma * rng.standard_normal(mu.shape))
        horizon_days = (pd.Timestamp(window_end) - pd.Timestamp(as_of)).days + 1
        in_window = days <= horizon_days
        wins = rng.random(p_win.shape) < p_win
        amount = deals["amount"].to_numpy(dtype=float)
        booked = wins & in_window
        owners, owner_idx = np.unique(deals["owner_id"].astype(str).to_numpy(), return_inverse=True)
        per_owner = np.zeros((n_sim, len(owners)))
        np.add.at(per_owner.T, owner_idx, (booked * amount[None, :]).T)
        # P(close in window | won) from the posterior predictive, without the win draw
        summary = deals[list(OPEN_COLUMNS)].copy()
        summary["p_win"] = p_win.mean(axis=0)
        summary["p_close_in_window"] = in_window.mean(axis=0)
        summary["p_book"] = (p_win * in_window).mean(axis=0)
        summary["expected"] = summary["p_book"] * amount
        return PipelineSimulation(window_start=as_of, window_end=window_end, deals=summary,
                                  samples=per_owner, owners=owners)


def forecast_categories(sim: PipelineSimulation, config: PipelineConfig,
                        commit_threshold: float = 0.7, best_case_threshold: float = 0.3,
                        booked_to_date: float = 0.0, not_in_pipeline: np.ndarray | None = None
                        ) -> pd.DataFrame:
    """Commit / best case / expected, the way a sales leader reads a forecast.

    Two views, side by side, each with the probability behind it:

    * **totals** from the simulated distribution of the window's bookings (booked to date +
      pipeline + business not yet in pipeline when ``not_in_pipeline`` samples are given):
      ``commit`` is the amount reached with probability ``config.commit_quantile`` (90% by
      default), ``expected`` the mean, ``best case`` the amount reached with probability
      ``1 - config.best_case_quantile`` (10%);
    * **deal lists**: deals whose probability to book in the window is at least
      ``commit_threshold`` (commit) or ``best_case_threshold`` (best case), and the chance
      the window reaches at least the sum of each list.
    """
    totals = sim.totals() + booked_to_date
    if not_in_pipeline is not None:
        totals = totals + not_in_pipeline[: len(totals)]
    commit = float(np.quantile(totals, 1 - config.commit_quantile))
    best = float(np.quantile(totals, 1 - config.best_case_quantile))
    deals = sim.deals
    commit_list = booked_to_date + float(deals.loc[deals["p_book"] >= commit_threshold, "amount"].sum())
    best_list = booked_to_date + float(deals.loc[deals["p_book"] >= best_case_threshold, "amount"].sum())
    rows = [
        {"view": "distribution", "category": "commit", "amount": commit,
         "probability_at_least": float((totals >= commit).mean())},
        {"view": "distribution", "category": "expected", "amount": float(totals.mean()),
         "probability_at_least": float((totals >= totals.mean()).mean())},
        {"view": "distribution", "category": "best case", "amount": best,
         "probability_at_least": float((totals >= best).mean())},
        {"view": "deal list", "category": f"commit (P(book) >= {commit_threshold:.0%})",
         "amount": commit_list, "probability_at_least": float((totals >= commit_list).mean())},
        {"view": "deal list", "category": f"best case (P(book) >= {best_case_threshold:.0%})",
         "amount": best_list, "probability_at_least": float((totals >= best_list).mean())},
    ]
    return pd.DataFrame(rows)
