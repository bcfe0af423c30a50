"""The training recipes, named, in one place.

Every training setting the project uses (the CLI, the pipeline, the widgets, the notebooks, the
benchmarks) comes from a :class:`Recipe` here; NASREC.md's "Training recipe" where it speaks:
BCE with logits, Adagrad (eps 1e-2), cosine schedule with 10% linear warm-up, gradient-norm
clipping at 5, weight decay 0; supernet lr 0.12 at batch 512 with LayerNorm; final models lr
0.16 (NASRec-Full) / 0.1 (NASRec-Small) at batch 256 without LayerNorm; fine-tuning lr 0.04 at
batch 512 for 500 steps, scored on 150 validation batches of 8192.

Final models are trained with one of two protocols:

* ``"early-stopping"`` (the default): train on ``train``, evaluate ``val`` after each epoch, stop
  when the validation log loss has not improved for ``patience`` epochs (or after
  ``max_epochs``), restore the best epoch and report ``test``. One epoch is not enough on
  small data, and a fixed count over-fits large models on it. The cosine schedule spans
  ``max_epochs``, so that the epoch kept has been trained at a decayed lr (``FINAL_MAX_EPOCHS``).
* ``"fixed-epochs"`` (the paper's): ``epochs`` on ``train+val``, report ``test``.

>>> FINAL["full"].lr, FINAL["small"].lr
(0.16, 0.1)
>>> final_recipe("full", epochs=1).protocol
'fixed-epochs'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..supernet import FIELD_STARTS

PROTOCOLS = ("steps", "fixed-epochs", "early-stopping")

#: The epochs an early-stopped final model may run, over which its cosine schedule is laid. CTR models
#: peak in their first or second epoch (the embeddings memorise the training rows after that), so with
#: a schedule over 10 epochs training stopped after two or three with the lr still near its peak, and the
#: epoch kept was wherever a peak-lr step had left it: DLRM on the three-field preset (1.25M rows), seeds
#: 0-4, test log loss 0.418 / 0.421 / 0.450 / 0.416 / 0.418 (best validation 0.4163-0.4501); over two
#: epochs 0.418 / 0.417 / 0.414 / 0.417 / 0.415 (0.4160-0.4198). README, "Final-model schedule".
#: Small data sets need more epochs (the quickstart's 100k rows use 4).
FINAL_MAX_EPOCHS = 2


@dataclass(frozen=True)
class Recipe:
    """One named way to train: optimizer, schedule, batch, length and (for final models) protocol."""

    name: str
    lr: float
    batch_size: int
    protocol: str = "steps"
    steps: int | None = None
    epochs: float | None = None
    #: early stopping: the most epochs run, and the span of the cosine schedule
    max_epochs: int = FINAL_MAX_EPOCHS
    patience: int = 1
    eps: float = 1e-2
    #: Adagrad's initial accumulator for dense weights (torch's default 0; TensorFlow's 0.1; embedding
    #: rows always start at 0): bounds a weight's first step by ``lr * |g| / sqrt(initial_accumulator)``
    #: instead of ``lr``
    initial_accumulator: float = 0.0
    warmup_fraction: float = 0.1
    min_warmup_steps: int = 0
    clip_norm: float | None = 5.0
    weight_decay: float = 0.0
    layernorm: bool = False
    #: how a model built for this recipe starts its field projections (``nasrec_lab.supernet.build``):
    #: ``"xavier"`` (the release) or ``"identity"``
    field_start: str = "xavier"
    eval_batches: int | None = None
    eval_batch_size: int = 8192

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"recipe {self.name!r}: protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if not (0 <= self.initial_accumulator < float("inf")):
            raise ValueError(f"recipe {self.name!r}: initial_accumulator must be >= 0, got {self.initial_accumulator}")
        if not (0 < self.lr < float("inf")):  # also refuses NaN
            raise ValueError(f"recipe {self.name!r}: lr must be a positive finite number, got {self.lr}")
        if self.field_start not in FIELD_STARTS:
            raise ValueError(f"recipe {self.name!r}: field_start must be one of {FIELD_STARTS}, got {self.field_start!r}")
        if self.batch_size < 1:
            raise ValueError(f"recipe {self.name!r}: batch_size must be >= 1, got {self.batch_size}")
        by_steps = self.steps is not None and self.steps >= 1
        by_epochs = self.steps is None and self.epochs is not None and self.epochs > 0
        if self.protocol == "steps" and not (by_steps or by_epochs):
            raise ValueError(f"recipe {self.name!r}: a step-based recipe needs steps >= 1 (or epochs > 0 of the "
                             f"training split), got steps {self.steps}, epochs {self.epochs}")
        if self.protocol == "fixed-epochs" and not (self.epochs is not None and self.epochs > 0):
            raise ValueError(f"recipe {self.name!r}: fixed-epochs needs epochs > 0, got {self.epochs}")
        if self.protocol == "early-stopping" and (self.max_epochs < 1 or self.patience < 1):
            raise ValueError(f"recipe {self.name!r}: early stopping needs max_epochs >= 1 and patience >= 1")

    def replace(self, **changes: Any) -> Recipe:
        """A copy with ``changes`` (``None`` values are ignored, so CLI defaults pass through)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def train_config(self, **overrides: Any):
        """The :class:`TrainConfig` of this recipe; ``overrides`` set run-specific fields (seed, device, ...)."""
        from ._trainer import TrainConfig

        cfg: dict[str, Any] = dict(batch_size=self.batch_size, lr=self.lr, eps=self.eps,
                                   initial_accumulator=self.initial_accumulator, weight_decay=self.weight_decay,
                                   warmup_fraction=self.warmup_fraction, min_warmup_steps=self.min_warmup_steps,
                                   clip_norm=self.clip_norm, eval_batches=self.eval_batches,
                                   eval_batch_size=self.eval_batch_size)
        if self.protocol == "steps":
            if self.steps is not None:
                cfg["steps"] = self.steps
            else:  # epochs of the training split
                cfg["epochs"] = self.epochs
        elif self.protocol == "fixed-epochs":
            cfg.update(epochs=self.epochs, train_split="train+val", eval_split="test")
        else:
            cfg.update(epochs=float(self.max_epochs), train_split="train", eval_split="val")
        cfg.update(overrides)
        return TrainConfig(**cfg)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Recipe:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"recipe: unknown fields {sorted(unknown)}")
        return cls(**d)


#: The supernet (NASREC.md): lr 0.12, batch 512, LayerNorm on, one epoch over the training split (the
#: release's ``--num_epochs 1``: 71,625 steps on Criteo; its ``--supernet_training_step 15000`` is the
#: full-path warm-up, not the run's length). Adagrad's first step moves a weight by about ``lr`` whatever
#: its gradient, and the head reads up to 2,176 LayerNormed features, so one step moved the logits by
#: tens. Two settings bound it. The lr warm-up (10% of the run, as the release's) lasts at least 1,500
#: steps: with the 30-step warm-up of a 300-step run the per-step loss reached 20-90. So an epoch under
#: 15,000 steps (7.7M training rows) warms up over more than 10% of it (over half under 3,000 steps), and
#: one under 1,500 is the start of a longer schedule (``cosine_with_warmup``): set ``steps`` for small data.
#: And the dense weights' accumulator starts at 0.1 (TensorFlow's default; the release: 0): the head
#: columns of wide blocks, which few paths train, still took that first step far into a run (demo settings,
#: 100k rows: 11 of 200 steps above 2 nats, worst 8.5, mean of the last 50 1.01; with 0.1: worst 1.23,
#: 0.65; tests/training/test_supernet_stability.py).
SUPERNET = Recipe("supernet", lr=0.12, batch_size=512, epochs=1.0, layernorm=True, min_warmup_steps=1500,
                  initial_accumulator=0.1)

#: The paper's post-training fine-tuning of a candidate (head only by default), scored on validation.
FINETUNE = Recipe("finetune", lr=0.04, batch_size=512, steps=500, eval_batches=150, eval_batch_size=8192)

#: Full-path warm-up of the supernet sampler, as a fraction of the supernet's steps. The release warms up
#: over a fixed count of first steps, 15,000 / 12,500 / 20,000 on Criteo / Avazu / KDD Cup 2012 (21% / 20% /
#: 17% of its one epoch; KDD at batch 1024): a departure, not measured; ``warmup_steps`` (``train-supernet
#: --warmup-steps``) sets such a count.
SAMPLER_WARMUP_FRACTION = 0.1

#: Final models, trained from scratch (LayerNorm off as the release's final models). Their field
#: projections start as identities, not the release's xavier draw: a model stopped after two epochs
#: otherwise spends them unmixing fields; measured on two presets in README ("Field projections").
#: NASRec-Full's dense weights start Adagrad's accumulator at 0.1, as the supernet's do: the published
#: Full architectures start with logits of magnitude 4-11 on log-scaled Criteo counts, and at lr 0.16
#: with the release's accumulator 0 the first steps (each moving every weight by about the lr) drove the
#: batch loss to 10^3-10^4; the release survives that by warming up over about 16k steps. Runs of a few
#: hundred steps ended as constant predictors (Criteo-layout rows, one epoch: 20k rows test AUC 0.44,
#: 100k rows 0.67) or at logistic regression's loss (100k rows early-stopped: 0.4048 against 0.4042);
#: with 0.1: AUC 0.78 / 0.85, 0.3896. README, "NASRec-Full's first steps".
FINAL: dict[str, Recipe] = {
    "full": Recipe("final-full", lr=0.16, batch_size=256, protocol="early-stopping", field_start="identity",
                   initial_accumulator=0.1),
    "small": Recipe("final-small", lr=0.1, batch_size=256, protocol="early-stopping", field_start="identity"),
    # Hand-designed baselines get the recipe of the release's NASRec-Small final models (lr 0.1).
    "baseline": Recipe("final-baseline", lr=0.1, batch_size=256, protocol="early-stopping"),
}

#: Standalone training of reference architectures, the ground truth of rank-correlation studies.
GROUND_TRUTH = Recipe("ground-truth", lr=0.05, batch_size=512, protocol="fixed-epochs", epochs=1.0)

RECIPES: dict[str, Recipe] = {r.name: r for r in (SUPERNET, FINETUNE, *FINAL.values(), GROUND_TRUTH)}


def space_recipe_kind(space_name: str) -> str:
    """The final recipe of a search space's models: its own (``"full"``, ``"small"``), else NASRec-Full's."""
    return space_name if space_name in ("full", "small") else "full"


def final_recipe(kind: str, *, epochs: float | None = None, **changes: Any) -> Recipe:
    """The final-model recipe for a space (``"full"``, ``"small"``) or ``"baseline"``.

    ``epochs`` switches to the paper's fixed-epoch protocol on train+val.
    """
    if kind not in FINAL:
        raise ValueError(f"no final recipe for {kind!r}; known: {sorted(FINAL)}")
    recipe = FINAL[kind]
    if epochs is not None:
        recipe = recipe.replace(protocol="fixed-epochs", epochs=float(epochs))
    return recipe.replace(**changes)
