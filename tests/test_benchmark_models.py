"""The noise model behind benchmarks.preset_spread's tau_model and seeds_for_0.8, against simulation."""

import numpy as np
import pytest
from scipy.stats import kendalltau

from benchmarks.preset_spread import seeds_for_tau, stepped_up_tau, tau_from_ratio


@pytest.mark.parametrize("ratio", [0.5, 1.0, 1.7, 3.0])
def test_seed_vs_seed_tau_of_effect_plus_noise_matches_the_formula(ratio):
    rng = np.random.default_rng(0)
    effect = rng.normal(0, ratio, 4000)  # architectures
    seed_a, seed_b = effect + rng.normal(size=4000), effect + rng.normal(size=4000)
    assert kendalltau(seed_a, seed_b).statistic == pytest.approx(tau_from_ratio(ratio), abs=0.02)


def test_seeds_for_tau_reaches_the_target_with_means_of_that_many_seeds():
    rng = np.random.default_rng(1)
    ratio = 1.64  # dense-width's measured excess / noise
    k = seeds_for_tau(ratio, 0.8)
    assert k == 8
    effect = rng.normal(0, ratio, 4000)
    mean_a = effect + rng.normal(size=(k, 4000)).mean(0)
    mean_b = effect + rng.normal(size=(k, 4000)).mean(0)
    assert kendalltau(mean_a, mean_b).statistic == pytest.approx(0.8, abs=0.02)
    half_a, half_b = (effect + rng.normal(size=(k // 2, 4000)).mean(0) for _ in range(2))
    assert kendalltau(half_a, half_b).statistic < 0.77  # half the seeds fall short
    assert tau_from_ratio(float("inf")) == 1.0 and seeds_for_tau(0.0, 0.8) is None


@pytest.mark.parametrize(("ratio", "half"), [(1.0, 1), (1.64, 4), (0.6, 3)])
def test_stepped_up_tau_predicts_the_agreement_of_twice_as_many_seeds(ratio, half):
    """rank_ablation's ceiling of a k-seed truth from its two k/2-seed halves, against simulating k vs k."""
    rng = np.random.default_rng(2)
    effect = rng.normal(0, ratio, 20_000)

    def mean_of(k):
        return effect + rng.normal(size=(k, 20_000)).mean(0)

    tau_half = kendalltau(mean_of(half), mean_of(half)).statistic
    tau_full = kendalltau(mean_of(2 * half), mean_of(2 * half)).statistic
    assert stepped_up_tau(tau_half) == pytest.approx(tau_full, abs=0.015)
    assert tau_full - tau_half > 0.04  # the step-up is not a no-op at these ratios
    assert np.isnan(stepped_up_tau(0.0)) and np.isnan(stepped_up_tau(-0.2))
