import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from nasrec_lab.data import FeatureSchema, autoctr_assignment, random_assignment, stratified_folds
from nasrec_lab.data._split import TEST, TRAIN, VAL


def test_schema_round_trip_and_errors():
    s = FeatureSchema(dense=("a", "b"), sparse=("c",), table_sizes=(5,))
    assert FeatureSchema.from_json(s.to_json()) == s
    assert s.n_dense == 2 and s.n_sparse == 1
    with pytest.raises(ValueError, match="1 sparse features but 2 table sizes"):
        FeatureSchema(dense=(), sparse=("c",), table_sizes=(5, 6))
    with pytest.raises(ValueError, match="duplicate feature names"):
        FeatureSchema(dense=("c",), sparse=("c",), table_sizes=(5,))
    with pytest.raises(ValueError, match="table size must be >= 2"):
        FeatureSchema(dense=(), sparse=("c",), table_sizes=(1,))
    with pytest.raises(ValueError, match="unknown field"):
        FeatureSchema.from_json({**s.to_json(), "bogus": 1})
    assert max(s.with_table_cap(3).table_sizes) == 3


@pytest.mark.parametrize("n,rate,seed", [(10_000, 0.22, 2018), (997, 0.5, 7), (50_000, 0.03, 2018)])
def test_stratified_folds_equal_sklearn(n, rate, seed):
    y = (np.random.default_rng(seed).random(n) < rate).astype(np.int8)
    expected = np.empty(n, np.int64)
    for k, (_, test_idx) in enumerate(StratifiedKFold(10, shuffle=True, random_state=seed).split(np.zeros(n), y)):
        expected[test_idx] = k
    np.testing.assert_array_equal(stratified_folds(y, 10, seed), expected)


def test_autoctr_assignment_is_8_1_1_and_stratified():
    y = (np.random.default_rng(0).random(20_000) < 0.25).astype(np.int8)
    a = autoctr_assignment(y)
    folds = stratified_folds(y)
    assert set(np.unique(a)) == {TRAIN, VAL, TEST}
    assert np.all((a == VAL) == (folds == 8)) and np.all((a == TEST) == (folds == 9))
    for code in (TRAIN, VAL, TEST):
        assert abs(y[a == code].mean() - y.mean()) < 0.002
    assert abs((a == TRAIN).mean() - 0.8) < 1e-3


def test_random_assignment_seeded_and_validated():
    a = random_assignment(1000, 1)
    assert np.array_equal(a, random_assignment(1000, 1))
    assert not np.array_equal(a, random_assignment(1000, 2))
    assert (a == TRAIN).sum() == 800 and (a == VAL).sum() == 100
    with pytest.raises(ValueError, match="summing to 1"):
        random_assignment(10, 0, (0.5, 0.1, 0.1))
