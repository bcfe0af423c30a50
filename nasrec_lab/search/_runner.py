"""Running a search: ask, score (on a backend), store each candidate at once, tell; resumable."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import CTRDataset, FeatureSchema
from ..data._readers import file_sha256
from ..space import Architecture, full_path, sample_architecture
from ..supernet import cost
from ..training import check_schema, read_checkpoint
from ._backends import ScorerSpec, make_backend
from ._objective import Objective, hypervolume_2d, pareto_front
from ._searchers import Request, Searcher
from ._store import CandidateRecord, SearchStore


@dataclass(frozen=True)
class CandidateEvent:
    """Sent to callbacks after each candidate is stored (for live plots)."""

    seq: int
    evaluated: int
    record: CandidateRecord
    fitness: float
    best_seq: int
    best_fitness: float
    pareto_seqs: tuple[int, ...]
    hypervolume: float


#: how many of the best distinct candidates a search result lists (for training several from scratch)
RANKED_KEEP = 16


@dataclass
class SearchResult:
    search_id: int
    name: str
    evaluated: int
    best_hash: str | None
    best_val_logloss: float | None
    best_arch: Architecture | None
    pareto_seqs: list[int] = field(default_factory=list)
    hypervolume: float = 0.0
    finished: bool = False
    #: the best candidates by the objective, one per function (architecture hash), best first
    ranked: list[Architecture] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"search": self.name, "evaluated": self.evaluated, "best_hash": self.best_hash,
                "best_val_logloss": self.best_val_logloss, "pareto_size": len(self.pareto_seqs),
                "hypervolume": self.hypervolume, "finished": self.finished}


def _check_supernet_file(path: str, data: CTRDataset) -> None:
    """The supernet checkpoint a search scores with: readable, a supernet, built for this data's features."""
    state = read_checkpoint(path, mmap=True)
    if state.get("kind") != "supernet":
        raise ValueError(f"{path}: holds a {state.get('kind')}, not a supernet (--supernet takes train-supernet's "
                         "OUT/checkpoint.pt)")
    check_schema(FeatureSchema.from_json(state["model_config"]["schema"]), data, f"the supernet {path}")


def hypervolume_reference(data: CTRDataset, space) -> tuple[float, float]:
    """(log loss of predicting the validation base rate, FLOPs of the full path): every useful
    subnet is below both."""
    p = data.manifest["splits"]["val"]["positive_rate"]
    loss = -(p * math.log(p) + (1 - p) * math.log(1 - p)) if 0 < p < 1 else 1.0
    return loss, float(cost(full_path(space), data.schema, space).flops)


class SearchRunner:
    """Drives a searcher with a backend and a store; safe to kill at any point and resume."""

    def __init__(self, *, store: SearchStore, name: str, searcher: Searcher, spec: ScorerSpec, budget: int,
                 seed: int = 0, backend: str = "inprocess", workers: int = 2, address: str | None = None,
                 callbacks: Sequence[Callable[[CandidateEvent], None]] = (), resume: bool = False,
                 scorer=None) -> None:
        self.store, self.name, self.searcher, self.spec = store, name, searcher, spec
        self.budget, self.seed = int(budget), int(seed)
        if self.budget < 1:
            raise ValueError(f"the budget must be at least 1 candidate, got {budget}")
        if backend != "inprocess" and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.callbacks = list(callbacks)
        self.objective: Objective = searcher.objective
        self.data = CTRDataset(spec.data)
        self.reference = hypervolume_reference(self.data, searcher.space)
        # Everything a run can be refused for is checked before the search is created in the store:
        # a search left there by a refused run would block the corrected command (its settings differ).
        if spec.supernet:
            _check_supernet_file(spec.supernet, self.data)
        if self.objective.max_flops is not None or self.objective.max_params is not None:
            searcher.constrain(lambda arch: self._over_budget(Request(arch, 0)) is None)
            self._check_budget_feasible()
        config = {"searcher": searcher.name, "seed": self.seed, "objective": self.objective.to_json(),
                  "scoring": spec.scoring.to_json(), "supernet": spec.supernet, "data": str(spec.data),
                  "data_identity": self.data.identity(),
                  # the file's content, not its name: a supernet retrained in place is another supernet
                  "supernet_sha256": file_sha256(spec.supernet) if spec.supernet else None,
                  "searcher_config": {k: v for k, v in searcher.state_dict().get("config", {}).items()}}
        self.search_id = store.create_search(name, searcher.space.to_json(), config, load_if_exists=resume)
        self.backend_name, self.workers, self.address, self.scorer = backend, workers, address, scorer

    def _check_budget_feasible(self, draws: int = 10_000) -> None:
        """Refuse a FLOPs/parameter budget that no subnet of the space meets (as many draws as a
        searcher makes before it gives up; a feasible budget stops at the first subnet inside it)."""
        rng = np.random.default_rng(self.seed)
        least_flops = least_params = math.inf
        for _ in range(draws):
            arch = sample_architecture(self.searcher.space, rng, "default")
            c = cost(arch, self.data.schema, self.searcher.space)
            if not self._over_cost_budget(c):
                return
            least_flops, least_params = min(least_flops, c.flops), min(least_params, c.params)
        o = self.objective
        asked = [f"--max-flops {o.max_flops:,} (the least of {draws:,} random subnets needs {least_flops:,} FLOPs per example)"
                 if o.max_flops is not None and least_flops > o.max_flops else "",
                 f"--max-params {o.max_params:,} (the least of {draws:,} random subnets has {least_params:,} parameters)"
                 if o.max_params is not None and least_params > o.max_params else ""]
        raise ValueError(f"no subnet of the {self.searcher.space.name!r} space on this data fits the budget: "
                         + "; ".join(a for a in asked if a))

    def _record(self, seq: int, req: Request, score: dict[str, Any]) -> CandidateRecord:
        return CandidateRecord(seq=seq, arch_hash=req.arch.hash(), arch_json=json.dumps(req.arch.to_json(), sort_keys=True, separators=(",", ":")),
                               space=self.searcher.space.name, generation=req.generation, parent_hash=req.parent_hash,
                               val_logloss=score["val_logloss"], val_auc=score["val_auc"], flops=score["flops"],
                               params=score["params"], latency_ms=score.get("latency_ms"), wall_s=score["wall_s"],
                               feasible=self.objective.feasible(score), supernet=self.spec.supernet, seed=self.seed,
                               extra={})

    def run(self) -> SearchResult:
        with self.store.search_lock(self.search_id, self.name):
            return self._run()

    def _run(self) -> SearchResult:
        store, searcher = self.store, self.searcher
        state = store.load_state(self.search_id)
        pending: list[Request] = []
        seq0 = next_seq = 0
        if state is not None:
            try:
                searcher.load_state_dict(state["searcher"])
                pending = [Request.from_json(r) for r in state["pending"]]
                seq0, next_seq = int(state["pending_seq"]), int(state["next_seq"])
            except (KeyError, TypeError, IndexError, AttributeError) as exc:
                raise ValueError(f"{store.path}: the saved searcher state of search {self.name!r} is damaged "
                                 f"({exc.__class__.__name__}: {exc}); it cannot be resumed (start a new search "
                                 "with --name)") from None
        stored = store.candidates(self.search_id)
        self._replay(stored)
        backend = None
        try:
            while True:
                if not pending:
                    if searcher.done or len(stored) >= self.budget:
                        break
                    pending = searcher.ask()
                    if not pending:
                        break
                    seq0, next_seq = next_seq, next_seq + len(pending)
                    self._save(pending, seq0, next_seq)
                missing = [(seq0 + i, r) for i, r in enumerate(pending) if seq0 + i not in stored]
                room = self.budget - len(stored)
                todo = missing[: max(0, room)]
                if todo:
                    if backend is None:
                        backend = make_backend(self.backend_name, self.spec, workers=self.workers,
                                               address=self.address, scorer=self.scorer)
                    by_seq = dict(todo)
                    over = {seq: self._over_budget(r) for seq, r in todo}
                    jobs = [(seq, r.arch.to_json(), self.seed) for seq, r in todo if over[seq] is None]
                    # The searcher proposes none over a FLOPs/parameter budget; a pending batch saved
                    # by an older version may: those are stored unscored, not trained.
                    results = [(seq, over[seq]) for seq, _ in todo if over[seq] is not None]
                    # each result stored as it arrives: a search stopped inside a batch keeps what it
                    # scored, and live plots see every candidate, not a whole generation at its end
                    for seq, score in itertools.chain(results, backend.run(jobs)):
                        rec = self._record(seq, by_seq[seq], score)
                        store.add_candidate(self.search_id, rec)
                        stored[seq] = rec
                        self._notify(rec, stored)
                if any(seq0 + i not in stored for i in range(len(pending))):
                    break  # budget reached inside a batch: the pending batch stays saved for a resume
                scores = [stored[seq0 + i].score() for i in range(len(pending))]
                searcher.tell(pending, scores)
                pending = []
                self._save(pending, seq0, next_seq)
        finally:
            if backend is not None:
                backend.close()
        return self.result(stored)

    def _over_budget(self, req: Request) -> dict[str, Any] | None:
        o = self.objective
        if o.max_flops is None and o.max_params is None:
            return None
        c = cost(req.arch, self.data.schema, self.searcher.space)
        if not self._over_cost_budget(c):
            return None
        return {"val_logloss": None, "val_auc": None, "flops": c.flops, "params": c.params, "latency_ms": None,
                "wall_s": 0.0}

    def _over_cost_budget(self, c) -> bool:
        # FLOPs and parameters only: latency is measured when the candidate is scored, not known here
        o = self.objective
        return (o.max_flops is not None and c.flops > o.max_flops) or (o.max_params is not None and c.params > o.max_params)

    def _save(self, pending: list[Request], seq0: int, next_seq: int) -> None:
        self.store.save_state(self.search_id, {"searcher": self.searcher.state_dict(),
                                               "pending": [r.to_json() for r in pending],
                                               "pending_seq": seq0, "next_seq": next_seq})

    # -- best, front, events --------------------------------------------------------------------
    def _fit(self, rec: CandidateRecord) -> float:
        return self.objective.value(rec.score())

    def _replay(self, stored: dict[int, CandidateRecord]) -> None:
        self._points: list[tuple[float, float]] = []
        self._seqs: list[int] = []
        self._best = (math.inf, -1)
        for seq in sorted(stored):
            self._track(stored[seq])

    def _track(self, rec: CandidateRecord) -> float:
        f = self._fit(rec)
        if f < self._best[0]:
            self._best = (f, rec.seq)
        if math.isfinite(f):
            self._points.append((f, float(rec.flops)))
            self._seqs.append(rec.seq)
        return f

    def _notify(self, rec: CandidateRecord, stored: dict[int, CandidateRecord]) -> None:
        f = self._track(rec)
        if not self.callbacks:
            return
        front = tuple(self._seqs[i] for i in pareto_front(self._points))
        hv = self._hypervolume()
        event = CandidateEvent(rec.seq, len(stored), rec, f, self._best[1], self._best[0], front, hv)
        for cb in self.callbacks:
            cb(event)

    def _hypervolume(self) -> float:
        """Dominated fraction of the reference box (0..1) in (validation log loss, FLOPs)."""
        if not self._points or self.objective.metric != "logloss":
            return 0.0
        return hypervolume_2d(self._points, self.reference) / (self.reference[0] * self.reference[1])

    def result(self, stored: dict[int, CandidateRecord]) -> SearchResult:
        best = stored.get(self._best[1])
        front = [self._seqs[i] for i in pareto_front(self._points)]
        hv = self._hypervolume()
        return SearchResult(self.search_id, self.name, len(stored), best.arch_hash if best else None,
                            best.val_logloss if best else None,
                            Architecture.from_json(json.loads(best.arch_json)) if best else None, front, hv,
                            finished=self.searcher.done or len(stored) >= self.budget, ranked=self._ranked(stored))

    def _ranked(self, stored: dict[int, CandidateRecord], keep: int = RANKED_KEEP) -> list[Architecture]:
        out: dict[str, Architecture] = {}
        for _, seq in sorted(zip((f for f, _ in self._points), self._seqs)):  # the finite fits, as tracked
            arch = Architecture.from_json(json.loads(stored[seq].arch_json))
            out.setdefault(arch.hash(), arch)  # hashed again: a store written before the live-form hash
            if len(out) == keep:
                break
        return list(out.values())
