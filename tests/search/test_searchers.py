import json

import numpy as np
import pytest

from nasrec_lab.search import Objective, RandomSearch, RegularizedEvolution


def fake_score(req):
    """A deterministic stand-in score with a known optimum: every block at maximum widths with FC."""
    a = req.arch
    loss = sum((1 - b.dense_width / 1024) + (1 - b.sparse_width / 64) + (b.dense_ops != ("fc",)) for b in a.blocks)
    return {"val_logloss": loss / 21 + (int(a.hash()[:4], 16) % 97) / 1e5, "val_auc": 0.7,
            "flops": sum(b.dense_width for b in a.blocks), "params": 1}


def drive(searcher, until=None):
    asked = []
    while not searcher.done and (until is None or len(asked) < until):
        reqs = searcher.ask()
        searcher.tell(reqs, [fake_score(r) for r in reqs])
        asked.extend(reqs)
    return asked


def test_evolution_follows_the_papers_loop():
    ev = RegularizedEvolution("small", seed=0, population=16, sample_size=8, children=4, generations=30, top_k=2)
    assert [ev.mutations_for(g) for g in (0, 1, 10, 11, 29)] == [2, 2, 2, 1, 1]  # (G - g) // max(20, G // 5) + 1
    big = RegularizedEvolution("small", population=128, sample_size=64, generations=240)
    assert [big.mutations_for(g) for g in (0, 1, 48, 49, 193, 239)] == [6, 5, 5, 4, 1, 1]
    initial = ev.ask()
    assert len(initial) == 16 and all(r.generation == -1 for r in initial)
    ev.tell(initial, [fake_score(r) for r in initial])
    oldest = [m["hash"] for m in ev.population[:4]]
    children = ev.ask()
    assert len(children) == 4 and len({r.parent_hash for r in children}) == 1  # one tournament per generation
    ev.tell(children, [fake_score(r) for r in children])
    assert len(ev.population) == 16 and not set(oldest) & {m["hash"] for m in ev.population}  # the oldest left
    assert [m["hash"] for m in ev.population[-4:]] == [r.arch.hash() for r in children]
    assert len(ev.history) == 2  # top-2 children of the generation
    rest = drive(ev)
    hashes = [r.arch.hash() for r in initial + children + rest]
    assert len(hashes) == len(set(hashes)) == 16 + 30 * 4  # duplicates are re-mutated


def test_evolution_beats_random_search_with_the_same_budget():
    wins = 0
    for seed in range(3):
        ev = RegularizedEvolution("small", seed=seed, population=16, sample_size=8, children=4, generations=25)
        rs = RandomSearch("small", seed=seed, budget=16 + 25 * 4)
        best = [min(fake_score(r)["val_logloss"] for r in drive(s)) for s in (ev, rs)]
        wins += best[0] < best[1]
    assert wins == 3


@pytest.mark.parametrize("cls,kw", [(RegularizedEvolution, dict(population=8, sample_size=4, children=3, generations=6)),
                                    (RandomSearch, dict(budget=30, batch=4))])
def test_state_dict_resumes_exactly(cls, kw):
    a = cls("full", Objective(multi_objective=True), seed=7, **kw)
    full = [r.arch.hash() for r in drive(a)]
    b = cls("full", Objective(multi_objective=True), seed=7, **kw)
    first = drive(b, until=len(full) // 2)
    state = json.loads(json.dumps(b.state_dict()))
    c = cls("full", Objective(multi_objective=True), seed=7, **kw)
    c.load_state_dict(state)
    assert [r.arch.hash() for r in first] + [r.arch.hash() for r in drive(c)] == full
    with pytest.raises(ValueError):
        (RandomSearch if cls is RegularizedEvolution else RegularizedEvolution)("full").load_state_dict(state)


def test_invalid_evolution_settings():
    with pytest.raises(ValueError, match="sample_size"):
        RegularizedEvolution("small", population=4, sample_size=8)
    assert np.isinf(Objective(max_flops=1).value({"val_logloss": 0.1, "flops": 5}))


def test_evolution_sized_from_a_budget_scores_exactly_the_budget():
    from nasrec_lab.search import evolution_sizes, make_searcher

    assert evolution_sizes(2048) == dict(population=128, sample_size=64, children=8, generations=240, top_k=2)  # NASREC.md
    for budget in (3, 5, 8, 13, 40, 48, 101, 500):
        ev = make_searcher("evolution", "small", seed=1, budget=budget)
        asked = drive(ev)
        assert len(asked) == budget, budget
        assert max(r.generation for r in asked) == ev.generations - 1 >= 0  # it evolved, not just sampled
    explicit = make_searcher("evolution", "small", budget=48, population=10, sample_size=5, children=2, generations=3)
    assert (explicit.population_size, explicit.n_children, explicit.generations) == (10, 2, 3)
    with pytest.raises(ValueError, match="at least 3"):
        evolution_sizes(2)
