import numpy as np
import pytest
import torch

from nasrec_lab.data import BatchLoader


def test_batches_have_the_model_shapes(small_synth):
    loader = small_synth.loader("train", batch_size=512, seed=0)
    b = next(iter(loader))
    assert b.dense.dtype == torch.float32 and b.dense.shape == (512, 13)
    assert b.sparse.dtype == torch.int64 and b.sparse.shape == (512, 26)
    assert b.label.dtype == torch.float32 and b.label.shape == (512,)


def test_an_epoch_covers_every_row_once_and_is_seeded(small_synth):
    split = small_synth.split("train")
    n = len(split)
    loader = BatchLoader(split, 1000, seed=4)
    seen = torch.cat([b.label for b in loader])
    assert len(seen) == n
    # Each row's (dense, sparse) identifies it: compare multisets via sorted hashes.
    rows = np.concatenate([split.column("dense"), split.column("sparse").astype(np.float32)], axis=1)
    loader2 = BatchLoader(split, 1000, seed=4)
    got = np.concatenate([np.concatenate([b.dense.numpy(), b.sparse.numpy().astype(np.float32)], 1) for b in loader2])
    assert np.array_equal(np.sort(got.view(np.void(got.dtype.itemsize * got.shape[1])).ravel()),
                          np.sort(np.ascontiguousarray(rows).view(np.void(rows.dtype.itemsize * rows.shape[1])).ravel()))
    a = [b.label for b in BatchLoader(split, 1000, seed=4)]
    c = [b.label for b in BatchLoader(split, 1000, seed=5)]
    assert all(torch.equal(x, y) for x, y in zip(a, [b.label for b in BatchLoader(split, 1000, seed=4)]))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_epochs_reshuffle(small_synth):
    loader = small_synth.loader("train", batch_size=4096, seed=0)
    e0 = next(iter(loader)).dense
    loader.set_epoch(1)
    e1 = next(iter(loader)).dense
    assert not torch.equal(e0, e1)


def test_ranks_together_equal_one_process_with_the_global_batch(small_synth):
    split = small_synth.split("train")
    single = BatchLoader(split, 256, seed=9, drop_last=True)
    r0 = BatchLoader(split, 128, seed=9, rank=0, world_size=2)
    r1 = BatchLoader(split, 128, seed=9, rank=1, world_size=2)
    assert len(single) == len(r0) == len(r1)
    for s, a, b in zip(single, r0, r1):
        assert torch.equal(s.sparse, torch.cat([a.sparse, b.sparse]))


def test_resume_mid_epoch_from_state_dict(small_synth):
    split = small_synth.split("train")
    full = [b.label for b in BatchLoader(split, 700, seed=1)]
    loader = BatchLoader(split, 700, seed=1)
    it = iter(loader)
    for _ in range(5):
        next(it)
    state = loader.state_dict()
    resumed = BatchLoader(split, 700, seed=1)
    resumed.load_state_dict(state)
    rest = [b.label for b in resumed]
    assert len(rest) == len(full) - 5
    assert all(torch.equal(x, y) for x, y in zip(rest, full[5:]))
    with pytest.raises(ValueError, match="seed"):
        BatchLoader(split, 700, seed=2).load_state_dict(state)


def test_train_plus_val_and_step_batches(small_synth):
    both = small_synth.split("train+val")
    assert len(both) == len(small_synth.split("train")) + len(small_synth.split("val"))
    unshuffled = list(BatchLoader(both, 5000, shuffle=False))
    labels = torch.cat([b.label for b in unshuffled]).numpy()
    expected = np.concatenate([small_synth.split("train").column("label"), small_synth.split("val").column("label")])
    assert np.array_equal(labels, expected)
    batches = list(small_synth.loader("val", batch_size=512, seed=0).batches(10))
    assert len(batches) == 10  # runs over epochs when the split is short
    with pytest.raises(ValueError, match="rank must be"):
        BatchLoader(both, 10, rank=2, world_size=2)
