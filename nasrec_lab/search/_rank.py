"""Rank correlation between supernet scores and standalone-trained scores (the paper's diagnosis)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau, rankdata, spearmanr

from ..data import CTRDataset
from ..space import Architecture, get_space, sample_architecture
from ..supernet import SuperNet
from ..training import FINETUNE, Callback
from ._scoring import CandidateScorer, ScoringConfig
from ._store import SearchStore


@dataclass(frozen=True)
class RankCorrelation:
    kendall_tau: float
    spearman_rho: float
    top_k_overlap: float  # |top-k by supernet ∩ top-k by ground truth| / k
    k: int
    n: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def rank_correlation(truth: Sequence[float], predicted: Sequence[float], *, k: int | None = None) -> RankCorrelation:
    """Kendall tau and Spearman rho (scipy) and the top-k overlap; lower scores are better in both."""
    t, p = _paired_scores(truth, predicted)
    k = k or max(1, len(t) // 5)
    overlap = len(set(np.argsort(t)[:k]) & set(np.argsort(p)[:k])) / k
    return RankCorrelation(float(kendalltau(t, p).statistic), float(spearmanr(t, p).statistic), overlap, k, len(t))


def _paired_scores(truth: Sequence[float], predicted: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(truth, float), np.asarray(predicted, float)
    if len(t) != len(p) or len(t) < 3:
        raise ValueError(f"need two equally long score lists of at least 3, got {len(t)} and {len(p)}")
    return t, p


def _interval_percentiles(level: float) -> list[float]:
    return [(1 - level) / 2 * 100, (1 + level) / 2 * 100]


def rank_correlation_interval(truth: Sequence[float], predicted: Sequence[float], *, level: float = 0.95,
                              resamples: int = 2000, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile-bootstrap intervals of Kendall tau and Spearman rho, resampling the architectures.

    With 30 references the interval of tau is about +-0.25 wide: two samplers whose intervals
    overlap that much are not told apart by the study.

    >>> rank_correlation_interval([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])["kendall_tau"]
    (1.0, 1.0)
    """
    t, p = _paired_scores(truth, predicted)
    if np.ptp(t) == 0 or np.ptp(p) == 0:
        # Constant scores have no rank correlation (rank_correlation gives nan): nan, not a resample
        # loop that never finds a usable draw.
        return {"kendall_tau": (float("nan"), float("nan")), "spearman_rho": (float("nan"), float("nan"))}
    rng = np.random.default_rng(seed)
    draws: list[np.ndarray] = []
    kept = 0
    while kept < resamples:
        idx = rng.integers(0, len(t), (resamples, len(t)))  # the rows of one call: as many draws one by one
        # A resample holding one architecture (or only ties) has no defined correlation: draw again.
        idx = idx[(np.ptp(t[idx], axis=1) > 0) & (np.ptp(p[idx], axis=1) > 0)]
        draws.append(idx)
        kept += len(idx)
    idx = np.concatenate(draws)[:resamples]
    taus, rhos = _kendall_tau_b_rows(t[idx], p[idx]), _spearman_rows(t[idx], p[idx])
    q = _interval_percentiles(level)
    return {"kendall_tau": tuple(float(x) for x in np.percentile(taus, q)),
            "spearman_rho": tuple(float(x) for x in np.percentile(rhos, q))}


def _kendall_tau_b_rows(x: np.ndarray, y: np.ndarray, cells: int = 1 << 22) -> np.ndarray:
    """Kendall's tau-b of each row pair (scipy's ``kendalltau`` default): sum over pairs of
    sign(dx) * sign(dy) over the square root of (pairs untied in x) * (pairs untied in y)."""
    n = x.shape[1]
    out = np.empty(len(x))
    step = max(1, cells // (n * n))  # rows per block: bounded memory for many architectures
    for s in range(0, len(x), step):
        sx = np.sign(x[s:s + step, :, None] - x[s:s + step, None, :])
        sy = np.sign(y[s:s + step, :, None] - y[s:s + step, None, :])
        # every unordered pair counted twice in each sum: the factors cancel
        out[s:s + step] = (sx * sy).sum((1, 2)) / np.sqrt(np.abs(sx).sum((1, 2)) * np.abs(sy).sum((1, 2)))
    return out


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair: Pearson's r of the average ranks (ties share their mean rank)."""
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx -= rx.mean(1, keepdims=True)
    ry -= ry.mean(1, keepdims=True)
    return (rx * ry).sum(1) / np.sqrt((rx * rx).sum(1) * (ry * ry).sum(1))


def median_interval(values: Sequence[float], *, level: float = 0.95, resamples: int = 2000,
                    seed: int = 0) -> tuple[float, float, float]:
    """(median, low, high): the sample median and its percentile-bootstrap interval.

    >>> median_interval([0.30, 0.31, 0.32])[0]
    0.31
    """
    v = np.asarray(values, float)
    if len(v) == 0:
        raise ValueError("median_interval of no values")
    rng = np.random.default_rng(seed)
    boot = np.median(v[rng.integers(0, len(v), (resamples, len(v)))], axis=1)
    lo, hi = np.percentile(boot, _interval_percentiles(level))
    return float(np.median(v)), float(lo), float(hi)


@dataclass
class RankStudy:
    """K reference architectures, their ground truth (standalone training, cached in the store)
    and their supernet scores at any point of supernet training, with or without fine-tuning.

    >>> study = RankStudy(ds, "full", references=30, seed=0, store=SearchStore("gt.sqlite"))   # doctest: +SKIP
    >>> study.correlation(study.supernet_scores(net, finetune=True))                           # doctest: +SKIP
    """

    data: CTRDataset
    space: Any
    references: Sequence[Architecture] | int = 30
    seed: int = 0
    store: SearchStore | None = None
    ground_truth_config: ScoringConfig = field(default_factory=lambda: ScoringConfig(mode="scratch"))
    archs: list[Architecture] = field(init=False)

    def __post_init__(self) -> None:
        self.space = get_space(self.space)
        if isinstance(self.references, int):
            rng = np.random.default_rng(self.seed)
            archs, seen = [], set()
            while len(archs) < self.references:
                a = sample_architecture(self.space, rng, "default")
                if a.hash() not in seen:
                    seen.add(a.hash())
                    archs.append(a)
            self.archs = archs
        else:
            self.archs = list(self.references)
        self._truth: dict[str, float] | None = None

    def setting_key(self, *, legacy: bool = False) -> str:
        """Identifies the ground-truth setting (data set, training recipe, seed) in the store's cache.

        ``legacy``: the key of stores written before the data set's identity left out its path
        (the path as it was opened), under which their ground truths are still found.
        """
        data = {"data": str(self.data.path), "created": self.data.manifest.get("created")} if legacy else \
            self.data.identity()
        blob = json.dumps({**data, "config": self.ground_truth_config.to_json(), "seed": self.seed}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def ground_truth(self, progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
        """Validation log loss of each reference trained from scratch (cached)."""
        if self._truth is not None:
            return self._truth
        key, legacy = self.setting_key(), self.setting_key(legacy=True)
        scorer = CandidateScorer(self.data, None, self.ground_truth_config, space=self.space)
        truth = {}
        for i, a in enumerate(self.archs):
            cached = None
            if self.store is not None:
                cached = self.store.ground_truth(a.hash(), key)
                if cached is None and (cached := self.store.ground_truth(a.hash(), legacy)) is not None:
                    self.store.put_ground_truth(a.hash(), key, cached)  # found again under the current key
            if cached is None:
                s = scorer.score(a, seed=self.seed)
                cached = {"val_logloss": s["val_logloss"], "val_auc": s["val_auc"], "wall_s": s["wall_s"]}
                if self.store is not None:
                    self.store.put_ground_truth(a.hash(), key, cached)
            truth[a.hash()] = cached["val_logloss"]
            if progress:
                progress(i + 1, len(self.archs))
        self._truth = truth
        return truth

    def supernet_scores(self, supernet: SuperNet, *, finetune: bool = False, finetune_steps: int = FINETUNE.steps,
                        eval_batches: int | None = None, eval_batch_size: int = 8192, batch_size: int = 512,
                        whole_path: bool = False, threads: int = 1) -> dict[str, float]:
        """Each reference's validation log loss with the supernet's weights: as inherited, or after
        fine-tuning the head (``finetune``) or every weight of the path (``finetune`` and ``whole_path``)."""
        cfg = ScoringConfig(mode="finetune" if finetune else "inherit", finetune_steps=finetune_steps,
                            finetune_batch=batch_size, eval_batches=eval_batches, eval_batch_size=eval_batch_size,
                            whole_path=whole_path, threads=threads)
        scorer = CandidateScorer(self.data, supernet, cfg)
        was_training = supernet.training
        try:
            return {a.hash(): scorer.score(a, seed=self.seed)["val_logloss"] for a in self.archs}
        finally:
            supernet.train(was_training)

    def correlation(self, scores: dict[str, float]) -> RankCorrelation:
        truth = self.ground_truth()
        keys = [a.hash() for a in self.archs]
        return rank_correlation([truth[k] for k in keys], [scores[k] for k in keys])


@dataclass(frozen=True)
class RankPoint:
    step: int
    kendall_tau: float
    spearman_rho: float
    top_k_overlap: float
    finetune: bool


class RankTracker(Callback):
    """Trainer callback: the supernet's scores of the study's references every ``every`` steps (and
    at the last), or at the steps ``at``; kept by step in ``scores``. With ``correlate`` (the default)
    each is also correlated with the ground truth and appended to ``points`` (for a live
    tau-against-steps plot); ``correlate=False`` needs no ground truth (correlate ``scores`` later).
    Steps are seen where the trainer sends step events: multiples of its ``log_every`` and the last.
    Scoring leaves the training as it would be without it (the global RNG state is put back);
    ``seconds`` is the time it took.

    >>> tracker = RankTracker(study, trainer.model, every=500)     # doctest: +SKIP
    >>> trainer.callbacks.append(tracker); trainer.run()           # doctest: +SKIP
    """

    def __init__(self, study: RankStudy, supernet: SuperNet, *, every: int | None = None, at: Iterable[int] = (),
                 finetune: bool = False, correlate: bool = True, on_point: Callable[[RankPoint], None] | None = None,
                 **score_kwargs: Any) -> None:
        at = frozenset(int(step) for step in at)
        if (every is None) == (not at):
            raise ValueError("RankTracker scores either every N steps (every=N) or at given steps (at=[...])")
        self.study, self.supernet, self.every, self.at, self.finetune = study, supernet, every, at, finetune
        self.correlate, self.on_point, self.score_kwargs = correlate, on_point, score_kwargs
        self.points: list[RankPoint] = []
        self.scores: dict[int, dict[str, float]] = {}
        self.seconds = 0.0

    @property
    def last_scores(self) -> dict[str, float]:
        """The scores of the latest step scored (empty before the first)."""
        return self.scores[max(self.scores)] if self.scores else {}

    def _due(self, step: int, total_steps: int) -> bool:
        if self.at:
            return step in self.at
        return step % self.every == 0 or step == total_steps

    def on_step(self, event) -> None:
        if not self._due(event.step, event.total_steps) or event.step in self.scores:
            return
        t0, rng = time.perf_counter(), torch.get_rng_state()
        try:
            scores = self.study.supernet_scores(self.supernet, finetune=self.finetune, **self.score_kwargs)
        finally:
            torch.set_rng_state(rng)
            self.seconds += time.perf_counter() - t0
        self.scores[event.step] = scores
        if not self.correlate:
            return
        rc = self.study.correlation(scores)
        point = RankPoint(event.step, rc.kendall_tau, rc.spearman_rho, rc.top_k_overlap, self.finetune)
        self.points.append(point)
        if self.on_point:
            self.on_point(point)
