import itertools
import json
import signal
import sqlite3

import numpy as np
import pytest

from nasrec_lab.search import (
    SCHEMA_VERSION,
    CandidateRecord,
    Objective,
    SearchStore,
    hypervolume_2d,
    pareto_front,
    pareto_ranks,
)
from nasrec_lab.search._store import _SCHEMA_V1


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(30):
        pts = [tuple(p) for p in rng.random((25, 2)).round(2)]
        front = set(pareto_front(pts))
        for i, p in enumerate(pts):
            dominated = any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in pts)
            duplicate_earlier = any(q == p for q in pts[:i]) or any(pts[j] == p and j in front for j in range(len(pts)) if j != i)
            if dominated:
                assert i not in front
            elif not duplicate_earlier:
                assert i in front
        ranks = pareto_ranks(pts)
        assert all((ranks[i] == 0) == (i in front) for i in range(len(pts)))


def test_points_at_infinite_loss_share_the_last_rank():
    # infeasible candidates and nan scores have infinite loss: on no front, yet they must get a rank
    # (the loop that peels fronts off once never ended on them)
    inf = float("inf")
    pts = [(inf, 5.0), (0.4, 3.0), (inf, 1.0), (0.5, 1.0), (0.6, 2.0)]
    assert _within_seconds(10, pareto_ranks, pts) == [2, 0, 2, 0, 1]
    assert _within_seconds(10, pareto_ranks, [(inf, 1.0), (inf, 2.0)]) == [0, 0]


def _within_seconds(limit, fn, *args):
    """``fn(*args)``, failing the test (not hanging the suite) if it runs past ``limit`` seconds."""
    def stop(*_):
        raise TimeoutError(f"{fn.__name__} ran past {limit} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(limit)
    try:
        return fn(*args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_hypervolume_matches_a_grid_count():
    rng = np.random.default_rng(1)
    for _ in range(10):
        pts = [tuple(p) for p in rng.integers(0, 20, (8, 2)) / 20]
        ref = (1.0, 1.0)
        grid = (np.arange(200) + 0.5) / 200
        dominated = sum(any(p[0] <= x and p[1] <= y for p in pts) for x, y in itertools.product(grid, grid)) / 200**2
        assert hypervolume_2d(pts, ref) == pytest.approx(dominated, abs=0.01)
    assert hypervolume_2d([(0.5, 0.5)], (1.0, 1.0)) == pytest.approx(0.25)


def test_objective_budgets_make_candidates_infeasible():
    o = Objective("logloss", max_flops=100, max_params=50)
    assert o.value({"val_logloss": 0.4, "flops": 90, "params": 10}) == 0.4
    assert o.value({"val_logloss": 0.4, "flops": 190, "params": 10}) == float("inf")
    assert not o.feasible({"flops": 1, "params": 51})
    assert Objective("auc").value({"val_auc": 0.8}) == -0.8
    with pytest.raises(ValueError, match="objective metric"):
        Objective("accuracy")


def _record(seq, **kw):
    base = dict(seq=seq, arch_hash=f"h{seq}", arch_json="{}", space="small", generation=0, parent_hash=None,
                val_logloss=0.5 - seq / 100, val_auc=0.7, flops=1000 + seq, params=10, latency_ms=None, wall_s=1.0,
                feasible=True, supernet="ck.pt", seed=0, extra={"k": seq})
    base.update(kw)
    return CandidateRecord(**base)


def test_a_nan_metric_read_back_from_the_store_is_no_score(tmp_path):
    # SQLite stores nan as NULL: a resumed search reads None where the running one had nan
    with SearchStore(tmp_path / "s.sqlite") as store:
        sid = store.create_search("a", {"name": "small"}, {"seed": 0})
        store.add_candidate(sid, _record(0, val_auc=float("nan"), val_logloss=float("nan")))
        store.add_candidate(sid, _record(1))
        back = store.candidates(sid)
    assert back[0].val_auc is None and back[0].val_logloss is None
    for metric in ("auc", "logloss"):
        objective = Objective(metric)
        assert objective.value(back[0].score()) == float("inf")
        assert objective.value(back[1].score()) == (-0.7 if metric == "auc" else pytest.approx(0.49))


def test_store_keeps_several_searches_in_wal_mode(tmp_path):
    path = tmp_path / "s.sqlite"
    with SearchStore(path) as store:
        a = store.create_search("a", {"name": "small"}, {"seed": 0})
        b = store.create_search("b", {"name": "small"}, {"seed": 1})
        for i in range(3):
            store.add_candidate(a, _record(i))
        store.add_candidate(b, _record(0, arch_hash="other"))
        store.save_state(a, {"x": 1})
        with pytest.raises(sqlite3.IntegrityError):
            store.add_candidate(a, _record(1))  # a sequence number is stored once
        assert store.create_search("a", {"name": "small"}, {"seed": 0}, load_if_exists=True) == a
        with pytest.raises(ValueError, match="other settings \\(seed: 0 then, 5 now\\)"):
            store.create_search("a", {"name": "small"}, {"seed": 5}, load_if_exists=True)
        # a group of settings names the one that changed, not the whole group
        c = store.create_search("c", {"name": "small"}, {"scoring": {"steps": 2, "batch": 64}, "seed": 0})
        with pytest.raises(ValueError, match="other settings \\(scoring.steps: 2 then, 3 now\\): resume it with"):
            store.create_search("c", {"name": "small"}, {"scoring": {"steps": 3, "batch": 64}, "seed": 0},
                                load_if_exists=True)
        assert store.create_search("c", {"name": "small"}, {"scoring": {"batch": 64, "steps": 2}, "seed": 0},
                                   load_if_exists=True) == c
        with pytest.raises(ValueError, match="exists"):
            store.create_search("a", {"name": "small"}, {"seed": 0})
    with SearchStore(path) as store:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        df = store.candidates_frame()
        assert list(df["search"]) == ["a", "a", "a", "b"] and len(store.candidates_frame("b")) == 1
        assert store.candidates(a)[2].extra == {"k": 2} and store.load_state(a) == {"x": 1}


def test_an_older_store_is_migrated(tmp_path):
    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA_V1)
    conn.execute("INSERT INTO searches VALUES (1, 'old', '{}', '{}', 0)")
    conn.execute("INSERT INTO candidates(search_id, seq, arch_hash, arch_json, generation, val_logloss, val_auc, flops, "
                 "params, wall_s, supernet, seed, created) VALUES (1, 0, 'abc', '{}', -1, 0.45, 0.8, 10, 20, 1.0, "
                 "'x', 0, 0)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SearchStore(path) as store:
        assert store.version == SCHEMA_VERSION
        rec = store.candidates(1)[0]
        assert rec.val_logloss == 0.45 and rec.feasible and rec.parent_hash is None and rec.extra == {}
        store.add_candidate(1, _record(1))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(ValueError, match="newer than this nasrec-lab"):
        SearchStore(path)
    other = tmp_path / "other.sqlite"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t(x)")
    c.commit()
    c.close()
    with pytest.raises(ValueError, match="not a nasrec-lab search store"):
        SearchStore(other)
    (tmp_path / "junk.sqlite").write_bytes(b"garbage" * 100)
    with pytest.raises(ValueError, match="not a usable search store"):
        SearchStore(tmp_path / "junk.sqlite")
    assert json.loads(json.dumps(SCHEMA_VERSION)) == 2
