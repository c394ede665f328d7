"""Config merging and hashing; accuracy measures worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from spm_forecast_pymc.config import BookingsConfig, PipelineConfig, config_hash, merge
from spm_forecast_pymc.metrics import (
    brier, coverage, crps_normal, crps_samples, mase, mase_scale, pit_coverage, randomised_pit, smape,
)


def test_partial_config_is_merged_over_defaults_at_any_depth():
    cfg = merge(BookingsConfig(), {"sampler": {"draws": 123}, "horizon": 6})
    assert cfg.sampler.draws == 123
    assert cfg.sampler.tune == BookingsConfig().sampler.tune  # untouched sibling keeps default
    assert cfg.horizon == 6 and cfg.priors.level_sd == 1.0


def test_unknown_option_is_refused():
    with pytest.raises(ValidationError, match="drawz"):
        merge(BookingsConfig(), {"sampler": {"drawz": 10}})


def test_hash_ignores_display_and_parallelism_but_not_results():
    base = BookingsConfig()
    assert config_hash(base) == config_hash(merge(base, {"sampler": {"progressbar": False, "cores": 1}}))
    assert config_hash(base) != config_hash(merge(base, {"sampler": {"draws": 401}}))


def test_mase_and_smape_by_hand():
    train = np.array([10.0, 20, 30, 40, 12, 22, 32, 42])  # m=4: seasonal diffs all 2
    assert mase_scale(train, m=4) == pytest.approx(2.0)
    assert mase(np.array([14.0, 24]), np.array([13.0, 27]), 2.0) == pytest.approx((1 + 3) / 2 / 2)
    # |10-5| * 200 / 15 = 66.67 ; 0 vs 0 counts as perfect
    assert smape(np.array([10.0, 0.0]), np.array([5.0, 0.0])) == pytest.approx(66.6667 / 2, rel=1e-4)
    assert np.isnan(mase_scale(np.ones(20), m=4))


def test_crps_of_samples_matches_definition_and_normal_form():
    # samples {0, 2}, outcome 1: E|X-y| = 1, E|X-X'| = (0+2+2+0)/4 = 1 -> CRPS = 1 - 0.5 = 0.5
    assert crps_samples(np.array([0.0, 2.0]), np.array(1.0)) == pytest.approx(0.5)
    # a point forecast's CRPS is its absolute error
    assert crps_samples(np.array([3.0, 3.0, 3.0]), np.array(5.0)) == pytest.approx(2.0)
    rng = np.random.default_rng(0)
    draws = rng.normal(1.0, 2.0, 200_000)
    assert crps_samples(draws, np.array(0.5)) == pytest.approx(crps_normal(1.0, 2.0, 0.5), rel=0.01)


def test_coverage_and_brier():
    assert coverage(np.array([1, 5, 9]), np.array([0, 0, 0]), np.array([5, 5, 5])) == pytest.approx(2 / 3)
    assert brier(np.array([1.0, 0.0, 0.5]), np.array([1, 1, 0])) == pytest.approx((0 + 1 + 0.25) / 3)


def test_a_low_rank_mass_matrix_needs_nutpie():
    assert PipelineConfig().sampler.low_rank_mass_matrix  # Model B's default (nutpie)
    with pytest.raises(ValueError, match="needs sampler.backend 'nutpie'.*set low_rank_mass_matrix to false"):
        merge(PipelineConfig(), {"sampler": {"backend": "pymc"}})
    assert merge(PipelineConfig(), {"sampler": {"backend": "pymc", "low_rank_mass_matrix": False}}).sampler.backend == "pymc"


def test_randomised_pit_is_uniform_for_a_calibrated_forecast_with_an_atom():
    """Outcomes drawn from the forecast itself, a hurdle with P(0) = 30%: the 80% quantile
    interval [0, q90] covers about 90%, the PIT's central 80% band 80%."""
    rng = np.random.default_rng(5)
    def hurdle(shape):
        return np.where(rng.random(shape) < 0.3, 0.0, rng.lognormal(0.0, 1.0, shape))
    samples, actual = hurdle((4000, 400)), hurdle(4000)
    lo, hi = np.quantile(samples, 0.1, axis=1), np.quantile(samples, 0.9, axis=1)
    assert (lo == 0).all() and coverage(actual, lo, hi) == pytest.approx(0.9, abs=0.02)
    pit = randomised_pit(samples, actual, rng)
    assert pit_coverage(pit, 0.8) == pytest.approx(0.8, abs=0.02)
    assert np.histogram(pit, bins=10, range=(0, 1))[0].min() > 330   # uniform: ~400 a bin
    # by hand: y = 1 among samples (0, 1, 1, 2) sits between 1/4 and 3/4
    one = randomised_pit(np.array([[0.0, 1.0, 1.0, 2.0]] * 1000), np.ones(1000), rng)
    assert one.min() >= 0.25 and one.max() <= 0.75 and one.mean() == pytest.approx(0.5, abs=0.02)
    assert pit_coverage(np.array([0.05, 0.1, 0.5, 0.9, 0.95]), 0.8) == 0.6
