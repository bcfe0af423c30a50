"""A supernet's form and start: ``always_project`` (paths as the release's supernet computes them, every optional
projection applied) and ``field_start`` (how its field projections start)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nasrec_lab.space import SMALL, Architecture, sample_architecture
from nasrec_lab.supernet import OPERATORS, SuperNet, load_subnet, materialize
from tests.supernet.test_supernet import SCHEMA, batch_for

E = SMALL.embedding_dim


def _fm_at_e(seed: int) -> Architecture:
    """A subnet whose last block has the FM module at w = e, where the standalone model skips the projection."""
    arch = sample_architecture(SMALL, np.random.default_rng(seed))
    last = replace(arch.blocks[-1], deep_fm=True, dense_width=E, dense_sparse_interact=False)
    return Architecture(arch.blocks[:-1] + (last,))


def _head_inputs(net: SuperNet, arch: Architecture, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The last block's dense and sparse outputs, as the head receives them."""
    seen = {}
    head = OPERATORS["head"].forward

    def spy(p, x, ctx):
        seen["x"] = x
        return head(p, x, ctx)

    OPERATORS["head"].forward = staticmethod(spy)
    try:
        with torch.no_grad():
            net(batch, arch)
    finally:
        OPERATORS["head"].forward = staticmethod(head)
    return seen["x"].dense, seen["x"].sparse


def test_the_fm_term_at_w_equal_e_is_projected_as_written_out(tmp_path):
    net = SuperNet(SCHEMA, SMALL, seed=3, always_project=True)
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for p in net.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    batch = batch_for(SCHEMA, n=16, seed=2)
    for seed in range(3):
        arch = _fm_at_e(seed)
        no_fm = Architecture(arch.blocks[:-1] + (replace(arch.blocks[-1], deep_fm=False),))
        # the FM module's contribution to the head's dense input, in each form (same weights)
        projected, sparse = _head_inputs(net, arch, batch)
        projected = projected - _head_inputs(net, no_fm, batch)[0]
        net.always_project = False  # the standalone model's form
        raw = _head_inputs(net, arch, batch)[0] - _head_inputs(net, no_fm, batch)[0]
        net.always_project = True
        # written out: the FM term (sum v)^2 - sum v^2 of the block's sparse output, raw in the standalone
        # form; Linear (no bias with LN) and LayerNorm with the FM weights sliced to e x e in the release's supernet
        fm = sparse.sum(1).square() - sparse.square().sum(1)
        holder = net.blocks[len(arch.blocks) - 1]["deep_fm"]
        proj = F.layer_norm(F.linear(fm, holder.weight[:E, :E]), (E,), holder.ln_weight[:E], holder.ln_bias[:E])
        assert torch.allclose(raw, fm, rtol=1e-4, atol=1e-3)
        assert torch.allclose(projected, proj, rtol=1e-4, atol=1e-3)
        assert (proj - fm).abs().max() > 1.0  # the raw term is large; the forms really differ
        # the standalone copy of the path computes the same (the scorer relies on it), also after a save
        sub = materialize(net, arch)
        assert sub.always_project
        with torch.no_grad():
            assert torch.allclose(sub(batch), net(batch, arch), atol=1e-5)
        sub.save(tmp_path / f"s{seed}.pt")
        loaded = load_subnet(tmp_path / f"s{seed}.pt")
        assert loaded.always_project
        with torch.no_grad():
            assert torch.allclose(loaded(batch), net(batch, arch), atol=1e-5)


def test_a_supernet_checkpoint_keeps_its_form(tmp_path, small_synth):
    from nasrec_lab.cli import main
    from nasrec_lab.training import supernet_from_checkpoint

    for flags, form in (([], True), (["--standalone-paths"], False)):
        out = tmp_path / str(form)
        assert main(["train-supernet", "--data", str(small_synth.path), "--space", "small", "--steps", "2",
                     "--batch-size", "64", "--out", str(out), "--no-progress", *flags]) == 0
        assert supernet_from_checkpoint(out / "checkpoint.pt").always_project is form


def test_a_supernet_starts_its_field_projections_as_asked_and_its_checkpoint_keeps_it(tmp_path, small_synth):
    from nasrec_lab.pipeline import supernet_trainer
    from nasrec_lab.supernet._ops import FIELD_IDENTITY_NOISE
    from nasrec_lab.training import supernet_from_checkpoint

    xavier = dict(SuperNet(SCHEMA, SMALL, seed=5).named_parameters())
    identity = dict(SuperNet(SCHEMA, SMALL, seed=5, field_start="identity").named_parameters())
    changed = [n for n in xavier if not torch.equal(xavier[n], identity[n])]
    # the same draws; a field projection becomes the identity plus the xavier draw scaled down (init_tensor's
    # law), every other weight is untouched; each block's Dot-Product and EFC have one
    assert changed and all(f"blocks.{i}." in " ".join(changed) for i in range(SMALL.num_blocks))
    for n in changed:
        w = identity[n] - FIELD_IDENTITY_NOISE * xavier[n]
        k = min(w.shape)
        rest = torch.ones_like(w, dtype=torch.bool)
        rest[:k, :k] = False
        assert torch.allclose(w[:k, :k], torch.eye(k), atol=1e-6) and torch.all(w[rest].abs() < 1e-6)
    # the supernet recipe's start unless told; the checkpoint keeps it, and a resume by another start is refused
    for start in (None, "identity"):
        out = tmp_path / str(start)
        trainer = supernet_trainer(small_synth, "small", 2, batch_size=64, checkpoint_dir=out, field_start=start)
        trainer.run().save_checkpoint()
        assert supernet_from_checkpoint(out / "checkpoint.pt").field_start == (start or "xavier")
    other = supernet_trainer(small_synth, "small", 2, batch_size=64, field_start="xavier")
    with pytest.raises(ValueError, match="field_start differs"):
        other.load_checkpoint(tmp_path / "identity" / "checkpoint.pt")
