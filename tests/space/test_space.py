import itertools
import json
import math

import numpy as np
import pytest

from nasrec_lab.space import (
    FULL,
    SMALL,
    Architecture,
    Block,
    PathSampler,
    SearchSpace,
    WarmupSchedule,
    from_release_json,
    full_path,
    load_architecture,
    mutate,
    sample_architecture,
    to_release_json,
    validate,
)
from tests.conftest import REFERENCE_NAMES, reference_config


def test_presets_are_the_papers_spaces():
    assert FULL.dense_ops == ("fc", "dot-product", "sigmoid-gating", "sum")
    assert FULL.sparse_ops == ("attention", "efc")
    assert SMALL.dense_ops == ("fc", "dot-product") and SMALL.sparse_ops == ("efc",)
    for s in (FULL, SMALL):
        assert s.dense_widths == (16, 32, 64, 128, 256, 512, 768, 1024)
        assert s.sparse_widths == (16, 32, 48, 64)
        assert s.num_blocks == 7 and s.embedding_dim == 16
        assert set(s.interactions) == {"dense_sparse_interact", "deep_fm"}
        assert SearchSpace.from_json(json.loads(json.dumps(s.to_json()))) == s


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"dense_ops": ()}, "dense_ops is empty"),
        ({"sparse_ops": ("fc",)}, "'fc' is not a sparse operator"),
        ({"dense_ops": ("fc", "fc")}, "dense_ops has duplicates"),
        ({"dense_widths": (64, 32)}, "increasing order"),
        ({"sparse_widths": (0, 16)}, "positive integers"),
        ({"num_blocks": 0}, "num_blocks must be an integer >= 1"),
        ({"max_inputs": 0}, "max_inputs"),
        ({"interactions": ("bogus",)}, "unknown module 'bogus'"),
        ({"dense_ops": ("convolution",)}, "'convolution' is not a dense operator"),
        ({"embedding_dim": 12}, "embedding_dim 12 is not a multiple of Attention's 8 heads"),
    ],
)
def test_invalid_spaces_say_what_is_wrong(changes, message):
    with pytest.raises(ValueError, match=message):
        FULL.replace(**changes)


def _brute_force_size(space):
    """Enumerate every subnet of a tiny space and count distinct canonical hashes."""
    per_block = []
    for i in range(space.num_blocks):
        n = i + 1
        subsets = [s for k in range(1, min(n, space.max_inputs) + 1) for s in itertools.combinations(range(n), k)]
        blocks = set()
        for d_op, s_op, din, sin, l, r, dw, sw, f1, f2 in itertools.product(
            space.dense_ops, space.sparse_ops, subsets, subsets, range(n), range(n), space.dense_widths,
            space.sparse_widths, (False, True), (False, True)
        ):
            b = Block(din, sin, l, r, (d_op,), (s_op,), dw, sw,
                      f1 and "dense_sparse_interact" in space.interactions, f2 and "deep_fm" in space.interactions)
            blocks.add(json.dumps(Architecture((b,)).canonical().to_json()["blocks"][0], sort_keys=True))
        per_block.append(len(blocks))
    return math.prod(per_block)


@pytest.mark.parametrize(
    "space",
    [
        FULL.replace(name="t1", num_blocks=3, dense_widths=(16, 32), sparse_widths=(16,), max_inputs=2),
        SMALL.replace(name="t2", num_blocks=4, dense_widths=(16,), sparse_widths=(16, 32), max_inputs=3),
        FULL.replace(name="t3", num_blocks=3, dense_ops=("sum", "sigmoid-gating"), interactions=("deep_fm",),
                     dense_widths=(8,), sparse_widths=(4,)),
    ],
)
def test_size_equals_brute_force_enumeration(space):
    assert space.size() == _brute_force_size(space)


def test_preset_sizes_are_exact_integers():
    assert isinstance(FULL.size(), int) and FULL.size() > SMALL.size() > 10**30


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_release_files_load_into_the_right_space_and_round_trip(name):
    path = reference_config(name)
    raw = json.loads(path.read_text())
    arch, space, extra = from_release_json(raw)
    assert space is (FULL if name.endswith("full") else SMALL)
    validate(arch, space)
    assert extra["test_loss"] == raw["test_loss"]
    exported = to_release_json(arch, space)
    assert from_release_json(exported)[0] == arch
    assert Architecture.from_json(json.loads(json.dumps(arch.to_json()))) == arch
    # export keeps the file's choices (index lists as sets)
    for block_raw, block_out in zip(raw["macro"], exported["macro"]):
        assert sorted(block_raw["dense_idx"]) == block_out["dense_idx"]
        assert block_raw["dense_left_idx"] == block_out["dense_left_idx"]
    assert [m["active_nodes"] for m in raw["micro"]] == [m["active_nodes"] for m in exported["micro"]]
    assert load_architecture(path) == (arch, space)


def test_a_space_derived_from_a_preset_with_other_operators_has_no_release_counterpart():
    """Its release_config is the preset's, but the release numbers nodes by its own operator list:
    writing the derived space's indices under that config would swap operators silently."""
    arch, _ = load_architecture("criteo_full")
    swapped = FULL.replace(name="mine", sparse_ops=("efc", "attention"))
    assert swapped.release_config == FULL.release_config  # what made the export look possible
    with pytest.raises(ValueError, match="'mine' has no counterpart in the release"):
        to_release_json(arch, swapped)
    assert from_release_json(to_release_json(arch, FULL))[0] == arch
    fewer_blocks = FULL.replace(name="three", num_blocks=3)  # the release writes num_blocks: fine
    three = Architecture(arch.blocks[:3])
    assert from_release_json(to_release_json(three, fewer_blocks))[0] == three


@pytest.mark.parametrize("field, value", [("dense_width", 64.9), ("sparse_width", "16"), ("dense_in", [0.9]),
                                          ("left", True), ("deep_fm", "no"), ("dense_sparse_interact", 2)])
def test_block_fields_of_another_type_are_refused_not_truncated(field, value):
    arch, _ = load_architecture("criteo_small")
    d = arch.to_json()
    d["blocks"][0][field] = value
    with pytest.raises(ValueError, match=f"blocks\\[0\\]: block field '{field}' must"):
        Architecture.from_json(d)
    original = arch.to_json()["blocks"][0][field]
    # numpy's integers and booleans (a data frame's, a sampler's) are the values they hold
    d["blocks"][0][field] = [np.int64(v) for v in original] if isinstance(original, list) else \
        (np.bool_(original) if isinstance(original, bool) else np.int64(original))
    assert Architecture.from_json(d) == arch


def test_hash_ignores_index_order_and_unused_choices():
    a = sample_architecture(FULL, np.random.default_rng(0))
    b0 = a.blocks[3]
    shuffled = Block(tuple(reversed(b0.dense_in)), tuple(reversed(b0.sparse_in)), b0.left, b0.right, b0.dense_ops,
                     b0.sparse_ops, b0.dense_width, b0.sparse_width, b0.dense_sparse_interact, b0.deep_fm)
    assert Architecture(a.blocks[:3] + (shuffled,) + a.blocks[4:]).hash() == a.hash()
    fc = Block((0, 1), (1,), 0, 1, ("fc",), ("efc",), 64, 16)
    assert Architecture((fc,)).hash() == Architecture((Block((1, 0), (1,), 1, 0, ("fc",), ("efc",), 64, 16),)).hash()
    summ = Block((0,), (1,), 0, 1, ("sum",), ("efc",), 64, 16)
    swapped = Block((1,), (1,), 1, 0, ("sum",), ("efc",), 64, 16)
    assert Architecture((summ,)).hash() == Architecture((swapped,)).hash()  # Sum is symmetric, dense_in unused
    gate = Block((0,), (1,), 0, 1, ("sigmoid-gating",), ("efc",), 64, 16)
    gate_swapped = Block((0,), (1,), 1, 0, ("sigmoid-gating",), ("efc",), 64, 16)
    assert Architecture((gate,)).hash() != Architecture((gate_swapped,)).hash()  # gating is not
    assert Architecture((fc,)).hash() != Architecture((Block((0,), (1,), 0, 1, ("fc",), ("efc",), 64, 16),)).hash()


def test_validation_messages_name_block_and_field():
    a = sample_architecture(SMALL, np.random.default_rng(1))
    bad = list(a.blocks)
    bad[2] = Block((0, 5), (1,), 0, 0, ("attention",), ("efc",), 100, 16)
    with pytest.raises(ValueError) as info:
        validate(Architecture(tuple(bad)), SMALL)
    msg = str(info.value)
    assert "block 2: dense_in [5] out of range (block 2 reads 0..2)" in msg
    assert "block 2: dense_ops: 'attention' is not in the space" in msg
    assert "block 2: dense_width 100 not in" in msg
    with pytest.raises(ValueError, match="has 6 blocks"):
        validate(Architecture(a.blocks[:6]), SMALL)
    with pytest.raises(ValueError, match="blocks\\[0\\]: missing"):
        Architecture.from_json({"blocks": [{"dense_in": [0]}]})
    with pytest.raises(ValueError, match="active_nodes \\[9\\] out of range"):
        from_release_json({"micro": [{"active_nodes": [0, 9], "dense_in_dims": 16, "sparse_in_dims": 16}],
                           "macro": [{"dense_idx": [0], "sparse_idx": [0], "dense_left_idx": [0],
                                      "dense_right_idx": [0]}], "config": "autoctr"})


def test_sampling_strategies():
    rng = np.random.default_rng(0)
    counts = []
    for _ in range(300):
        a = sample_architecture(FULL, rng, "default")
        validate(a, FULL)
        assert a.is_subnet
        counts.append(len(a.blocks[6].dense_in))
    # 1 + Binomial(3, 0.5) inputs for block 6 (7 inputs available): mean 2.5, values 1..4
    assert set(counts) == {1, 2, 3, 4} and abs(np.mean(counts) - 2.5) < 0.2
    sp = sample_architecture(FULL, rng, "single-path")
    assert all(len(b.dense_in) == 1 and len(b.sparse_in) == 1 for b in sp.blocks)
    anyp = [sample_architecture(FULL, rng, "any-path") for _ in range(50)]
    assert any(len(b.dense_ops) > 1 for a in anyp for b in a.blocks)
    for a in anyp:
        validate(a, FULL, path=True)
    fp = sample_architecture(FULL, rng, "full-path")
    assert fp.blocks[6].dense_in == tuple(range(7)) and set(fp.blocks[0].dense_ops) == set(FULL.dense_ops)
    assert all(b.dense_width == 1024 and b.deep_fm and b.dense_sparse_interact for b in fp.blocks)
    assert full_path(SMALL).blocks[3].sparse_in == (0, 1, 2, 3)
    with pytest.raises(ValueError, match="unknown sampling strategy"):
        sample_architecture(FULL, rng, "greedy")


def test_mutation_is_one_valid_change():
    rng = np.random.default_rng(3)
    for space in (FULL, SMALL):
        a = sample_architecture(space, rng)
        for _ in range(300):
            child = mutate(a, space, rng)
            validate(child, space)
            assert child.hash() != a.hash()
            changed = [i for i, (x, y) in enumerate(zip(a.blocks, child.blocks)) if x != y]
            assert len(changed) == 1
            a = child


def test_path_sampler_is_seeded_resumable_and_warms_up():
    s1 = PathSampler(FULL, seed=5, warmup_steps=100)
    first = [s1.sample(step).hash() for step in range(50)]
    s2 = PathSampler(FULL, seed=5, warmup_steps=100)
    for step in range(20):
        s2.sample(step)
    state = json.loads(json.dumps(s2.state_dict()))  # the state is JSON-able
    s3 = PathSampler(FULL, seed=5, warmup_steps=100)
    s3.load_state_dict(state)
    assert [s3.sample(step).hash() for step in range(20, 50)] == first[20:]
    full_path_like(PathSampler(FULL, seed=1, warmup_steps=100))
    w = WarmupSchedule(10)
    assert [w(t) for t in (0, 5, 10, 50)] == [1.0, 0.5, 0.0, 0.0]
    late = PathSampler(FULL, seed=0, warmup_steps=10)
    assert all(late.sample(step).is_subnet for step in range(10, 60))
    with pytest.raises(ValueError, match="strategy"):
        PathSampler(SMALL, "single-path").load_state_dict(state)


def full_path_like(sampler):
    """At step 0 the warm-up probability is 1: everything is on."""
    a = sampler.sample(0)
    assert all(b.dense_width == 1024 and len(b.dense_ops) == 4 for b in a.blocks)
    assert a.blocks[6].dense_in == tuple(range(7))
    return a.hash()


def test_space_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, nasrec_lab.space; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_arch_show_json_reloads_as_the_same_architecture_and_space(tmp_path, capsys):
    from nasrec_lab.cli import main
    from nasrec_lab.space import save_architecture

    arch, _ = load_architecture("criteo_full")
    three = FULL.replace(name="three", num_blocks=3)  # a space no preset is
    save_architecture(tmp_path / "a.json", Architecture(arch.blocks[:3]), three)
    capsys.readouterr()
    assert main(["arch", "show", str(tmp_path / "a.json"), "--json"]) == 0
    (tmp_path / "shown.json").write_text(capsys.readouterr().out)
    assert load_architecture(tmp_path / "shown.json") == (Architecture(arch.blocks[:3]), three)
    assert main(["arch", "show", str(tmp_path / "shown.json"), "--space", "full"]) == 2  # the file's space differs
    assert "num_blocks 3 vs 7" in capsys.readouterr().err
