"""Model B: win probabilities, time to close and the Monte Carlo of the open pipeline."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from spm_forecast_pymc.config import PipelineConfig
from spm_forecast_pymc.data import open_pipeline
from spm_forecast_pymc.pipeline import PipelineDataError, PipelineModel, forecast_categories


def test_training_contract(company_ws):
    with pytest.raises(PipelineDataError, match="missing column"):
        PipelineModel().fit(pd.DataFrame({"stage": ["a"]}))


def test_win_probability_is_learned_per_segment(fitted_pipeline, company_ws):
    deals = open_pipeline(company_ws)
    p = fitted_pipeline.win_probability(deals)
    assert p["p_win"].between(0, 1).all() and (p["p_win_lo"] <= p["p_win_hi"]).all()
    # the synthetic company wins 35% of SMB deals and 22% of Enterprise ones
    merged = p.merge(deals, on="opportunity_id")
    by_seg = merged.groupby("segment")["p_win"].mean()
    assert by_seg["SMB"] > by_seg["Enterprise"]


def test_simulation_probabilities_and_owner_samples(fitted_pipeline, company_ws):
    deals = open_pipeline(company_ws)
    as_of = date(2025, 1, 1)
    short = fitted_pipeline.simulate(deals, as_of, date(2025, 1, 31), simulations=300)
    long = fitted_pipeline.simulate(deals, as_of, date(2025, 12, 31), simulations=300)
    d = short.deals
    assert (d["p_book"] <= d["p_win"] + 1e-12).all()
    assert (long.deals["p_close_in_window"] >= d["p_close_in_window"]).all()  # longer window
    assert long.totals().mean() > short.totals().mean()
    tidy = short.owner_samples()
    assert len(tidy) == 300 * len(short.owners)
    np.testing.assert_allclose(tidy.groupby("sample")["value"].sum().to_numpy(), short.totals())
    # expected from the deal list equals the Monte Carlo mean (up to simulation noise)
    assert short.totals().mean() == pytest.approx(d["expected"].sum(), rel=0.15)


def test_commit_best_case_expected_with_probabilities(fitted_pipeline, company_ws):
    sim = fitted_pipeline.simulate(open_pipeline(company_ws), date(2025, 1, 1), date(2025, 3, 31),
                                   simulations=400)
    out = forecast_categories(sim, PipelineConfig(), booked_to_date=1000.0).set_index("category")
    commit, expected, best = (out.loc[c, "amount"] for c in ("commit", "expected", "best case"))
    assert commit <= expected <= best
    assert out.loc["commit", "probability_at_least"] >= 0.9
    assert out.loc["best case", "probability_at_least"] <= 0.11
    assert out.loc["commit", "amount"] >= 1000.0  # booked to date is certain


def test_seen_levels_sum_to_zero_and_other_is_the_pooled_mean(fitted_pipeline):
    """The base is the average of the levels seen in training (no ridge between the base and
    each group's mean); "(other)", never seen, is drawn around the base with the group's spread."""
    post = fitted_pipeline.idata.posterior
    for name in ("win_stage", "win_segment", "win_owner", "close_stage"):
        dim = post[name].dims[-1]
        values = post[name].stack(sample=("chain", "draw")).transpose("sample", dim).values
        seen = values[:, :-1]  # "(other)" is the last level; the synthetic company uses every other one
        np.testing.assert_allclose(seen.sum(axis=1), 0.0, atol=1e-8)
        other = values[:, -1]
        spread = post[f"{name}_sd"].values.reshape(-1)
        assert abs(other.mean()) < 3 * spread.mean()
        # no data: the group's whole spread, wider than a typical seen level (a seen owner
        # with two or three deals can be almost as uncertain, so not wider than every one)
        assert other.std() > np.median(seen.std(axis=0))
