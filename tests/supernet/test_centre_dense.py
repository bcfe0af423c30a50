"""``SuperNet(centre_dense=True)``: FC and Dot-Product read their dense input centred on the batch mean."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from nasrec_lab.space import SMALL, Architecture, sample_architecture
from nasrec_lab.supernet import SuperNet, load_subnet, materialize
from tests.supernet.test_supernet import SCHEMA, batch_for


def _only(op: str, seed: int) -> Architecture:
    """A subnet whose every dense operator is ``op``: the raw dense features reach the head only through it."""
    arch = sample_architecture(SMALL, np.random.default_rng(seed))
    return Architecture(tuple(replace(b, dense_ops=(op,)) for b in arch.blocks))


def _moved(net: SuperNet) -> SuperNet:
    with torch.no_grad():  # away from the init, LayerNorm affines included
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("op", ["fc", "dot-product"])
def test_a_centring_path_ignores_a_constant_added_to_the_dense_features(op):
    """Centred on the batch mean, an FC or Dot-Product projection cannot see a shift shared by every row; the
    same path without centring does (the test would pass vacuously otherwise)."""
    torch.manual_seed(0)
    arch = _only(op, 3)
    batch = batch_for(SCHEMA, 32, seed=1)
    shifted = batch._replace(dense=batch.dense + torch.linspace(-3.0, 5.0, SCHEMA.n_dense))
    for centre in (True, False):
        net = _moved(SuperNet(SCHEMA, SMALL, seed=4, centre_dense=centre)).eval()
        with torch.no_grad():
            a, b = net(batch, arch), net(shifted, arch)
        if centre:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        else:
            assert (a - b).abs().max() > 1e-2


def test_centring_changes_the_path_and_the_subnet_keeps_it(tmp_path):
    """Same weights, other function; a materialized path and its saved file compute the centred one."""
    torch.manual_seed(1)
    arch = sample_architecture(SMALL, np.random.default_rng(7))
    batch = batch_for(SCHEMA, 24, seed=2)
    plain = _moved(SuperNet(SCHEMA, SMALL, seed=5))
    centred = SuperNet(SCHEMA, SMALL, seed=5, centre_dense=True)
    centred.load_state_dict(plain.state_dict())  # the option changes no parameter
    with torch.no_grad():
        assert (centred(batch, arch) - plain(batch, arch)).abs().max() > 1e-2
        sub = materialize(centred, arch)
        assert sub.centre_dense
        torch.testing.assert_close(sub(batch), centred(batch, arch), rtol=1e-5, atol=1e-5)
        sub.save(tmp_path / "sub.pt")
        loaded = load_subnet(tmp_path / "sub.pt")
        assert loaded.centre_dense
        torch.testing.assert_close(loaded(batch), centred(batch, arch), rtol=1e-5, atol=1e-5)


def test_a_centring_path_refuses_a_one_row_batch():
    net = SuperNet(SCHEMA, SMALL, seed=0, centre_dense=True)
    with pytest.raises(ValueError, match="at least 2 rows"):
        net(batch_for(SCHEMA, 1), _only("fc", 0))


def test_a_supernet_checkpoint_keeps_its_centring_and_a_resume_by_the_other_is_refused(tmp_path, small_synth,
                                                                                        capsys):
    from nasrec_lab.cli import main
    from nasrec_lab.training import supernet_from_checkpoint

    for flags, centre in (([], False), (["--centre-dense"], True)):
        out = tmp_path / str(centre)
        assert main(["train-supernet", "--data", str(small_synth.path), "--space", "small", "--steps", "2",
                     "--batch-size", "64", "--out", str(out), "--no-progress", *flags]) == 0
        assert supernet_from_checkpoint(out / "checkpoint.pt").centre_dense is centre
    capsys.readouterr()
    assert main(["train-supernet", "--data", str(small_synth.path), "--space", "small", "--steps", "2",
                 "--batch-size", "64", "--out", str(tmp_path / "False"), "--no-progress", "--resume",
                 "--centre-dense"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint centre_dense differs" in err and "False vs True" in err and "--centre-dense" in err
