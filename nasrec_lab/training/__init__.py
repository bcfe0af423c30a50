"""Training: the recipe, metrics, events for the UI, checkpoints, fine-tuning, data parallelism."""

from ._events import Callback, CheckpointEvent, EvalEvent, FunctionCallback, History, StepEvent
from ._final import DegenerateDataError, FinalResult, check_labels, train_final
from ._metrics import Metrics, binary_auc, evaluate, metrics_from_logits
from ._optim import SlicedAdagrad, clip_grad_norm, cosine_with_warmup, make_optimizer
from ._recipes import (
    FINAL,
    FINAL_MAX_EPOCHS,
    FINETUNE,
    GROUND_TRUTH,
    PROTOCOLS,
    RECIPES,
    SAMPLER_WARMUP_FRACTION,
    SUPERNET,
    Recipe,
    final_recipe,
    space_recipe_kind,
)
from ._trainer import (
    CHECKPOINT_FORMAT,
    TrainConfig,
    Trainer,
    finetune,
    head_only,
    read_checkpoint,
    resolve_device,
    supernet_from_checkpoint,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "FINAL",
    "FINAL_MAX_EPOCHS",
    "FINETUNE",
    "GROUND_TRUTH",
    "PROTOCOLS",
    "RECIPES",
    "SAMPLER_WARMUP_FRACTION",
    "SUPERNET",
    "DegenerateDataError",
    "FinalResult",
    "Recipe",
    "check_labels",
    "final_recipe",
    "space_recipe_kind",
    "train_final",
    "Callback",
    "CheckpointEvent",
    "EvalEvent",
    "FunctionCallback",
    "History",
    "Metrics",
    "SlicedAdagrad",
    "StepEvent",
    "TrainConfig",
    "Trainer",
    "binary_auc",
    "clip_grad_norm",
    "cosine_with_warmup",
    "evaluate",
    "finetune",
    "head_only",
    "make_optimizer",
    "metrics_from_logits",
    "read_checkpoint",
    "resolve_device",
    "supernet_from_checkpoint",
]
