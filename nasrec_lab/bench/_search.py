"""Search benchmark: candidates scored per minute, sliced subnets against the masked reference.

Scoring one candidate = fine-tuning the head for ``finetune_steps`` steps of batch 512, then
``eval_batches`` validation batches of 8192 (NASREC.md's recipe; the issue's benchmark uses
500 + 20), NASRec-Full, Criteo shape, 2 threads. Ours is the scorer's shortcut: the frozen trunk of
the sliced path (the cost of the subnet) computes the head's input once per batch without
gradients and only the linear head is trained on it (same batches, order, optimizer and schedule
as fine-tuning the materialized subnet); the reference runs the release's masked supernet with
only its head trainable. ``device="cuda"`` runs both on the GPU (``bench search --device cuda``):
candidates per minute there say how large a budget fits an hour.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from nasrec_lab.training import FINETUNE

from ._masked_reference import MaskedSuperNet
from ._supernet import _sync, criteo_shape_schema, random_batch


def _finetune_and_eval(forward, head_params, train_batches, eval_batches) -> float:
    from nasrec_lab.training._optim import SlicedAdagrad, clip_grad_norm, cosine_with_warmup

    opt = SlicedAdagrad(head_params, lr=FINETUNE.lr)
    sched = cosine_with_warmup(opt, len(train_batches))
    for b in train_batches:
        opt.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(forward(b), b.label).backward()
        clip_grad_norm(head_params, 5.0)
        opt.step()
        sched.step()
    total = 0.0
    with torch.no_grad():
        for b in eval_batches:
            total += float(F.binary_cross_entropy_with_logits(forward(b), b.label, reduction="sum"))
    return total


def _cached_finetune_and_eval(net, arch, train_batches, eval_batches) -> float:
    """What the scorer does (nasrec_lab.search._fastscore): the head trained on trunk features
    computed once per batch without gradients; validation in cache-sized row blocks."""
    from nasrec_lab.search._fastscore import CHUNK_ROWS, PathTrunk, train_head
    from nasrec_lab.training import TrainConfig

    trunk = PathTrunk(net, arch)
    feats = ((trunk.features(b.dense, b.sparse), b.label) for b in train_batches)
    w, bias = train_head(feats, trunk.head_weight, trunk.head_bias, TrainConfig(steps=len(train_batches), lr=FINETUNE.lr),
                         len(train_batches))
    total = 0.0
    with torch.no_grad():
        for b in eval_batches:
            logits = F.linear(trunk.features(b.dense, b.sparse, CHUNK_ROWS), w, bias).squeeze(1)
            total += float(F.binary_cross_entropy_with_logits(logits, b.label, reduction="sum"))
    return total


_WORKER: dict[str, Any] = {}


def _worker_init(schema, space: str, train, evals) -> None:
    from nasrec_lab.supernet import SuperNet

    torch.set_num_threads(1)
    _WORKER.update(net=SuperNet(schema, space), train=train, evals=evals)


def _worker_candidate(arch) -> float:
    return _cached_finetune_and_eval(_WORKER["net"], arch, _WORKER["train"], _WORKER["evals"])


def _candidates_per_min_in_processes(workers: int, schema, space: str, archs, train, evals) -> float:
    """What ``search --backend process --workers N`` does on N cores: one single-threaded scorer per
    process, candidates handed out as processes finish (started and warmed before the clock)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                             initargs=(schema, space, train, evals)) as pool:
        # every worker spawned, its supernet built and warm (as the in-process side)
        list(pool.map(_worker_candidate, [archs[0]] * workers))
        t0 = time.perf_counter()
        list(pool.map(_worker_candidate, archs))
        return len(archs) / ((time.perf_counter() - t0) / 60)


def bench_search(*, finetune_steps: int = FINETUNE.steps, eval_batches: int = 20, candidates: int = 3,
                 reference_candidates: int = 1, table_rows: int = 100_000, space: str = "full",
                 device: str = "cpu", workers: int = 0) -> dict[str, Any]:
    """``workers`` > 0 also times that many single-threaded scoring processes (CPU only)."""
    from nasrec_lab.space import PathSampler
    from nasrec_lab.supernet import SuperNet

    torch.set_num_threads(2)
    dev = torch.device(device)
    schema = criteo_shape_schema(table_rows)
    train = [random_batch(schema, 512, i).to(dev) for i in range(min(finetune_steps, 50))]
    train = [train[i % len(train)] for i in range(finetune_steps)]
    evals = [random_batch(schema, 8192, 1000 + i).to(dev) for i in range(min(eval_batches, 4))]
    evals = [evals[i % len(evals)] for i in range(eval_batches)]
    sampler = PathSampler(space, seed=0)
    # the processes time a multiple of ``workers`` candidates, so none idles at the end
    n_proc = max(candidates, workers) // workers * workers if workers and dev.type == "cpu" else 0
    archs = [sampler.sample(10 + i) for i in range(max(candidates, reference_candidates, n_proc))]

    net = SuperNet(schema, space).to(dev)
    # steady state, as in a search of many candidates: first-call costs (CUDA kernels, allocator
    # pools, lazy inits) paid before the clock starts, for both sides
    _cached_finetune_and_eval(net, archs[0], train[:5], evals[:1])
    _sync(dev)
    t0 = time.perf_counter()
    for arch in archs[:candidates]:
        _cached_finetune_and_eval(net, arch, train, evals)
    _sync(dev)
    ours = candidates / ((time.perf_counter() - t0) / 60)
    del net

    ref = MaskedSuperNet(schema, space).to(dev)
    for name, p in ref.named_parameters():
        p.requires_grad_(name.startswith("head."))
    _finetune_and_eval(lambda b, a=archs[0]: ref(b, a), list(ref.head.parameters()), train[:5], evals[:1])
    _sync(dev)
    t0 = time.perf_counter()
    for arch in archs[:reference_candidates]:
        _finetune_and_eval(lambda b, a=arch: ref(b, a), list(ref.head.parameters()), train, evals)
    _sync(dev)
    reference = reference_candidates / ((time.perf_counter() - t0) / 60)
    where = "2 threads" if dev.type == "cpu" else str(dev)
    table = [{"measure": "candidates per minute", "nasrec-lab": ours, "reference": reference,
              "ratio": ours / reference}]
    extra: dict[str, Any] = {}
    if n_proc:
        in_processes = _candidates_per_min_in_processes(workers, schema, space, archs[:n_proc], train, evals)
        table.append({"measure": f"candidates per minute, {workers} processes x 1 thread", "nasrec-lab": in_processes,
                      "reference": reference, "ratio": in_processes / reference})
        extra = {"workers": workers, "process_candidates_per_min": in_processes,
                 "process_speedup": in_processes / reference}
    return {
        "title": f"search benchmark: candidates scored per minute ({space}, fine-tune {finetune_steps} x 512, "
                 f"eval {eval_batches} x 8192, {where})",
        "table": table,
        "candidates_per_min": ours,
        "reference_candidates_per_min": reference,
        "speedup": ours / reference,
        "finetune_steps": finetune_steps,
        "eval_batches": eval_batches,
        "table_rows": table_rows,
        "device": str(dev),
        **extra,
    }

