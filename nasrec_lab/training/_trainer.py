"""One trainer for the supernet, for subnets from scratch, and for fine-tuning.

The recipe of NASREC.md by default: BCE with logits, Adagrad (eps 1e-2), cosine schedule
with 10% linear warm-up, batch 512, gradient-norm clipping at 5, weight decay 0.
"""

from __future__ import annotations

import io
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._atomic import atomic_write_bytes, remove_stale_temps
from .._torchfile import load_weights_only
from ..data import CTRDataset, FeatureSchema
from ..space import Architecture, PathSampler, SearchSpace
from ..supernet import Subnet, SuperNet
from ..supernet._model import LEGACY_CONFIG
from . import _distributed as dist_utils
from ._events import Callback, CheckpointEvent, EvalEvent, StepEvent
from ._metrics import Metrics, evaluate
from ._optim import SlicedAdagrad, clip_grad_norm, cosine_with_warmup
from ._recipes import SUPERNET

CHECKPOINT_FORMAT = "nasrec-lab/checkpoint-v1"


@dataclass(frozen=True)
class TrainConfig:
    """Every part of the recipe; ``steps`` (or else ``epochs``) sets the length."""

    steps: int | None = None
    epochs: float | None = None
    batch_size: int = SUPERNET.batch_size
    lr: float = SUPERNET.lr
    eps: float = 1e-2
    initial_accumulator: float = 0.0  # Adagrad's (see Recipe.initial_accumulator)
    weight_decay: float = 0.0
    warmup_fraction: float = 0.1
    min_warmup_steps: int = 0
    clip_norm: float | None = 5.0
    seed: int = 0
    train_split: str = "train"
    eval_split: str = "val"
    eval_every: int | None = None
    eval_batches: int | None = None
    eval_batch_size: int = 8192
    checkpoint_every: int | None = None
    log_every: int = 10
    device: str = "auto"
    bf16: bool = False
    progress: bool = True
    #: raise FloatingPointError at the first non-finite loss (every rank at the same step under torchrun): the
    #: weights are lost from there.
    #: Off where a diverged run is a result to record (a candidate's NaN score), on for training runs
    stop_on_divergence: bool = False

    def __post_init__(self) -> None:
        if self.steps is None and self.epochs is None:
            object.__setattr__(self, "epochs", 1.0)
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        if self.batch_size < 1 or not (self.lr > 0 and math.isfinite(self.lr)):  # NaN fails every comparison
            raise ValueError(f"batch_size must be >= 1 and lr a finite number > 0, got {self.batch_size} and {self.lr}")
        if self.eval_batches is not None and self.eval_batches < 1:
            raise ValueError(f"eval_batches (--eval-batches) must be at least 1, got {self.eval_batches}")
        if not (0 <= self.initial_accumulator < math.inf):  # NaN fails every comparison
            raise ValueError(f"initial_accumulator (--initial-accumulator) must be a finite number >= 0, "
                             f"got {self.initial_accumulator}")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return dev


class Trainer:
    """Train a :class:`SuperNet` (with a :class:`PathSampler`) or a :class:`Subnet`.

    >>> trainer = Trainer(SuperNet(ds.schema, "full"), ds, TrainConfig(steps=1000),
    ...                   sampler=PathSampler("full", seed=0, warmup_steps=100))   # doctest: +SKIP
    >>> trainer.run()                                                               # doctest: +SKIP

    ``trainable`` restricts the optimised parameters (fine-tuning the head only). Training can
    run in a background thread (:meth:`start`, :meth:`stop`); it stops between steps.
    """

    def __init__(
        self,
        model: SuperNet | Subnet,
        data: CTRDataset,
        config: TrainConfig | None = None,
        *,
        sampler: PathSampler | None = None,
        callbacks: Sequence[Callback] = (),
        trainable: Callable[[str], bool] | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.config = config or TrainConfig()
        self.data = data
        self.is_supernet = isinstance(model, SuperNet)
        if self.is_supernet and sampler is None:
            raise ValueError("training a SuperNet needs a PathSampler")
        check_schema(model.schema, data, "the model")
        self.device = resolve_device(self.config.device)
        if self.config.bf16 and self.device.type != "cuda":
            raise ValueError("bf16 autocast needs a CUDA device")
        self.model = model.to(self.device)
        self.sampler = sampler
        self.callbacks = list(callbacks)
        self.rank, self.world_size = rank, world_size
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.loader = data.loader(self.config.train_split, self.config.batch_size, shuffle=True, seed=self.config.seed,
                                  rank=rank, world_size=world_size)
        if len(self.loader) == 0:
            raise ValueError(f"split {self.config.train_split!r} has too few rows for one batch of "
                             f"{self.loader.global_batch_size}")
        self.total_steps = self.config.steps or max(1, int(round(self.config.epochs * len(self.loader))))
        names = [n for n, _ in model.named_parameters()]
        if trainable is not None:
            for n, p in model.named_parameters():
                p.requires_grad_(trainable(n))
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError(f"no trainable parameters (of {len(names)})")
        self.optimizer = SlicedAdagrad(self.params, lr=self.config.lr, eps=self.config.eps,
                                       initial_accumulator_value=self.config.initial_accumulator,
                                       weight_decay=self.config.weight_decay,
                                       embeddings=[m.weight for m in model.modules() if isinstance(m, nn.Embedding)])
        self.scheduler = cosine_with_warmup(self.optimizer, self.total_steps, self.config.warmup_fraction,
                                            self.config.min_warmup_steps)
        self.step = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.last_loss = float("nan")

    # -- control ---------------------------------------------------------------------------
    def start(self) -> threading.Thread:
        """Run in a background thread; returns it. :meth:`stop` ends it between two steps."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("training is already running")
        self._stop.clear()
        self.error = None

        def target() -> None:
            try:
                self.run()
            except BaseException as exc:  # surfaced through .error
                self.error = exc

        self._thread = threading.Thread(target=target, name="nasrec-train", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the loop ----------------------------------------------------------------------------
    def _forward(self, batch, arch):
        if self.config.bf16:
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                return self.model(batch, arch) if arch is not None else self.model(batch)
        return self.model(batch, arch) if arch is not None else self.model(batch)

    def train_step(self, batch) -> tuple[float, Architecture | None]:
        arch = self.sampler.sample(self.step) if self.is_supernet else None
        batch = batch.to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(self._forward(batch, arch).float(), batch.label)
        loss.backward()
        reported = loss.detach()
        if self.world_size > 1:
            dist_utils.average_gradients(self.params, self.world_size)
            # every rank reports the mean over the ranks, so one rank's non-finite loss stops all of them at
            # the same step (a rank that stopped alone would leave the others waiting in the next all_reduce)
            reported = dist_utils.mean_over_ranks(reported, self.world_size)
        if self.config.clip_norm:
            clip_grad_norm(self.params, self.config.clip_norm)
        regions = self.model.touched_regions(arch) if arch is not None else None
        self.optimizer.step(regions=regions)
        self.scheduler.step()
        self.step += 1
        self.samples += len(batch.label) * self.world_size
        return float(reported), arch

    def run(self, until: int | None = None) -> Trainer:
        """Train until ``total_steps`` (or step ``until``, or :meth:`stop`); events go to the callbacks."""
        cfg = self.config
        end = self.total_steps if until is None else min(int(until), self.total_steps)
        bar = None
        if cfg.progress and self.rank == 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=end, initial=self.step, desc="supernet" if self.is_supernet else "train",
                       unit="step", leave=True)
        t0 = time.perf_counter()
        self.model.train()
        batches = self.loader.batches(max(0, end - self.step))
        try:
            while self.step < end and not self._stop.is_set():
                loss, arch = self.train_step(next(batches))
                self.last_loss = loss
                if cfg.stop_on_divergence and not math.isfinite(loss):
                    # the step has made the weights non-finite: stop before a checkpoint keeps them
                    raise FloatingPointError(f"training loss is {loss} at step {self.step}: training diverged "
                                             f"(lr {cfg.lr}); the weights are no longer finite, the last "
                                             "checkpoint written before this step is kept")
                if bar is not None:
                    bar.update(1)
                    if self.step % cfg.log_every == 0:
                        bar.set_postfix(loss=f"{loss:.4f}")
                if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                    prob = self.sampler.warmup(self.step - 1) if self.sampler is not None else 0.0
                    self._emit("on_step", StepEvent(self.step, self.total_steps, self.samples, loss,
                                                    self.scheduler.get_last_lr()[0],
                                                    arch.hash() if arch is not None else self._subnet_hash(),
                                                    prob, time.perf_counter() - t0))
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    self.evaluate_and_emit()
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save_checkpoint()
        finally:
            if bar is not None:
                bar.close()
        return self

    def _subnet_hash(self) -> str | None:
        return self.model.arch.hash() if isinstance(self.model, Subnet) else None

    def _emit(self, hook: str, event) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(event)

    def evaluate(self, split: str | None = None, *, arch: Architecture | None = None,
                 max_batches: int | None = None) -> Metrics:
        split = split or self.config.eval_split
        loader = self.data.loader(split, self.config.eval_batch_size, shuffle=False)
        if self.is_supernet and arch is None:
            raise ValueError("evaluating a SuperNet needs an architecture")
        return evaluate(self.model, loader, arch=arch, device=self.device,
                        max_batches=max_batches if max_batches is not None else self.config.eval_batches)

    def evaluate_and_emit(self, arch: Architecture | None = None) -> Metrics | None:
        """Evaluate the subnet (or, for a supernet, ``arch``; default: the sampler's next subnet)."""
        if self.is_supernet and arch is None:
            return None
        m = self.evaluate(arch=arch)
        self._emit("on_eval", EvalEvent(self.step, self.samples, self.config.eval_split, m,
                                        arch.hash() if arch is not None else self._subnet_hash()))
        return m

    # -- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "format": CHECKPOINT_FORMAT,
            "kind": "supernet" if self.is_supernet else "subnet",
            "model_config": self.model.config(),
            "train_config": asdict(self.config),
            "step": self.step,
            "samples": self.samples,
            "total_steps": self.total_steps,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "sampler": self.sampler.state_dict() if self.sampler is not None else None,
            "loader": self.loader.state_dict(),
            "rng": rng,
            "data": {"path": str(self.data.path), "kind": self.data.manifest.get("kind"),
                     "fingerprint": self.data.fingerprint()},
        }

    def save_checkpoint(self, path: str | os.PathLike | None = None) -> Path | None:
        """Write everything needed to resume, atomically (temp file, fsync, rename). Rank 0 only."""
        if self.rank != 0:
            return None
        if path is None:
            if self.checkpoint_dir is None:
                raise ValueError("no checkpoint_dir given")
            path = self.checkpoint_dir / "checkpoint.pt"
        buf = io.BytesIO()
        torch.save(self.state_dict(), buf)
        atomic_write_bytes(path, buf.getvalue())
        self._emit("on_checkpoint", CheckpointEvent(self.step, self.samples, str(path)))
        return Path(path)

    def load_checkpoint(self, path: str | os.PathLike) -> Trainer:
        """Resume from :meth:`save_checkpoint`; refuses a corrupt or mismatched file with the reason."""
        state = read_checkpoint(path)
        mine = self.model.config()
        theirs = state["model_config"]
        for key in ("schema", "space", "layernorm", "arch", "always_project", "field_start", "centre_dense"):
            if key in mine and theirs.get(key) != mine[key]:
                hint = {"always_project": " (the form of the supernet's paths; train-supernet --standalone-paths is "
                                          "the standalone form, the default the release's supernet form)",
                        "centre_dense": " (whether FC and Dot-Product read their dense input centred on the batch "
                                        "mean: train-supernet --centre-dense)"}.get(key, "")
                raise ValueError(f"{path}: checkpoint {key} differs from this run's "
                                 f"({_describe(key, theirs.get(key))} vs {_describe(key, mine[key])}){hint}")
        kind = "supernet" if self.is_supernet else "subnet"
        if state["kind"] != kind:
            raise ValueError(f"{path}: a {state['kind']} checkpoint cannot resume {kind} training")
        if state["total_steps"] != self.total_steps:
            raise ValueError(f"{path}: written for a run of {state['total_steps']} steps, this run has "
                             f"{self.total_steps} (the schedule would differ)")
        self._check_resume_settings(path, state)
        remove_stale_temps(path)  # a write killed half-way leaves a temporary as large as the checkpoint
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.sampler is not None:
            self.sampler.load_state_dict(state["sampler"])
        self.loader.load_state_dict(state["loader"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step, self.samples = state["step"], state["samples"]
        return self


    def _check_resume_settings(self, path: str | os.PathLike, state: dict[str, Any]) -> None:
        """A resume continues the same run: a setting the checkpoint would silently override
        (or one that would change what the rest of the run means) is refused with both values."""
        theirs, mine = state.get("train_config", {}), asdict(self.config)
        for key in ("lr", "batch_size", "eps", "initial_accumulator", "weight_decay", "warmup_fraction",
                    "min_warmup_steps", "clip_norm", "seed", "train_split"):
            if key in theirs and theirs[key] != mine[key]:
                raise ValueError(f"{path}: the checkpoint was trained with {key} {theirs[key]!r}, this run asks for "
                                 f"{mine[key]!r}; resume with the same settings or start a new run (--out)")
        if self.sampler is not None and state.get("sampler"):
            steps = state["sampler"].get("warmup_steps")
            if steps is not None and steps != self.sampler.warmup.steps:
                raise ValueError(f"{path}: the checkpoint was trained with {steps} full-path warm-up steps, this run "
                                 f"asks for {self.sampler.warmup.steps} (--warmup-steps); resume with the same value")
        fingerprint = state.get("data", {}).get("fingerprint")
        if fingerprint is not None and fingerprint != self.data.fingerprint():
            raise ValueError(f"{path}: the checkpoint was trained on other data ({state['data'].get('path')}), this "
                             f"run reads {self.data.path}; resume on the same data set or start a new run (--out)")


def _describe(key: str, value: Any) -> str:
    if isinstance(value, dict) and "name" in value:
        return repr(value["name"]) if key == "space" else f"{value.get('name')!r} {value.get('table_sizes', '')}"
    return repr(value)


def check_schema(schema: FeatureSchema, data: CTRDataset, model: str) -> None:
    """Refuse data whose features are not the ones ``model`` (a description: "the model", a file) was built for:
    its embedding lookups would index out of range, or silently read other fields' rows."""
    if schema != data.schema:
        raise ValueError(f"{model} was built for schema {schema.name!r} ({len(schema.dense)} dense, "
                         f"{len(schema.sparse)} sparse features, tables {list(schema.table_sizes[:3])}...), the data "
                         f"set {data.path} has schema {data.schema.name!r} ({len(data.schema.dense)} dense, "
                         f"{len(data.schema.sparse)} sparse, tables {list(data.schema.table_sizes[:3])}...)")


def read_checkpoint(path: str | os.PathLike, *, mmap: bool = False) -> dict[str, Any]:
    """Load a trainer checkpoint with ``weights_only=True`` (a file from elsewhere cannot run code).

    ``model_config`` comes back complete: a key a file predates holds what that file meant by leaving it out.
    """
    path = Path(path)
    state = load_weights_only(path, "checkpoint", mmap=mmap)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a nasrec-lab training checkpoint")
    if not isinstance(state.get("model_config"), dict):
        raise ValueError(f"{path}: checkpoint has no model_config (the model's settings); not written by nasrec-lab?")
    state["model_config"] = {**LEGACY_CONFIG, **state["model_config"]}
    return state


def supernet_from_checkpoint(path: str | os.PathLike, **kwargs: Any) -> SuperNet:
    """The trained supernet stored in a checkpoint (for search and fine-tuning)."""
    state = read_checkpoint(path)
    if state["kind"] != "supernet":
        raise ValueError(f"{path}: holds a {state['kind']}, not a supernet")
    cfg = state["model_config"]
    net = SuperNet(FeatureSchema.from_json(cfg["schema"]), SearchSpace.from_json(cfg["space"]),
                   layernorm=cfg["layernorm"], always_project=cfg["always_project"], field_start=cfg["field_start"],
                   centre_dense=cfg["centre_dense"], **kwargs)
    net.load_state_dict(state["model"])
    return net


def head_only(name: str) -> bool:
    """``trainable`` filter for the paper's default fine-tuning: only the final linear head."""
    return name.startswith("head.")


def finetune(supernet: SuperNet, arch: Architecture, data: CTRDataset, config: TrainConfig | None = None, *,
             whole_path: bool = False, callbacks: Iterable[Callback] = ()) -> tuple[Subnet, Metrics]:
    """The paper's post-training fine-tuning of one subnet with inherited weights, then its validation score.

    The subnet is materialized first, so the shared supernet is left untouched. Defaults:
    500 steps of batch 512, Adagrad lr 0.04, cosine with 10% warm-up, head only.
    """
    from ..supernet import materialize

    if config is None:
        from ._recipes import FINETUNE

        config = FINETUNE.train_config(progress=False)
    sub = materialize(supernet, arch)
    trainer = Trainer(sub, data, config, callbacks=list(callbacks), trainable=None if whole_path else head_only)
    trainer.run()
    return sub, trainer.evaluate()


__all__ = [
    "CHECKPOINT_FORMAT",
    "TrainConfig",
    "Trainer",
    "finetune",
    "head_only",
    "read_checkpoint",
    "resolve_device",
    "supernet_from_checkpoint",
]

