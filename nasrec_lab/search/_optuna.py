"""Optuna samplers as searchers: TPE, NSGA-II (log loss vs FLOPs) or any ``optuna.samplers`` class.

An architecture is encoded as one categorical parameter per choice of each block ``i``:
``b{i}.dense_op``, ``b{i}.sparse_op``, ``b{i}.dense_width``, ``b{i}.sparse_width``, one 0/1
include flag per earlier output for the dense and the sparse inputs (``b{i}.dense_in.{j}``,
``b{i}.sparse_in.{j}``), ``b{i}.left``/``b{i}.right`` and the interaction flags. Every block
has the same parameters in every trial (a fixed search space, which TPE and NSGA-II need).
Sampled flags are repaired deterministically into a valid subnet (:func:`decode`): no input
flagged reads the latest output ``i``; more than ``max_inputs`` keeps the latest ones.

Resume: the study the sampler works on lives in memory and its trials (parameters, values,
state, the samplers' system attributes) are part of :meth:`OptunaSearcher.state_dict`, which
the runner stores with the search; a new sampler seeded by ``(seed, trials so far)`` is made
for every ``ask``, so a resumed search asks exactly what the uninterrupted one asks.
For ``optuna-dashboard``, finished trials are mirrored into an Optuna RDB storage, by default
the SQLite file beside the search store (``runs/search.sqlite`` -> ``runs/search.optuna.sqlite``,
one study per search name; open it with ``optuna-dashboard sqlite:///runs/search.optuna.sqlite``).
The mirror is rebuilt from the state when a search (re)starts, so a kill between a ``tell``
and the runner's save cannot leave it ahead of the search.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..space import Architecture, Block, SearchSpace
from ._objective import Objective
from ._searchers import SEARCHERS, Request, Searcher


def param_distributions(space: SearchSpace) -> dict[str, Any]:
    """The Optuna distributions of the encoding, in a fixed order."""
    from optuna.distributions import CategoricalDistribution as Cat

    flag = Cat((0, 1))
    out: dict[str, Any] = {}
    for i in range(space.num_blocks):
        n = space.inputs_available(i)
        out[f"b{i}.dense_op"] = Cat(space.dense_ops)
        out[f"b{i}.sparse_op"] = Cat(space.sparse_ops)
        out[f"b{i}.dense_width"] = Cat(space.dense_widths)
        out[f"b{i}.sparse_width"] = Cat(space.sparse_widths)
        for kind in ("dense_in", "sparse_in"):
            for j in range(n):
                out[f"b{i}.{kind}.{j}"] = flag
        out[f"b{i}.left"] = Cat(tuple(range(n)))
        out[f"b{i}.right"] = Cat(tuple(range(n)))
        for name in ("dense_sparse_interact", "deep_fm"):
            if name in space.interactions:
                out[f"b{i}.{name}"] = flag
    return out


def _inputs(params: dict[str, Any], i: int, kind: str, n: int, max_inputs: int) -> tuple[int, ...]:
    chosen = [j for j in range(n) if params[f"b{i}.{kind}.{j}"]]
    if not chosen:
        return (i,)  # the latest output: what a block without inputs would most naturally read
    return tuple(chosen[-max_inputs:])


def decode(params: dict[str, Any], space: SearchSpace) -> Architecture:
    """The (repaired, always valid) subnet that a trial's parameters describe."""
    blocks = []
    for i in range(space.num_blocks):
        n = space.inputs_available(i)
        blocks.append(Block(
            dense_in=_inputs(params, i, "dense_in", n, space.max_inputs),
            sparse_in=_inputs(params, i, "sparse_in", n, space.max_inputs),
            left=params[f"b{i}.left"], right=params[f"b{i}.right"],
            dense_ops=(params[f"b{i}.dense_op"],), sparse_ops=(params[f"b{i}.sparse_op"],),
            dense_width=params[f"b{i}.dense_width"], sparse_width=params[f"b{i}.sparse_width"],
            dense_sparse_interact=bool(params.get(f"b{i}.dense_sparse_interact", 0)),
            deep_fm=bool(params.get(f"b{i}.deep_fm", 0))))
    return Architecture(tuple(blocks))


def encode(arch: Architecture, space: SearchSpace) -> dict[str, Any]:
    """The parameters of a subnet of ``space`` (``decode(encode(a)) == a``)."""
    out: dict[str, Any] = {}
    for i, b in enumerate(arch.blocks):
        n = space.inputs_available(i)
        out[f"b{i}.dense_op"], out[f"b{i}.sparse_op"] = b.dense_ops[0], b.sparse_ops[0]
        out[f"b{i}.dense_width"], out[f"b{i}.sparse_width"] = b.dense_width, b.sparse_width
        for j in range(n):
            out[f"b{i}.dense_in.{j}"] = int(j in b.dense_in)
            out[f"b{i}.sparse_in.{j}"] = int(j in b.sparse_in)
        out[f"b{i}.left"], out[f"b{i}.right"] = b.left, b.right
        for name in ("dense_sparse_interact", "deep_fm"):
            if name in space.interactions:
                out[f"b{i}.{name}"] = int(getattr(b, name))
    return out


def optuna_storage_path(store: str | os.PathLike) -> Path:
    """Where the Optuna study of a search store goes: ``x.sqlite`` -> ``x.optuna.sqlite``."""
    store = Path(store)
    return store.with_name(f"{store.stem if store.suffix else store.name}.optuna.sqlite")


_STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")


class OptunaSearcher(Searcher):
    """Any Optuna sampler (by class name in ``optuna.samplers``) behind the ask/tell interface.

    ``objectives`` 1: minimise the objective's value (validation log loss by default);
    2: minimise (value, FLOPs). Infeasible or non-finite candidates are told as failed
    trials. A sampled architecture already scored is told its known values (the sampler
    learns, no candidate is spent) and another is asked; one over the searcher's constraint
    (see :meth:`Searcher.constrain`) is told as failed and another is asked; after 100 such
    draws a unique random architecture within the constraint is enqueued instead.
    """

    name = "optuna"
    max_redraws = 100

    def __init__(self, space, objective: Objective | None = None, *, seed: int = 0, budget: int = 2048,
                 batch: int = 8, sampler: str = "TPESampler", sampler_kwargs: dict[str, Any] | None = None,
                 objectives: int | None = None, storage: str | os.PathLike | None = None,
                 study_name: str | None = None) -> None:
        super().__init__(space, objective, seed=seed)
        import optuna

        if not hasattr(optuna.samplers, sampler):
            raise ValueError(f"optuna.samplers has no sampler {sampler!r}")
        self.budget, self.batch, self.asked = int(budget), int(batch), 0
        self.sampler_name, self.sampler_kwargs = sampler, dict(sampler_kwargs or {})
        self.objectives = objectives or (2 if self.objective.multi_objective else 1)
        if self.objectives not in (1, 2):
            raise ValueError(f"objectives must be 1 (the objective) or 2 (objective, FLOPs), got {objectives}")
        self.storage = Path(storage) if storage is not None else None
        self.study_name = study_name or f"{self.name}-seed{self.seed}"
        self.distributions = param_distributions(self.space)
        self.pending: dict[str, int] = {}  # arch hash -> trial number, asked and not told yet
        self.known: dict[str, list[float] | None] = {}  # arch hash -> told values (None: failed)
        self._study = None
        self._mirror: Any = None
        self._mirrored: set[int] = set()
        # the runner prints progress; Optuna's one INFO line per trial would double it
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    # -- the study -------------------------------------------------------------------------------
    @property
    def directions(self) -> list[str]:
        return ["minimize"] * self.objectives

    @property
    def study(self):
        if self._study is None:
            import optuna

            self._study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), directions=self.directions,
                                              study_name=self.study_name)
        return self._study

    def _sampler(self, n_trials: int):
        import optuna

        seed = (self.seed * 1_000_003 + n_trials) % (2**31 - 1)
        return getattr(optuna.samplers, self.sampler_name)(seed=seed, **self.sampler_kwargs)

    def _values(self, score: dict[str, Any]) -> list[float] | None:
        v = self._fitness(score)
        if not math.isfinite(v):
            return None
        return [v] if self.objectives == 1 else [v, float(score.get("flops", 0))]

    def _suggest(self, trial) -> dict[str, Any]:
        return {k: trial.suggest_categorical(k, d.choices) for k, d in self.distributions.items()}

    def _tell(self, number: int, values: list[float] | None) -> None:
        from optuna.trial import TrialState

        if values is None:
            self.study.tell(number, state=TrialState.FAIL)
        else:
            self.study.tell(number, values)

    # -- ask / tell ------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.asked >= self.budget

    def ask(self) -> list[Request]:
        n = min(self.batch, self.budget - self.asked)
        self.study.sampler = self._sampler(len(self.study.get_trials(deepcopy=False)))
        out = []
        for _ in range(n):
            arch, number = self._ask_unique()
            self.pending[arch.hash()] = number
            out.append(Request(arch, self.asked // self.batch))
            self.asked += 1
        return out

    def _ask_unique(self) -> tuple[Architecture, int]:
        study = self.study
        for _ in range(self.max_redraws):
            trial = study.ask()
            arch = decode(self._suggest(trial), self.space)
            h = arch.hash()
            trial.set_user_attr("arch_hash", h)
            allowed = self._allowed(arch)
            if h not in self.seen and allowed:
                self.seen.add(h)
                return arch, trial.number
            # pending duplicates and subnets over the budget count as failed: no candidate is spent
            self._tell(trial.number, self.known.get(h) if allowed else None)
        arch = self._unique_random()
        study.enqueue_trial(encode(arch, self.space))
        trial = study.ask()
        self._suggest(trial)  # takes the enqueued values
        trial.set_user_attr("arch_hash", arch.hash())
        return arch, trial.number

    def tell(self, requests: list[Request], scores: list[dict[str, Any]]) -> None:
        for r, s in zip(requests, scores):
            h = r.arch.hash()
            values = self._values(s)
            self._tell(self.pending.pop(h), values)
            self.known[h] = values
            self.history.append({"hash": h, "fitness": self._fitness(s), "generation": r.generation})
        self.mirror()

    # -- the dashboard's copy ---------------------------------------------------------------------------
    def mirror(self) -> None:
        """Add the finished trials not yet in the RDB study (rebuilt from scratch on the first call)."""
        if self.storage is None:
            return
        from sqlalchemy.exc import SQLAlchemyError

        try:
            self._mirror_trials()
        except SQLAlchemyError as exc:
            raise ValueError(f"{self.storage}: the Optuna copy of search {self.study_name!r} (for optuna-dashboard) "
                             f"cannot be written ({exc.__class__.__name__}: {str(exc).splitlines()[0][:160]}); it is "
                             "rebuilt from the search store at every start: move or delete it and run again") from exc

    def _mirror_trials(self) -> None:
        import optuna

        if self._mirror is None:
            self.storage.parent.mkdir(parents=True, exist_ok=True)
            # the path percent-quoted: SQLAlchemy reads "?" as the start of URL options and unquotes "%41"
            rdb = optuna.storages.RDBStorage(f"sqlite:///{quote(str(self.storage))}")
            if self.study_name in {s.study_name for s in optuna.get_all_study_summaries(rdb)}:
                optuna.delete_study(study_name=self.study_name, storage=rdb)
            self._mirror = optuna.create_study(storage=rdb, study_name=self.study_name, directions=self.directions)
            names = ["val_logloss" if self.objective.metric == "logloss" else "neg_val_auc", "flops"]
            with warnings.catch_warnings():  # experimental in Optuna; only labels the dashboard's axes
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self._mirror.set_metric_names(names[: self.objectives])
            self._mirror.set_user_attr("nasrec_space", self.space.name)
            self._mirror.set_user_attr("sampler", self.sampler_name)
            self._mirrored = set()
        for t in self.study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in self._mirrored:
                self._mirror.add_trial(t)
                self._mirrored.add(t.number)

    # -- state ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        keys = list(self.distributions)
        trials = [{"state": t.state.name, "params": [t.params[k] for k in keys],
                   "values": t.values, "system_attrs": t.system_attrs, "user_attrs": t.user_attrs}
                  for t in self.study.get_trials(deepcopy=False)]
        study_attrs = self.study._storage.get_study_system_attrs(self.study._study_id)
        return {**super().state_dict(), "asked": self.asked, "budget": self.budget, "pending": self.pending,
                "known": self.known, "trials": trials, "study_system_attrs": study_attrs,
                "config": {"sampler": self.sampler_name, "sampler_kwargs": self.sampler_kwargs,
                           "batch": self.batch, "objectives": self.objectives}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from optuna.trial import TrialState, create_trial

        super().load_state_dict(state)
        cfg = {"sampler": self.sampler_name, "sampler_kwargs": self.sampler_kwargs, "batch": self.batch,
               "objectives": self.objectives}
        if state["config"] != cfg:
            raise ValueError(f"{self.name} state has settings {state['config']}, this searcher {cfg}")
        self.asked = state["asked"]  # the budget stays this run's: a larger --budget continues the search
        self.pending, self.known = dict(state["pending"]), dict(state["known"])
        self._study = None
        study = self.study
        for k, v in state["study_system_attrs"].items():
            study._storage.set_study_system_attr(study._study_id, k, v)
        keys = list(self.distributions)
        for t in state["trials"]:
            # trial numbers (and, in memory, ids) follow the order of addition: the same as before
            study.add_trial(create_trial(state=TrialState[t["state"]], params=dict(zip(keys, t["params"])),
                                         distributions=self.distributions, values=t["values"],
                                         system_attrs=t["system_attrs"], user_attrs=t["user_attrs"]))
        self._mirror = None
        self.mirror()


class TPESearch(OptunaSearcher):
    """Optuna's TPE sampler (single objective; (objective, FLOPs) with a multi-objective objective)."""

    name = "tpe"

    def __init__(self, space, objective: Objective | None = None, **kwargs: Any) -> None:
        super().__init__(space, objective, sampler="TPESampler", **kwargs)


class NSGA2Search(OptunaSearcher):
    """Optuna's NSGA-II on (objective, FLOPs): a Pareto front of log loss against cost."""

    name = "nsga2"

    def __init__(self, space, objective: Objective | None = None, *, population: int | None = None,
                 **kwargs: Any) -> None:
        sampler_kwargs = {"population_size": population} if population else {}
        super().__init__(space, objective, sampler="NSGAIISampler", sampler_kwargs=sampler_kwargs, objectives=2,
                         **kwargs)


SEARCHERS.update({"tpe": TPESearch, "nsga2": NSGA2Search})
