"""An architecture's hash leaves out what never reaches the head, and only that.

Truth is the supernet's output: two architectures with the same hash must give the same logits
(for every weight), so a search never spends a candidate on a function it has seen; and the
hash must still tell apart architectures that compute different functions.
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
import torch

from nasrec_lab.space import FULL, SMALL, Architecture, Block, sample_architecture
from nasrec_lab.supernet import SuperNet
from tests.supernet.test_supernet import SCHEMA, batch_for

BLOCK_FIELDS = [f.name for f in fields(Block)]


@pytest.fixture(scope="module")
def nets():
    out = {}
    for seed, space in enumerate((SMALL, FULL)):
        net = SuperNet(SCHEMA, space, seed=seed)
        with torch.no_grad():  # no zero biases or unit LayerNorms that could hide a difference
            g = torch.Generator().manual_seed(seed)
            for p in net.parameters():
                p.add_(0.3 * torch.randn(p.shape, generator=g))
        out[space.name] = net
    return out


def _logits(net: SuperNet, arch: Architecture, batch) -> torch.Tensor:
    with torch.no_grad():
        return net(batch, arch)


def _variants(arch: Architecture, donor: Architecture):
    """``arch`` with one block, or one field of one block, taken from ``donor`` (same index, so valid)."""
    for i, (mine, theirs) in enumerate(zip(arch.blocks, donor.blocks)):
        blocks = list(arch.blocks)
        blocks[i] = theirs
        yield i, None, Architecture(tuple(blocks))
        for name in BLOCK_FIELDS:
            if getattr(mine, name) != getattr(theirs, name):
                blocks = list(arch.blocks)
                blocks[i] = replace(mine, **{name: getattr(theirs, name)})
                yield i, name, Architecture(tuple(blocks))


@pytest.mark.parametrize("space", [SMALL, FULL], ids=lambda s: s.name)
def test_equal_hash_means_equal_function_and_dead_parts_do_not_count(nets, space):
    net, batch = nets[space.name], batch_for(SCHEMA, n=8, seed=1)
    rng = np.random.default_rng(7)
    same_hash = differ = dead_blocks = 0
    for _ in range(6):
        arch = sample_architecture(space, rng)
        donor = sample_architecture(space, rng)
        base = _logits(net, arch, batch)
        live = arch.liveness()
        for i, name, other in _variants(arch, donor):
            equal_hash = other.hash() == arch.hash()
            equal_out = torch.allclose(_logits(net, other, batch), base, rtol=1e-5, atol=1e-6)
            where = f"block {i}, {'whole block' if name is None else name}"
            if equal_hash:
                assert equal_out, f"same hash, different logits ({where}): {arch.to_json()} vs {other.to_json()}"
                same_hash += 1
            if not equal_out:
                differ += 1
            if name is None and not (live[i].dense or live[i].sparse):
                dead_blocks += 1
                assert equal_hash, f"block {i} is dead but swapping it changed the hash"
    # not vacuous: dead blocks occur, equal hashes occur, and most changes do change the function
    assert dead_blocks >= 3 and same_hash >= 10 and differ >= 50, (dead_blocks, same_hash, differ)


def test_a_head_that_reads_only_the_stem_makes_every_earlier_block_dead():
    rng = np.random.default_rng(0)
    arch = sample_architecture(SMALL, rng)
    last = replace(arch.blocks[-1], dense_in=(0,), sparse_in=(0,), left=0, right=0,
                   dense_ops=("fc",), sparse_ops=("efc",), deep_fm=False, dense_sparse_interact=False)
    arch = Architecture(arch.blocks[:-1] + (last,))
    assert [(x.dense, x.sparse) for x in arch.liveness()[:-1]] == [(False, False)] * (len(arch.blocks) - 1)
    assert arch.liveness()[-1] == (True, True, True)
    other = Architecture(sample_architecture(SMALL, rng).blocks[:-1] + (last,))
    assert other.hash() == arch.hash()
    wider = Architecture(arch.blocks[:-1] + (replace(last, dense_width=last.dense_width * 2),))
    assert wider.hash() != arch.hash()
