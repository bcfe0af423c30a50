"""Shuffled torch batches straight from memory-mapped arrays (no per-row Python, no workers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch

from ._dataset import SplitArrays


class Batch(NamedTuple):
    """``dense`` float32 (B, n_dense), ``sparse`` int64 (B, n_sparse), ``label`` float32 (B,)."""

    dense: torch.Tensor
    sparse: torch.Tensor
    label: torch.Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return Batch(*(t.to(device, non_blocking=non_blocking) for t in self))


class BatchLoader:
    """Iterate over one split in batches; seeded, epoch-aware shuffling; sharding by rank.

    Every rank draws the same permutation (seeded by ``(seed, epoch)``); global batch ``b``
    is rows ``perm[b*B*W:(b+1)*B*W]`` and rank ``r`` takes its ``r``-th slice of ``B`` rows, so
    ``W`` ranks with batch ``B`` see exactly what one process with batch ``B*W`` sees.
    The position inside an epoch is part of :meth:`state_dict`, so training resumes
    mid-epoch on the next unseen batch.

    >>> loader = BatchLoader(ds.split("train"), 512, seed=0)  # doctest: +SKIP
    >>> for batch in loader: ...                                # doctest: +SKIP
    """

    def __init__(
        self,
        data: SplitArrays,
        batch_size: int = 512,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool | None = None,
        device: torch.device | str | None = None,
        max_rows: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank={rank}, world_size={world_size}")
        self.data = data
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        # Ranks must stay in lock-step, so a ragged last batch is dropped when sharding.
        self.drop_last = (world_size > 1) if drop_last is None else drop_last
        self.device = torch.device(device) if device is not None else None
        self.n_rows = len(data) if max_rows is None else min(len(data), int(max_rows))
        self.epoch = 0
        self.batch_index = 0

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        g = self.global_batch_size
        return self.n_rows // g if self.drop_last else -(-self.n_rows // g)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.batch_index = 0

    def _order(self) -> np.ndarray | None:
        if not self.shuffle:
            return None
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n_rows)

    def __iter__(self) -> Iterator[Batch]:
        order = self._order()
        g, b = self.global_batch_size, self.batch_size
        n_batches = len(self)
        while self.batch_index < n_batches:
            start = self.batch_index * g
            stop = min(start + g, self.n_rows)
            lo = min(start + self.rank * b, stop)
            hi = min(lo + b, stop)
            if order is None:
                arrays = self.data.slice(lo, hi)
            else:
                arrays = self.data.take(order[lo:hi])
            self.batch_index += 1
            yield self._to_batch(arrays)
        self.epoch += 1
        self.batch_index = 0

    def _to_batch(self, a: dict[str, np.ndarray]) -> Batch:
        batch = Batch(
            torch.from_numpy(np.ascontiguousarray(a["dense"], dtype=np.float32)),
            torch.from_numpy(a["sparse"].astype(np.int64)),
            torch.from_numpy(a["label"].astype(np.float32)),
        )
        return batch.to(self.device) if self.device is not None else batch

    def batches(self, n: int) -> Iterator[Batch]:
        """Exactly ``n`` batches, running over epochs as needed (step-based training)."""
        produced = 0
        while produced < n:
            if len(self) == 0:
                raise ValueError(f"split {self.data.name!r} has {self.n_rows} rows: too few for one batch")
            for batch in self:
                yield batch
                produced += 1
                if produced >= n:
                    return

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batch_index": self.batch_index, "seed": self.seed, "n_rows": self.n_rows,
                "global_batch_size": self.global_batch_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("seed", "n_rows", "global_batch_size"):
            if state[key] != getattr(self, key if key != "global_batch_size" else "global_batch_size"):
                raise ValueError(
                    f"loader state does not match this loader: {key} is {state[key]} in the state, "
                    f"{getattr(self, key)} here"
                )
        self.epoch = int(state["epoch"])
        self.batch_index = int(state["batch_index"])
