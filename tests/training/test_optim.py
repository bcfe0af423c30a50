import math

import numpy as np
import pytest
import torch
from torch import nn

from nasrec_lab.data import Batch, FeatureSchema
from nasrec_lab.space import FULL, sample_architecture
from nasrec_lab.supernet import SuperNet
from nasrec_lab.training._optim import SlicedAdagrad, clip_grad_norm, cosine_with_warmup


@pytest.mark.parametrize("initial", [0.0, 0.1])
def test_sliced_adagrad_equals_torch_adagrad_on_supernet_paths(initial):
    schema = FeatureSchema(dense=("a", "b", "c"), sparse=("x", "y", "z"), table_sizes=(20, 30, 40))
    space = FULL.replace(name="tiny", num_blocks=3, dense_widths=(8, 16), sparse_widths=(4, 8), embedding_dim=16)
    # float64: the two optimizers are the same arithmetic in another order; float32 rounding with one
    # thread (left by an earlier in-process CLI run) drifted past the tolerance
    nets = [SuperNet(schema, space, seed=0, sparse_grad=True).double() for _ in range(2)]
    ref_opt = torch.optim.Adagrad(nets[0].parameters(), lr=0.1, eps=1e-2, initial_accumulator_value=initial)
    # the initial accumulator is for dense weights; the embedding table's starts at 0
    ref_opt.state[nets[0].stem.embedding.weight]["sum"].zero_()
    ours = SlicedAdagrad(nets[1].parameters(), lr=0.1, eps=1e-2, initial_accumulator_value=initial,
                         embeddings=[nets[1].stem.embedding.weight])
    rng = np.random.default_rng(0)
    g = torch.Generator().manual_seed(0)
    for _ in range(8):
        arch = sample_architecture(space, rng)
        batch = Batch(torch.randn(16, 3, generator=g).double(), torch.randint(0, 20, (16, 3), generator=g),
                      (torch.rand(16, generator=g) < 0.3).double())
        for net in nets:
            net.zero_grad(set_to_none=True)
            nn.functional.binary_cross_entropy_with_logits(net(batch, arch), batch.label).backward()
        ref_opt.step()
        ours.step(regions=nets[1].touched_regions(arch))
    for (name, a), b in zip(nets[0].named_parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4, msg=f"{name} differs")


def test_clip_grad_norm_counts_sparse_gradients_like_dense_ones():
    emb_sparse = nn.Embedding(10, 4, sparse=True)
    emb_dense = nn.Embedding(10, 4)
    emb_dense.weight.data.copy_(emb_sparse.weight.data)
    idx = torch.tensor([1, 1, 3, 7])
    for e in (emb_sparse, emb_dense):
        (e(idx) * 10).sum().backward()
    expected = torch.nn.utils.clip_grad_norm_([emb_dense.weight], 2.0)
    got = clip_grad_norm([emb_sparse.weight], 2.0)
    assert math.isclose(got, float(expected), rel_tol=1e-5)
    torch.testing.assert_close(emb_sparse.weight.grad.to_dense(), emb_dense.weight.grad)


def test_cosine_schedule_with_linear_warmup():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = cosine_with_warmup(opt, total_steps=100, warmup_fraction=0.1)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.1 and lrs[9] == 1.0  # linear warm-up over 10 steps
    assert abs(lrs[55] - 0.5) < 0.02 and lrs[-1] < 0.01  # cosine to zero
