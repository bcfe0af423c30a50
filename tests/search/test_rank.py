import numpy as np
import pytest

from nasrec_lab.search import RankStudy, RankTracker, ScoringConfig, SearchStore, rank_correlation
from nasrec_lab.search import _rank as rank_module
from nasrec_lab.space import PathSampler
from nasrec_lab.training import TrainConfig, Trainer, supernet_from_checkpoint


def test_rank_correlation_on_known_orders():
    x = np.arange(10.0)
    same = rank_correlation(x, x * 3 + 1)
    assert same.kendall_tau == pytest.approx(1) and same.spearman_rho == pytest.approx(1) and same.top_k_overlap == 1
    rev = rank_correlation(x, -x)
    assert rev.kendall_tau == pytest.approx(-1) and rev.top_k_overlap == 0
    one_swap = rank_correlation(x, [1, 0, 2, 3, 4, 5, 6, 7, 8, 9])
    assert one_swap.kendall_tau == pytest.approx((44 - 1) / 45)  # one discordant pair of 45
    with pytest.raises(ValueError, match="at least 3"):
        rank_correlation([1, 2], [1, 2])


def test_study_caches_ground_truth_and_tracks_tau_over_training(search_setup, tmp_path, monkeypatch):
    ds, ckpt = search_setup
    gt = ScoringConfig(mode="scratch", scratch_steps=15, scratch_batch=128, eval_batches=1, eval_batch_size=1024)
    store = SearchStore(tmp_path / "gt.sqlite")
    study = RankStudy(ds, "small", references=5, seed=1, store=store, ground_truth_config=gt)
    truth = study.ground_truth()
    assert len(truth) == 5 and len({a.hash() for a in study.archs}) == 5

    calls = []
    original = rank_module.CandidateScorer.score
    monkeypatch.setattr(rank_module.CandidateScorer, "score",
                        lambda self, a, seed=0: calls.append(a) or original(self, a, seed=seed))
    again = RankStudy(ds, "small", references=5, seed=1, store=store, ground_truth_config=gt)
    assert again.ground_truth() == truth and calls == []  # read from the store, not retrained
    other = RankStudy(ds, "small", references=5, seed=1, store=store,
                      ground_truth_config=ScoringConfig(mode="scratch", scratch_steps=16, scratch_batch=128,
                                                        eval_batches=1, eval_batch_size=1024))
    assert other.setting_key() != study.setting_key()

    net = supernet_from_checkpoint(ckpt)
    tracker = RankTracker(study, net, every=5, eval_batches=1, eval_batch_size=1024)
    Trainer(net, ds, TrainConfig(steps=10, batch_size=128, progress=False, log_every=5),
            sampler=PathSampler("small", seed=0), callbacks=[tracker]).run()
    assert [p.step for p in tracker.points] == [5, 10]
    assert all(-1 <= p.kendall_tau <= 1 for p in tracker.points)
    with_ft = study.correlation(study.supernet_scores(net, finetune=True, finetune_steps=3, batch_size=128,
                                                      eval_batches=1, eval_batch_size=1024))
    assert with_ft.n == 5
    store.close()
