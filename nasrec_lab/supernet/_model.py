"""The weight-sharing supernet and standalone subnets.

``SuperNet(schema, space)`` holds every operator of every block at its largest size.
``supernet(batch, arch)`` runs one path, slicing each parameter to what the path uses
(elastic widths take leading rows/columns; a connection takes only the columns of the
inputs it reads). ``materialize(supernet, arch)`` copies those slices into a standalone
:class:`Subnet`; ``build(arch, schema, space, layernorm=...)`` makes a freshly initialised
one for training from scratch. Supernet path and subnet call the same operator code.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .._atomic import atomic_write_bytes
from .._torchfile import load_weights_only
from ..data import FeatureSchema
from ..space import Architecture, SearchSpace, get_space, validate
from ._ops import OPERATORS, OpCtx, OpInputs, ParamSpec, Ranges, init_tensor, slice_param
from ._plan import BlockPlan, Geometry, PathPlan, make_plan

ParamGetter = Callable[[int, str, OpCtx], dict[str, Tensor]]


def _param_key(name: str) -> str:
    return name.replace("-", "_")


@torch.no_grad()
def init_field_tables_(weight: Tensor, table_sizes: tuple[int, ...]) -> Tensor:
    """Xavier-normal init of each feature's rows on their own, as the release does (one table per feature).

    One xavier init of the concatenated table would give every row std ``sqrt(2 / (sum(n) + e))``
    (8e-4 on Criteo): 2.5-390x smaller than the release's per-table std ``sqrt(2 / (n_i + e))``,
    which leaves the embeddings of small tables near zero and the first Adagrad steps (about ``lr``
    per coordinate) to decide their direction alone.
    """
    e = weight.shape[1]
    start = 0
    for n in table_sizes:
        weight[start:start + n].normal_(0.0, math.sqrt(2.0 / (n + e)))
        start += n
    if start != weight.shape[0]:
        raise ValueError(f"embedding has {weight.shape[0]} rows, the tables add up to {start}")
    return weight


class Stem(nn.Module):
    """One embedding table for all sparse features (rows offset per feature); dense passes through.

    Sparse gradients by default: a step touches B x n_sparse rows, and Adagrad then updates only
    those rows (the same result as a dense update, at a fraction of the cost).
    """

    def __init__(self, schema: FeatureSchema, *, sparse_grad: bool = True) -> None:
        super().__init__()
        self.n_sparse = schema.n_sparse
        sizes = torch.tensor((0,) + schema.table_sizes[:-1], dtype=torch.int64)
        self.register_buffer("offsets", torch.cumsum(sizes, 0), persistent=False)
        self.embedding = nn.Embedding(sum(schema.table_sizes), schema.embedding_dim, sparse=sparse_grad)
        init_field_tables_(self.embedding.weight, schema.table_sizes)

    def forward(self, dense: Tensor, sparse: Tensor) -> tuple[Tensor, Tensor]:
        return dense, self.embedding(sparse + self.offsets)  # (B, n_dense), (B, n_sparse, e)


def run_path(plan: PathPlan, get: ParamGetter, dense: Tensor, emb: Tensor) -> Tensor:
    """Forward through the blocks and the head; ``get(block, op, ctx)`` supplies parameters."""
    outs_d: list[Tensor | None] = [dense]
    outs_s: list[Tensor | None] = [emb]
    for i, bp in enumerate(plan.blocks):
        d, s = run_block(i, bp, get, outs_d, outs_s)
        outs_d.append(d)
        outs_s.append(s)
    return OPERATORS["head"].forward(get(-1, "head", plan.head), OpInputs(dense=outs_d[-1], sparse=outs_s[-1]),
                                     plan.head)


def run_block(i: int, bp: BlockPlan, get: ParamGetter, outs_d: list[Tensor | None],
              outs_s: list[Tensor | None]) -> tuple[Tensor | None, Tensor | None]:
    """One block; outputs that nothing downstream reads are not computed (``None``)."""
    ctx = bp.ctx
    xd = None
    if bp.dense_live and bp.reads_dense_set:
        xd = outs_d[bp.dense_in[0]] if len(bp.dense_in) == 1 else torch.cat([outs_d[j] for j in bp.dense_in], 1)
    xs = None
    if bp.sparse_live or (bp.dense_live and any(OPERATORS[op].kind == "dense-sparse" for op in bp.dense_ops)):
        xs = outs_s[bp.sparse_in[0]] if len(bp.sparse_in) == 1 else torch.cat([outs_s[j] for j in bp.sparse_in], 1)
    lr = bp.dense_live and bp.reads_left_right
    x = OpInputs(xd, xs, outs_d[bp.left] if lr else None, outs_d[bp.right] if lr else None)
    dense = sparse = None
    if bp.dense_live:
        for op in bp.dense_ops:
            y = OPERATORS[op].forward(get(i, op, ctx), x, ctx)
            dense = y if dense is None else dense + y
    if bp.sparse_live:
        for op in bp.sparse_ops:
            y = OPERATORS[op].forward(get(i, op, ctx), x, ctx)
            sparse = y if sparse is None else sparse + y
    if bp.interact_live:
        extra = OPERATORS["dense_sparse_interact"].forward(get(i, "dense_sparse_interact", ctx),
                                                           OpInputs(dense=dense), ctx)
    if bp.fm_live:
        dense = dense + OPERATORS["deep_fm"].forward(get(i, "deep_fm", ctx), OpInputs(sparse=sparse), ctx)
    if bp.interact_live:
        sparse = torch.cat([sparse, extra], 1)
    return dense, sparse


def _block_ops(space: SearchSpace) -> tuple[str, ...]:
    return space.dense_ops + space.sparse_ops + tuple(space.interactions)


#: what a model config (checkpoint, subnet file) written before a key existed meant by it
LEGACY_CONFIG: dict[str, Any] = {"always_project": False, "field_start": "xavier", "centre_dense": False}


class SuperNet(nn.Module):
    """Every operator of ``space`` for data of ``schema``, at the largest widths.

    >>> net = SuperNet(schema, "full")                   # doctest: +SKIP
    >>> logits = net(batch, arch)                         # doctest: +SKIP

    ``centre_dense=True``: the FC and Dot-Product operators read their dense input centred on
    the batch mean (as BatchNorm does in training mode, in training and scoring alike; a path
    then needs batches of at least two rows). Without it the shared weights learn a large
    constant along the input's mean direction and every path's dense chain collapses to a
    near-constant output (README, Benchmarks; the paths score nearer their standalone losses, the
    rank ablation's tau does not improve). It changes what the paths compute, not the
    parameters: final models are trained from scratch in the standalone form either way.
    """

    def __init__(self, schema: FeatureSchema, space: SearchSpace | str = "full", *, layernorm: bool = True,
                 seed: int = 0, sparse_grad: bool = True, always_project: bool = False,
                 field_start: str = "xavier", centre_dense: bool = False) -> None:
        super().__init__()
        self.schema = schema
        self.space = get_space(space)
        self.layernorm = layernorm
        self.centre_dense = centre_dense
        # Paths as the release's supernet computes them (see make_plan); False: as its standalone models.
        self.always_project = always_project
        # how the field projections start (init_tensor); only the initial weights depend on it
        self.field_start = field_start
        self.geometry = Geometry.of(schema, self.space)
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.stem = Stem(schema, sparse_grad=sparse_grad)
        self.blocks = nn.ModuleList()
        for i in range(self.space.num_blocks):
            ctx = self.geometry.full_ctx(i, layernorm)
            holders = nn.ModuleDict()
            for op in _block_ops(self.space):
                holders[_param_key(op)] = ParamHolder(OPERATORS[op].params(ctx), gen, field_start=field_start)
            self.blocks.append(holders)
        self.head = ParamHolder(OPERATORS["head"].params(self.geometry.head_ctx_full(layernorm)), gen)

    def config(self) -> dict[str, Any]:
        return {"schema": self.schema.to_json(), "space": self.space.to_json(), "layernorm": self.layernorm,
                "always_project": self.always_project, "field_start": self.field_start,
                "centre_dense": self.centre_dense}

    def plan(self, arch: Architecture) -> PathPlan:
        return make_plan(arch, self.geometry, self.layernorm, self.always_project, self.centre_dense)

    def _getter(self, plan: PathPlan) -> ParamGetter:
        def get(i: int, op: str, ctx: OpCtx) -> dict[str, Tensor]:
            holder = self.head if i < 0 else self.blocks[i][_param_key(op)]
            return {name: slice_param(getattr(holder, name), spec) for name, spec in OPERATORS[op].params(ctx).items()}

        return get

    def forward(self, batch: Any, arch: Architecture) -> Tensor:
        """Logits (B,) of the path ``arch`` for ``batch`` (anything with ``.dense`` and ``.sparse``)."""
        plan = self.plan(arch)
        dense, emb = self.stem(batch.dense, batch.sparse)
        return run_path(plan, self._getter(plan), dense, emb)

    def touched_regions(self, arch: Architecture) -> dict[nn.Parameter, list[tuple[slice, ...]]]:
        """For every parameter the path ``arch`` reads, the index regions it reads (for :class:`SlicedAdagrad`)."""
        plan = self.plan(arch)
        out: dict[nn.Parameter, list[tuple[slice, ...]]] = {}
        for i, op, ctx in _uses(plan):
            holder = self.head if i < 0 else self.blocks[i][_param_key(op)]
            for name, spec in OPERATORS[op].params(ctx).items():
                axes = [[slice(s, s + n) for s, n in a.ranges] if isinstance(a, Ranges) else [slice(0, a)]
                        for a in spec.axes]
                out[getattr(holder, name)] = [tuple(r) for r in itertools.product(*axes)]
        return out

    def path_parameters(self, arch: Architecture) -> dict[str, Tensor]:
        """The sliced parameters that ``arch`` uses, keyed like a :class:`Subnet`'s state dict."""
        plan = self.plan(arch)
        get = self._getter(plan)
        out = {"stem.embedding.weight": self.stem.embedding.weight}
        for i, op, ctx in _uses(plan):
            for name, t in get(i, op, ctx).items():
                out[_subnet_key(i, op, name)] = t
        return out


class ParamHolder(nn.Module):
    """Parameters of one operator instance, allocated from its ``ParamSpec``s."""

    def __init__(self, specs: dict[str, ParamSpec], generator: torch.Generator | None = None,
                 values: dict[str, Tensor] | None = None, field_start: str = "xavier") -> None:
        super().__init__()
        for name, spec in specs.items():
            t = values[name] if values is not None else init_tensor(spec, generator, field_start=field_start)
            self.register_parameter(name, nn.Parameter(t))

    def as_dict(self) -> dict[str, Tensor]:
        return dict(self.named_parameters(recurse=False))


def _uses(plan: PathPlan):
    """(block, operator, ctx) for every operator instance the plan runs (head last, as block -1)."""
    for i, bp in enumerate(plan.blocks):
        ops = (bp.dense_ops if bp.dense_live else ()) + (bp.sparse_ops if bp.sparse_live else ())
        for op in ops:
            yield i, op, bp.ctx
        if bp.interact_live:
            yield i, "dense_sparse_interact", bp.ctx
        if bp.fm_live:
            yield i, "deep_fm", bp.ctx
    yield -1, "head", plan.head


def _subnet_key(i: int, op: str, name: str) -> str:
    return f"head.{name}" if i < 0 else f"blocks.{i}.{_param_key(op)}.{name}"


class Subnet(nn.Module):
    """A standalone model for one architecture: only the parameters it uses, nothing of a supernet.

    Saved with :meth:`save` and loaded with :func:`load_subnet` (weights only, no code).
    """

    def __init__(self, arch: Architecture, schema: FeatureSchema, space: SearchSpace | str, *,
                 layernorm: bool = True, values: dict[str, Tensor] | None = None, seed: int = 0,
                 sparse_grad: bool = True, always_project: bool = False, field_start: str = "xavier",
                 centre_dense: bool = False) -> None:
        super().__init__()
        self.arch = arch
        self.schema = schema
        self.space = get_space(space)
        self.layernorm = layernorm
        self.always_project = always_project  # a path of an always-projecting supernet (materialize)
        self.centre_dense = centre_dense  # a path of a dense-centring supernet (materialize)
        if arch.is_subnet:
            validate(arch, self.space)
        self.geometry = Geometry.of(schema, self.space)
        self._plan = make_plan(arch, self.geometry, layernorm, always_project, centre_dense)
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.stem = Stem(schema, sparse_grad=sparse_grad)
        if values is not None:
            with torch.no_grad():
                self.stem.embedding.weight.copy_(values["stem.embedding.weight"])
        self.blocks = nn.ModuleList(nn.ModuleDict() for _ in self._plan.blocks)
        for i, op, ctx in _uses(self._plan):
            specs = OPERATORS[op].params(ctx)
            vals = None
            if values is not None:
                vals = {n: values[_subnet_key(i, op, n)].detach().clone() for n in specs}
            holder = ParamHolder(specs, gen, vals, field_start)
            if i < 0:
                self.head = holder
            else:
                self.blocks[i][_param_key(op)] = holder

    def _get(self, i: int, op: str, ctx: OpCtx) -> dict[str, Tensor]:
        holder = self.head if i < 0 else self.blocks[i][_param_key(op)]
        return holder.as_dict()

    def forward(self, batch: Any) -> Tensor:
        dense, emb = self.stem(batch.dense, batch.sparse)
        return run_path(self._plan, self._get, dense, emb)

    def config(self) -> dict[str, Any]:
        return {"arch": self.arch.to_json(), "schema": self.schema.to_json(), "space": self.space.to_json(),
                "layernorm": self.layernorm, "always_project": self.always_project, "centre_dense": self.centre_dense}

    def save(self, path: str | os.PathLike) -> None:
        """Write architecture, schema, space and weights to one file, atomically."""
        import io

        buf = io.BytesIO()
        torch.save({"format": "nasrec-lab/subnet-v1", "config": self.config(), "state_dict": self.state_dict()}, buf)
        atomic_write_bytes(path, buf.getvalue())


def load_subnet(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Subnet:
    """Load a :meth:`Subnet.save` file (``weights_only=True``: a file from elsewhere cannot run code)."""
    path = Path(path)
    obj = load_weights_only(path, "nasrec-lab subnet file", map_location=map_location)
    if not isinstance(obj, dict) or obj.get("format") != "nasrec-lab/subnet-v1":
        raise ValueError(f"{path}: not a nasrec-lab subnet file (format {obj.get('format') if isinstance(obj, dict) else None!r})")
    cfg = {**LEGACY_CONFIG, **obj["config"]}
    model = Subnet(Architecture.from_json(cfg["arch"]), FeatureSchema.from_json(cfg["schema"]),
                   SearchSpace.from_json(cfg["space"]), layernorm=cfg["layernorm"],
                   always_project=cfg["always_project"], centre_dense=cfg["centre_dense"])
    model.load_state_dict(obj["state_dict"])
    return model


def materialize(supernet: SuperNet, arch: Architecture) -> Subnet:
    """A standalone copy of the path ``arch`` with the supernet's current (inherited) weights."""
    with torch.no_grad():
        values = {k: v.detach() for k, v in supernet.path_parameters(arch).items()}
        subnet = Subnet(arch, supernet.schema, supernet.space, layernorm=supernet.layernorm, values=values,
                        always_project=supernet.always_project, centre_dense=supernet.centre_dense)
    # the buffers (embedding offsets) are made on the CPU: the copy lives where the supernet does
    return subnet.to(next(supernet.parameters()).device)


def build(arch: Architecture, schema: FeatureSchema, space: SearchSpace | str = "full", *,
          layernorm: bool = False, seed: int = 0, field_start: str = "xavier") -> Subnet:
    """A freshly initialised standalone model for training from scratch.

    ``layernorm=False`` (the default) reproduces the release's final models: no LayerNorm
    (Linears get biases instead), except the two inside the Attention operator.
    ``field_start`` sets how the field projections of EFC, Dot-Product and Attention start:
    ``"xavier"`` (the release's) or ``"identity"`` (the final recipes'; see ``init_tensor``).
    """
    return Subnet(arch, schema, space, layernorm=layernorm, seed=seed, field_start=field_start)
