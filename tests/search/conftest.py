import numpy as np
import pytest

from nasrec_lab.data import SyntheticSpec, synthesize
from nasrec_lab.space import PathSampler
from nasrec_lab.supernet import SuperNet
from nasrec_lab.training import TrainConfig, Trainer

TINY_SPEC = SyntheticSpec(table_sizes=tuple(int(x) for x in np.geomspace(4, 3000, 26)))


@pytest.fixture(scope="session")
def search_setup(tmp_path_factory):
    """A small synthetic data set and a briefly trained Small supernet checkpoint."""
    root = tmp_path_factory.mktemp("search")
    ds = synthesize(root / "ds", rows=12_000, seed=1, spec=TINY_SPEC)
    net = SuperNet(ds.schema, "small", sparse_grad=True)
    Trainer(net, ds, TrainConfig(steps=12, batch_size=128, progress=False), sampler=PathSampler("small", seed=0,
            warmup_steps=2), checkpoint_dir=root / "run").run().save_checkpoint()
    return ds, root / "run" / "checkpoint.pt"
