import numpy as np
import pytest
import torch

from nasrec_lab.baselines import BASELINES, build_baseline, dlrm_like_architecture
from nasrec_lab.data import Batch, FeatureSchema, SyntheticSpec, synthesize
from nasrec_lab.space import FULL, SMALL, validate
from nasrec_lab.supernet import build
from nasrec_lab.training import TrainConfig, Trainer

SCHEMA = FeatureSchema(tuple(f"I{i}" for i in range(13)), tuple(f"C{i}" for i in range(26)), (30,) * 26)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    spec = SyntheticSpec(table_sizes=tuple(int(x) for x in np.geomspace(4, 500, 26)))
    return synthesize(tmp_path_factory.mktemp("b") / "ds", rows=8000, seed=2, spec=spec)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_trains_with_the_shared_trainer(name, data):
    model = build_baseline(name, data.schema, seed=0)
    trainer = Trainer(model, data, TrainConfig(steps=60, batch_size=128, lr=0.05, progress=False))
    before = trainer.evaluate()
    trainer.run()
    after = trainer.evaluate()
    assert after.logloss < before.logloss
    assert after.auc > 0.6  # the synthetic click model has strong, learnable structure


def test_logistic_regression_is_linear_in_its_inputs():
    model = build_baseline("logistic-regression", SCHEMA, seed=0)
    with torch.no_grad():
        model.dense.weight.normal_()
        model.embedding.weight.normal_()
    b = Batch(torch.rand(5, 13), torch.randint(0, 30, (5, 26)), torch.zeros(5))
    manual = b.dense @ model.dense.weight[0] + model.dense.bias[0]
    manual = manual + model.embedding.weight[b.sparse + model.offsets, 0].sum(1)
    torch.testing.assert_close(model(b), manual)


def test_dlrm_interactions_are_the_pairwise_dot_products():
    model = build_baseline("dlrm", SCHEMA, seed=0)
    assert model.top[0].in_features == 16 + 27 * 26 // 2  # bottom output + strict lower triangle
    b = Batch(torch.rand(3, 13), torch.randint(0, 30, (3, 26)), torch.zeros(3))
    d = model.bottom(b.dense)
    t = torch.cat([d.unsqueeze(1), model.embed(b.sparse)], 1)
    pairs = torch.stack([t[:, i] @ t[:, j].T for i in range(27) for j in range(i)], -1).diagonal(dim1=0, dim2=1).T
    torch.testing.assert_close(model(b), model.top(torch.cat([d, pairs], 1)).squeeze(1))


def test_dlrm_is_expressible_in_both_presets():
    arch = dlrm_like_architecture()
    for space in (FULL, SMALL):
        validate(arch, space)
    assert [b.dense_width for b in arch.blocks] == [512, 256, 64, 16, 512, 256, 16]
    assert arch.blocks[4].dense_ops == ("dot-product",) and arch.blocks[4].dense_in == (4,)
    model = build(arch, SCHEMA, FULL)
    # the bottom output already has width e = 16: the Dot-Product does not project it
    assert "dense_weight" not in dict(model.blocks[4]["dot_product"].named_parameters())
