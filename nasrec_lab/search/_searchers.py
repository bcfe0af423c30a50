"""Searchers behind one small ask/tell interface: regularized evolution, random search, Optuna's samplers.

Call order: ``ask()`` returns the next batch of :class:`Request`s; score every one; ``tell()``
the scores back in the same order; repeat until ``done``. ``state_dict()`` after a ``tell``
(or after an ``ask``, with its pending requests) resumes the search exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..space import Architecture, SearchSpace, get_space, mutate, sample_architecture
from ._objective import Objective, pareto_ranks


@dataclass(frozen=True)
class Request:
    arch: Architecture
    generation: int
    parent_hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"arch": self.arch.to_json(), "generation": self.generation, "parent_hash": self.parent_hash}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Request:
        return cls(Architecture.from_json(d["arch"]), d["generation"], d["parent_hash"])


class Searcher:
    """Base class: ``ask``/``tell``/``done`` and a JSON-able ``state_dict``."""

    name = "searcher"

    def __init__(self, space: SearchSpace | str, objective: Objective | None = None, *, seed: int = 0) -> None:
        self.space = get_space(space)
        self.objective = objective or Objective()
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.seen: set[str] = set()
        self.history: list[dict[str, Any]] = []  # (hash, fitness, generation) the searcher keeps
        self.constraint: Callable[[Architecture], bool] | None = None

    def constrain(self, allowed: Callable[[Architecture], bool] | None) -> None:
        """Propose only architectures for which ``allowed(arch)`` is true (the runner passes the
        objective's FLOPs/parameter budget, which the cost model checks in about a millisecond), so
        that no candidate of the budget is spent on a subnet known in advance to be infeasible."""
        self.constraint = allowed

    def _allowed(self, arch: Architecture) -> bool:
        return self.constraint is None or self.constraint(arch)

    @property
    def done(self) -> bool:
        raise NotImplementedError

    def ask(self) -> list[Request]:
        raise NotImplementedError

    def tell(self, requests: list[Request], scores: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _unique_random(self) -> Architecture:
        rejected = 0
        for _ in range(10_000):
            arch = sample_architecture(self.space, self.rng, "default")
            if arch.hash() in self.seen:
                continue
            if not self._allowed(arch):
                rejected += 1
                continue
            self.seen.add(arch.hash())
            return arch
        if rejected:
            raise ValueError(f"no new architecture within the budget in 10,000 draws ({rejected} were over it): "
                             "the FLOPs/parameter budget (--max-flops/--max-params) leaves too few of this space's "
                             "subnets for the search's --budget")
        raise ValueError(f"the {self.space.name!r} space seems exhausted: no new architecture in 10,000 draws "
                         f"(after {len(self.seen):,} distinct ones; a smaller --budget)")

    def _fitness(self, score: dict[str, Any]) -> float:
        return self.objective.value(score)

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "rng": self.rng.bit_generator.state,
                "seen": sorted(self.seen), "history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["name"] != self.name:
            raise ValueError(f"searcher state is for {state['name']!r}, this searcher is {self.name!r}")
        self.seed = state["seed"]
        self.rng.bit_generator.state = state["rng"]
        self.seen = set(state["seen"])
        self.history = list(state["history"])


class RandomSearch(Searcher):
    """The baseline: unique architectures drawn with the default sampler, ``batch`` at a time."""

    name = "random"

    def __init__(self, space, objective=None, *, seed: int = 0, budget: int = 2048, batch: int = 8) -> None:
        super().__init__(space, objective, seed=seed)
        self.budget, self.batch, self.asked = int(budget), int(batch), 0

    @property
    def done(self) -> bool:
        return self.asked >= self.budget

    def ask(self) -> list[Request]:
        n = min(self.batch, self.budget - self.asked)
        reqs = [Request(self._unique_random(), (self.asked + i) // self.batch) for i in range(n)]
        self.asked += n
        return reqs

    def tell(self, requests, scores) -> None:
        for r, s in zip(requests, scores):
            self.history.append({"hash": r.arch.hash(), "fitness": self._fitness(s), "generation": r.generation})

    def state_dict(self):
        return {**super().state_dict(), "asked": self.asked, "budget": self.budget, "batch": self.batch}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        # the budget stays this run's: a resume with a larger --budget continues the search
        self.asked, self.batch = state["asked"], state["batch"]


class RegularizedEvolution(Searcher):
    """Aging evolution as NASREC.md and the release run it.

    An initial population of ``population`` random subnets; then for each of ``generations``
    generations, one tournament (``sample_size`` members drawn from the population, the best
    is the parent) and ``children`` children, each the parent mutated
    ``k = (G - g) // max(20, G // 5) + 1`` times (more mutations early); a child whose hash
    was seen is mutated again. All children join the population and the oldest ``children``
    members leave (a FIFO of constant size); the ``top_k`` children of each generation enter
    the history. In multi-objective mode the tournament ranks by Pareto rank of (loss, FLOPs),
    then loss.

    The release returns that history as its result. A search here reports the best of every
    candidate it scored (:class:`SearchRunner`, the same rule for every searcher), which is the
    history's best unless no child beat the initial population's best; ``history`` is kept (and
    saved in the state) to compare with the release, and ``top_k`` changes nothing else.
    """

    name = "evolution"

    def __init__(self, space, objective=None, *, seed: int = 0, population: int = 128, sample_size: int = 64,
                 children: int = 8, generations: int = 240, top_k: int = 2) -> None:
        super().__init__(space, objective, seed=seed)
        if not 1 <= sample_size <= population:
            raise ValueError(f"sample_size must be in 1..population ({population}), got {sample_size}")
        if children < 1 or generations < 0 or not 1 <= top_k <= children:
            raise ValueError("need children >= 1, generations >= 0 and 1 <= top_k <= children")
        self.population_size, self.sample_size = population, sample_size
        self.n_children, self.generations, self.top_k = children, generations, top_k
        self.generation = -1  # -1: the initial population is next
        self.population: list[dict[str, Any]] = []  # oldest first: {"arch", "hash", "fitness", "flops"}

    @property
    def done(self) -> bool:
        return self.generation >= self.generations

    def mutations_for(self, g: int) -> int:
        return (self.generations - g) // max(20, self.generations // 5) + 1

    def ask(self) -> list[Request]:
        if self.done:
            return []
        if self.generation < 0:
            return [Request(self._unique_random(), -1) for _ in range(self.population_size)]
        idx = self.rng.choice(len(self.population), size=self.sample_size, replace=False)
        sample = [self.population[int(i)] for i in idx]
        parent = min(sample, key=self._selection_key(sample))
        parent_arch = Architecture.from_json(parent["arch"])
        k = self.mutations_for(self.generation)
        out = []
        for _ in range(self.n_children):
            child = parent_arch
            for _ in range(k):
                child = mutate(child, self.space, self.rng)
            tries = 0
            while child.hash() in self.seen or not self._allowed(child):
                child = mutate(child, self.space, self.rng)
                tries += 1
                if tries > 1000:
                    raise ValueError("could not find an unseen child within the FLOPs/parameter budget "
                                     "(--max-flops/--max-params) in 1,000 re-mutations: too few subnets fit it")
            self.seen.add(child.hash())
            out.append(Request(child, self.generation, parent["hash"]))
        return out

    def _selection_key(self, sample):
        if not self.objective.multi_objective:
            return lambda m: m["fitness"]
        ranks = pareto_ranks([(m["fitness"], m["flops"]) for m in sample])
        rank_of = {id(m): r for m, r in zip(sample, ranks)}
        return lambda m: (rank_of[id(m)], m["fitness"])

    def tell(self, requests, scores) -> None:
        members = [{"arch": r.arch.to_json(), "hash": r.arch.hash(), "fitness": self._fitness(s),
                    "flops": s.get("flops", 0)} for r, s in zip(requests, scores)]
        if self.generation < 0:
            self.population = members
        else:
            self.population.extend(members)
            del self.population[: len(members)]  # the oldest leave
            best = sorted(members, key=lambda m: m["fitness"])[: self.top_k]
            self.history.extend({"hash": m["hash"], "fitness": m["fitness"], "generation": self.generation}
                                for m in best)
        self.generation += 1

    def state_dict(self):
        return {**super().state_dict(), "generation": self.generation, "population": self.population,
                "config": {"population": self.population_size, "sample_size": self.sample_size,
                           "children": self.n_children, "generations": self.generations, "top_k": self.top_k}}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        cfg = {"population": self.population_size, "sample_size": self.sample_size, "children": self.n_children,
               "generations": self.generations, "top_k": self.top_k}
        if state["config"] != cfg:
            raise ValueError(f"evolution state has settings {state['config']}, this searcher {cfg}")
        self.generation = state["generation"]
        self.population = state["population"]


SEARCHERS: dict[str, type[Searcher]] = {"evolution": RegularizedEvolution, "random": RandomSearch}
from . import _optuna  # noqa: E402, F401  (subclasses Searcher; registers tpe and nsga2 in SEARCHERS)


def evolution_sizes(budget: int, *, children: int = 8) -> dict[str, int]:
    """Regularized-evolution settings that score exactly ``budget`` candidates.

    The paper's shape, scaled: at ``budget=2048`` this is NASREC.md's population 128, sample
    size 64, 8 children, 240 generations; smaller budgets keep about a third of the budget for
    the initial population (at least 4) and spend the rest on generations of ``children``.

    >>> evolution_sizes(2048)
    {'population': 128, 'sample_size': 64, 'children': 8, 'generations': 240, 'top_k': 2}
    >>> evolution_sizes(40)
    {'population': 16, 'sample_size': 8, 'children': 8, 'generations': 3, 'top_k': 2}
    """
    if budget < 3:
        raise ValueError(f"evolution needs a budget of at least 3 candidates, got {budget}")
    children = max(1, min(children, budget // 4))
    first = min(128, max(4, budget // 3), budget - children)
    generations = max(1, (budget - first) // children)
    population = budget - generations * children
    return {"population": population, "sample_size": max(1, population // 2), "children": children,
            "generations": generations, "top_k": min(2, children)}


def make_searcher(name: str, space, objective: Objective | None = None, *, seed: int = 0, budget: int | None = None,
                  **kwargs: Any) -> Searcher:
    """``evolution``, ``random``, ``tpe`` or ``nsga2``; ``budget`` (candidates) sizes random search and
    the Optuna searchers, and evolution too when none of its settings is given (see
    :func:`evolution_sizes`). The Optuna searchers take ``storage`` (the SQLite file that
    optuna-dashboard opens) and ``study_name``."""
    if name not in SEARCHERS:
        raise ValueError(f"unknown searcher {name!r}; known: {sorted(SEARCHERS)}")
    given = {k: v for k, v in kwargs.items() if v is not None}  # None = not set (the CLI's defaults)
    if name == "random":
        return RandomSearch(space, objective, seed=seed, budget=budget or 2048, **given)
    if issubclass(SEARCHERS[name], _optuna.OptunaSearcher):
        return SEARCHERS[name](space, objective, seed=seed, budget=budget or 2048, **given)
    if budget is not None and not given.keys() & {"population", "sample_size", "children", "generations", "top_k"}:
        given |= evolution_sizes(budget)
    return RegularizedEvolution(space, objective, seed=seed, **given)
