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
