import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasrec_lab.search import (
    ScorerSpec,
    ScoringConfig,
    SearchRunner,
    SearchStore,
    make_searcher,
)

ROOT = Path(__file__).resolve().parents[2]
QUICK = ScoringConfig(finetune_steps=3, finetune_batch=128, eval_batches=1, eval_batch_size=1024)


def _search_cli(ds, ckpt, store, *extra):
    args = [sys.executable, "-m", "nasrec_lab.cli", "search", "--data", str(ds.path), "--supernet", str(ckpt),
            "--store", str(store), "--searcher", "evolution", "--budget", "18", "--seed", "4",
            "--finetune-steps", "3", "--finetune-batch", "128", "--eval-batches", "1", "--eval-batch-size", "1024",
            *extra]  # evolution sized from --budget: population 6, then 3 generations of 4 children
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _rows(store):
    with SearchStore(store) as s:
        df = s.candidates_frame()
    return df


def test_killed_search_resumes_to_the_same_history(search_setup, tmp_path):
    ds, ckpt = search_setup
    ref = _search_cli(ds, ckpt, tmp_path / "ref.sqlite", "--json")
    out, err = ref.communicate(timeout=600)
    assert ref.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["evaluated"] == 18 and set(result) >= {"best_hash", "best_val_logloss", "evaluated"}

    store = tmp_path / "run.sqlite"
    victim = _search_cli(ds, ckpt, store)
    deadline = time.time() + 300
    n = 0
    while time.time() < deadline:
        if store.exists():
            try:
                n = sqlite3.connect(store).execute("SELECT count(*) FROM candidates").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            if n >= 8:
                break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    before = _rows(store)
    assert 8 <= len(before) < 18
    resumed = _search_cli(ds, ckpt, store, "--resume", "--json")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    scored_now = [line for line in out.splitlines() if line.startswith("[")]
    assert len(scored_now) == 18 - len(before)  # nothing stored was scored again
    after = _rows(store)
    reference = _rows(tmp_path / "ref.sqlite")
    assert (reference["generation"] == -1).sum() == 6 and reference["generation"].max() == 2
    cols = ["seq", "arch_hash", "generation", "parent_hash", "val_logloss", "flops"]
    assert after[cols].equals(reference[cols])
    assert after.set_index("seq").loc[before["seq"], "created"].tolist() == before["created"].tolist()
    assert json.loads(out.strip().splitlines()[-1])["best_hash"] == result["best_hash"]
    again = _search_cli(ds, ckpt, store)
    assert again.wait(timeout=120) == 2 and "exists" in again.stderr.read()


def test_each_candidate_is_stored_as_it_is_scored(search_setup, tmp_path):
    """A search that stops inside a generation keeps every candidate it scored before the stop, and
    a live plot hears of each one right after its own scoring, not of a whole generation at its end."""
    ds, ckpt = search_setup
    spec = ScorerSpec(str(ds.path), str(ckpt), QUICK)
    scorer = spec.build()
    score, calls = scorer.score, []

    def dies_on_the_fourth(arch, *, seed=0):
        calls.append(arch.hash())
        if len(calls) == 4:
            raise RuntimeError("the machine went away")
        return score(arch, seed=seed)

    scorer.score = dies_on_the_fourth
    heard = []  # scorings done when each event arrived

    def runner(store, **kw):
        searcher = make_searcher("evolution", "small", seed=3, population=6, sample_size=2, children=2, generations=2)
        return SearchRunner(store=store, name="s", searcher=searcher, spec=spec, budget=10, seed=3, **kw)

    with SearchStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(RuntimeError, match="went away"):
            runner(store, scorer=scorer, callbacks=[lambda ev: heard.append(len(calls))]).run()
    assert heard == [1, 2, 3]  # the population is 6: all three fell inside its first batch
    before = _rows(tmp_path / "s.sqlite")
    assert before["arch_hash"].tolist() == calls[:3]
    with SearchStore(tmp_path / "s.sqlite") as store:
        assert runner(store, resume=True).run().evaluated == 10
    after = _rows(tmp_path / "s.sqlite")
    assert after["arch_hash"].tolist()[3] == calls[3]  # the failed one is scored on resume, in its place
    assert after.iloc[:3][["seq", "val_logloss", "created"]].equals(before[["seq", "val_logloss", "created"]])


@pytest.mark.parametrize("backend", ["process", "ray"])
def test_backends_give_the_same_history(search_setup, tmp_path, backend):
    if backend == "ray":
        pytest.importorskip("ray")
    ds, ckpt = search_setup
    spec = ScorerSpec(str(ds.path), str(ckpt), QUICK)

    def run(name, backend_name):
        searcher = make_searcher("evolution", "small", seed=3, population=4, sample_size=2, children=2, generations=2)
        with SearchStore(tmp_path / f"{name}.sqlite") as store:
            SearchRunner(store=store, name=name, searcher=searcher, spec=spec, budget=8, seed=3,
                         backend=backend_name, workers=2).run()
            return store.candidates_frame()

    local = run("local", "inprocess")
    other = run(backend, backend)
    cols = ["seq", "arch_hash", "val_logloss", "val_auc", "flops"]
    assert local[cols].equals(other[cols])
    assert len(local) == 8


def test_budgets_and_multi_objective_front(search_setup, tmp_path):
    ds, ckpt = search_setup
    from nasrec_lab.search import Objective

    events = []
    searcher = make_searcher("random", "small", Objective(multi_objective=True, max_flops=2_000_000), seed=0,
                             budget=10, batch=5)
    with SearchStore(tmp_path / "mo.sqlite") as store:
        res = SearchRunner(store=store, name="mo", searcher=searcher, spec=ScorerSpec(str(ds.path), str(ckpt), QUICK),
                           budget=10, callbacks=[events.append]).run()
        df = store.candidates_frame()
    assert len(events) == 10 and [e.evaluated for e in events] == list(range(1, 11))
    assert all(0 <= e.hypervolume <= 1 for e in events)
    assert all(b.hypervolume >= a.hypervolume for a, b in zip(events, events[1:]))  # never shrinks
    # every candidate of the budget is inside it and scored: none is spent on a known-infeasible subnet
    assert (df.feasible == 1).all() and (df.flops <= 2_000_000).all() and df.val_logloss.notna().all()
    front = df.set_index("seq").loc[list(res.pareto_seqs)]
    for _, row in df.iterrows():  # nothing feasible dominates a front member
        for _, f in front.iterrows():
            assert not (row.val_logloss < f.val_logloss and row.flops < f.flops)


@pytest.mark.parametrize("name", ["random", "evolution", "tpe"])
def test_searchers_propose_only_candidates_inside_the_flops_budget(search_setup, tmp_path, name):
    import numpy as np

    from nasrec_lab.data import CTRDataset
    from nasrec_lab.search import Objective
    from nasrec_lab.space import get_space, sample_architecture
    from nasrec_lab.supernet import cost

    ds, ckpt = search_setup
    schema, space = CTRDataset(ds.path).schema, get_space("small")
    # the budget: the median FLOPs of the default sampler, so about half of its draws are over it
    flops = sorted(cost(sample_architecture(space, np.random.default_rng(i), "default"), schema, space).flops
                   for i in range(200))
    budget_flops = flops[len(flops) // 2]
    searcher = make_searcher(name, "small", Objective(max_flops=budget_flops), seed=1, budget=12)
    with SearchStore(tmp_path / "b.sqlite") as store:
        SearchRunner(store=store, name="b", searcher=searcher, spec=ScorerSpec(str(ds.path), str(ckpt), QUICK),
                     budget=12).run()
        df = store.candidates_frame()
    assert len(df) == 12 and df.arch_hash.is_unique
    assert (df.flops <= budget_flops).all() and (df.feasible == 1).all() and df.val_logloss.notna().all()


def test_a_budget_no_subnet_fits_is_refused_before_the_search_is_created(search_setup, tmp_path):
    from nasrec_lab.search import Objective

    ds, ckpt = search_setup
    spec = ScorerSpec(str(ds.path), str(ckpt), QUICK)
    with SearchStore(tmp_path / "none.sqlite") as store:
        for objective, needle in ((Objective(max_flops=1), "--max-flops 1 \\(the least of 10,000 random subnets needs"),
                                  (Objective(max_params=5), "--max-params 5 \\(the least of")):
            with pytest.raises(ValueError, match=needle):
                SearchRunner(store=store, name="s", searcher=make_searcher("random", "small", objective, budget=2),
                             spec=spec, budget=2)
        assert store.searches() == []  # so the corrected command can take the name
        result = SearchRunner(store=store, name="s", searcher=make_searcher("random", "small", budget=2), spec=spec,
                              budget=2).run()
    assert result.evaluated == 2


def test_a_latency_budget_beside_a_flops_budget_still_scores_the_subnets_under_it(search_setup, tmp_path):
    """Latency is measured when a candidate is scored: the FLOPs check before scoring cannot hold it
    against a subnet (it once marked every subnet over budget)."""
    from dataclasses import replace

    import numpy as np

    from nasrec_lab.data import CTRDataset
    from nasrec_lab.search import Objective
    from nasrec_lab.space import get_space, sample_architecture
    from nasrec_lab.supernet import cost

    ds, ckpt = search_setup
    schema, space = CTRDataset(ds.path).schema, get_space("small")
    flops = sorted(cost(sample_architecture(space, np.random.default_rng(i), "default"), schema, space).flops
                   for i in range(100))
    objective = Objective(max_flops=flops[50], max_latency_ms=1e6)
    spec = ScorerSpec(str(ds.path), str(ckpt), replace(QUICK, latency=True, latency_batch=64))
    with SearchStore(tmp_path / "l.sqlite") as store:
        SearchRunner(store=store, name="l", searcher=make_searcher("random", "small", objective, budget=3), spec=spec,
                     budget=3).run()
        df = store.candidates_frame()
    assert len(df) == 3 and df.val_logloss.notna().all() and (df.feasible == 1).all()
    assert (df.flops <= flops[50]).all() and (df.latency_ms > 0).all()


def test_a_refused_search_leaves_nothing_in_the_store(search_setup, tmp_path):
    """Data of another schema (its ids would index past the supernet's tables) and a checkpoint that
    is not a supernet are refused by name before the search is created."""
    import torch

    from nasrec_lab.data import SyntheticSpec, synthesize

    ds, ckpt = search_setup
    other = synthesize(tmp_path / "other", rows=2000, seed=0, spec=SyntheticSpec(table_sizes=(5,) * 26))
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    torch.save({**state, "kind": "subnet"}, tmp_path / "subnet.pt")
    with SearchStore(tmp_path / "r.sqlite") as store:
        for data, supernet, needle in ((other.path, ckpt, "the supernet .*checkpoint.pt was built for schema .* the "
                                                          "data set .*other has schema"),
                                       (ds.path, tmp_path / "subnet.pt", "subnet.pt: holds a subnet, not a supernet")):
            with pytest.raises(ValueError, match=needle):
                SearchRunner(store=store, name="s", searcher=make_searcher("random", "small", budget=2),
                             spec=ScorerSpec(str(data), str(supernet), QUICK), budget=2)
        assert store.searches() == []
    from nasrec_lab.search import CandidateScorer

    with pytest.raises(ValueError, match="was built for schema"):  # the scorer alone, as a notebook may use it
        CandidateScorer(other, ckpt, QUICK)


@pytest.mark.parametrize("name", ["random", "tpe"])
def test_a_resume_with_a_larger_budget_continues_the_search(search_setup, tmp_path, name):
    pytest.importorskip("optuna")
    ds, ckpt = search_setup
    spec = ScorerSpec(str(ds.path), str(ckpt), QUICK)

    def run(store, budget, resume=False):
        with SearchStore(store) as st:
            result = SearchRunner(store=st, name="s", searcher=make_searcher(name, "small", seed=2, budget=budget,
                                                                             batch=2),
                                  spec=spec, budget=budget, seed=2, resume=resume).run()
            return result, st.candidates_frame()

    first, _ = run(tmp_path / "a.sqlite", 3)
    assert first.evaluated == 3 and first.finished
    more, rows = run(tmp_path / "a.sqlite", 5, resume=True)
    assert more.evaluated == 5 and more.finished and len(rows) == 5 and rows.arch_hash.is_unique
    if name == "random":  # the draws do not depend on where the budget stopped: the uninterrupted run's five
        _, whole = run(tmp_path / "b.sqlite", 5)
        cols = ["seq", "arch_hash", "val_logloss"]
        assert rows[cols].equals(whole[cols])


@pytest.mark.parametrize("damage", ["{bad", "{}", "[]", '{"searcher": {"name": "random"}}'])
def test_a_damaged_searcher_state_is_named_not_a_traceback(search_setup, tmp_path, damage):
    ds, ckpt = search_setup
    spec = ScorerSpec(str(ds.path), str(ckpt), QUICK)
    with SearchStore(tmp_path / "d.sqlite") as store:
        SearchRunner(store=store, name="s", searcher=make_searcher("random", "small", budget=2), spec=spec,
                     budget=2).run()
        store._conn.execute("UPDATE searcher_state SET state_json = ?", (damage,))
        store._conn.commit()
        runner = SearchRunner(store=store, name="s", searcher=make_searcher("random", "small", budget=4), spec=spec,
                              budget=4, resume=True)
        with pytest.raises(ValueError, match="d.sqlite: the saved searcher state of search .* (damaged|not JSON)"):
            runner.run()


def test_resume_through_another_spelling_of_the_same_files(search_setup, tmp_path, monkeypatch):
    """A search is its data's and supernet's content, not the paths it was given: resuming through an
    absolute path what started through a relative one continues it; the same recipe's data set
    generated again is refused, naming the data."""
    from nasrec_lab.data import synthesize

    from .conftest import TINY_SPEC

    ds, ckpt = search_setup
    root = ds.path.parent
    monkeypatch.chdir(root)
    store = tmp_path / "s.sqlite"

    def run(data, supernet, budget):
        searcher = make_searcher("random", "small", seed=2, budget=10)
        with SearchStore(store) as s:
            SearchRunner(store=s, name="spelled", searcher=searcher, spec=ScorerSpec(data, supernet, QUICK),
                         budget=budget, seed=2, resume=True).run()
            return s.candidates_frame()

    assert len(run("ds", str(ckpt.relative_to(root)), 2)) == 2
    assert len(run(str(root / "ds"), str(ckpt), 3)) == 3  # the same files, spelled absolutely: resumed
    again = synthesize(tmp_path / "again", rows=12_000, seed=1, spec=TINY_SPEC)  # same recipe, generated again
    with pytest.raises(ValueError, match=r"started on other data: .*again is not the data set ds"):
        run(str(again.path), str(ckpt), 4)
