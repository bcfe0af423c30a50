"""Small immutable records the trainer sends to callbacks (live plots, logs, widgets)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ._metrics import Metrics


@dataclass(frozen=True)
class StepEvent:
    step: int  # optimizer steps done
    total_steps: int
    samples: int  # training rows seen
    loss: float
    lr: float
    arch_hash: str | None  # the sampled path (supernet) or the subnet
    full_path_probability: float  # the warm-up schedule's value at this step
    seconds: float  # wall time since the run (or resume) started

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EvalEvent:
    step: int
    samples: int
    split: str
    metrics: Metrics
    arch_hash: str | None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = self.metrics.to_json()
        return d


@dataclass(frozen=True)
class CheckpointEvent:
    step: int
    samples: int
    path: str


class Callback:
    """Receives trainer events; every hook is optional (does nothing by default).

    Hooks run in the training thread, between steps; keep them short.
    """

    def on_step(self, event: StepEvent) -> None:  # noqa: B027 - optional hook
        pass

    def on_eval(self, event: EvalEvent) -> None:  # noqa: B027
        pass

    def on_checkpoint(self, event: CheckpointEvent) -> None:  # noqa: B027
        pass


class FunctionCallback(Callback):
    """Wrap plain functions: ``FunctionCallback(on_step=print)``."""

    def __init__(self, on_step=None, on_eval=None, on_checkpoint=None) -> None:
        self._fns = {"step": on_step, "eval": on_eval, "checkpoint": on_checkpoint}

    def on_step(self, event):
        if self._fns["step"]:
            self._fns["step"](event)

    def on_eval(self, event):
        if self._fns["eval"]:
            self._fns["eval"](event)

    def on_checkpoint(self, event):
        if self._fns["checkpoint"]:
            self._fns["checkpoint"](event)


class History(Callback):
    """Keeps every event in lists (``steps``, ``evals``, ``checkpoints``)."""

    def __init__(self) -> None:
        self.steps: list[StepEvent] = []
        self.evals: list[EvalEvent] = []
        self.checkpoints: list[CheckpointEvent] = []

    def on_step(self, event):
        self.steps.append(event)

    def on_eval(self, event):
        self.evals.append(event)

    def on_checkpoint(self, event):
        self.checkpoints.append(event)
