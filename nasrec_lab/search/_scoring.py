"""Scoring a candidate: fine-tune in the supernet (the paper's way), inherit only, or train from scratch."""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..data import CTRDataset
from ..space import Architecture, get_space
from ..supernet import SuperNet, build, cost, materialize, measure_latency
from ..training import (
    FINETUNE,
    GROUND_TRUTH,
    TrainConfig,
    Trainer,
    check_schema,
    evaluate,
    finetune,
    resolve_device,
    supernet_from_checkpoint,
)
from ._fastscore import cached_finetune


@dataclass(frozen=True)
class ScoringConfig:
    """How candidates are scored (defaults: NASREC.md's post-training fine-tuning).

    ``mode``: ``"finetune"`` (head-only fine-tuning of the inherited subnet, then validation),
    ``"inherit"`` (validation with the supernet's weights as they are: cheaper, ranks worse),
    or ``"scratch"`` (train from scratch: the ground truth).
    """

    mode: str = "finetune"
    finetune_steps: int = FINETUNE.steps
    finetune_batch: int = FINETUNE.batch_size
    finetune_lr: float = FINETUNE.lr
    whole_path: bool = False
    eval_batches: int | None = FINETUNE.eval_batches
    eval_batch_size: int = FINETUNE.eval_batch_size
    scratch_epochs: float = GROUND_TRUTH.epochs
    scratch_steps: int | None = None
    scratch_batch: int = GROUND_TRUTH.batch_size
    scratch_lr: float = GROUND_TRUTH.lr
    threads: int = 1
    latency: bool = False
    latency_batch: int = 512

    def __post_init__(self) -> None:
        if self.mode not in ("finetune", "inherit", "scratch"):
            raise ValueError(f"scoring mode must be finetune|inherit|scratch, got {self.mode!r}")
        # checked here, before a search is created in a store: a run refused later would leave it behind
        if self.eval_batches is not None and self.eval_batches < 1:
            raise ValueError(f"eval_batches (--eval-batches) must be at least 1, got {self.eval_batches}")
        if self.scratch_steps is not None and self.scratch_steps < 1:
            raise ValueError(f"scratch_steps must be at least 1, got {self.scratch_steps}")
        for key in ("finetune_steps", "eval_batch_size", "finetune_batch", "scratch_batch", "threads", "latency_batch"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}{_flag(key)} must be at least 1, got {getattr(self, key)}")
        for key in ("finetune_lr", "scratch_lr", "scratch_epochs"):
            if not (math.isfinite(getattr(self, key)) and getattr(self, key) > 0):
                raise ValueError(f"{key} must be a positive number, got {getattr(self, key)}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _flag(key: str) -> str:
    """`` (--option)``: the ``nasrec-lab search`` option that sets a ScoringConfig field, where it has one."""
    flags = ("finetune_steps", "finetune_batch", "eval_batches", "eval_batch_size", "threads")
    return f" (--{key.replace('_', '-')})" if key in flags else ""


@contextlib.contextmanager
def torch_threads(n: int):
    """Fix the CPU thread count while scoring, so scores do not depend on where they ran."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def candidate_seed(search_seed: int, arch: Architecture) -> int:
    return (int(search_seed) * 1_000_003 + int(arch.hash()[:8], 16)) % (2**31 - 1)


class CandidateScorer:
    """Scores architectures on one data set with one supernet (loaded once per worker)."""

    def __init__(self, data: CTRDataset | str | os.PathLike, supernet: SuperNet | str | os.PathLike | None,
                 config: ScoringConfig | None = None, *, space=None, device: str = "cpu",
                 cached_trunk: bool = True) -> None:
        self.data = data if isinstance(data, CTRDataset) else CTRDataset(data)
        self.config = config or ScoringConfig()
        if isinstance(supernet, SuperNet) or supernet is None:
            self.supernet = supernet
        else:
            self.supernet = supernet_from_checkpoint(supernet)
        self.supernet_id = None if supernet is None or isinstance(supernet, SuperNet) else str(supernet)
        if self.supernet is not None:  # another schema's ids would index past its tables
            check_schema(self.supernet.schema, self.data, f"the supernet {self.supernet_id or ''}".rstrip())
        if self.supernet is None and self.config.mode != "scratch":
            raise ValueError(f"scoring mode {self.config.mode!r} needs a supernet")
        self.space = get_space(space) if space is not None else (self.supernet.space if self.supernet else None)
        if self.space is None:
            raise ValueError("scratch scoring without a supernet needs space=")
        self.device = device
        # Head-only fine-tuning on cached trunk features (_fastscore): the same scores, cheaper.
        # Not part of ScoringConfig: it changes the cost, not the result, so stores stay resumable.
        self.cached_trunk = cached_trunk
        if self._head_only_shortcut() and self.supernet_id is not None:
            # ours (loaded here, on the CPU): moved first, so that the shortcut runs on the scoring device
            self.supernet.to(resolve_device(device))

    def _head_only_shortcut(self) -> bool:
        return self.cached_trunk and self.config.mode == "finetune" and not self.config.whole_path

    def _uses_cache(self) -> bool:
        if not self._head_only_shortcut():
            return False
        # a supernet passed in on another device than ``device`` is not moved: plain path
        have, want = next(self.supernet.parameters()).device, resolve_device(self.device)
        return have.type == want.type and want.index in (None, have.index)

    def _eval_config(self, seed: int) -> dict[str, Any]:
        return dict(eval_batches=self.config.eval_batches, eval_batch_size=self.config.eval_batch_size,
                    progress=False, seed=seed, device=self.device)

    def score(self, arch: Architecture, *, seed: int = 0) -> dict[str, Any]:
        """``{"val_logloss", "val_auc", "flops", "params", "latency_ms", "wall_s"}`` for one candidate."""
        cfg = self.config
        t0 = time.perf_counter()
        cseed = candidate_seed(seed, arch)
        with torch_threads(cfg.threads):
            torch.manual_seed(cseed)
            if cfg.mode == "finetune":
                tc = TrainConfig(steps=cfg.finetune_steps, batch_size=cfg.finetune_batch, lr=cfg.finetune_lr,
                                 **self._eval_config(cseed))
                if self._uses_cache():
                    _, m = cached_finetune(self.supernet, arch, self.data, tc)
                    model = materialize(self.supernet, arch) if cfg.latency else None
                else:
                    model, m = finetune(self.supernet, arch, self.data, tc, whole_path=cfg.whole_path)
            elif cfg.mode == "inherit":
                model = materialize(self.supernet, arch)
                loader = self.data.loader("val", cfg.eval_batch_size, shuffle=False)
                m = evaluate(model, loader, max_batches=cfg.eval_batches)
            else:
                model = build(arch, self.data.schema, self.space, layernorm=False, seed=cseed)
                tc = TrainConfig(steps=cfg.scratch_steps, epochs=None if cfg.scratch_steps else cfg.scratch_epochs,
                                 batch_size=cfg.scratch_batch, lr=cfg.scratch_lr, **self._eval_config(cseed))
                trainer = Trainer(model, self.data, tc).run()
                m = trainer.evaluate()
            latency = None
            if cfg.latency:
                batch = next(iter(self.data.loader("val", cfg.latency_batch, shuffle=False)))
                latency = 1000 * measure_latency(model, batch, warmup=2, repeats=5)["median_s"]
        c = cost(arch, self.data.schema, self.space)
        return {"val_logloss": m.logloss, "val_auc": m.auc, "flops": c.flops, "params": c.params,
                "latency_ms": latency, "wall_s": time.perf_counter() - t0}
