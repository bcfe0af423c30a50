"""Head-only fine-tuning on cached trunk features: the scorer's shortcut, same result as the plain path.

With only the final linear head trainable, everything below the head (the stem and the
blocks: the "trunk") is a fixed function of the batch. The plain path
(:func:`nasrec_lab.training.finetune`) nevertheless materializes a standalone copy of the
path (the whole embedding table included) and runs it as a model under autograd. Here the
trunk's output, the head's input ``concat(last dense, flattened last sparse)``, is computed
once per fine-tuning batch and per validation row block without gradients, straight from
the supernet's sliced weights (nothing copied), and the head alone is trained on it with
the same loader, batches, order, loss, clipping, optimizer and schedule as the plain path.
BCE of a linear head is all that is left to differentiate.

Validation batches (8192 rows) are run through the trunk in row blocks of
``chunk_rows``: every operator is row-wise, so the features are the same up to float
rounding, and at 8192 rows the activations of wide blocks (1024 x 8192 floats) fall out
of cache, which made a validation row about twice as expensive as a training row.
A dense-centring supernet's trunk is not row-wise (it centres on the batch mean): its batches
go through whole, one at a time, as the plain path runs them.

Sharing across candidates does not pay on CPU: the embedding lookup, the only part two
different paths have in common on a batch, is under 1% of a trunk's forward (measured on
the Criteo shape, NASRec-Full), and the fine-tuning batches differ per candidate anyway
(each candidate's loader is seeded by its own seed).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import CTRDataset
from ..space import Architecture
from ..supernet import SuperNet
from ..supernet._model import run_block
from ..training import Metrics, SlicedAdagrad, TrainConfig, clip_grad_norm, cosine_with_warmup, metrics_from_logits

#: rows per trunk forward when featurizing a validation batch (cache-friendly on CPU)
CHUNK_ROWS = 512
#: fine-tuning batches featurized by one trunk forward on a GPU, where a 512-row forward is bound by
#: kernel launches (1.3 s of a candidate's ~4.7 s on an H200 at the paper's setting, 23 ms of GPU time);
#: on the CPU one batch at a time is the cache-sized block already
GPU_FEATURE_GROUP = 16


class PathTrunk:
    """The frozen trunk of one supernet path: head-input features without gradients.

    The path's parameters are sliced from the supernet once per candidate; the embedding
    table (the bulk of the weights) is read in place instead of copied.
    """

    def __init__(self, supernet: SuperNet, arch: Architecture) -> None:
        self.supernet = supernet
        self.plan = supernet.plan(arch)
        # batch-mean centring makes a row's features depend on its batch: no splitting or grouping
        self.row_wise = not supernet.centre_dense
        getter = supernet._getter(self.plan)
        cache: dict[tuple[int, str], dict[str, Tensor]] = {}

        def get(i: int, op: str, ctx) -> dict[str, Tensor]:
            key = (i, op)
            if key not in cache:
                # contiguous copies of the slices (as materialize makes): a strided view of a
                # max-width weight is copied again by every matmul that reads it
                with torch.no_grad():
                    cache[key] = {k: v.contiguous() for k, v in getter(i, op, ctx).items()}
            return cache[key]

        self._get = get
        head = get(-1, "head", self.plan.head)
        self.head_weight, self.head_bias = head["weight"], head["bias"]

    @property
    def device(self) -> torch.device:
        return self.head_weight.device

    @torch.no_grad()
    def features(self, dense: Tensor, sparse: Tensor, chunk_rows: int | None = None) -> Tensor:
        """(B, head_in) inputs of the head for a batch; ``chunk_rows`` splits the rows into blocks
        on the CPU (a cache effect; on a GPU blocks would only multiply kernel launches)."""
        n = dense.shape[0]
        whole = not chunk_rows or chunk_rows >= n or dense.device.type != "cpu" or not self.row_wise
        step = n if whole else chunk_rows
        parts = [self._features(dense[s:s + step], sparse[s:s + step]) for s in range(0, n, step)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _features(self, dense: Tensor, sparse: Tensor) -> Tensor:
        d, emb = self.supernet.stem(dense, sparse)
        outs_d: list[Tensor | None] = [d]
        outs_s: list[Tensor | None] = [emb]
        for i, bp in enumerate(self.plan.blocks):
            bd, bs = run_block(i, bp, self._get, outs_d, outs_s)
            outs_d.append(bd)
            outs_s.append(bs)
        return torch.cat([outs_d[-1], outs_s[-1].flatten(1)], dim=1)


def train_head(batches: Iterable[tuple[Tensor, Tensor]], weight: Tensor, bias: Tensor, config: TrainConfig,
               total_steps: int) -> tuple[Tensor, Tensor]:
    """Train a linear head on (features, labels) batches with the trainer's recipe; returns (weight, bias).

    The same pieces as :class:`nasrec_lab.training.Trainer`: mean BCE with logits, global
    gradient-norm clipping, :class:`SlicedAdagrad` (a plain Adagrad step for a subnet),
    cosine schedule with linear warm-up over ``total_steps``.
    """
    w = torch.nn.Parameter(weight.detach().clone())
    b = torch.nn.Parameter(bias.detach().clone())
    params = [w, b]  # the order of Subnet.named_parameters(): clipping sums norms in this order
    opt = SlicedAdagrad(params, lr=config.lr, eps=config.eps, weight_decay=config.weight_decay)
    sched = cosine_with_warmup(opt, total_steps, config.warmup_fraction)
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(F.linear(x, w, b).squeeze(1).float(), y)
        loss.backward()
        if config.clip_norm:
            clip_grad_norm(params, config.clip_norm)
        opt.step()
        sched.step()
    return w.detach(), b.detach()


def cached_finetune(supernet: SuperNet, arch: Architecture, data: CTRDataset, config: TrainConfig, *,
                    chunk_rows: int = CHUNK_ROWS, feature_group: int | None = None) -> tuple[dict[str, Tensor], Metrics]:
    """Head-only :func:`~nasrec_lab.training.finetune` and its validation score, on cached trunk features.

    Returns ``({"weight", "bias"} of the fine-tuned head, metrics)``; the metrics equal the
    plain path's within float rounding (``tests/search/test_fastscore.py``). Runs on the
    supernet's device. ``feature_group`` fine-tuning batches go through the trunk at once (the
    trunk is row-wise, so each batch's features are the same; default: :data:`GPU_FEATURE_GROUP`
    on a GPU, 1 on the CPU); the head still takes them one batch, one step, at a time.
    """
    trunk = PathTrunk(supernet, arch)
    dev = trunk.device
    loader = data.loader(config.train_split, config.batch_size, shuffle=True, seed=config.seed)
    if len(loader) == 0:
        raise ValueError(f"split {config.train_split!r} has too few rows for one batch of {config.batch_size}")
    total = config.steps or max(1, int(round(config.epochs * len(loader))))
    group = feature_group or (GPU_FEATURE_GROUP if dev.type == "cuda" else 1)
    if group < 1:
        raise ValueError(f"feature_group must be at least 1, got {feature_group}")
    if not trunk.row_wise:
        group = 1

    def featurized():
        batches = loader.batches(total)
        while chunk := list(itertools.islice(batches, group)):
            dense = torch.cat([b.dense for b in chunk]).to(dev)
            sparse = torch.cat([b.sparse for b in chunk]).to(dev)
            features = trunk.features(dense, sparse)
            for piece, b in zip(features.split([len(b.label) for b in chunk]), chunk):
                yield piece, b.label.to(dev)

    w, b = train_head(featurized(), trunk.head_weight, trunk.head_bias, config, total)
    return {"weight": w, "bias": b}, evaluate_head(trunk, w, b, data, config, chunk_rows=chunk_rows)


@torch.no_grad()
def evaluate_head(trunk: PathTrunk, weight: Tensor, bias: Tensor, data: CTRDataset, config: TrainConfig, *,
                  chunk_rows: int = CHUNK_ROWS) -> Metrics:
    """Validation metrics of trunk + head on ``config.eval_split`` (the first ``eval_batches`` batches)."""
    loader = data.loader(config.eval_split, config.eval_batch_size, shuffle=False)
    labels: list[np.ndarray] = []
    logits: list[np.ndarray] = []
    for i, batch in enumerate(loader):
        if config.eval_batches is not None and i >= config.eval_batches:
            break
        batch = batch.to(trunk.device)
        x = trunk.features(batch.dense, batch.sparse, chunk_rows)
        logits.append(F.linear(x, weight, bias).squeeze(1).float().cpu().numpy())
        labels.append(batch.label.cpu().numpy())
    return metrics_from_logits(np.concatenate(labels), np.concatenate(logits))

