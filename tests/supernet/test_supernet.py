import json

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from nasrec_lab.data import PRESET_SCHEMAS, Batch, FeatureSchema
from nasrec_lab.space import FULL, SMALL, Architecture, load_architecture, sample_architecture
from nasrec_lab.supernet import (
    OPERATORS,
    Geometry,
    OpInputs,
    SuperNet,
    build,
    cost,
    load_subnet,
    make_plan,
    materialize,
    measure_latency,
)
from tests.conftest import reference_config

SCHEMA = FeatureSchema(dense=tuple(f"I{i}" for i in range(13)), sparse=tuple(f"C{i}" for i in range(26)),
                       table_sizes=tuple(50 + 7 * i for i in range(26)))
PAPER_MFLOPS = {"criteo_small": 2.20, "criteo_full": 1.45, "avazu_small": 3.08, "avazu_full": 1.87,
                "kdd_small": 3.48, "kdd_full": 1.09}


def batch_for(schema, n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    sparse = torch.stack([torch.randint(0, t, (n,), generator=g) for t in schema.table_sizes], 1)
    return Batch(torch.randn(n, schema.n_dense, generator=g).abs(), sparse, torch.zeros(n))


@pytest.fixture(scope="module")
def supernets():
    torch.manual_seed(0)
    nets = {"full": SuperNet(SCHEMA, FULL, seed=1), "small": SuperNet(SCHEMA, SMALL, seed=2)}
    # Move the LayerNorm affine parameters away from (1, 0) so that slicing them is tested.
    with torch.no_grad():
        for net in nets.values():
            for name, p in net.named_parameters():
                if "ln" in name:
                    p.add_(0.1 * torch.randn_like(p))
    return nets


def release(name):
    return load_architecture(reference_config(name))


@pytest.mark.parametrize("space_name", ["full", "small"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_supernet_path_equals_materialized_subnet(supernets, space_name, mode):
    net = supernets[space_name]
    net.train(mode == "train")
    rng = np.random.default_rng({"full": 10, "small": 11}[space_name] + (mode == "eval"))
    batch = batch_for(SCHEMA, 8, seed=3)
    worst = 0.0
    for _ in range(50):  # 4 x 50 = 200 architectures over both spaces and both modes
        arch = sample_architecture(net.space, rng, "default")
        with torch.no_grad():
            sub = materialize(net, arch).train(mode == "train")
            worst = max(worst, (net(batch, arch) - sub(batch)).abs().max().item())
    assert worst <= 1e-5


def test_gradients_flow_to_exactly_the_sliced_weights(supernets):
    net = supernets["full"]
    arch = sample_architecture(FULL, np.random.default_rng(7))
    batch = batch_for(SCHEMA, 8, seed=1)
    net.zero_grad()
    net(batch, arch).sum().backward()
    sub = materialize(net, arch)
    sub(batch).sum().backward()
    path = net.path_parameters(arch)
    sub_params = dict(sub.named_parameters())
    for key, p in sub_params.items():
        if key == "stem.embedding.weight":
            continue
        # the supernet gradient, sliced like the parameter, equals the subnet's gradient
        grad_slice = _slice_grad(net, arch, key)
        torch.testing.assert_close(grad_slice, p.grad, atol=1e-5, rtol=1e-4)
    assert set(path) == set(sub_params)
    # parameters the path does not read get no gradient
    touched = sum(int(p.grad is not None and p.grad.abs().sum() > 0) for p in net.parameters())
    assert touched < len(list(net.parameters()))


def _slice_grad(net, arch, key):
    from nasrec_lab.supernet._ops import slice_param

    plan = net.plan(arch)
    _, *rest = key.split(".")
    if key.startswith("head."):
        spec = OPERATORS["head"].params(plan.head)[rest[0]]
        return slice_param(net.head.get_parameter(rest[0]).grad, spec)
    i, op_key, name = int(rest[0]), rest[1], rest[2]
    op = op_key.replace("_", "-") if op_key.replace("_", "-") in OPERATORS else op_key
    spec = OPERATORS[op].params(plan.blocks[i].ctx)[name]
    return slice_param(net.blocks[i][op_key].get_parameter(name).grad, spec)


@pytest.mark.parametrize("name", sorted(PAPER_MFLOPS))
def test_published_architectures_build_run_materialize_and_cost_like_the_paper(name):
    arch, space = release(name)
    schema = PRESET_SCHEMAS[name.split("_")[0]]
    small_schema = FeatureSchema(schema.dense, schema.sparse, tuple(min(t, 100) for t in schema.table_sizes))
    model = build(arch, small_schema, space)  # LayerNorm off, as the release's final models
    batch = batch_for(small_schema, 4)
    assert model(batch).shape == (4,)
    assert not any("ln_weight" in n and "ln1" not in n and "ln2" not in n for n, _ in model.named_parameters())
    net = SuperNet(small_schema, space)
    assert materialize(net, arch)(batch).shape == (4,)
    c = cost(arch, schema, space)
    assert abs(c.mflops / PAPER_MFLOPS[name] - 1) < 0.05, (c.mflops, PAPER_MFLOPS[name])


@pytest.mark.parametrize("space", [FULL, SMALL], ids=["full", "small"])
@pytest.mark.parametrize("layernorm", [False, True])
def test_cost_matches_flop_counter_and_parameter_count(space, layernorm):
    rng = np.random.default_rng(4)
    batch = batch_for(SCHEMA, 4)
    for _ in range(6):
        arch = sample_architecture(space, rng)
        model = build(arch, SCHEMA, space, layernorm=layernorm)
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model(batch)
        c = cost(arch, SCHEMA, space, layernorm=layernorm)
        assert counter.get_total_flops() == 2 * len(batch.label) * c.flops  # FlopCounterMode: 2 per MAC
        n_dense = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("stem."))
        assert c.params_dense == n_dense
        assert c.params == n_dense + model.stem.embedding.weight.numel()


@pytest.mark.parametrize("op", sorted(OPERATORS))
def test_every_registered_operator(op):
    """Each operator: parameters slice from the full allocation, forward has the declared shape."""
    geo = Geometry.of(SCHEMA, FULL)
    arch = Architecture.from_json(json.loads(json.dumps(sample_architecture(FULL, np.random.default_rng(0)).to_json())))
    plan = make_plan(arch, geo, True)
    ctx = plan.head if op == "head" else plan.blocks[3].ctx
    specs = OPERATORS[op].params(ctx)
    full = OPERATORS[op].params(geo.head_ctx_full(True) if op == "head" else geo.full_ctx(3, True))
    assert set(specs) <= set(full)
    from nasrec_lab.supernet._ops import init_tensor

    params = {k: init_tensor(v) for k, v in specs.items()}
    b, kind = 5, OPERATORS[op].kind
    if op == "head":
        x = OpInputs(dense=torch.randn(b, ctx.w), sparse=torch.randn(b, (ctx.head_in.size - ctx.w) // ctx.e, ctx.e))
        expected = (b,)
    elif op == "deep_fm":
        x, expected = OpInputs(sparse=torch.randn(b, ctx.m, ctx.e)), (b, ctx.w)
    elif op == "dense_sparse_interact":
        x, expected = OpInputs(dense=torch.randn(b, ctx.w)), (b, ctx.k, ctx.e)
    else:
        x = OpInputs(dense=torch.randn(b, ctx.dense_in.size), sparse=torch.randn(b, ctx.sparse_in.size, ctx.e),
                     left=torch.randn(b, ctx.c), right=torch.randn(b, max(1, ctx.c // 2)))
        expected = (b, ctx.m, ctx.e) if kind == "sparse" else (b, ctx.w)
    assert OPERATORS[op].forward(params, x, ctx).shape == expected
    assert OPERATORS[op].macs(ctx) >= 0


def test_subnet_saves_and_loads_on_its_own(tmp_path, supernets):
    arch = sample_architecture(FULL, np.random.default_rng(2))
    sub = materialize(supernets["full"], arch)
    path = tmp_path / "subnet.pt"
    sub.save(path)
    loaded = load_subnet(path)
    batch = batch_for(SCHEMA)
    torch.testing.assert_close(loaded(batch), sub(batch), atol=0, rtol=0)
    assert loaded.arch == arch
    # nothing of the supernet: far fewer parameters than the supernet's
    assert sum(p.numel() for p in sub.parameters()) < 0.2 * sum(p.numel() for p in supernets["full"].parameters())
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable nasrec-lab subnet file"):
        load_subnet(tmp_path / "bad.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a nasrec-lab subnet file"):
        load_subnet(tmp_path / "other.pt")


def test_materialized_subnet_compiles_without_graph_breaks(supernets):
    arch = sample_architecture(FULL, np.random.default_rng(9))
    sub = materialize(supernets["full"], arch)
    batch = batch_for(SCHEMA)
    compiled = torch.compile(sub, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(batch), sub(batch), atol=1e-6, rtol=1e-5)


def test_build_is_seeded_and_dead_blocks_are_not_built():
    arch = sample_architecture(SMALL, np.random.default_rng(1))
    a, b = build(arch, SCHEMA, SMALL, seed=3), build(arch, SCHEMA, SMALL, seed=3)
    c = build(arch, SCHEMA, SMALL, seed=4)
    batch = batch_for(SCHEMA)
    assert torch.equal(a(batch), b(batch)) and not torch.equal(a(batch), c(batch))
    # A block whose outputs nothing reads holds no parameters and costs nothing.
    blocks = list(arch.blocks)
    from dataclasses import replace

    for i in range(1, 7):  # every block reads only the stem: blocks 1..6 are dead but the last
        blocks[i - 1] = replace(blocks[i - 1], dense_in=(0,), sparse_in=(0,), left=0, right=0)
    lone = Architecture(tuple(blocks[:6]) + (replace(blocks[6], dense_in=(0,), sparse_in=(0,)),))
    model = build(lone, SCHEMA, SMALL)
    assert all(len(model.blocks[i]) == 0 for i in range(6)) and len(model.blocks[6]) > 0


def test_latency_measurement():
    arch = sample_architecture(SMALL, np.random.default_rng(1))
    model = build(arch, SCHEMA, SMALL)
    r = measure_latency(model, batch_for(SCHEMA, 64), warmup=1, repeats=3)
    assert r["median_s"] > 0 and r["batch_size"] == 64 and r["samples_per_s"] == pytest.approx(64 / r["median_s"])
