"""Supernet benchmark: sliced weight sharing against the release's masked computation, in one run.

``nasrec-lab bench supernet [--space full|small] [--steps N] --json`` (or ``python -m benchmarks.supernet``
from the repository) prints a table and one JSON object with ``samples_per_s``,
``reference_samples_per_s`` and ``speedup``.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ._common import child_peak_rss_mb

CRITEO_SHAPE = dict(n_dense=13, n_sparse=26, table_rows=100_000)


def criteo_shape_schema(table_rows: int = 100_000):
    from nasrec_lab.data import FeatureSchema

    return FeatureSchema(dense=tuple(f"I{i}" for i in range(1, 14)), sparse=tuple(f"C{i}" for i in range(1, 27)),
                         table_sizes=(table_rows,) * 26, name="criteo-shape")


def random_batch(schema, n: int, seed: int):
    from nasrec_lab.data import Batch

    g = torch.Generator().manual_seed(seed)
    sparse = torch.randint(0, min(schema.table_sizes), (n, schema.n_sparse), generator=g)
    return Batch(torch.rand(n, schema.n_dense, generator=g) * 5, sparse, (torch.rand(n, generator=g) < 0.25).float())


def train_throughput(model, archs, batches, *, lr: float = 0.12) -> float:
    """Samples/s of forward + backward + clip + Adagrad over the given paths and batches.

    Our supernet updates only the regions a path touched (``SlicedAdagrad``, exactly Adagrad);
    the reference uses ``torch.optim.Adagrad`` on everything, as the release does.
    """
    from nasrec_lab.supernet import SuperNet
    from nasrec_lab.training._optim import SlicedAdagrad, clip_grad_norm, make_optimizer

    sliced = isinstance(model, SuperNet)
    opt = SlicedAdagrad(model.parameters(), lr=lr) if sliced else make_optimizer(model.parameters(), lr=lr)
    params = list(model.parameters())

    dev = next(model.parameters()).device
    batches = [b.to(dev) for b in batches]

    def step(arch, batch):
        opt.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(model(batch, arch), batch.label)
        loss.backward()
        clip_grad_norm(params, 5.0)
        if sliced:
            opt.step(regions=model.touched_regions(arch))
        else:
            opt.step()

    step(archs[0], batches[0])  # warm-up (allocations)
    _sync(dev)
    t0 = time.perf_counter()
    n = 0
    for arch, batch in zip(archs[1:], batches[1:]):
        step(arch, batch)
        n += len(batch.label)
    _sync(dev)
    return n / (time.perf_counter() - t0)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


# The child imports the same nasrec_lab as this process (an installed one, or the checkout's).
_MEMORY_CHILD = """
import importlib.util
import sys
if importlib.util.find_spec("nasrec_lab") is None:
    sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(2)
from nasrec_lab.bench._supernet import criteo_shape_schema, random_batch, train_throughput
from nasrec_lab.space import PathSampler
from nasrec_lab.supernet import SuperNet
schema = criteo_shape_schema({rows})
net = SuperNet(schema, {space!r}, sparse_grad=True)
sampler = PathSampler({space!r}, seed=0)
archs = [sampler.sample(i) for i in range({steps})]
train_throughput(net, archs, [random_batch(schema, {batch}, i) for i in range({steps})])
"""


def bench_supernet(space: str = "full", steps: int = 20, batch_size: int = 512, table_rows: int = 100_000,
                   inference_batch: int = 4096, reference_steps: int | None = None,
                   device: str = "cpu") -> dict[str, Any]:
    from nasrec_lab.space import PUBLISHED, PathSampler, get_space, load_architecture
    from nasrec_lab.supernet import SuperNet, materialize

    from ._masked_reference import MaskedSuperNet

    dev = torch.device(device)
    if dev.type == "cpu":
        torch.set_num_threads(2)
    torch.manual_seed(0)
    schema = criteo_shape_schema(table_rows)
    table = []
    where = "2 threads" if dev.type == "cpu" else str(dev)
    result: dict[str, Any] = {"title": f"supernet benchmark (Criteo shape, batch {batch_size}, {where})",
                              "device": str(dev), "batch_size": batch_size, "table_rows": table_rows}
    for sp in ([space] + [s for s in ("full", "small") if s != space]):
        sampler = PathSampler(sp, seed=0)
        n_ref = reference_steps or steps
        archs = [sampler.sample(i) for i in range(max(steps, n_ref) + 1)]
        batches = [random_batch(schema, batch_size, i) for i in range(max(steps, n_ref) + 1)]
        ours = SuperNet(schema, sp, sparse_grad=True).to(dev)
        ours_sps = train_throughput(ours, archs[: steps + 1], batches[: steps + 1])
        del ours
        ref = MaskedSuperNet(schema, sp).to(dev)
        ref_sps = train_throughput(ref, archs[: n_ref + 1], batches[: n_ref + 1])
        del ref
        table.append({"measure": f"supernet training samples/s ({get_space(sp).name})", "nasrec-lab": ours_sps,
                      "reference": ref_sps, "ratio": ours_sps / ref_sps})
        if sp == space:
            result.update(samples_per_s=ours_sps, reference_samples_per_s=ref_sps, speedup=ours_sps / ref_sps)
        else:
            result[f"{sp}_samples_per_s"] = ours_sps
            result[f"{sp}_reference_samples_per_s"] = ref_sps
            result[f"{sp}_speedup"] = ours_sps / ref_sps

    # Inference of the published architectures: materialized model against the supernet path.
    files = list(PUBLISHED)
    infer = {}
    batch = random_batch(schema, inference_batch, 123).to(dev)
    for f in files:
        arch, sp = load_architecture(f)
        net = SuperNet(schema, sp).to(dev)
        sub = materialize(net, arch)
        with torch.no_grad():
            net.eval()
            sub.eval()
            t_net, t_sub = _paired_median_times(functools.partial(net, batch, arch), functools.partial(sub, batch),
                                                dev)
        name = f
        infer[name] = {"materialized_samples_per_s": inference_batch / t_sub,
                       "supernet_path_samples_per_s": inference_batch / t_net, "ratio": t_net / t_sub}
        table.append({"measure": f"inference samples/s {name} (batch {inference_batch})",
                      "nasrec-lab": inference_batch / t_sub, "reference": inference_batch / t_net,
                      "ratio": t_net / t_sub})
        del net, sub
    result["inference"] = infer
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        net = SuperNet(schema, space, sparse_grad=True).to(dev)
        sampler = PathSampler(space, seed=0)
        train_throughput(net, [sampler.sample(i) for i in range(6)], [random_batch(schema, batch_size, i)
                                                                      for i in range(6)])
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
        label = f"peak GPU memory MiB, supernet training ({space})"
    else:
        peak, _ = child_peak_rss_mb(_MEMORY_CHILD.format(rows=table_rows, space=space, steps=5, batch=batch_size,
                                                         root=str(Path(__file__).resolve().parents[2])))
        label = f"peak RSS MiB, supernet training ({space})"
    result["peak_memory_mb_training"] = peak
    table.append({"measure": label, "nasrec-lab": peak, "reference": None, "ratio": None})
    result["table"] = table
    result["note"] = ("reference = masked supernet computed as the release does (nasrec_lab/bench/_masked_reference.py); "
                      "inference reference = the same architecture run as a supernet path")
    return result


def _paired_median_times(a, b, dev: torch.device, repeats: int = 7) -> tuple[float, float]:
    """Median times of ``a`` and ``b`` measured alternately (machine noise hits both alike)."""
    a(), b()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((a, ta), (b, tb)):
            _sync(dev)
            t0 = time.perf_counter()
            fn()
            _sync(dev)
            out.append(time.perf_counter() - t0)
    return float(np.median(ta)), float(np.median(tb))

