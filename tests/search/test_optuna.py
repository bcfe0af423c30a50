"""Optuna samplers as searchers: valid encodings, a TPE search that survives a kill, NSGA-II on two objectives."""

import json
import signal
import sqlite3
import time

import numpy as np
import pytest

from nasrec_lab.search import ScorerSpec, SearchRunner, SearchStore, make_searcher, optuna_storage_path
from nasrec_lab.search._optuna import decode, encode, param_distributions
from nasrec_lab.space import get_space, sample_architecture, validate

from .test_runner import QUICK, _rows, _search_cli

optuna = pytest.importorskip("optuna")


@pytest.mark.parametrize("space", ["full", "small"])
def test_every_sample_decodes_to_a_valid_subnet(space):
    sp = get_space(space)
    rng = np.random.default_rng(0)
    dists = param_distributions(sp)
    for _ in range(50):
        arch = sample_architecture(sp, rng)
        assert decode(encode(arch, sp), sp) == arch
        params = {k: d.choices[rng.integers(len(d.choices))] for k, d in dists.items()}
        validate(decode(params, sp), sp)
    none = {k: (0 if ".dense_in." in k or ".sparse_in." in k else d.choices[-1]) for k, d in dists.items()}
    every = {k: (1 if ".dense_in." in k or ".sparse_in." in k else d.choices[0]) for k, d in dists.items()}
    assert decode(none, sp).blocks[3].dense_in == (3,)  # no input flagged: the latest output
    assert decode(every, sp).blocks[6].sparse_in == (3, 4, 5, 6)  # too many: the latest max_inputs
    validate(decode(none, sp), sp)
    validate(decode(every, sp), sp)


def _tpe_cli(ds, ckpt, store, *extra):
    return _search_cli(ds, ckpt, store, "--searcher", "tpe", "--budget", "12", *extra)


def test_killed_tpe_search_resumes_to_the_same_history(search_setup, tmp_path):
    ds, ckpt = search_setup
    ref = _tpe_cli(ds, ckpt, tmp_path / "ref.sqlite", "--json")
    out, err = ref.communicate(timeout=600)
    assert ref.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["evaluated"] == 12

    store = tmp_path / "run.sqlite"
    victim = _tpe_cli(ds, ckpt, store)
    deadline, n = time.time() + 300, 0
    while time.time() < deadline and n < 5:
        if store.exists():
            try:
                n = sqlite3.connect(store).execute("SELECT count(*) FROM candidates").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    before = _rows(store)
    assert 5 <= len(before) < 12
    resumed = _tpe_cli(ds, ckpt, store, "--resume", "--export", str(tmp_path / "best.json"), "--json")
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    best = json.loads(out.strip().splitlines()[-1])["best_hash"]
    assert best in (tmp_path / "best.json").read_text()
    cols = ["seq", "arch_hash", "generation", "val_logloss", "flops"]
    assert _rows(store)[cols].equals(_rows(tmp_path / "ref.sqlite")[cols])
    # the dashboard's copy holds every scored candidate once, with its score
    study = optuna.load_study(study_name="tpe-seed4", storage=f"sqlite:///{optuna_storage_path(store)}")
    done = {t.user_attrs["arch_hash"]: t.value for t in study.trials if t.state.name == "COMPLETE"}
    rows = _rows(store)
    assert set(rows["arch_hash"]) <= set(done)
    assert all(done[h] == pytest.approx(v) for h, v in zip(rows["arch_hash"], rows["val_logloss"]))


def test_nsga2_searches_log_loss_against_flops(search_setup, tmp_path):
    ds, ckpt = search_setup
    spec = ScorerSpec(str(ds.path), str(ckpt), QUICK)
    storage = optuna_storage_path(tmp_path / "s.sqlite")
    assert storage.name == "s.optuna.sqlite"
    searcher = make_searcher("nsga2", "small", seed=1, budget=10, population=4, batch=4, storage=storage,
                             study_name="nsga2")
    with SearchStore(tmp_path / "s.sqlite") as store:
        result = SearchRunner(store=store, name="nsga2", searcher=searcher, spec=spec, budget=10, seed=1).run()
        rows = store.candidates_frame()
    assert result.evaluated == 10 and rows["arch_hash"].is_unique
    study = optuna.load_study(study_name="nsga2", storage=f"sqlite:///{storage}")
    assert len(study.directions) == 2 and study.metric_names == ["val_logloss", "flops"]
    generations = {v for t in searcher.study.trials for k, v in t.system_attrs.items() if k.endswith(":generation")}
    assert generations >= {0, 1}  # past the first population: NSGA-II's selection took part
    front = {tuple(t.values) for t in study.best_trials}
    assert front and all(v[1] == f for v in front for f in [rows.set_index("val_logloss").loc[v[0], "flops"]])


def test_the_dashboards_copy_sits_beside_a_store_of_any_name_and_a_damaged_copy_is_named(search_setup, tmp_path):
    from urllib.parse import quote

    ds, ckpt = search_setup
    spec = ScorerSpec(str(ds.path), str(ckpt), QUICK)
    store = tmp_path / "odd?name%41.sqlite"  # "?" starts a URL's options, "%41" is "A" once unquoted
    storage = optuna_storage_path(store)
    assert storage.name == "odd?name%41.optuna.sqlite"

    def run(name):
        searcher = make_searcher("tpe", "small", seed=0, budget=2, batch=2, storage=storage, study_name=name)
        with SearchStore(store) as st:
            return SearchRunner(store=st, name=name, searcher=searcher, spec=spec, budget=2).run()

    assert run("t").evaluated == 2
    assert sorted(p.name for p in tmp_path.iterdir() if "optuna" in p.name) == ["odd?name%41.optuna.sqlite"]
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{quote(str(storage))}")
    assert len([t for t in study.trials if t.state.name == "COMPLETE"]) == 2
    storage.write_bytes(b"junk" * 1000)  # the copy damaged: named, with what to do; what was scored is kept
    with pytest.raises(ValueError, match="the Optuna copy of search 'u' .* move or delete it"):
        run("u")
    with SearchStore(store) as st:
        assert [s["name"] for s in st.searches()] == ["t", "u"] and len(st.candidates_frame("t")) == 2
