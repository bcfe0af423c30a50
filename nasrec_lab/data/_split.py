"""Train / validation / test assignment: the AutoCTR split and a seeded random split."""

from __future__ import annotations

import numpy as np

TRAIN, VAL, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "val", "test")


def stratified_folds(labels: np.ndarray, n_splits: int = 10, seed: int = 2018) -> np.ndarray:
    """Test-fold index of every row, identical to
    ``sklearn.model_selection.StratifiedKFold(n_splits, shuffle=True, random_state=seed)``.

    Written out so that it runs in O(rows) bytes (int8 folds) instead of sklearn's index
    arrays; ``tests/data/test_split.py`` checks equality with sklearn.
    """
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    # sklearn numbers classes by order of first appearance.
    if labels.ndim == 1 and labels.dtype.itemsize == 1 and labels.dtype.kind in "biu":
        # One-byte labels (the preprocessed int8 ones): by a 256-entry table, a few passes
        # over the rows instead of np.unique's sort of them (~40 ms per 1M rows).
        byte = labels.view(np.uint8)
        values = np.flatnonzero(np.bincount(byte, minlength=256))
        first = np.array([int(np.argmax(byte == v)) for v in values], dtype=np.intp)
        rank = np.zeros(256, np.intp)
        rank[values[np.argsort(first, kind="stable")]] = np.arange(len(values))
        encoded = np.take(rank, byte)
        n_classes = len(values)
    else:
        classes, first, encoded = np.unique(labels, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        encoded = rank[encoded]
        n_classes = len(classes)
    counts = np.bincount(encoded, minlength=n_classes)
    if counts.min() < n_splits:
        # sklearn warns and continues; so do we.
        pass
    y_order = np.repeat(np.arange(n_classes), counts)
    allocation = np.asarray(
        [np.bincount(y_order[i::n_splits], minlength=n_classes) for i in range(n_splits)]
    )
    folds = np.empty(len(labels), dtype=np.int8)
    for k in range(n_classes):
        folds_for_class = np.arange(n_splits, dtype=np.int8).repeat(allocation[:, k])
        rng.shuffle(folds_for_class)
        folds[encoded == k] = folds_for_class
    return folds


def autoctr_assignment(labels: np.ndarray, seed: int = 2018) -> np.ndarray:
    """8 folds train, 1 validation, 1 test (folds 0-7 / 8 / 9); rows keep file order."""
    folds = stratified_folds(labels, 10, seed)
    out = np.full(len(folds), TRAIN, dtype=np.int8)
    out[folds == 8] = VAL
    out[folds == 9] = TEST
    return out


def random_assignment(n: int, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> np.ndarray:
    """A seeded random split with the given train/val/test fractions."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    out = np.full(n, TEST, dtype=np.int8)
    out[perm[:n_train]] = TRAIN
    out[perm[n_train : n_train + n_val]] = VAL
    return out


def assign_splits(labels: np.ndarray, method: str, seed: int) -> np.ndarray:
    if method == "autoctr":
        return autoctr_assignment(labels, seed)
    if method == "random":
        return random_assignment(len(labels), seed)
    raise ValueError(f"split method must be 'autoctr' or 'random', got {method!r}")
