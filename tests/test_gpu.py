"""GPU checks; skipped without CUDA. ``bash benchmarks/gpu.sh`` runs them on a GPU machine."""

import numpy as np
import pytest
import torch

from nasrec_lab.data import Batch, FeatureSchema, synthesize
from nasrec_lab.space import FULL, PathSampler, sample_architecture
from nasrec_lab.supernet import SuperNet, materialize
from nasrec_lab.training import TrainConfig, Trainer

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
SCHEMA = FeatureSchema(tuple(f"I{i}" for i in range(13)), tuple(f"C{i}" for i in range(26)), (1000,) * 26)


def test_supernet_path_equals_materialized_subnet_on_cuda():
    net = SuperNet(SCHEMA, FULL).cuda()
    g = torch.Generator().manual_seed(0)
    batch = Batch(torch.rand(64, 13, generator=g), torch.randint(0, 1000, (64, 26), generator=g), torch.zeros(64)).to("cuda")
    rng = np.random.default_rng(0)
    worst = 0.0
    with torch.no_grad():
        for _ in range(50):
            arch = sample_architecture(FULL, rng)
            worst = max(worst, (net(batch, arch) - materialize(net, arch)(batch)).abs().max().item())
    assert worst <= 1e-4  # TF32/cuBLAS may differ slightly in kernel choice


@pytest.mark.parametrize("bf16", [False, True])
def test_supernet_training_on_cuda(tmp_path, bf16):
    ds = synthesize(tmp_path / "ds", rows=20_000, seed=0)
    net = SuperNet(ds.schema, "small", sparse_grad=True)
    trainer = Trainer(net, ds, TrainConfig(steps=30, batch_size=512, device="cuda", bf16=bf16, progress=False),
                      sampler=PathSampler("small", seed=0, warmup_steps=5))
    trainer.run()
    assert next(net.parameters()).is_cuda and np.isfinite(trainer.last_loss)


def test_search_scores_on_cuda_match_cpu(tmp_path):
    """``ScorerSpec(device="cuda")`` scores in worker processes on the GPU; the scores are the CPU's
    up to float reordering (same candidates, same seeds)."""
    from nasrec_lab.pipeline import supernet_trainer
    from nasrec_lab.search import RandomSearch, ScorerSpec, ScoringConfig, SearchRunner, SearchStore

    ds = synthesize(tmp_path / "ds", rows=20_000, seed=0)
    supernet_trainer(ds, "small", 40, seed=0, checkpoint_dir=tmp_path / "run").run().save_checkpoint()
    scoring = ScoringConfig(finetune_steps=20, eval_batches=1)
    losses = {}
    for device, backend in (("cpu", "inprocess"), ("cuda", "process")):
        spec = ScorerSpec(str(ds.path), str(tmp_path / "run" / "checkpoint.pt"), scoring, device=device)
        with SearchStore(tmp_path / f"{device}.sqlite") as store:
            runner = SearchRunner(store=store, name="r", searcher=RandomSearch("small", seed=0, budget=4), spec=spec,
                                  budget=4, backend=backend, workers=2)
            runner.run()
            losses[device] = {c.arch_hash: c.val_logloss for c in store.candidates(runner.search_id).values()}
    assert losses["cpu"].keys() == losses["cuda"].keys()
    assert max(abs(losses["cpu"][h] - losses["cuda"][h]) for h in losses["cpu"]) < 2e-3
    # ... and by the cached-trunk shortcut on the GPU: a scorer given the checkpoint moves the supernet there
    from nasrec_lab.search import CandidateScorer

    scorer = CandidateScorer(ds, tmp_path / "run" / "checkpoint.pt", scoring, device="cuda")
    assert next(scorer.supernet.parameters()).is_cuda and scorer._uses_cache()
