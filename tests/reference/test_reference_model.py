"""Supernet paths and materialized subnets against the independent reference model.

The reference (``nasrec_reference.py``) shares no planning, slicing or operator code with
``nasrec_lab.supernet``: a wrong slice, a wrong wiring or a wrong operator in the library
moves its logits away from the reference's. Computed in float64 so that 1e-5 is a margin
of many orders of magnitude above rounding.

The schema is chosen to reach the size-dependent branches: 16 dense features (= e, so a
Dot-Product reading only the stem skips its dense projection and Sum / Sigmoid Gating on
the stem at w = 16 skip theirs) and 6 sparse features (= the Dot-Product's 6 rows at w = 16).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
import torch

from nasrec_lab.data import Batch, FeatureSchema
from nasrec_lab.space import FULL, PUBLISHED, SMALL, Architecture, full_path, load_architecture, sample_architecture
from nasrec_lab.supernet import SuperNet, materialize

from .nasrec_reference import ReferenceModel

SCHEMA = FeatureSchema(dense=tuple(f"d{i}" for i in range(16)), sparse=tuple(f"s{i}" for i in range(6)),
                       table_sizes=(5, 7, 11, 13, 17, 19))
TOL = 1e-5
SUBNETS_PER_MODE = 25  # x 2 LayerNorm modes = 50 sampled subnets per space


@pytest.fixture(autouse=True)
def one_thread():
    # Batches of five rows: a second thread only adds synchronisation (x10 slower on a busy machine).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _batch(n: int = 5, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    sparse = torch.stack([torch.randint(0, t, (n,), generator=g) for t in SCHEMA.table_sizes], 1)
    dense = torch.log1p(3 * torch.rand(n, SCHEMA.n_dense, generator=g, dtype=torch.float64))
    return Batch(dense, sparse, torch.zeros(n))


def _supernet(space, layernorm: bool, seed: int) -> SuperNet:
    net = SuperNet(SCHEMA, space, layernorm=layernorm, seed=seed, sparse_grad=False)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # Biases and LayerNorm affine parameters start at 0 and 1: move them so that a wrong
        # slice of them changes the output.
        for name, p in net.named_parameters():
            if "bias" in name or "ln" in name:
                p.add_(0.2 * torch.randn(p.shape, generator=g))
    return net.double().eval()


def _check(net: SuperNet, arch: Architecture, batch: Batch) -> float:
    """Largest difference of supernet path and (for subnets) materialized subnet from the reference.

    Absolute for logits up to 1, relative beyond (a full path without LayerNorm reaches 1e60).
    """
    ref = ReferenceModel(net, arch)(batch.dense, batch.sparse)
    scale = ref.abs().clamp(min=1.0)
    with torch.no_grad():
        worst = ((net(batch, arch) - ref).abs() / scale).max().item()
        if arch.is_subnet:
            sub = materialize(net, arch).double().eval()
            worst = max(worst, ((sub(batch) - ref).abs() / scale).max().item())
    assert torch.isfinite(ref).all() and ref.std() > 1e-3  # a degenerate output would hide differences
    return worst


def _edge_cases(space) -> list[Architecture]:
    """Hand-made subnets for the size-dependent cases of the interaction modules and binary operators."""
    rng = np.random.default_rng(0)
    base = sample_architecture(space, rng)
    out = []
    dense_op = "sum" if "sum" in space.dense_ops else "dot-product"
    # block 2 at w = 8e with dense->sparse and FM, read on both sides by blocks 3 and the head
    blocks = list(base.blocks)
    blocks[2] = replace(blocks[2], dense_width=8 * space.embedding_dim, dense_sparse_interact=True, deep_fm=True)
    blocks[3] = replace(blocks[3], dense_in=(3,), sparse_in=(3,), left=3, right=0, dense_ops=(dense_op,))
    blocks[6] = replace(blocks[6], dense_in=(3, 6), sparse_in=(3, 6), dense_sparse_interact=True)
    out.append(Architecture(tuple(blocks)))
    # FM at w = e (no projection), and the last block's dense->sparse fields in the head
    blocks = list(base.blocks)
    blocks[5] = replace(blocks[5], dense_width=space.embedding_dim, deep_fm=True, dense_sparse_interact=False)
    blocks[6] = replace(blocks[6], dense_in=(6,), sparse_in=(6,), left=6, right=6, dense_sparse_interact=True)
    out.append(Architecture(tuple(blocks)))
    if "sigmoid-gating" in space.dense_ops:
        # Sum and Sigmoid Gating with left != right of different widths, and with c == w
        blocks = list(base.blocks)
        blocks[1] = replace(blocks[1], dense_width=64)
        blocks[3] = replace(blocks[3], dense_ops=("sigmoid-gating",), left=1, right=3, dense_width=32)
        blocks[4] = replace(blocks[4], dense_ops=("sum",), left=4, right=0, dense_width=16)
        blocks[5] = replace(blocks[5], dense_ops=("sigmoid-gating",), left=0, right=5, dense_width=16)
        blocks[6] = replace(blocks[6], dense_ops=("sum",), left=6, right=4, dense_in=(6,), sparse_in=(6, 2))
        out.append(Architecture(tuple(blocks)))
    return out


def _live_features(arch: Architecture) -> set[str]:
    """Operators and interaction modules whose output reaches the head (every block is live here)."""
    feats = set()
    for b in arch.blocks:
        feats.update(b.dense_ops + b.sparse_ops)
        feats.update(f for f in ("dense_sparse_interact", "deep_fm") if getattr(b, f))
    return feats


@pytest.mark.parametrize("layernorm", [True, False], ids=["ln", "no-ln"])
@pytest.mark.parametrize("space", [FULL, SMALL], ids=["full", "small"])
def test_supernet_and_subnets_equal_the_reference_model(space, layernorm):
    net = _supernet(space, layernorm, seed=11 if layernorm else 12)
    batch = _batch(seed=1)
    batch = Batch(batch.dense.double(), batch.sparse, batch.label)
    worst: dict[str, float] = {}

    published = [name for name, p in PUBLISHED.items() if p.space == space.name]
    assert len(published) == 3
    for name in published:
        arch, arch_space = load_architecture(name)
        assert arch_space == space
        worst[name] = _check(net, arch, batch)

    rng = np.random.default_rng(100 + 2 * (space is FULL) + layernorm)
    seen = Counter()
    for t in range(SUBNETS_PER_MODE):
        arch = sample_architecture(space, rng, "default")
        seen.update(_live_features(arch))
        worst[f"sampled {t}"] = _check(net, arch, batch)
    for t, arch in enumerate(_edge_cases(space)):
        worst[f"edge case {t}"] = _check(net, arch, batch)
    # supernet paths with several operators per block, and the full path
    for t in range(3):
        worst[f"any-path {t}"] = _check(net, sample_architecture(space, rng, "any-path"), batch)
    worst["full path"] = _check(net, full_path(space), batch)

    assert set(space.dense_ops + space.sparse_ops) <= set(seen)
    assert {"dense_sparse_interact", "deep_fm"} <= set(seen)
    bad = {k: v for k, v in worst.items() if not v <= TOL}
    assert not bad, f"differs from the reference by more than {TOL}: {bad}"
