"""The noise model behind benchmarks.preset_spread's tau_model and seeds_for_0.8, against simulation."""

import numpy as np
import pytest
from scipy.stats import kendalltau

from benchmarks.preset_spread import seeds_for_tau, tau_from_ratio


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
