import numpy as np
import pytest

from nasrec_lab.search import (
    RankStudy,
    RankTracker,
    ScoringConfig,
    SearchStore,
    median_interval,
    rank_correlation,
    rank_correlation_interval,
)
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



def test_the_bootstraps_row_wise_tau_and_rho_are_scipys_with_and_without_ties():
    from scipy.stats import kendalltau, spearmanr

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 9))
    y = x + rng.normal(size=(300, 9))
    x[100:] = np.round(x[100:])  # ties in one, then in both (as resampling with replacement makes them)
    y[200:] = np.round(y[200:] * 2)
    x[250:, :3] = x[250:, :1]
    taus, rhos = rank_module._kendall_tau_b_rows(x, y, cells=81 * 7), rank_module._spearman_rows(x, y)
    ok = [i for i in range(300) if np.ptp(x[i]) > 0 and np.ptp(y[i]) > 0]
    assert len(ok) > 290
    assert np.allclose(taus[ok], [kendalltau(x[i], y[i]).statistic for i in ok], atol=1e-12, rtol=0)
    assert np.allclose(rhos[ok], [spearmanr(x[i], y[i]).statistic for i in ok], atol=1e-12, rtol=0)


def test_tau_interval_covers_the_bivariate_normal_law_and_is_as_wide_as_the_sampling_spread():
    # For a bivariate normal with correlation r, Kendall's tau is exactly (2/pi) arcsin(r) and
    # Spearman's rho (6/pi) arcsin(r/2). 30 independent samples of 40 "architectures": the 95%
    # intervals must cover the law in most of them and be about as wide as tau-hat really varies.
    r, n = 0.6, 40
    tau_law, rho_law = 2 / np.pi * np.arcsin(r), 6 / np.pi * np.arcsin(r / 2)
    rng = np.random.default_rng(0)
    covered_tau = covered_rho = 0
    widths = []
    for i in range(30):
        x = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], n)
        ci = rank_correlation_interval(x[:, 0], x[:, 1], resamples=300, seed=i)
        covered_tau += ci["kendall_tau"][0] <= tau_law <= ci["kendall_tau"][1]
        covered_rho += ci["spearman_rho"][0] <= rho_law <= ci["spearman_rho"][1]
        widths.append(ci["kendall_tau"][1] - ci["kendall_tau"][0])
    assert covered_tau >= 25 and covered_rho >= 25
    # tau-hat's real sampling spread at this n, from 1000 more independent samples
    estimates = [rank_correlation(*rng.multivariate_normal([0, 0], [[1, r], [r, 1]], n).T).kendall_tau
                 for _ in range(1000)]
    assert 0.7 < np.mean(widths) / (2 * 1.96 * np.std(estimates)) < 1.4
    assert rank_correlation_interval(np.arange(8.0), np.arange(8.0))["kendall_tau"] == (1.0, 1.0)
    # constant scores (a supernet that scores every reference alike): no correlation, and no endless resampling
    assert np.isnan(rank_correlation_interval([0.4] * 5, np.arange(5.0))["kendall_tau"]).all()
    with pytest.raises(ValueError, match="at least 3"):
        rank_correlation_interval([1, 2], [1, 2])


def test_median_interval_matches_the_normal_medians_sampling_law():
    # The median of n standard normals has standard error sqrt(pi/2)/sqrt(n) (asymptotically): the
    # 95% interval is about 2 * 1.96 of that wide and covers 0 in about 95% of samples.
    n = 41
    rng = np.random.default_rng(1)
    results = [median_interval(rng.normal(size=n), resamples=1000, seed=i) for i in range(200)]
    assert sum(lo <= 0 <= hi for _, lo, hi in results) >= 180
    width = np.mean([hi - lo for _, lo, hi in results])
    assert width == pytest.approx(2 * 1.96 * np.sqrt(np.pi / 2 / n), rel=0.25)
    assert median_interval([0.3, 0.1, 0.2])[0] == 0.2


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


def test_ground_truth_is_found_by_the_data_not_by_the_path_it_was_opened_by(search_setup, tmp_path, monkeypatch):
    import hashlib
    import json
    import os

    from nasrec_lab.data import CTRDataset

    ds, _ = search_setup
    gt = ScoringConfig(mode="scratch", scratch_steps=5, scratch_batch=128, eval_batches=1, eval_batch_size=1024)
    store = SearchStore(tmp_path / "gt.sqlite")
    truth = RankStudy(CTRDataset(os.path.abspath(ds.path)), "small", references=3, seed=1, store=store,
                      ground_truth_config=gt).ground_truth()
    monkeypatch.setattr(rank_module.CandidateScorer, "score", lambda *a, **k: pytest.fail("retrained"))
    monkeypatch.chdir(os.path.dirname(os.path.abspath(ds.path)))
    relative = CTRDataset(os.path.basename(ds.path))  # the same copy, opened by a relative path
    assert RankStudy(relative, "small", references=3, seed=1, store=store, ground_truth_config=gt).ground_truth() == truth

    # A store written when the key held the path as opened: found under the old key, copied to the new one.
    old = SearchStore(tmp_path / "old.sqlite")
    study = RankStudy(relative, "small", references=3, seed=1, store=old, ground_truth_config=gt)
    blob = json.dumps({"data": str(relative.path), "created": relative.manifest["created"], "config": gt.to_json(),
                       "seed": 1}, sort_keys=True)
    legacy = hashlib.sha256(blob.encode()).hexdigest()[:16]
    for a in study.archs:
        old.put_ground_truth(a.hash(), legacy, {"val_logloss": truth[a.hash()], "val_auc": 0.5})
    assert study.ground_truth() == truth
    assert all(old.ground_truth(a.hash(), study.setting_key())["val_logloss"] == truth[a.hash()] for a in study.archs)
    store.close()
    old.close()


def test_whole_path_scores_are_those_of_fine_tuning_every_weight_of_the_path(search_setup):
    import torch

    from nasrec_lab.search._scoring import candidate_seed, torch_threads
    from nasrec_lab.training import FINETUNE, finetune

    ds, ckpt = search_setup
    net = supernet_from_checkpoint(ckpt)
    study = RankStudy(ds, "small", references=3, seed=2)
    kw = dict(finetune=True, finetune_steps=4, batch_size=128, eval_batches=1, eval_batch_size=1024)
    whole, head = study.supernet_scores(net, whole_path=True, **kw), study.supernet_scores(net, **kw)
    for a in study.archs:
        seed = candidate_seed(2, a)
        torch.manual_seed(seed)
        config = TrainConfig(steps=4, batch_size=128, lr=FINETUNE.lr, eval_batches=1, eval_batch_size=1024,
                             progress=False, seed=seed)
        with torch_threads(1):  # as the scorer runs
            sub, m = finetune(net, a, ds, config, whole_path=True)
        assert whole[a.hash()] == pytest.approx(m.logloss, rel=1e-6)
        assert whole[a.hash()] != head[a.hash()]


def test_tracker_scores_at_given_steps_without_a_truth_and_leaves_training_alone(search_setup, monkeypatch):
    import torch

    ds, ckpt = search_setup
    study = RankStudy(ds, "small", references=3, seed=1)
    monkeypatch.setattr(RankStudy, "ground_truth", lambda self, progress=None: pytest.fail("truth was trained"))

    def train(callbacks=()):
        net = supernet_from_checkpoint(ckpt)
        trainer = Trainer(net, ds, TrainConfig(steps=20, batch_size=128, progress=False, log_every=5),
                          sampler=PathSampler("small", seed=0), callbacks=list(callbacks))
        return trainer, net

    plain, plain_net = train()
    plain.run()
    trainer, net = train()
    tracker = RankTracker(study, net, at=[5, 15], correlate=False, eval_batches=1, eval_batch_size=1024)
    trainer.callbacks.append(tracker)
    trainer.run()
    assert sorted(tracker.scores) == [5, 15] and tracker.points == [] and tracker.seconds > 0
    assert set(tracker.scores[5]) == {a.hash() for a in study.archs} and tracker.scores[5] != tracker.scores[15]
    assert tracker.last_scores == tracker.scores[15]  # what the live scatter plot shows: the latest step
    for a, b in zip(plain_net.state_dict().values(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # scoring on the way changed nothing the training did
    # a scorer that draws from the global RNG does not shift what training draws next
    monkeypatch.setattr(RankStudy, "supernet_scores", lambda self, net, **kw: {"x": float(torch.rand(1))})
    state = torch.get_rng_state()
    RankTracker(study, net, every=5, correlate=False).on_step(type("E", (), {"step": 5, "total_steps": 20})())
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="either every"):
        RankTracker(study, net)
    with pytest.raises(ValueError, match="either every"):
        RankTracker(study, net, every=5, at=[5])
