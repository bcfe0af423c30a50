"""Optimizer, schedule and gradient clipping of the NASRec recipe (NASREC.md, "Training recipe")."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


def make_optimizer(params: Iterable[nn.Parameter], *, lr: float = 0.12, eps: float = 1e-2,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adagrad as the release uses it (works with sparse embedding gradients)."""
    return torch.optim.Adagrad(list(params), lr=lr, eps=eps, weight_decay=weight_decay)


def cosine_with_warmup(optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.1,
                       min_warmup_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over the first ``warmup_fraction`` of the steps, then cosine decay to 0.

    ``min_warmup_steps`` makes the warm-up at least that many steps long; a run shorter than that
    is all warm-up (the lr rises linearly to ``lr * total / min_warmup_steps``), i.e. it is the
    start of the longer schedule, not a compressed copy of it.
    """
    warm = max(1, int(round(warmup_fraction * total_steps)), int(min_warmup_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total_steps - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def clip_grad_norm(params: Iterable[nn.Parameter], max_norm: float) -> float:
    """Clip the global gradient norm to ``max_norm``; sparse gradients (embeddings) included.

    ``torch.nn.utils.clip_grad_norm_`` does not accept sparse gradients; a sparse gradient is
    coalesced (duplicate rows summed) before its norm is taken.
    """
    grads = []
    for p in params:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            grads.append(p.grad._values())
        else:
            grads.append(p.grad)
    if not grads:
        return 0.0
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(v) for v in grads]))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for v in grads:
        v.mul_(scale)
    return float(total)


Region = tuple[slice, ...]


class SlicedAdagrad(torch.optim.Optimizer):
    """Adagrad that updates only the regions of each parameter a supernet path touched.

    With weight decay 0, an entry whose gradient is zero keeps its value and its accumulator
    under Adagrad, so updating only the touched regions is exactly Adagrad, at the cost of
    the subnet instead of the supernet. ``step(regions=...)`` takes
    :meth:`SuperNet.touched_regions`; parameters not in ``regions`` (and every parameter when
    ``regions`` is None) get the ordinary full update; sparse gradients update their rows.
    """

    def __init__(self, params: Iterable[nn.Parameter], lr: float = 0.12, eps: float = 1e-2,
                 initial_accumulator_value: float = 0.0, weight_decay: float = 0.0,
                 embeddings: Iterable[nn.Parameter] = ()) -> None:
        if lr <= 0 or eps <= 0:
            raise ValueError(f"lr and eps must be > 0, got lr={lr}, eps={eps}")
        super().__init__(params, dict(lr=lr, eps=eps, initial_accumulator_value=initial_accumulator_value,
                                      weight_decay=weight_decay))
        # ``embeddings`` start at 0 whatever ``initial_accumulator_value``: a table row's step stays
        # Adagrad's; the value is for dense weights, whose first steps add up over their inputs.
        zero = {id(p) for p in embeddings}
        for group in self.param_groups:
            for p in group["params"]:
                start = 0.0 if id(p) in zero else group["initial_accumulator_value"]
                self.state[p]["sum"] = torch.full_like(p, start, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure=None, regions: dict[nn.Parameter, list[Region]] | None = None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                acc = self.state[p]["sum"]
                if g.is_sparse:
                    if wd:
                        raise RuntimeError("weight_decay does not work with sparse gradients")
                    g = g.coalesce()
                    idx, vals = g._indices()[0], g._values()
                    rows = acc.index_select(0, idx).addcmul_(vals, vals)
                    acc.index_copy_(0, idx, rows)
                    p.index_add_(0, idx, vals / rows.sqrt().add_(eps), alpha=-lr)
                    continue
                parts = regions.get(p) if (regions is not None and not wd) else None
                for reg in parts if parts is not None else [()]:
                    gr = g[reg]
                    if wd:
                        gr = gr.add(p[reg], alpha=wd)
                    a = acc[reg]
                    a.addcmul_(gr, gr)
                    p[reg].addcdiv_(gr, a.sqrt().add_(eps), value=-lr)
        return loss
