"""Final training of one model from scratch, by a :class:`Recipe`'s protocol, scored on test."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from ..data import CTRDataset
from ._events import Callback, EvalEvent
from ._recipes import Recipe
from ._trainer import Trainer


class DegenerateDataError(ValueError):
    """A split whose labels are all one class: nothing can be learned or scored there."""


def check_labels(data: CTRDataset, splits: Sequence[str]) -> dict[str, float]:
    """Positive rate of each split (``train+val`` counts both); refuses a split with one class.

    Log loss on a one-class split rewards a constant and AUC is undefined, so a number trained or
    scored there would mislead: the error names the data set, the split and what it holds.
    """
    rates = {}
    for name in splits:
        labels = np.asarray(data.split(name).column("label"))
        rate = float(labels.mean())
        if rate in (0.0, 1.0):
            kind = "no clicks (every label 0)" if rate == 0.0 else "only clicks (every label 1)"
            raise DegenerateDataError(
                f"{data.path}: split {name!r} has {kind} in {len(labels):,} rows; a CTR model cannot be "
                f"trained or scored on one class (use more rows or another sample)")
        rates[name] = rate
    return rates


@dataclass
class FinalResult:
    """What a final training reports; ``to_json`` is what the CLI prints."""

    test_logloss: float
    test_auc: float | None
    test_normalized_entropy: float
    test_calibration: float
    protocol: str
    epochs: float
    best_epoch: int | None
    steps: int
    train_seconds: float
    recipe: dict[str, Any]
    val_logloss_per_epoch: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, float) and not math.isfinite(v):
                out[k] = None
        return out


def train_final(model: torch.nn.Module, data: CTRDataset, recipe: Recipe, *, seed: int = 0, device: str = "auto",
                bf16: bool = False, progress: bool = False, callbacks: Sequence[Callback] = (),
                steps: int | None = None) -> FinalResult:
    """Train ``model`` from scratch by ``recipe`` and score it on test.

    ``early-stopping``: epochs on ``train`` with the validation log loss after each; stop after
    ``patience`` epochs without improvement (or ``max_epochs``), restore the best epoch's weights.
    ``fixed-epochs``: ``epochs`` on ``train+val`` (the paper's protocol). ``steps`` caps the
    training length (tests, quick looks): at most that many steps, never more than the recipe's own
    length; the schedule is then laid over them. ``seed`` fixes the initial weights' draw outside
    and every random draw of the training (dropout, the loader's order), so a seed is one result.

    >>> res = train_final(build_baseline("dlrm", ds.schema), ds, final_recipe("baseline"))  # doctest: +SKIP
    >>> res.test_logloss, res.best_epoch                                                    # doctest: +SKIP
    """
    if recipe.protocol == "steps":
        raise ValueError(f"recipe {recipe.name!r} is step-based; final training needs fixed-epochs or early-stopping")
    with torch.random.fork_rng(devices=_rng_devices(device)):
        torch.manual_seed(seed)  # dropout (DeepFM's, AutoInt's) draws from torch's global generator
        return _train_final(model, data, recipe, seed=seed, device=device, bf16=bf16, progress=progress,
                            callbacks=callbacks, steps=steps)


def _rng_devices(device: str) -> list[int]:
    from ._trainer import resolve_device

    dev = resolve_device(device)
    return [dev.index or 0] if dev.type == "cuda" else []


def _train_final(model: torch.nn.Module, data: CTRDataset, recipe: Recipe, *, seed: int, device: str, bf16: bool,
                 progress: bool, callbacks: Sequence[Callback], steps: int | None) -> FinalResult:
    early = recipe.protocol == "early-stopping"
    cfg = recipe.train_config(seed=seed, device=device, bf16=bf16, progress=progress, eval_batches=None,
                              stop_on_divergence=True)
    if steps is not None:
        per_epoch = len(data.loader(cfg.train_split, cfg.batch_size, shuffle=True, seed=seed))
        steps = min(int(steps), max(1, int(round(cfg.epochs * per_epoch))))  # a cap, not a new length
        cfg = recipe.replace(protocol="steps", steps=steps).train_config(
            seed=seed, device=device, bf16=bf16, progress=progress, eval_batches=None,
            train_split=cfg.train_split, eval_split=cfg.eval_split, stop_on_divergence=True)
    check_labels(data, [cfg.train_split, "test"] + (["val"] if early else []))
    t0 = time.perf_counter()
    trainer = Trainer(model, data, cfg, callbacks=callbacks)
    per_epoch = len(trainer.loader)
    curve: list[float] = []
    best_epoch = None
    if early:
        best, best_state, waited = math.inf, None, 0
        epoch = 0
        while trainer.step < trainer.total_steps:
            epoch += 1
            trainer.run(until=epoch * per_epoch)
            m = trainer.evaluate("val")
            curve.append(m.logloss)
            trainer._emit("on_eval", EvalEvent(trainer.step, trainer.samples, "val", m, trainer._subnet_hash()))
            if not math.isfinite(m.logloss):
                raise FloatingPointError(f"validation log loss is {m.logloss} after epoch {epoch}: training "
                                         f"diverged (recipe {recipe.name!r}, lr {recipe.lr})")
            if m.logloss < best:
                best, best_state, best_epoch, waited = m.logloss, copy.deepcopy(model.state_dict()), epoch, 0
            else:
                waited += 1
                if waited >= recipe.patience:
                    break
        model.load_state_dict(best_state)
        epochs_run = trainer.step / per_epoch
    else:
        trainer.run()
        epochs_run = trainer.step / per_epoch
    m = trainer.evaluate("test")
    if not math.isfinite(m.logloss):
        raise FloatingPointError(f"test log loss is {m.logloss}: training diverged (recipe {recipe.name!r}, "
                                 f"lr {recipe.lr})")
    return FinalResult(test_logloss=m.logloss, test_auc=m.auc if math.isfinite(m.auc) else None,
                       test_normalized_entropy=m.normalized_entropy, test_calibration=m.calibration,
                       protocol=recipe.protocol if steps is None else f"{recipe.protocol}, capped at {steps} steps",
                       epochs=round(epochs_run, 4), best_epoch=best_epoch, steps=trainer.step,
                       train_seconds=time.perf_counter() - t0, recipe=recipe.to_json(),
                       val_logloss_per_epoch=curve)
