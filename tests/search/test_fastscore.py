"""The cached-trunk shortcut of head-only fine-tuning scores exactly what the plain path scores."""

import pytest
import torch

from nasrec_lab.data import synthesize
from nasrec_lab.search import CandidateScorer, ScoringConfig, _scoring
from nasrec_lab.search._fastscore import cached_finetune
from nasrec_lab.space import PathSampler
from nasrec_lab.supernet import SuperNet
from nasrec_lab.training import TrainConfig, finetune

from .conftest import TINY_SPEC

# chunked validation (trunk blocks smaller than a validation batch) is covered by the head test below
CFG = ScoringConfig(finetune_steps=8, finetune_batch=64, eval_batches=1, eval_batch_size=1024)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("fast") / "ds", rows=4_000, seed=2, spec=TINY_SPEC)


def _supernet(ds, space, layernorm):
    net = SuperNet(ds.schema, space, layernorm=layernorm, seed=3)
    with torch.no_grad():  # weights away from their init, so every operator matters
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("space,layernorm", [("full", True), ("full", False), ("small", True), ("small", False)])
def test_cached_scores_equal_the_plain_path(tiny, space, layernorm):
    net = _supernet(tiny, space, layernorm)
    sampler = PathSampler(space, seed=5)
    archs = [sampler.sample(s) for s in (1, 2)]
    plain = CandidateScorer(tiny, net, CFG, cached_trunk=False)
    fast = CandidateScorer(tiny, net, CFG)
    for arch in archs:
        a, b = plain.score(arch, seed=7), fast.score(arch, seed=7)
        assert b["val_logloss"] == pytest.approx(a["val_logloss"], abs=1e-6)
        assert b["val_auc"] == pytest.approx(a["val_auc"], abs=1e-6)
        assert (a["flops"], a["params"]) == (b["flops"], b["params"])


def test_cached_head_equals_the_plain_fine_tuned_head(tiny):
    net = _supernet(tiny, "full", True)
    arch = PathSampler("full", seed=1).sample(4)
    tc = TrainConfig(steps=8, batch_size=32, lr=0.04, eval_batches=2, eval_batch_size=100, seed=11,
                     progress=False, device="cpu")
    before = net.head.weight.detach().clone()
    sub, m_plain = finetune(net, arch, tiny, tc)
    head, m_fast = cached_finetune(net, arch, tiny, tc, chunk_rows=32)
    torch.testing.assert_close(head["weight"], sub.head.weight.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(head["bias"], sub.head.bias.detach(), rtol=1e-5, atol=1e-6)
    assert m_fast.logloss == pytest.approx(m_plain.logloss, abs=1e-6)
    assert m_fast.rows == m_plain.rows == 200
    # the supernet is left as it was: the shortcut trains a copy of the head
    torch.testing.assert_close(net.head.weight, before)


def test_batches_featurized_together_train_the_same_head(tiny):
    """On a GPU several fine-tuning batches go through the trunk at once (fewer kernel launches); the
    trunk is row-wise, so the head is the one trained batch by batch (run here on the CPU)."""
    net = _supernet(tiny, "full", True)
    arch = PathSampler("full", seed=1).sample(6)
    tc = TrainConfig(steps=10, batch_size=32, lr=0.04, eval_batches=1, eval_batch_size=100, seed=4,
                     progress=False, device="cpu")
    sub, m_plain = finetune(net, arch, tiny, tc)
    one, m_one = cached_finetune(net, arch, tiny, tc, feature_group=1)
    four, m_four = cached_finetune(net, arch, tiny, tc, feature_group=4)  # 10 steps: groups of 4, 4 and 2
    for head in (one, four):
        torch.testing.assert_close(head["weight"], sub.head.weight.detach(), rtol=1e-5, atol=1e-6)
    assert m_four.logloss == pytest.approx(m_one.logloss, abs=1e-6) == pytest.approx(m_plain.logloss, abs=1e-6)
    with pytest.raises(ValueError, match="feature_group must be at least 1"):
        cached_finetune(net, arch, tiny, tc, feature_group=-1)


def test_a_centring_supernet_scores_the_same_cached_and_plain(tiny):
    """Its trunk centres on the batch mean, so it is not row-wise: the shortcut must not split validation batches
    into row blocks nor featurize fine-tuning batches together (both asked for here), or its features differ."""
    net = SuperNet(tiny.schema, "full", seed=3, centre_dense=True)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    arch = PathSampler("full", seed=1).sample(4)
    tc = TrainConfig(steps=8, batch_size=32, lr=0.04, eval_batches=2, eval_batch_size=100, seed=11,
                     progress=False, device="cpu")
    sub, m_plain = finetune(net, arch, tiny, tc)
    head, m_fast = cached_finetune(net, arch, tiny, tc, chunk_rows=32, feature_group=4)
    torch.testing.assert_close(head["weight"], sub.head.weight.detach(), rtol=1e-5, atol=1e-6)
    assert m_fast.logloss == pytest.approx(m_plain.logloss, abs=1e-6)


def test_whole_path_fine_tuning_takes_the_plain_path(tiny, monkeypatch):
    net = _supernet(tiny, "small", True)
    arch = PathSampler("small", seed=0).sample(1)

    def refuse(*args, **kwargs):
        raise AssertionError("whole-path fine-tuning must not use the cached-trunk shortcut")

    monkeypatch.setattr(_scoring, "cached_finetune", refuse)
    cfg = ScoringConfig(finetune_steps=3, finetune_batch=128, eval_batches=1, eval_batch_size=512, whole_path=True)
    out = CandidateScorer(tiny, net, cfg).score(arch)
    assert out["val_logloss"] > 0
    with pytest.raises(AssertionError, match="shortcut"):
        CandidateScorer(tiny, net, CFG).score(arch)


def test_a_supernet_the_scorer_loads_is_moved_to_the_scoring_device(search_setup):
    """A checkpoint loads onto the CPU; for the shortcut to run on the scoring device (a GPU in a study's
    worker processes), the scorer must move the supernet there first, not decide from where it was loaded.
    The meta device stands in for a GPU here (tests/test_gpu.py checks CUDA where there is one)."""
    ds, ckpt = search_setup
    scorer = CandidateScorer(ds, ckpt, CFG, device="meta")
    assert next(scorer.supernet.parameters()).device.type == "meta" and scorer._uses_cache()
    # the plain paths materialize a subnet and move that: the loaded supernet stays where it was loaded
    for plain in (CandidateScorer(ds, ckpt, CFG, device="meta", cached_trunk=False),
                  CandidateScorer(ds, ckpt, ScoringConfig(**{**CFG.to_json(), "whole_path": True}), device="meta")):
        assert next(plain.supernet.parameters()).device.type == "cpu" and not plain._uses_cache()
