"""Cost model: FLOPs and parameters of an architecture from its spec, without running it.

FLOPs follow the paper (fvcore's convention): one multiply-add is one FLOP, per example;
embedding look-ups and element-wise operations are free; attention's QK^T and AV products
are counted (fvcore skips ``scaled_dot_product_attention`` on torch 2.x; NASREC.md).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..data import FeatureSchema
from ..space import Architecture, SearchSpace, get_space
from ._model import _uses
from ._ops import OPERATORS, axis_size
from ._plan import Geometry, make_plan


@dataclass(frozen=True)
class Cost:
    flops: int  # multiply-adds per example
    params: int  # all parameters (dense part + embeddings)
    params_dense: int  # everything but the embedding tables
    params_embedding: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def mflops(self) -> float:
        return self.flops / 1e6


def cost(arch: Architecture, schema: FeatureSchema, space: SearchSpace | str = "full", *,
         layernorm: bool = False) -> Cost:
    """FLOPs per example and parameter counts of ``arch`` built standalone for ``schema``.

    ``layernorm=False`` counts the release's final models (the paper's table).
    """
    space = get_space(space)
    plan = make_plan(arch, Geometry.of(schema, space), layernorm)
    flops = 0
    dense_params = 0
    for _i, op, ctx in _uses(plan):
        flops += OPERATORS[op].macs(ctx)
        dense_params += sum(math.prod(axis_size(a) for a in spec.axes) for spec in OPERATORS[op].params(ctx).values())
    emb = sum(schema.table_sizes) * schema.embedding_dim
    return Cost(flops=flops, params=dense_params + emb, params_dense=dense_params, params_embedding=emb)


def measure_latency(model: torch.nn.Module, batch: Any, *, warmup: int = 3, repeats: int = 10,
                    device: str | torch.device | None = None) -> dict[str, float]:
    """Median wall time of ``model(batch)`` without gradients (after ``warmup`` untimed calls)."""
    if device is not None:
        model = model.to(device)
        batch = type(batch)(*(t.to(device) for t in batch))
    dev = next(model.parameters()).device
    times = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for k in range(warmup + repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            model(batch)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if k >= warmup:
                times.append(time.perf_counter() - t0)
    model.train(was_training)
    med = statistics.median(times)
    n = len(batch.label) if hasattr(batch, "label") else batch[0].shape[0]
    return {"median_s": med, "samples_per_s": n / med, "batch_size": n, "repeats": repeats,
            "device": str(dev)}
