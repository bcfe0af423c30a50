"""Search: searchers (evolution, random), scoring, objectives and Pareto fronts, the SQLite store,
parallel backends (in-process, process pool, Ray), rank-correlation studies, Optuna samplers as searchers."""

from ._backends import InProcessBackend, ProcessPoolBackend, RayBackend, ScorerSpec, make_backend
from ._objective import Objective, hypervolume_2d, pareto_front, pareto_ranks
from ._optuna import NSGA2Search, OptunaSearcher, TPESearch, optuna_storage_path
from ._rank import (
                    RankCorrelation,
                    RankPoint,
                    RankStudy,
                    RankTracker,
                    median_interval,
                    rank_correlation,
                    rank_correlation_interval,
)
from ._runner import CandidateEvent, SearchResult, SearchRunner, hypervolume_reference
from ._scoring import CandidateScorer, ScoringConfig, candidate_seed
from ._searchers import SEARCHERS, RandomSearch, RegularizedEvolution, Request, Searcher, evolution_sizes, make_searcher
from ._store import SCHEMA_VERSION, CandidateRecord, SearchStore

__all__ = [
    "SCHEMA_VERSION",
    "SEARCHERS",
    "CandidateEvent",
    "CandidateRecord",
    "CandidateScorer",
    "InProcessBackend",
    "NSGA2Search",
    "Objective",
    "OptunaSearcher",
    "ProcessPoolBackend",
    "RandomSearch",
    "RankCorrelation",
    "RankPoint",
    "RankStudy",
    "RankTracker",
    "RayBackend",
    "RegularizedEvolution",
    "Request",
    "ScorerSpec",
    "ScoringConfig",
    "SearchResult",
    "SearchRunner",
    "SearchStore",
    "Searcher",
    "TPESearch",
    "candidate_seed",
    "evolution_sizes",
    "hypervolume_2d",
    "hypervolume_reference",
    "make_backend",
    "make_searcher",
    "median_interval",
    "optuna_storage_path",
    "pareto_front",
    "pareto_ranks",
    "rank_correlation",
    "rank_correlation_interval",
]
