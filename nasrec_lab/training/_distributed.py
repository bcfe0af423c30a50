"""Data-parallel training with ``torchrun``: same path on every rank, data sharded by rank.

Launch (one machine, N processes; gloo on CPU, NCCL on GPUs)::

    torchrun --nproc-per-node N -m nasrec_lab.cli train-supernet --data DIR --space full --steps S --out OUT

Several machines: the same command on each with ``--nnodes M --node-rank R
--rdzv-backend c10d --rdzv-endpoint HOST:PORT``. Every rank seeds its sampler identically, so
all ranks train the same path at each step and their gradients line up; gradients are
averaged with ``all_reduce`` (the embedding's included, as dense gradients).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def env_rank_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def init_distributed(device_type: str) -> tuple[int, int]:
    rank, world, local = env_rank_world()
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return rank, world


def average_gradients(params, world_size: int) -> None:
    """Average every gradient over the ranks (all ranks ran the same path: the same gradients exist)."""
    for p in params:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.to_dense()
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad.div_(world_size)


def mean_over_ranks(value: torch.Tensor, world_size: int) -> torch.Tensor:
    """The mean of a tensor over the ranks (a new tensor; every rank gets the same value)."""
    total = value.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / world_size


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
