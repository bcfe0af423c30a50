"""One pipeline: data -> supernet -> search -> the winner trained from scratch beside the baselines.

The CLI, the widgets, the notebooks, the demo and the benchmarks call these stages; the
settings come from :mod:`nasrec_lab.training`'s recipes, so no training setting is written twice.

>>> cfg = PipelineConfig(space="small", supernet_steps=300, budget=16)      # doctest: +SKIP
>>> result = run_pipeline(CTRDataset("data/synthetic"), cfg, "runs/p")      # doctest: +SKIP
>>> result.table                                                            # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .data import CTRDataset
from .space import PRESETS, Architecture, PathSampler, SearchSpace, get_space
from .training import (
    FINAL_MAX_EPOCHS,
    FINETUNE,
    SAMPLER_WARMUP_FRACTION,
    SUPERNET,
    Callback,
    FinalResult,
    Trainer,
    final_recipe,
    space_recipe_kind,
    train_final,
)

#: The hand-designed models every searched winner is compared with by default.
DEFAULT_BASELINES = ("logistic-regression", "dlrm")


@dataclass(frozen=True)
class PipelineConfig:
    """Every knob of a run, JSON-able (the UI edits it, reports print it). Defaults: the paper's."""

    space: str | dict = "full"
    #: None: the supernet recipe's one epoch over the training split (the release's length)
    supernet_steps: int | None = None
    sampler: str = "default"
    searcher: str = "evolution"
    budget: int = 2048
    finetune_steps: int = FINETUNE.steps
    eval_batches: int | None = FINETUNE.eval_batches
    eval_batch_size: int = FINETUNE.eval_batch_size
    max_flops: int | None = None
    baselines: tuple[str, ...] = DEFAULT_BASELINES
    final_epochs: float | None = None
    max_epochs: int = FINAL_MAX_EPOCHS
    patience: int = 1
    #: how many of the search's best distinct candidates are trained from scratch; the one with the
    #: lowest validation log loss is the searched model (NASREC.md: "the best subnets are then trained")
    final_candidates: int = 1
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "baselines", tuple(self.baselines))
        if self.final_candidates < 1:
            raise ValueError(f"final_candidates must be >= 1, got {self.final_candidates}")
        if self.final_candidates > 1 and self.final_epochs is not None:
            raise ValueError("final_candidates > 1 chooses among candidates on the validation split, which the "
                             "fixed-epochs protocol (final_epochs) trains on: use early stopping (final_epochs=None)")
        if isinstance(self.space, SearchSpace):  # kept JSON-able: a preset's name or the space's JSON
            object.__setattr__(self, "space", self.space.name if PRESETS.get(self.space.name) == self.space
                               else self.space.to_json())
        if (self.supernet_steps is not None and self.supernet_steps < 1) or self.budget < 1:
            raise ValueError(f"supernet_steps and budget must be >= 1, got {self.supernet_steps} and {self.budget}")

    def search_space(self) -> SearchSpace:
        return get_space(self.space) if isinstance(self.space, str) else SearchSpace.from_json(self.space)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PipelineConfig:
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"pipeline config: unknown fields {sorted(unknown)}")
        return cls(**d)


# -- stage 1: the supernet ----------------------------------------------------------------------


def supernet_trainer(data: CTRDataset, space: SearchSpace | str, steps: int | None = None, *, seed: int = 0,
                     sampler: str = "default", warmup_steps: int | None = None, layernorm: bool = True,
                     always_project: bool = True, field_start: str | None = None, centre_dense: bool = False,
                     checkpoint_dir: str | os.PathLike | None = None, callbacks: Sequence[Callback] = (),
                     progress: bool = False, rank: int = 0, world_size: int = 1, **config: Any) -> Trainer:
    """The supernet and its trainer by the supernet recipe: ``steps`` steps (default: the recipe's one epoch
    over ``train``, the release's length), full-path warm-up over 10%.

    ``config`` overrides fields of the :class:`TrainConfig` (``batch_size``, ``lr``, ``device``, ``log_every``...).
    ``always_project`` (the default) computes paths as the release's supernet does, every optional
    projection applied: without it, a path whose block has w = e feeds the raw FM term (values ~50 at
    initialisation) to the head and the first steps' loss reached 24 on the demo's settings.
    ``field_start`` (default: the supernet recipe's) sets how its field projections start;
    ``centre_dense`` is :class:`~nasrec_lab.supernet.SuperNet`'s.
    """
    from .supernet import SuperNet

    space = get_space(space)
    if steps is None:  # counted here, so that the sampler's warm-up and the checkpoint know the run's length
        steps = supernet_epoch_steps(data, config.get("batch_size"), split=config.get("train_split", "train"),
                                     rank=rank, world_size=world_size)
    warm = int(steps * SAMPLER_WARMUP_FRACTION) if warmup_steps is None else warmup_steps
    recipe = SUPERNET.replace(steps=steps)
    net = SuperNet(data.schema, space, layernorm=layernorm, seed=seed, sparse_grad=config.pop("sparse_grad", True),
                   always_project=always_project, field_start=field_start or recipe.field_start,
                   centre_dense=centre_dense)
    cfg = recipe.train_config(seed=seed, progress=progress, **config)
    return Trainer(net, data, cfg, sampler=PathSampler(space, sampler, seed=seed, warmup_steps=warm),
                   checkpoint_dir=checkpoint_dir, callbacks=callbacks, rank=rank, world_size=world_size)


def supernet_epoch_steps(data: CTRDataset, batch_size: int | None = None, *, split: str = "train", rank: int = 0,
                         world_size: int = 1) -> int:
    """The supernet recipe's default length: its epochs over ``split`` in steps of ``batch_size`` (default: the
    recipe's) per rank, every row once (the last batch short; the release stops at rows // batch)."""
    loader = data.loader(split, batch_size or SUPERNET.batch_size, rank=rank, world_size=world_size)
    return max(1, int(round(SUPERNET.epochs * len(loader))))


def train_supernet(data: CTRDataset, config: PipelineConfig, out: str | os.PathLike, *,
                   callbacks: Sequence[Callback] = ()) -> Path:
    """Train the supernet of ``config`` into ``out/checkpoint.pt`` and return that path."""
    trainer = supernet_trainer(data, config.search_space(), config.supernet_steps, seed=config.seed, sampler=config.sampler,
                               checkpoint_dir=out, callbacks=callbacks)
    trainer.run()
    return trainer.save_checkpoint()


# -- stage 2: the search --------------------------------------------------------------------------


def scoring_config(config: PipelineConfig | None = None, **changes: Any):
    """How candidates are scored: the fine-tuning recipe, sized by ``config``."""
    from .search import ScoringConfig

    config = config or PipelineConfig()
    cfg = dict(finetune_steps=config.finetune_steps, eval_batches=config.eval_batches,
               eval_batch_size=config.eval_batch_size, threads=config.threads)
    cfg.update(changes)
    return ScoringConfig(**cfg)


def fresh_store(path: str | os.PathLike) -> Path:
    """Remove a run's own store from an earlier run into the same folder (with SQLite's -wal/-shm files)."""
    path = Path(path)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    return path


def run_search(data: CTRDataset, checkpoint: str | os.PathLike, config: PipelineConfig,
               store: str | os.PathLike, *, name: str | None = None, callbacks: Sequence[Callable] = (),
               resume: bool = False):
    """Search the supernet at ``checkpoint``; every candidate lands in the SQLite ``store``."""
    from .search import Objective, ScorerSpec, SearchRunner, SearchStore, make_searcher

    space = config.search_space()
    objective = Objective("logloss", config.max_flops)
    searcher = make_searcher(config.searcher, space, objective, seed=config.seed, budget=config.budget)
    spec = ScorerSpec(str(Path(data.path).resolve()), str(Path(checkpoint).resolve()), scoring_config(config))
    name = name or f"{config.searcher}-seed{config.seed}"
    with SearchStore(store) as st:
        return SearchRunner(store=st, name=name, searcher=searcher, spec=spec, budget=config.budget,
                            seed=config.seed, callbacks=list(callbacks), resume=resume).run()


# -- stage 3: final training ---------------------------------------------------------------------------


@dataclass
class FinalEntry:
    """One row of the final comparison."""

    model: str
    kind: str  # "nasrec" (the searched model), "candidate" (trained, not chosen) or "baseline"
    result: FinalResult
    arch_hash: str | None = None
    mflops: float | None = None
    arch: Architecture | None = None
    search_rank: int | None = None  # 1 = the search's best candidate

    @property
    def val_logloss(self) -> float:
        """The best epoch's validation log loss (what chooses among candidates); NaN without one."""
        return min(self.result.val_logloss_per_epoch, default=float("nan"))

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "kind": self.kind, "arch_hash": self.arch_hash, "mflops": self.mflops,
                "search_rank": self.search_rank, **self.result.to_json()}


def final_subnet(arch: Architecture, data: CTRDataset, space: SearchSpace | str, *, seed: int = 0,
                 field_start: str):
    """The standalone model of ``arch`` as the release's final models are: fresh weights, LayerNorm off
    (``field_start``: see ``Recipe.field_start``)."""
    from .supernet import build

    return build(arch, data.schema, space, layernorm=False, seed=seed, field_start=field_start)


def train_architecture(arch: Architecture, data: CTRDataset, space: SearchSpace | str, *, seed: int = 0,
                       epochs: float | None = None, name: str = "searched", steps: int | None = None,
                       device: str = "auto", **recipe_changes: Any) -> FinalEntry:
    """``arch`` trained from scratch by its space's final recipe, scored on test (``steps`` caps it)."""
    from .supernet import cost

    space = get_space(space)
    recipe = final_recipe(space_recipe_kind(space.name), epochs=epochs, **recipe_changes)
    res = train_final(final_subnet(arch, data, space, seed=seed, field_start=recipe.field_start), data, recipe,
                      seed=seed, steps=steps, device=device)
    return FinalEntry(name, "nasrec", res, arch.hash(), cost(arch, data.schema, space).mflops, arch)


def train_baseline(name: str, data: CTRDataset, *, seed: int = 0, epochs: float | None = None,
                   steps: int | None = None, device: str = "auto", **recipe_changes: Any) -> FinalEntry:
    """A baseline from the registry trained by the baseline recipe (the same protocol), scored on test."""
    from .baselines import build_baseline

    res = train_final(build_baseline(name, data.schema, seed=seed), data,
                      final_recipe("baseline", epochs=epochs, **recipe_changes), seed=seed, steps=steps, device=device)
    return FinalEntry(name, "baseline", res)


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` produced: the search, the final table, the oracle and the timings."""

    config: PipelineConfig
    best_arch: Architecture | None
    best_hash: str | None
    evaluated: int
    entries: list[FinalEntry]
    oracle_test_logloss: float | None
    checkpoint: str
    store: str
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, config: PipelineConfig, search, entries: list[FinalEntry], data: CTRDataset, checkpoint: str,
           store: str, seconds: dict[str, float] | None = None) -> PipelineResult:
        """The result of a search (``SearchResult``) and its final comparison (:func:`compare`)."""
        chosen = next((e for e in entries if e.kind == "nasrec"), None)
        return cls(config, chosen.arch if chosen else search.best_arch, chosen.arch_hash if chosen else search.best_hash,
                   search.evaluated, entries, data.oracle_logloss("test"), checkpoint, store, dict(seconds or {}))

    @property
    def best(self) -> FinalEntry | None:
        return next((e for e in self.entries if e.kind == "nasrec"), None)

    def entry(self, model: str) -> FinalEntry:
        return next(e for e in self.entries if e.model == model)

    @property
    def wins(self) -> dict[str, bool]:
        """Whether the searched model's test log loss is below each baseline's."""
        best = self.best
        if best is None:
            return {}
        return {e.model: best.result.test_logloss < e.result.test_logloss for e in self.entries if e.kind == "baseline"}

    def headline(self) -> str:
        """One plain sentence with the numbers: whether the searched model won, and against what."""
        best = self.best
        if best is None:
            return f"the search found no architecture with a finite score after {self.evaluated} candidates"
        others = ", ".join(f"{e.model} {e.result.test_logloss:.4f}" for e in self.entries if e.kind == "baseline")
        oracle = "" if self.oracle_test_logloss is None else f"; the oracle (Bayes-optimal) {self.oracle_test_logloss:.4f}"
        lost = [m for m, won in self.wins.items() if not won]
        verdict = ("beats every baseline" if not lost else f"does NOT beat {', '.join(lost)}")
        trained = 1 + sum(e.kind == "candidate" for e in self.entries)
        chosen = "" if trained == 1 else f" (of the search's best {trained}, trained from scratch, lowest validation loss)"
        return (f"searched architecture {best.arch_hash}{chosen}: test log loss {best.result.test_logloss:.4f}, "
                f"{verdict} ({others}{oracle})")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"config": self.config.to_json(), "best_hash": self.best_hash,
                               "evaluated": self.evaluated, "oracle_test_logloss": self.oracle_test_logloss,
                               "table": [e.to_json() for e in self.entries], "checkpoint": self.checkpoint,
                               "store": self.store, "seconds": self.seconds, "headline": self.headline()}
        if self.best is not None:
            out["best_test_logloss"] = self.best.result.test_logloss
        for e in self.entries:
            if e.kind == "baseline":
                out[f"{e.model.replace('-', '_')}_test_logloss"] = e.result.test_logloss
        return out


T = TypeVar("T")


def chosen_on_validation(candidates: Sequence[T], val_logloss: Callable[[T], float]) -> T:
    """Of a search's candidates trained from scratch (in its order, best first), the one whose final
    training ends with the lowest validation log loss; the search's order breaks ties, and test data
    never takes part. One candidate is chosen whatever its validation (fixed epochs have none): ``min``
    compares nothing then.

    >>> chosen_on_validation(["a", "b", "c"], {"a": 0.45, "b": 0.44, "c": 0.44}.get)
    'b'
    """
    return candidates[min(range(len(candidates)), key=lambda i: (val_logloss(candidates[i]), i))]


def compare(data: CTRDataset, arch: Architecture | Sequence[Architecture] | None, config: PipelineConfig,
            log: Callable[[str], None] | None = None) -> list[FinalEntry]:
    """The searched model and ``config.baselines``, each trained by its final recipe on the same split.

    ``arch`` is the searched architecture, or the search's ranked candidates (``SearchResult.ranked``,
    best first): the first ``config.final_candidates`` are trained and the one with the lowest
    validation log loss becomes the searched model (``kind="nasrec"``, listed first); the others
    stay in the table as ``kind="candidate"``. Test data never takes part in the choice.
    """
    archs = [] if arch is None else [arch] if isinstance(arch, Architecture) else list(arch)
    trained = []
    for rank, a in enumerate(archs[:config.final_candidates], 1):
        entry = train_architecture(a, data, config.search_space(), seed=config.seed, epochs=config.final_epochs,
                                   max_epochs=config.max_epochs, patience=config.patience)
        entry.search_rank = rank
        trained.append(entry)
        if log:
            log(f"candidate {rank} {entry.arch_hash}: validation log loss {entry.val_logloss:.5f}, "
                f"test log loss {entry.result.test_logloss:.5f}")
    entries = []
    if trained:
        chosen = chosen_on_validation(trained, lambda e: e.val_logloss)
        for e in trained:
            e.model, e.kind = ("searched", "nasrec") if e is chosen else (f"candidate-{e.search_rank}", "candidate")
        entries = [chosen] + [e for e in trained if e is not chosen]
        if log:
            log(f"searched {chosen.arch_hash}: test log loss {chosen.result.test_logloss:.5f}")
    for name in config.baselines:
        entries.append(train_baseline(name, data, seed=config.seed, epochs=config.final_epochs,
                                      max_epochs=config.max_epochs, patience=config.patience))
        if log:
            log(f"{name}: test log loss {entries[-1].result.test_logloss:.5f}")
    return entries


def run_pipeline(data: CTRDataset, config: PipelineConfig, out: str | os.PathLike, *,
                 supernet_callbacks: Sequence[Callback] = (), search_callbacks: Sequence[Callable] = (),
                 log: Callable[[str], None] | None = None, overwrite: bool = False,
                 final_data: CTRDataset | None = None) -> PipelineResult:
    """Supernet, search and final comparison into ``out`` (``supernet/checkpoint.pt``, ``search.sqlite``).

    An ``out`` that holds an earlier run's supernet or search is refused (``overwrite=True`` replaces them).
    ``final_data``: the same rows preprocessed again for the final trainings, as the release caps tables
    at 0.5M rows for the search and lifts the cap for its final models (a second ``preprocess`` with a
    larger ``--table-cap``); it must hold the same features, splits and labels.
    """
    if final_data is not None:
        check_same_rows(data, final_data)
    if config.supernet_steps is None:  # the result records the length the supernet trained
        config = replace(config, supernet_steps=supernet_epoch_steps(data))
    out = Path(out)
    earlier = [p for p in (out / "supernet" / "checkpoint.pt", out / "search.sqlite") if p.exists()]
    if earlier and not overwrite:
        raise FileExistsError(f"{earlier[0]} exists (an earlier run into {out}): choose another out, or pass "
                              "overwrite=True to replace that run")
    out.mkdir(parents=True, exist_ok=True)
    seconds = {}
    t0 = time.perf_counter()
    ckpt = train_supernet(data, config, out / "supernet", callbacks=supernet_callbacks)
    seconds["supernet"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    store = fresh_store(out / "search.sqlite")
    result = run_search(data, ckpt, config, store, callbacks=search_callbacks)
    seconds["search"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    entries = compare(final_data or data, result.ranked or result.best_arch, config, log=log)
    seconds["final"] = time.perf_counter() - t0
    return PipelineResult.of(config, result, entries, final_data or data, str(ckpt), str(out / "search.sqlite"),
                             seconds)


def check_same_rows(data: CTRDataset, other: CTRDataset) -> None:
    """Refuse ``other`` unless it holds ``data``'s rows (feature names, splits, labels, dense values), however
    its categorical ids were mapped."""
    a, b = data.schema, other.schema
    for what, x, y in (("dense features", a.dense, b.dense), ("sparse features", a.sparse, b.sparse),
                       ("label column", (a.label,), (b.label,))):
        if x != y:
            raise ValueError(f"{other.path}: not the rows of {data.path}: its {what} are {list(y)!r}, not {list(x)!r}")
    for split in ("train", "val", "test"):
        x, y = data.split(split), other.split(split)
        if len(x) != len(y):
            raise ValueError(f"{other.path}: not the rows of {data.path}: its {split!r} split has {len(y):,} rows, "
                             f"not {len(x):,}")
        for key, what in (("label", "other labels"), ("dense", "other dense values")):  # ids differ by design
            for start in range(0, len(x), 1 << 20):  # blocks: a split of Criteo's is gigabytes
                stop = min(start + (1 << 20), len(x))
                if not np.array_equal(x.slice(start, stop, (key,))[key], y.slice(start, stop, (key,))[key]):
                    raise ValueError(f"{other.path}: not the rows of {data.path}: its {split!r} split has {what}")
