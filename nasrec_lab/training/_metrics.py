"""CTR metrics on a split: log loss, AUC, normalized entropy, calibration (computed without gradients)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from scipy.stats import rankdata


@dataclass(frozen=True)
class Metrics:
    """``logloss`` (binary cross-entropy), ``auc``, ``normalized_entropy`` (log loss over the
    entropy of the base rate; < 1 beats predicting the base rate) and ``calibration``
    (mean predicted CTR over observed CTR; 1 is calibrated)."""

    logloss: float
    auc: float
    normalized_entropy: float
    calibration: float
    rows: int
    positive_rate: float
    mean_prediction: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def binary_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; tied scores share their average rank."""
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def metrics_from_logits(labels: np.ndarray, logits: np.ndarray) -> Metrics:
    y = np.asarray(labels, dtype=np.float64)
    z = np.asarray(logits, dtype=np.float64)
    n = len(y)
    if n == 0:
        raise ValueError("no rows to evaluate")
    # log(1 + exp(-|z|)) + max(z, 0) - y z: the stable form of the BCE with logits
    with np.errstate(invalid="ignore"):  # a diverged model's nan logits give a nan loss, reported as such
        loss = np.mean(np.logaddexp(0.0, z) - y * z)
    p = expit(z)
    rate = float(y.mean())
    if 0.0 < rate < 1.0:
        base = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
        ne = float(loss / base)
        cal = float(p.mean() / rate)
    else:
        ne = cal = float("nan")
    return Metrics(float(loss), binary_auc(y, z), ne, cal, n, rate, float(p.mean()))


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches, *, arch=None, device: torch.device | str | None = None,
             max_batches: int | None = None) -> Metrics:
    """Metrics of ``model`` (a Subnet, or a SuperNet with ``arch``) over ``batches``."""
    was_training = model.training
    model.eval()
    labels, logits = [], []
    try:
        for i, batch in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            if device is not None:
                batch = batch.to(device)
            out = model(batch) if arch is None else model(batch, arch)
            logits.append(out.float().cpu().numpy())
            labels.append(batch.label.cpu().numpy())
    finally:
        model.train(was_training)
    return metrics_from_logits(np.concatenate(labels), np.concatenate(logits))
