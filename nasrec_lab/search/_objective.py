"""Objectives, hard budgets, Pareto fronts and hypervolume (compute only; plots live in analysis)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Objective:
    """What a search minimises, under which hard budgets.

    ``metric`` is ``"logloss"`` (validation log loss) or ``"auc"`` (maximised, so its negative
    is minimised). ``max_flops`` / ``max_params`` / ``max_latency_ms`` make candidates over
    budget infeasible. ``multi_objective=True`` also keeps the Pareto front of (log loss, FLOPs).
    """

    metric: str = "logloss"
    max_flops: int | None = None
    max_params: int | None = None
    max_latency_ms: float | None = None
    multi_objective: bool = False

    def __post_init__(self) -> None:
        if self.metric not in ("logloss", "auc"):
            raise ValueError(f"objective metric must be 'logloss' or 'auc', got {self.metric!r}")

    def value(self, score: dict[str, Any]) -> float:
        """Lower is better; infeasible candidates get +inf."""
        if not self.feasible(score):
            return math.inf
        # a nan metric comes back from the store as None (SQLite keeps no nan): both mean no score
        v = score["val_logloss"] if self.metric == "logloss" else score["val_auc"]
        if v is None or math.isnan(v):
            return math.inf
        return float(v) if self.metric == "logloss" else -float(v)

    def feasible(self, score: dict[str, Any]) -> bool:
        if self.max_flops is not None and score.get("flops", 0) > self.max_flops:
            return False
        if self.max_params is not None and score.get("params", 0) > self.max_params:
            return False
        lat = score.get("latency_ms")
        if self.max_latency_ms is not None and (lat is None or lat > self.max_latency_ms):
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points (both coordinates minimised), sorted by the second."""
    order = sorted(range(len(points)), key=lambda i: (points[i][1], points[i][0]))
    front, best = [], math.inf
    for i in order:
        if points[i][0] < best:
            front.append(i)
            best = points[i][0]
    return front


def hypervolume_2d(points: Sequence[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by ``points`` (minimised) and bounded by ``reference``."""
    pts = [points[i] for i in pareto_front(points)]
    pts = [p for p in pts if p[0] < reference[0] and p[1] < reference[1]]
    # Sweep the front by increasing second coordinate; between two front points the
    # dominated height is set by the best first coordinate so far.
    area = 0.0
    best_loss = reference[0]
    xs = sorted(pts, key=lambda p: p[1])
    for j, (loss, x) in enumerate(xs):
        best_loss = min(best_loss, loss)
        next_x = xs[j + 1][1] if j + 1 < len(xs) else reference[1]
        area += (next_x - x) * (reference[0] - best_loss)
    return area


def pareto_ranks(points: Sequence[tuple[float, float]]) -> list[int]:
    """Non-domination rank of each point (0 = on the front)."""
    remaining = list(range(len(points)))
    ranks = [0] * len(points)
    r = 0
    while remaining:
        sub = [points[i] for i in remaining]
        # points at infinite loss (infeasible, or a nan score) are on no front: they share the last rank
        front = {remaining[i] for i in pareto_front(sub)} or set(remaining)
        for i in front:
            ranks[i] = r
        remaining = [i for i in remaining if i not in front]
        r += 1
    return ranks
