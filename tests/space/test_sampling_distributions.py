"""The samplers draw what NASREC.md and the release say, at the stated frequencies.

Every test uses a fixed seed, so it is deterministic; the thresholds (p-values of 1e-4)
only decide how far from the stated distribution a planted bug must move the counts to
be caught: a uniform input count instead of 1 + Binomial, a width that is never drawn or
warm-up draws tied together all give p-values below 1e-30 at these sample sizes.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from nasrec_lab.space import FULL, SMALL, PathSampler, sample_architecture
from nasrec_lab.space._sampling import sample_block

ALPHA = 1e-4


def _chisquare(observed: Counter, expected_p: dict, n: int) -> float:
    """Goodness of fit of ``observed`` counts to the probabilities ``expected_p`` (which must cover them)."""
    assert set(observed) <= set(expected_p), f"values outside the support: {set(observed) - set(expected_p)}"
    keys = sorted(expected_p)
    f_obs = np.array([observed.get(k, 0) for k in keys], float)
    f_exp = np.array([expected_p[k] * n for k in keys], float)
    assert math.isclose(f_exp.sum(), n)
    if len(keys) == 1:  # a single possible value: nothing to test beyond the support
        return 1.0
    return float(stats.chisquare(f_obs, f_exp).pvalue)


def binomial_count_pmf(n_available: int, cap: int = 4) -> dict[int, float]:
    """``1 + Binomial(min(n-1, cap-1), 0.5)``: P(k) = C(t, k-1) / 2^t."""
    t = min(n_available - 1, cap - 1)
    return {k: math.comb(t, k - 1) / 2**t for k in range(1, t + 2)}


def uniform_pmf(values) -> dict:
    values = list(values)
    return {v: 1 / len(values) for v in values}


def _blocks(space, i, strategy, draws, seed):
    rng = np.random.default_rng(seed)
    return [sample_block(space, i, rng, strategy) for _ in range(draws)]


def test_binomial_count_pmf_is_the_specs():
    # Seven outputs available, three trials: P(one input) = 1/8, P(2) = 3/8, P(3) = 3/8, P(4) = 1/8.
    assert binomial_count_pmf(7) == {1: 1 / 8, 2: 3 / 8, 3: 3 / 8, 4: 1 / 8}
    assert binomial_count_pmf(2) == {1: 0.5, 2: 0.5}
    assert binomial_count_pmf(1) == {1: 1.0}


@pytest.mark.parametrize("strategy", ["default", "any-path-binomial"])
@pytest.mark.parametrize("block", [1, 3, 6])
def test_binomial_input_counts_have_the_exact_probabilities(strategy, block):
    draws = 2000
    blocks = _blocks(FULL, block, strategy, draws, seed=100 + block)
    pmf = binomial_count_pmf(block + 1)
    for name in ("dense_in", "sparse_in"):
        counts = Counter(len(getattr(b, name)) for b in blocks)
        assert set(counts) == set(pmf), (name, counts)
        assert _chisquare(counts, pmf, draws) > ALPHA, (name, counts)
    # dense and sparse counts are drawn independently of each other
    joint = Counter((len(b.dense_in), len(b.sparse_in)) for b in blocks)
    joint_pmf = {(a, c): pa * pc for (a, pa), (c, pc) in itertools.product(pmf.items(), pmf.items())}
    assert _chisquare(joint, joint_pmf, draws) > ALPHA


def test_block_zero_reads_the_stem_only():
    for strategy in ("default", "any-path", "any-path-binomial", "single-path"):
        for b in _blocks(FULL, 0, strategy, 50, seed=1):
            assert b.dense_in == b.sparse_in == (0,) and b.left == b.right == 0


@pytest.mark.parametrize("block", [2, 6])
def test_any_path_input_counts_are_uniform_up_to_four(block):
    draws = 3000
    blocks = _blocks(FULL, block, "any-path", draws, seed=7 + block)
    pmf = uniform_pmf(range(1, min(block + 1, 4) + 1))
    for name in ("dense_in", "sparse_in"):
        counts = Counter(len(getattr(b, name)) for b in blocks)
        assert _chisquare(counts, pmf, draws) > ALPHA, (name, counts)


@pytest.mark.parametrize("strategy", ["default", "any-path", "any-path-binomial"])
def test_input_sets_are_uniform_given_their_size(strategy):
    """Drawn without replacement: for each size, every subset of the seven outputs equally likely."""
    draws = 4000
    blocks = _blocks(FULL, 6, strategy, draws, seed=21)
    for name in ("dense_in", "sparse_in"):
        for size in (1, 2):
            sets = Counter(getattr(b, name) for b in blocks if len(getattr(b, name)) == size)
            support = list(itertools.combinations(range(7), size))
            total = sum(sets.values())
            assert _chisquare(sets, uniform_pmf(support), total) > ALPHA, (name, size)


@pytest.mark.parametrize("space", [FULL, SMALL], ids=["full", "small"])
@pytest.mark.parametrize("strategy", ["default", "single-path"])
def test_single_operator_micro_choices_are_uniform_and_all_reachable(space, strategy):
    draws = 4000
    blocks = _blocks(space, 4, strategy, draws, seed=5)
    n = space.inputs_available(4)
    assert all(len(b.dense_ops) == 1 and len(b.sparse_ops) == 1 for b in blocks)
    checks = {
        "dense op": (Counter(b.dense_ops[0] for b in blocks), uniform_pmf(space.dense_ops)),
        "sparse op": (Counter(b.sparse_ops[0] for b in blocks), uniform_pmf(space.sparse_ops)),
        "dense width": (Counter(b.dense_width for b in blocks), uniform_pmf(space.dense_widths)),
        "sparse width": (Counter(b.sparse_width for b in blocks), uniform_pmf(space.sparse_widths)),
        "interaction flags": (Counter((b.dense_sparse_interact, b.deep_fm) for b in blocks),
                              uniform_pmf(itertools.product((False, True), repeat=2))),
        "left/right": (Counter((b.left, b.right) for b in blocks), uniform_pmf(itertools.product(range(n), repeat=2))),
    }
    for what, (counts, pmf) in checks.items():
        assert set(counts) == set(pmf), f"{what}: not every value is reachable: {sorted(counts)}"
        assert _chisquare(counts, pmf, draws) > ALPHA, (what, counts)
    if strategy == "single-path":
        assert all(len(b.dense_in) == 1 and len(b.sparse_in) == 1 for b in blocks)
        counts = Counter(b.dense_in[0] for b in blocks)
        assert _chisquare(counts, uniform_pmf(range(n)), draws) > ALPHA


@pytest.mark.parametrize("space", [FULL, SMALL], ids=["full", "small"])
@pytest.mark.parametrize("strategy", ["any-path", "any-path-binomial"])
def test_any_path_operator_counts_follow_the_release(space, strategy):
    """Operator counts: uniform in 1..min(n, 4) (any-path) or 1 + Binomial(min(n-1, 3), 0.5); sets uniform."""
    draws = 4000
    blocks = _blocks(space, 3, strategy, draws, seed=9)
    for name, ops in (("dense_ops", space.dense_ops), ("sparse_ops", space.sparse_ops)):
        n = len(ops)
        pmf = uniform_pmf(range(1, min(n, 4) + 1)) if strategy == "any-path" else binomial_count_pmf(n)
        counts = Counter(len(getattr(b, name)) for b in blocks)
        assert _chisquare(counts, pmf, draws) > ALPHA, (name, counts)
        for size in range(1, n + 1):
            subsets = Counter(tuple(getattr(b, name)) for b in blocks if len(getattr(b, name)) == size)
            support = list(itertools.combinations(ops, size))  # operators keep the space's order
            assert _chisquare(subsets, uniform_pmf(support), sum(subsets.values())) > ALPHA, (name, size)
    widths = Counter(b.dense_width for b in blocks)
    assert _chisquare(widths, uniform_pmf(space.dense_widths), draws) > ALPHA


def test_any_path_binomial_is_not_the_default_sampler():
    rng_a, rng_b = np.random.default_rng(0), np.random.default_rng(0)
    differ = sum(sample_architecture(FULL, rng_a, "any-path-binomial") != sample_architecture(FULL, rng_b, "default")
                 for _ in range(50))
    assert differ == 50
    several = [sample_architecture(FULL, np.random.default_rng(s), "any-path-binomial") for s in range(50)]
    assert sum(len(b.dense_ops) > 1 for a in several for b in a.blocks) > 100


def _is_full_macro(arch) -> bool:
    # Blocks 4..6 have 5..7 outputs to read and the cap is 4: reading all of them is the full path.
    return all(len(arch.blocks[i].dense_in) == i + 1 and len(arch.blocks[i].sparse_in) == i + 1 for i in (4, 5, 6))


def _is_full_micro(block, space) -> bool:
    return len(block.dense_ops) == len(space.dense_ops) and block.dense_width == space.max_dense_width


def test_warmup_draws_are_independent_per_block_and_of_the_macro_draw():
    """Warm-up at p = 1/2: the macro draw and each block's micro draw are independent Bernoulli(p)."""
    sampler = PathSampler(FULL, "default", seed=3, warmup_steps=2)
    draws = 2000
    rows = []
    for _ in range(draws):
        a = sampler.sample(step=1)  # p = 1 - 1/2
        rows.append([_is_full_macro(a)] + [_is_full_micro(b, FULL) for b in a.blocks])
    x = np.array(rows)
    # each draw is Bernoulli(1/2)
    for j in range(x.shape[1]):
        assert stats.binomtest(int(x[:, j].sum()), draws, 0.5).pvalue > ALPHA, j
    # pairwise independence: macro vs every block's micro draw, and block vs block
    for a, b in itertools.combinations(range(x.shape[1]), 2):
        table = np.array([[np.sum(~x[:, a] & ~x[:, b]), np.sum(~x[:, a] & x[:, b])],
                          [np.sum(x[:, a] & ~x[:, b]), np.sum(x[:, a] & x[:, b])]])
        assert stats.chi2_contingency(table).pvalue > ALPHA, (a, b, table)


def test_warmup_probability_falls_linearly():
    sampler = PathSampler(SMALL, "default", seed=4, warmup_steps=100)
    assert all(_is_full_macro(sampler.sample(0)) for _ in range(20))
    assert not any(_is_full_macro(sampler.sample(100)) for _ in range(20))
    draws = 800
    full = sum(_is_full_macro(sampler.sample(75)) for _ in range(draws))
    assert stats.binomtest(full, draws, 0.25).pvalue > ALPHA
