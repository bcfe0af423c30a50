"""One operator registry: a new operator is one registration, seen by the space, the supernet, the
cost model and the graph; the metadata is torch-free and the paper's operators have theirs once."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nasrec_lab.analysis import architecture_graph, graph_layout
from nasrec_lab.data import Batch, FeatureSchema
from nasrec_lab.space import (
    OPERATOR_INFO,
    OPERATOR_KINDS,
    Architecture,
    Block,
    SearchSpace,
    define_operator,
    operators,
    sample_architecture,
)
from nasrec_lab.space._operators import BINARY_DENSE_OPS, DENSE_SET_OPS, RELEASE_NAMES
from nasrec_lab.supernet import OPERATORS, Operator, ParamSpec, SuperNet, cost, materialize, register_operator
from nasrec_lab.supernet._ops import _pad, unregister_operator

SCHEMA = FeatureSchema(dense=("I1", "I2", "I3"), sparse=("C1", "C2", "C3", "C4"), table_sizes=(11, 12, 13, 14))


@pytest.fixture
def toys():
    """The one place the toy operators exist: each a single registration (metadata and torch class)."""

    @register_operator("toy-scale", "dense", reads="dense_set", label="Toy Scale", flops="7·w·|dense_in|")
    class ToyScale(Operator):
        @staticmethod
        def params(ctx):
            return {"weight": ParamSpec((ctx.w, ctx.dense_in), "xavier")}

        @staticmethod
        def forward(p, x, ctx):
            return torch.tanh(F.linear(x.dense, p["weight"]))

        @staticmethod
        def macs(ctx):
            return 7 * ctx.w * ctx.dense_in.size  # a made-up count the cost model must show

    @register_operator("toy-max", "dense", reads="left_right", symmetric=True, label="Toy Max")
    class ToyMax(Operator):
        @staticmethod
        def params(ctx):
            return {"weight": ParamSpec((ctx.w, ctx.c), "xavier")}

        @staticmethod
        def forward(p, x, ctx):
            return F.linear(torch.maximum(_pad(x.left, ctx.c), _pad(x.right, ctx.c)), p["weight"])

        @staticmethod
        def macs(ctx):
            return ctx.w * ctx.c

    yield ToyScale, ToyMax
    for name in ("toy-scale", "toy-max"):
        unregister_operator(name)
    assert not {"toy-scale", "toy-max"} & (set(OPERATORS) | set(OPERATOR_INFO) | set(OPERATOR_KINDS))


def toy_space(*dense_ops: str) -> SearchSpace:
    return SearchSpace(name="toy", dense_ops=dense_ops, sparse_ops=("efc",), dense_widths=(16, 32),
                       sparse_widths=(8,), num_blocks=3)


def chain(op: str, width: int = 16) -> Architecture:
    """Each block reads the previous one (everything live), ``op`` as its dense operator."""
    return Architecture(tuple(Block(dense_in=(i,), sparse_in=(i,), left=i, right=0, dense_ops=(op,),
                                    sparse_ops=("efc",), dense_width=width, sparse_width=8) for i in range(3)))


def batch(n: int = 8) -> Batch:
    g = torch.Generator().manual_seed(0)
    sparse = torch.stack([torch.randint(0, t, (n,), generator=g) for t in SCHEMA.table_sizes], 1)
    return Batch(torch.rand(n, SCHEMA.n_dense, generator=g), sparse, torch.zeros(n))


def test_the_paper_operators_have_their_metadata_once():
    assert list(OPERATOR_KINDS.items()) == [("fc", "dense"), ("dot-product", "dense-sparse"),
                                            ("sigmoid-gating", "dense"), ("sum", "dense"), ("attention", "sparse"),
                                            ("efc", "sparse")]
    assert set(DENSE_SET_OPS) == {"fc", "dot-product"} and set(BINARY_DENSE_OPS) == {"sum", "sigmoid-gating"}
    assert {"sum"} == {"sum", "fc"} & BINARY_DENSE_OPS
    assert [n for n, i in OPERATOR_INFO.items() if i.symmetric] == ["sum"]
    assert RELEASE_NAMES["fc"] == "linear-2d" and RELEASE_NAMES["attention"] == "transformer"
    # the supernet attached one implementation to every entry, and took kind and name from it
    assert set(OPERATORS) == set(OPERATOR_INFO)
    for name, cls in OPERATORS.items():
        assert cls.info is OPERATOR_INFO[name] and OPERATOR_INFO[name].implementation is cls
        assert (cls.name, cls.kind) == (name, OPERATOR_INFO[name].kind)


def test_importing_the_space_does_not_import_torch():
    code = ("import sys, nasrec_lab.space as s; assert 'torch' not in sys.modules, 'torch imported'; "
            "assert s.operators('dense-sparse') == ('dot-product',); print(len(s.OPERATOR_INFO))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(len(OPERATOR_INFO))


def test_a_toy_operator_is_in_the_space(toys):
    assert operators("dense")[-2:] == ("toy-scale", "toy-max") and OPERATOR_KINDS["toy-max"] == "dense"
    space = toy_space("fc", "toy-scale", "toy-max")
    # size: toy-scale chooses an input set as FC does; toy-max unordered pairs (symmetric), as Sum does
    assert space.size() == SearchSpace(name="t", dense_ops=("fc", "dot-product", "sum"), sparse_ops=("efc",),
                                       dense_widths=(16, 32), sparse_widths=(8,), num_blocks=3).size()
    rng = np.random.default_rng(0)
    drawn = {op for _ in range(40) for b in sample_architecture(space, rng).blocks for op in b.dense_ops}
    assert {"toy-scale", "toy-max"} <= drawn
    # symmetric: left/right in canonical order, as for Sum
    arch = chain("toy-max")
    assert [(b.left, b.right) for b in arch.canonical().blocks] == [(0, 0), (0, 1), (0, 2)]
    with pytest.raises(ValueError, match="not a sparse operator"):
        SearchSpace(name="bad", dense_ops=("fc",), sparse_ops=("toy-scale",))


def test_a_toy_operator_runs_in_the_supernet_and_its_subnet(toys):
    space = toy_space("fc", "toy-scale", "toy-max")
    torch.manual_seed(0)
    net = SuperNet(SCHEMA, space, seed=0)
    b = batch()
    for arch in (chain("toy-scale"), chain("toy-max", 32)):
        with torch.no_grad():
            out = net(b, arch)
            assert out.shape == (8,) and torch.isfinite(out).all()
            torch.testing.assert_close(materialize(net, arch)(b), out)
    loss = F.binary_cross_entropy_with_logits(net(b, chain("toy-scale")), b.label)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in net.named_parameters() if "toy" in n)


def test_a_toy_operator_is_in_the_cost_model_and_the_graph(toys):
    space = toy_space("fc", "toy-scale", "toy-max")
    fc_macs = [16 * 3, 16 * 16, 16 * 16]  # w x |dense_in| per block of the chain
    extra = cost(chain("toy-scale"), SCHEMA, space).flops - cost(chain("fc"), SCHEMA, space).flops
    assert extra == 6 * sum(fc_macs)

    g = architecture_graph(chain("toy-scale"), SCHEMA, space)
    node = g.nodes["B1:toy-scale"]
    assert (node["label"], node["kind"], node["width"], node["flops"]) == ("Toy Scale", "dense", "w=16", 7 * 16 * 3)
    assert ("D0", "B1:toy-scale") in g.edges and g.edges["B2:toy-scale", "B3:toy-scale"]["kind"] == "dense"
    info = graph_layout(g)
    hover = next(n["hover"] for n in info.nodes if n["id"] == "B1:toy-scale")
    assert "Toy Scale" in hover and "7·w·|dense_in|" in hover

    g = architecture_graph(chain("toy-max"), SCHEMA, space)
    roles = {(u, v): d.get("role") for u, v, d in g.edges(data=True) if v == "B3:toy-max"}
    assert roles == {("B2:toy-max", "B3:toy-max"): "left", ("D0", "B3:toy-max"): "right"}


def test_registration_errors_name_the_problem(toys):
    with pytest.raises(ValueError, match="already registered"):
        register_operator("toy-scale", "dense")(type("Again", (Operator,), {}))
    define_operator("toy-meta", "dense")
    try:
        with pytest.raises(ValueError, match="registered as 'dense', not 'sparse'"):
            register_operator("toy-meta", "sparse")(type("X", (Operator,), {}))
    finally:
        unregister_operator("toy-meta")
    with pytest.raises(ValueError, match="kind is one of"):
        register_operator("toy-fm", "interaction")(type("Y", (Operator,), {}))
    with pytest.raises(ValueError, match="left and right together"):
        define_operator("toy-bad", "dense", reads=("left",))
    with pytest.raises(ValueError, match="dense-sparse"):
        define_operator("toy-bad", "dense", reads=("dense", "sparse"))
    assert "toy-bad" not in OPERATOR_INFO and "toy-fm" not in OPERATOR_INFO
    define_operator("toy-bare", "dense", label="Bare")  # metadata only: the space knows it, torch cannot run it
    try:
        space = toy_space("fc", "toy-bare")
        with pytest.raises(ValueError, match="no torch implementation"):
            cost(chain("toy-bare"), SCHEMA, space)
    finally:
        unregister_operator("toy-bare")
