"""Where candidates are scored: in this process, a local process pool, or a Ray cluster.

Each worker builds its :class:`CandidateScorer` once (loading the supernet checkpoint once)
from a picklable :class:`ScorerSpec`. Scores depend only on the candidate and the seed (fixed
thread count, per-candidate seeds), so the search history is the same whatever the backend.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ..space import Architecture
from ._scoring import CandidateScorer, ScoringConfig


@dataclass(frozen=True)
class ScorerSpec:
    data: str
    supernet: str | None
    scoring: ScoringConfig
    space: dict | None = None
    #: where each worker scores: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (processes may share one GPU)
    device: str = "cpu"

    def build(self) -> CandidateScorer:
        from ..space import SearchSpace

        space = SearchSpace.from_json(self.space) if self.space else None
        return CandidateScorer(self.data, self.supernet, self.scoring, space=space, device=self.device)


Job = tuple[int, dict, int]  # (seq, architecture JSON, search seed)
Result = tuple[int, dict[str, Any]]


def _score_job(scorer: CandidateScorer, job: Job) -> Result:
    seq, arch_json, seed = job
    return seq, scorer.score(Architecture.from_json(arch_json), seed=seed)


class InProcessBackend:
    name = "inprocess"

    def __init__(self, spec: ScorerSpec | None = None, scorer: CandidateScorer | None = None) -> None:
        if scorer is None and spec is None:
            raise ValueError("give a ScorerSpec or a CandidateScorer")
        self.scorer = scorer or spec.build()

    def run(self, jobs: Sequence[Job]) -> Iterator[Result]:
        for job in jobs:
            yield _score_job(self.scorer, job)

    def close(self) -> None:
        pass


_WORKER_SCORER: CandidateScorer | None = None


def _init_worker(spec: ScorerSpec) -> None:
    global _WORKER_SCORER
    _WORKER_SCORER = spec.build()


def _worker_score(job: Job) -> Result:
    return _score_job(_WORKER_SCORER, job)


class ProcessPoolBackend:
    """Local worker processes (spawned, so no forked torch state), results as they complete."""

    name = "process"

    def __init__(self, spec: ScorerSpec, workers: int = 2) -> None:
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                        initializer=_init_worker, initargs=(spec,))

    def run(self, jobs: Sequence[Job]) -> Iterator[Result]:
        pending = {self.pool.submit(_worker_score, job) for job in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def ray_on_loopback() -> Iterator[None]:
    """Make a local Ray started inside this block listen on 127.0.0.1 only.

    Ray's GCS and raylet listen on 127.0.0.1 only when the node address is exactly
    ``127.0.0.1``, but ``ray.init`` replaces a loopback node address by the machine's network
    address unless Ray is in its single-machine mode (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``,
    read by this process's Ray and, through the environment, by the processes it starts).
    A cluster joined with an address is left as its operator set it up.
    """
    from ray._private import ray_constants

    key = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    saved_env, saved_flag = os.environ.get(key), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[key] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved_env


class RayBackend:
    """Ray actors, one scorer each: ``address=None`` starts a local Ray; an address joins a cluster."""

    name = "ray"

    def __init__(self, spec: ScorerSpec, workers: int = 2, address: str | None = None, **init_kwargs: Any) -> None:
        import ray

        self.ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs = dict(include_dashboard=False, log_to_driver=False, **init_kwargs)
            if address is None:
                kwargs.setdefault("num_cpus", workers)
                with ray_on_loopback():
                    ray.init(**kwargs)
            else:
                ray.init(address=address, **kwargs)
            self._started = True

        @ray.remote(num_cpus=1)
        class ScorerActor:
            def __init__(self, spec: ScorerSpec) -> None:
                self.scorer = spec.build()

            def score(self, job: Job) -> Result:
                return _score_job(self.scorer, job)

        self.actors = [ScorerActor.remote(spec) for _ in range(workers)]

    def run(self, jobs: Sequence[Job]) -> Iterator[Result]:
        queue = list(jobs)
        running: dict[Any, Any] = {}
        free = list(self.actors)
        while queue or running:
            while queue and free:
                actor = free.pop()
                running[actor.score.remote(queue.pop(0))] = actor
            done, _ = self.ray.wait(list(running), num_returns=1)
            for ref in done:
                free.append(running.pop(ref))
                yield self.ray.get(ref)

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        if self._started:
            self.ray.shutdown()


def make_backend(name: str, spec: ScorerSpec, *, workers: int = 2, address: str | None = None,
                 scorer: CandidateScorer | None = None):
    if name == "inprocess":
        return InProcessBackend(spec, scorer)
    if name == "process":
        return ProcessPoolBackend(spec, workers)
    if name == "ray":
        return RayBackend(spec, workers, address)
    raise ValueError(f"unknown backend {name!r}; expected inprocess, process or ray")


